/** `promoteEnvironment`: move the revision verified in one stage to the next, with approval where protected. */
import {
  assertNotFrozen,
  assertPromotionOrder,
  FailureType,
  findEnvironment,
  isCommitSha,
  promoteInputSchema,
  shortSha,
  WorkflowTypes,
  type Environment,
  type PromoteInput,
  type PromoteResult,
} from '../domain/index.ts';
import type { DeployedState } from '../domain/activity-contract.ts';
import { DEFAULT_APPROVAL_TIMEOUT_SECONDS } from './approval.ts';
import { deliveryPlan, priorState, releaseWithRollback } from './delivery.ts';
import { typedFailure, validate } from './failures.ts';
import type { LockOptions } from './lock.ts';
import type { ProgressTracker } from './progress.ts';
import { prepare, runWorkflow, underLock } from './run.ts';
import { runStep } from './steps/index.ts';
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

/**
 * Promotes the revision verified in `from` to `to`, the next stage. Computes a server-side dry-run diff of
 * what `to` will change (shown in `progress.awaitingApproval.diff`, destructive changes flagged); a protected
 * `to` waits for `approve` (four-eyes; `autoApprove` never bypasses it) for `approvalTimeoutSeconds`
 * (default 24 h). Then rollout semantics, including the automatic rollback. Holds the lock of `to`.
 * `AUTO_UPGRADE` on versioned workers: waiting a day for an approver, it must not be stranded when the only
 * worker is replaced by a new build (`versioning.ts`).
 * @throws ApplicationFailure `InvalidInput`, `UnknownEnvironment`, `PromotionOrderViolation`,
 *   `RevisionNotVerified`, `ChangeFreeze` before any side effect; `ApprovalRejected`, `ApprovalTimedOut`,
 *   `ChangeFreeze` (a freeze began while waiting), `EnvironmentLocked` (failIfLocked), `GateFailed`.
 */
export async function promoteEnvironment(input: PromoteWorkflowInput): Promise<PromoteResult> {
  return runWorkflow(WorkflowTypes.promoteEnvironment, async (run) => {
    const { tracker } = run;
    const opening = await prepare(
      run,
      {
        schema: promoteInputSchema,
        check: (args, catalog) => assertPromotionOrder(catalog, args.from, args.to),
        environment: (args) => args.to,
        resolve: async ({ args, catalog }) => {
          const from = validate(() => findEnvironment(catalog, args.from));
          const fromState = await runStep(tracker, 'read-deployed-state', { environment: from });
          return { from, revision: await verifiedRevision(tracker, from, fromState, args.revision) };
        },
      },
      input,
    );
    const { args, from, environment: to, revision: commit } = opening;
    const plan = ['diff-overlay', ...(to.protected ? (['await-approval'] as const) : []), ...deliveryPlan(to)] as const;
    return underLock(opening, plan, async (toState) => {
      const prior = priorState(toState);
      const base = { from: from.name, to: to.name, revision: commit };
      if (toState?.verified && toState.revision === commit) {
        tracker.skipPending(`${to.name} already runs ${shortSha(commit)}, verified`);
        return { ...base, previousRevision: toState.previousRevision, rolledBack: false };
      }
      const { diff } = await runStep(tracker, 'diff-overlay', { environment: to, revision: commit });
      let approvedBy: string | undefined;
      if (to.protected) {
        if (args.autoApprove)
          tracker.skip('auto-approve', 'auto-approve', `ignored: ${to.name} is protected and needs an approver`);
        const approval = await run.approval.wait({
          environment: to,
          requestedBy: args.requestedBy,
          diff,
          timeoutSeconds: args.approvalTimeoutSeconds ?? DEFAULT_APPROVAL_TIMEOUT_SECONDS,
        });
        approvedBy = approval.by;
        // A freeze window may have begun while the change waited for its approver.
        validate(() => assertNotFrozen(to, Date.now()));
      }
      const { rolledBack } = await releaseWithRollback(tracker, to, commit, prior);
      return {
        ...base,
        previousRevision: prior.lastVerified,
        ...(approvedBy !== undefined ? { approvedBy } : {}),
        rolledBack,
      };
    });
  });
}
declareVersioning(promoteEnvironment, WorkflowTypes.promoteEnvironment);
