/**
 * Approvals of protected production: `autoApprove` is ignored and the promotion times out; approvers not on
 * the allow-list, self-approval and a rejection without a reason are refused and leave the promotion waiting
 * until it times out. Both rows share the set-up that makes staging → production promotable.
 *
 * One group of the bad-input table (test/reliability/bad-inputs-rows.ts), run on the sandbox's real parts by a
 * real in-process worker on this file's own task queue (test/reliability/bad-inputs-table.ts).
 */
import { approvalRows } from './bad-inputs-rows.ts';
import { describeBadInputs } from './bad-inputs-table.ts';

describeBadInputs('approvals', approvalRows);
