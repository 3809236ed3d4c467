/**
 * Bad inputs of the wrong shape — missing, unknown and wrongly typed fields, a malformed revision, an input
 * over the size limit — fail `InvalidInput` naming the field, before any side effect.
 *
 * One group of the bad-input table (test/reliability/bad-inputs-rows.ts), run on the sandbox's real parts by a
 * real in-process worker on this file's own task queue (test/reliability/bad-inputs-table.ts).
 */
import { shapeRows } from './bad-inputs-rows.ts';
import { describeBadInputs } from './bad-inputs-table.ts';

describeBadInputs('input shape', shapeRows);
