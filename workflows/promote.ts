/** `promoteEnvironment`: move the revision verified in one stage to the next, with approval where protected. */
import { isCancellation, patched } from '@temporalio/workflow';
import {
  assertNotFrozen,
  assertPromotionOrder,
  FailureType,
  findEnvironment,
  isCommitSha,
  promoteInputSchema,
  shortSha,
  WorkflowTypes,
  type ApproveInput,
  type AwsPlan,
  type AwsPlanUnavailable,
  type DiffSummary,
  type Environment,
  type EvidenceApproval,
  type PromoteInput,
  type PromoteResult,
} from '../domain/index.ts';
import type { DeployedState } from '../domain/activity-contract.ts';
import { DEFAULT_APPROVAL_TIMEOUT_SECONDS } from './approval.ts';
import { deliveryPlan, priorState, releaseWithRollback } from './delivery.ts';
import { withEvidence } from './evidence.ts';
import { notifyDelivery } from './notify.ts';
import { failureMessage, failureType, typedFailure, validate } from './failures.ts';
import type { LockOptions } from './lock.ts';
import { awsPlan } from './patches.ts';
import type { ProgressTracker } from './progress.ts';
import { prepare, runWorkflow, underLock } from './run.ts';
import { planSteps, runStep } from './steps/index.ts';
import { declareVersioning } from './versioning.ts';

/** Input of {@link promoteEnvironment}. */
export type PromoteWorkflowInput = PromoteInput & LockOptions;

/**
 * The commit to promote: the revision verified in `from`, or `requested` when it resolves to exactly that.
 * @throws ApplicationFailure `RevisionNotVerified`.
 */
async function verifiedRevision(
  tracker: ProgressTracker,
  from: Environment,
  state: DeployedState | null,
  requested: string | undefined,
): Promise<string> {
  const verified = state?.verified ? state.revision : null;
  if (!verified) {
    throw typedFailure(
      FailureType.RevisionNotVerified,
      `nothing is verified in ${from.name} yet${state ? ` (${shortSha(state.revision)} is deployed but did not pass its gates)` : ''}; roll out and verify a revision there first`,
      { environment: from.name },
    );
  }
  if (requested === undefined) return verified;
  const commit = isCommitSha(requested)
    ? requested
    : (await runStep(tracker, 'resolve-revision', { revision: requested })).commit;
  if (commit !== verified) {
    throw typedFailure(
      FailureType.RevisionNotVerified,
      `${requested} (${shortSha(commit)}) is not the revision verified in ${from.name} (${shortSha(verified)}); promote ${shortSha(verified)}, or roll out and verify ${shortSha(commit)} in ${from.name} first`,
      { environment: from.name, requested: commit, verified },
    );
  }
  return commit;
}

/** An approval as the run holds it: the update's argument (with its SSH signature when signed), when and on which diff. */
interface Approval {
  readonly input: ApproveInput & { readonly signature?: string; readonly time?: string };
  readonly at: string;
  readonly digest: string;
}

/** The approval as the evidence record states it. */
function evidenceApproval({ input, at, digest }: Approval): EvidenceApproval {
  return {
    name: input.by,
    decision: 'approve',
    at,
    digest,
    ...(typeof input.signature === 'string' ? { signature: input.signature } : {}),
    ...(typeof input.time === 'string' ? { signedTime: input.time } : {}),
    ...(input.comment !== undefined ? { comment: input.comment } : {}),
  };
}

/**
 * The AWS plan shown with the approval request (`plan-aws`, read-only). A plan that cannot be read does not stop
 * the promotion — the plan is shown, not enforced, and the promotion writes nothing in AWS — so the request says
 * why it is missing instead. Cancellation is rethrown.
 */
async function readAwsPlan(tracker: ProgressTracker, environment: Environment, revision: string): Promise<AwsPlan | AwsPlanUnavailable> {
  try {
    return await runStep(tracker, 'plan-aws', { environment, revision });
  } catch (err) {
    if (isCancellation(err)) throw err;
    const type = failureType(err);
    return { environment: environment.name, revision, unavailable: `${type ? `${type}: ` : ''}${failureMessage(err)}` };
  }
}

/** How a promotion ended under the lock: delivered, nothing to do, or the change is not the one approved. */
type Outcome = { readonly kind: 'done'; readonly result: PromoteResult } | { readonly kind: 'changed'; readonly diff: DiffSummary };

/**
 * Promotes the revision verified in `from` to `to`, the next stage. Computes a server-side dry-run diff of
 * what `to` will change (shown in `progress.awaitingApproval`, destructive changes flagged, with its digest) and,
 * for a protected `to`, the read-only AWS plan (`progress.awaitingApproval.aws`; shown, not part of the digest).
 * A protected `to` waits for `approve` (four-eyes; `autoApprove` never bypasses it) for
 * `approvalTimeoutSeconds` (default 24 h) *without holding the lock*: rollouts and drift remediation of `to`
 * go on meanwhile. Once approved it takes the lock, reads `to` again and recomputes the diff; when the digest
 * differs from the approved one it releases the lock and asks again, marked "changed since approval", rather
 * than apply what nobody saw. Then rollout semantics, including the automatic rollback.
 * `AUTO_UPGRADE` on versioned workers: waiting a day for an approver, it must not be stranded when the only
 * worker is replaced by a new build (`versioning.ts`).
 * @throws ApplicationFailure `InvalidInput`, `UnknownEnvironment`, `PromotionOrderViolation`,
 *   `RevisionNotVerified`, `ChangeFreeze` before any side effect; `ApprovalRejected`, `ApprovalTimedOut`,
 *   `ChangeFreeze` (a freeze began while waiting), `EnvironmentLocked` (failIfLocked), `Superseded`, `GateFailed`.
 */
