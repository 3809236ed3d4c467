/**
 * Messages every mutating workflow handles, defined once and shared with the client so both ends
 * are type-checked against the same names and shapes.
 */
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { ApproveInput, Progress, RejectInput } from '../domain/index.ts';

/** Returns the step list and, when waiting, what approval is needed. Safe at any time. */
export const progressQuery = defineQuery<Progress>('progress');

/**
 * Approves the pending production change. The validator refuses (without touching history) a malformed
 * argument — a `by` outside the person-name charset, a `comment` with control or bidirectional
 * characters, a malformed SSH signature (`InvalidInput`) —, an approver not on the environment's allow-list
 * (`NotAuthorized`) and the requester approving their own change on a protected environment (four-eyes; names
 * compared after NFKC, case-insensitively, and keys when signed). On an environment with `approvals: signed` the
 * argument must carry `signature` (an SSHSIG in namespace `logstack-approval` by the approver's catalog key over
 * the request's statement, `domain/approval.ts`) and its `time`; anything else is `NotAuthorized`. Returns who
 * approved.
 */
export const approveUpdate = defineUpdate<{ approvedBy: string }, [ApproveInput]>('approve');

/**
 * Rejects the pending change; the workflow ends with `ApprovalRejected`. Same validators as approve (a signed
 * environment needs a signed rejection, its statement naming the reason); the `reason` is refused with control or
 * bidirectional characters.
 */
export const rejectUpdate = defineUpdate<{ rejectedBy: string }, [RejectInput]>('reject');
