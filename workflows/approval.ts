/**
 * The approval gate behind the `approve` and `reject` updates. Validators refuse — without touching
 * history — a malformed argument (`InvalidInput`), a workflow that is not waiting (`InvalidInput`), an
 * approver not on the environment's allow-list (`NotAuthorized`) and the requester deciding on their own
 * change to a protected environment (four-eyes, `NotAuthorized`). Names are NFKC-normalised by the schema
 * and compared case-insensitively (`samePerson`): `Bob` and `bob` are one person, on the allow-list and for
 * four-eyes alike. A comment or reason with a control, separator or bidirectional character is refused.
 */
import { ApplicationFailure, condition, setHandler, workflowInfo } from '@temporalio/workflow';
import {
  approvalMode,
  approverNames,
  approveSchema,
  eventAws,
  eventDiff,
  FailureType,
  parseInput,
  rejectSchema,
  samePerson,
  sshFingerprint,
  verifySignedDecision,
  type ApproveInput,
  type AwsPlan,
  type AwsPlanUnavailable,
  type DiffSummary,
  type Environment,
  type RejectInput,
} from '../domain/index.ts';
import { approveUpdate, rejectUpdate } from './messages.ts';
import { typedFailure, validate } from './failures.ts';
import type { Notifier } from './notify.ts';
import { Phase, type ProgressTracker } from './progress.ts';

/** Default time a protected environment waits for a decision: 24 h. */
export const DEFAULT_APPROVAL_TIMEOUT_SECONDS = 24 * 3600;

/** What the workflow is waiting for while the gate is open. */
interface OpenRequest {
  readonly environment: Environment;
  readonly requestedBy: string | undefined;
  /** The digest of the diff shown; an approval naming another digest approved another change. */
  readonly digest: string;
  /** The full commit waiting for approval: a signed statement names it. */
  readonly revision: string;
  /** Workflow time the request was shown: a signed time may not be earlier (less the clock skew allowed). */
  readonly shownAt: string;
}

type Decision =
  | { readonly kind: 'approved'; readonly input: ApproveInput; readonly key?: string | undefined }
  | { readonly kind: 'rejected'; readonly input: RejectInput; readonly key?: string | undefined };

/** One approval gate per workflow run; construct it at the start so the updates are always handled. */
export class ApprovalGate {
  readonly #tracker: ProgressTracker;
  readonly #workflowType: string;
  readonly #notifier: Notifier | undefined;
  #open: OpenRequest | undefined;
  #decision: Decision | undefined;

