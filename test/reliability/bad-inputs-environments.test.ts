/**
 * Environments the catalog does not know fail `UnknownEnvironment` listing the known ones; a promotion that
 * is not to the next stage fails `InvalidInput` or `PromotionOrderViolation` — before any side effect.
 *
 * One group of the bad-input table (test/reliability/bad-inputs-rows.ts), run on the sandbox's real parts by a
 * real in-process worker on this file's own task queue (test/reliability/bad-inputs-table.ts).
 */
import { environmentRows } from './bad-inputs-rows.ts';
import { describeBadInputs } from './bad-inputs-table.ts';

describeBadInputs('environments', environmentRows);
