/**
 * The `logstack` CLI: usage errors exit 2 with the usage or the expected shape; inputs the workflows refuse
 * exit 1 naming the failure type.
 *
 * One group of the bad-input table (test/reliability/bad-inputs-rows.ts), run on the sandbox's real parts by a
 * real in-process worker on this file's own task queue (test/reliability/bad-inputs-table.ts).
 */
import { cliRows } from './bad-inputs-rows.ts';
import { describeBadInputs } from './bad-inputs-table.ts';

describeBadInputs('cli', cliRows);
