/**
 * The worker's catalog at fault — an overlay path that does not exist, a catalog that breaks its schema — fails
 * `InvalidInput`; a freeze window on production fails `ChangeFreeze` naming the window — before any side effect.
 *
 * One group of the bad-input table (test/reliability/bad-inputs-rows.ts), run on the sandbox's real parts by a
 * real in-process worker on this file's own task queue (test/reliability/bad-inputs-table.ts).
 */
import { catalogRows } from './bad-inputs-rows.ts';
import { describeBadInputs } from './bad-inputs-table.ts';

describeBadInputs('catalog', catalogRows);