export async function promoteEnvironment(input: PromoteWorkflowInput): Promise<PromoteResult> {
  return runWorkflow(WorkflowTypes.promoteEnvironment, async (run) => {
    const { tracker } = run;
    const opening = await prepare(
      run,
      {
        schema: promoteInputSchema(),
        check: (args, catalog) => assertPromotionOrder(catalog, args.from, args.to),
        environment: (args) => args.to,
        requester: (args) => args.requestedBy,
        resolve: async ({ args, catalog }) => {
          const from = validate(() => findEnvironment(catalog, args.from));
          const fromState = await runStep(tracker, 'read-deployed-state', { environment: from });
          return { from, revision: await verifiedRevision(tracker, from, fromState, args.revision) };
        },
      },
      input,
    );
    const { args, from, environment: to, revision: commit } = opening;
    const base = { from: from.name, to: to.name, revision: commit };
    const alreadyThere = (state: DeployedState | null): PromoteResult | undefined => {
      if (!state?.verified || state.revision !== commit) return undefined;
      tracker.skipPending(`${to.name} already runs ${shortSha(commit)}, verified`);
      return { ...base, previousRevision: state.previousRevision, rolledBack: false };
    };
    const deliver = async (state: DeployedState | null, diffDigest: string | null, approval?: Approval): Promise<PromoteResult> => {
      const prior = priorState(state);
      const facts = () => ({
        catalogRemote: opening.catalog.gitops.remote,
        environment: to,
        from: from.name,
        revision: commit,
        previousRevision: prior.lastVerified,
        diffDigest,
        approvals: approval ? [evidenceApproval(approval)] : [],
      });
      return withEvidence(tracker, facts, () =>
        notifyDelivery(run.notifier, to, commit, async (onRollback) => {
          const { rolledBack } = await releaseWithRollback(tracker, to, commit, prior, onRollback);
          return { ...base, previousRevision: prior.lastVerified, ...(approval !== undefined ? { approvedBy: approval.input.by } : {}), rolledBack };
        }),
      );
    };

    if (!to.protected) {
      return underLock(opening, ['diff-overlay', ...deliveryPlan(to)], async (toState) => {
        const done = alreadyThere(toState);
        if (done) return done;
        const { diff } = await runStep(tracker, 'diff-overlay', { environment: to, revision: commit });
        return deliver(toState, diff.digest);
      });
    }

    // Protected: the decision is taken outside the lock, on a diff that is checked again under it.
    // Patch aws-plan: the read-only AWS plan is shown beside the diff each time approval is asked.
    const showsAwsPlan = patched(awsPlan.id);
    planSteps(tracker, [
      'read-deployed-state',
      'diff-overlay',
      ...(showsAwsPlan ? (['plan-aws'] as const) : []),
      'await-approval',
      'acquire-lock',
      'read-deployed-state',
      'diff-overlay',
      ...deliveryPlan(to),
    ]);
    if (args.autoApprove) tracker.skip('auto-approve', 'auto-approve', `ignored: ${to.name} is protected and needs an approver`);
    const before = await runStep(tracker, 'read-deployed-state', { environment: to });
    const done = alreadyThere(before);
    if (done) return done;
    let { diff } = await runStep(tracker, 'diff-overlay', { environment: to, revision: commit });
    for (let changedSinceApproval = false; ; changedSinceApproval = true) {
      const aws = showsAwsPlan ? await readAwsPlan(tracker, to, commit) : undefined;
      const input = await run.approval.wait({
        environment: to,
        requestedBy: args.requestedBy,
        revision: commit,
        diff,
        timeoutSeconds: args.approvalTimeoutSeconds ?? DEFAULT_APPROVAL_TIMEOUT_SECONDS,
        changedSinceApproval,
        aws,
      });
      const approval: Approval = { input, at: new Date().toISOString(), digest: diff.digest };
      // A freeze window may have begun while the change waited for its approver.
      validate(() => assertNotFrozen(to, Date.now()));
      const outcome = await underLock<Outcome>(opening, null, async (toState) => {
        const result = alreadyThere(toState);
        if (result) return { kind: 'done', result };
        const recheck = await runStep(tracker, 'diff-overlay', { environment: to, revision: commit }, { label: 'under the lock' });
        if (recheck.diff.digest !== diff.digest) return { kind: 'changed', diff: recheck.diff };
        return { kind: 'done', result: await deliver(toState, recheck.diff.digest, approval) };
      });
      if (outcome.kind === 'done') return outcome.result;
      diff = outcome.diff;
    }
  });
}
declareVersioning(promoteEnvironment, WorkflowTypes.promoteEnvironment);