  /** `notifier`: where the request and its outcome are announced (the environment's notification targets). */
  constructor(tracker: ProgressTracker, workflowType: string, notifier?: Notifier) {
    this.#tracker = tracker;
    this.#workflowType = workflowType;
    this.#notifier = notifier;
    setHandler(
      approveUpdate,
      (input) => {
        const checked = this.#check<ApproveInput>(input, approveSchema(), 'approve');
        const decision: Decision = { kind: 'approved', ...checked };
        this.#decide(decision);
        return { approvedBy: decision.input.by };
      },
      { validator: (input) => void this.#check(input, approveSchema(), 'approve') },
    );
    setHandler(
      rejectUpdate,
      (input) => {
        const checked = this.#check<RejectInput>(input, rejectSchema(), 'reject');
        const decision: Decision = { kind: 'rejected', ...checked };
        this.#decide(decision);
        return { rejectedBy: decision.input.by };
      },
      { validator: (input) => void this.#check(input, rejectSchema(), 'reject') },
    );
  }

  /**
   * Waits for `approve` or `reject` on `environment`, showing the request, the diff and its digest in `progress`
   * (marked `changedSinceApproval` when an earlier approval was for a change that is no longer the one to apply).
   * @returns the approval.
   * @throws ApplicationFailure `ApprovalRejected` on `reject`; `ApprovalTimedOut` after `timeoutSeconds`.
   */
  async wait(request: {
    environment: Environment;
    requestedBy: string | undefined;
    /** The full commit to apply once approved; a signed statement names it. */
    revision: string;
    diff: DiffSummary;
    timeoutSeconds: number;
    changedSinceApproval?: boolean;
    /** The AWS plan shown beside the diff (not part of the digest). */
    aws?: AwsPlan | AwsPlanUnavailable | undefined;
  }): Promise<ApproveInput> {
    const { environment, requestedBy, diff, timeoutSeconds, revision } = request;
    const changedSinceApproval = request.changedSinceApproval ?? false;
    const shownAt = new Date(Date.now()).toISOString();
    const deadline = new Date(Date.now() + timeoutSeconds * 1000).toISOString();
    const approvers = approverNames(environment);
    const mode = approvalMode(environment);
    const step = this.#tracker.start(
      'await-approval',
      `${changedSinceApproval ? 'changed since approval: await approval again' : 'await approval'} for ${environment.name} (${approvers.join(', ')})`,
    );
    this.#tracker.setPhase(Phase.awaitingApproval);
    const { workflowId, runId } = workflowInfo();
    this.#tracker.setAwaitingApproval({
      environment: environment.name,
      ...(requestedBy !== undefined ? { requestedBy } : {}),
      approvers,
      diff,
      digest: diff.digest,
      ...(changedSinceApproval ? { changedSinceApproval } : {}),
      deadline,
      approvals: mode,
      workflowId,
      runId,
      revision,
      shownAt,
      ...(request.aws !== undefined ? { aws: request.aws } : {}),
    });
    this.#decision = undefined;
    this.#open = { environment, requestedBy, digest: diff.digest, revision, shownAt };
    this.#notifier?.send(environment, {
      kind: 'approval-requested',
      revision,
      requestedBy: requestedBy ?? null,
      approvers,
      approvals: mode,
      deadline,
      changedSinceApproval,
      diff: eventDiff(diff),
      ...(request.aws !== undefined ? { aws: eventAws(request.aws) } : {}),
    });
    try {
      const decided = await condition(() => this.#decision !== undefined, timeoutSeconds * 1000, {
        summary: `wait for approval of ${environment.name} until ${deadline}`,
      });
      const decision = this.#current();
      if (!decided || !decision) {
        const message = `nobody approved the change to ${environment.name} before ${deadline}; start the promotion again when an approver (${approvers.join(', ')}) is available`;
        this.#tracker.end(step, 'failed', message);
        this.#notifier?.send(environment, { kind: 'approval-timed-out', revision, deadline, approvers });
        throw typedFailure(FailureType.ApprovalTimedOut, message, { environment: environment.name, deadline });
      }
      if (decision.kind === 'rejected') {
        const message = `${decision.input.by} rejected the change to ${environment.name}: ${decision.input.reason}`;
        this.#tracker.end(step, 'failed', message);
        this.#notifier?.send(environment, { kind: 'rejected', revision, by: decision.input.by, reason: decision.input.reason });
        throw typedFailure(FailureType.ApprovalRejected, message, {
          environment: environment.name,
          rejectedBy: decision.input.by,
          reason: decision.input.reason,
        });
      }
      const comment = decision.input.comment ? `: ${decision.input.comment}` : '';
      const signed = decision.key !== undefined ? ` (signed, key ${sshFingerprint(decision.key)})` : '';
      this.#tracker.end(step, 'succeeded', `approved by ${decision.input.by}${signed}${comment}`);
      this.#notifier?.send(environment, { kind: 'approved', revision, by: decision.input.by, signed: decision.key !== undefined, comment: decision.input.comment ?? null });
      return decision.input;
    } finally {
      this.#open = undefined;
      this.#tracker.setAwaitingApproval(undefined);
    }
  }

  /** Read through a method: the decision changes behind TypeScript's back (in update handlers). */
  #current(): Decision | undefined {
    return this.#decision;
  }

  #decide(decision: Decision): void {
    // Two decisions accepted in the same task: the first one wins, the second update fails.
    if (this.#decision) {
      throw ApplicationFailure.nonRetryable(
        `already ${this.#decision.kind} by ${this.#decision.input.by}`,
        FailureType.InvalidInput,
      );
    }
    this.#decision = decision;
  }

  /**
   * The shared validator: shape, something to decide, the digest shown, allow-list, four-eyes by name, then — on a
   * `signed` environment, or whenever a signature is given — the SSH signature over this request's statement and
   * four-eyes by key (`verifySignedDecision`). Deterministic: the handler runs it again, on replay too.
   */
  #check<T extends ApproveInput | RejectInput>(
    input: unknown,
    schema: ReturnType<typeof approveSchema> | ReturnType<typeof rejectSchema>,
    decision: 'approve' | 'reject',
  ): { input: T; key: string | undefined } {
    const parsed = validate(() => parseInput(schema, input, 'approval')) as T;
    const open = this.#open;
    if (!open || this.#decision) {
      throw ApplicationFailure.nonRetryable(
        this.#decision
          ? `this change was already ${this.#decision.kind} by ${this.#decision.input.by}`
          : `${this.#workflowType} is not waiting for approval (phase ${this.#tracker.phase}); approve when its progress shows awaitingApproval`,
        FailureType.InvalidInput,
      );
    }
    const { environment, requestedBy, digest } = open;
    const signedMode = approvalMode(environment) === 'signed';
    if (parsed.digest !== undefined && parsed.digest !== digest) {
      throw ApplicationFailure.nonRetryable(
        `the ${decision === 'approve' ? 'approval' : 'rejection'} names diff ${parsed.digest}, but the change waiting for approval of ${environment.name} is ${digest} (it changed since that diff was shown); read progress again and decide on what it shows now`,
        // A signed environment refuses it as unauthorized, like a signature over that stale diff.
        signedMode ? FailureType.NotAuthorized : FailureType.InvalidInput,
      );
    }
    const approvers = approverNames(environment);
    if (!approvers.some((approver) => samePerson(approver, parsed.by))) {
      throw ApplicationFailure.nonRetryable(
        `"${parsed.by}" may not approve or reject changes to ${environment.name}; allowed approvers: ${approvers.join(', ')}`,
        FailureType.NotAuthorized,
      );
    }
    if (environment.protected && requestedBy !== undefined && samePerson(parsed.by, requestedBy)) {
      throw ApplicationFailure.nonRetryable(
        `four-eyes: ${parsed.by} requested this change to ${environment.name} and cannot decide on it; ask another approver (${approvers.filter((a) => !samePerson(a, parsed.by)).join(', ')})`,
        FailureType.NotAuthorized,
      );
    }
    const { workflowId, runId } = workflowInfo();
    const key = validate(() =>
      verifySignedDecision(
        environment,
        { workflowId, runId, revision: open.revision, digest, shownAt: open.shownAt, requestedBy },
        {
          decision,
          by: parsed.by,
          signature: parsed.signature,
          time: parsed.time,
          comment: 'comment' in parsed ? parsed.comment : undefined,
          reason: 'reason' in parsed ? parsed.reason : undefined,
        },
        Date.now(),
      ),
    );
    return { input: parsed, key };
  }
}
