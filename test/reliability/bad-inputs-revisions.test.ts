/**
 * Revisions that cannot be delivered: unknown on the GitOps remote (`InvalidInput`), refused by the
 * operator-rule pre-flight (`OperatorRuleViolation`, nothing applied), not the one verified in the source stage (`RevisionNotVerified`).
 *
 * One group of the bad-input table (test/reliability/bad-inputs-rows.ts), run on the sandbox's real parts by a
 * real in-process worker on this file's own task queue (test/reliability/bad-inputs-table.ts).
 */
import { revisionRows } from './bad-inputs-rows.ts';
import { describeBadInputs } from './bad-inputs-table.ts';

describeBadInputs('revisions', revisionRows);
