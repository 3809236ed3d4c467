/** `rolloutEnvironment`: one revision to one environment, with automatic rollback. */
import { rolloutInputSchema, WorkflowTypes, type RolloutInput, type RolloutResult } from '../domain/index.ts';
import { deliveryPlan, priorState, releaseWithRollback } from './delivery.ts';
import { withEvidence } from './evidence.ts';
import { notifyDelivery } from './notify.ts';
import type { LockOptions } from './lock.ts';
import { prepare, runWorkflow, underLock } from './run.ts';
import { runStep } from './steps/index.ts';
import { declareVersioning } from './versioning.ts';

/** Input of {@link rolloutEnvironment}. */
export type RolloutWorkflowInput = RolloutInput & LockOptions;

/**
 * Delivers `revision` (branch, tag or SHA, resolved to a commit) to one environment, waits for its gates and
 * records it verified, then records its signed evidence (`workflows/evidence.ts`). When a gate fails, rolls back to the previous verified revision and waits for it to be
 * healthy again (`rolledBack: true`); a failed rollback fails the workflow (`GateFailed`, `rollbackFailed`).
 * `AUTO_UPGRADE` on versioned workers: it can wait for the lock behind a day-long promotion (`versioning.ts`).
 * @throws ApplicationFailure `InvalidInput`, `UnknownEnvironment`, `ChangeFreeze` before any side effect;
 *   `EnvironmentLocked` (failIfLocked); `GateFailed`/`ManifestRejected` when there is nothing to roll back to.
 */
export async function rolloutEnvironment(input: RolloutWorkflowInput): Promise<RolloutResult> {
  return runWorkflow(WorkflowTypes.rolloutEnvironment, async (run) => {
    const opening = await prepare(
      run,
      {
        schema: rolloutInputSchema(),
        environment: (args) => args.environment,
        resolve: async ({ args }) => ({
          revision: (await runStep(run.tracker, 'resolve-revision', { revision: args.revision })).commit,
        }),
      },
      input,
    );
    const { environment, revision, catalog } = opening;
    return underLock(opening, deliveryPlan(environment), async (state) => {
      const prior = priorState(state);
      const facts = () => ({ catalogRemote: catalog.gitops.remote, environment, from: null, revision, previousRevision: prior.lastVerified, diffDigest: null, approvals: [] });
      return withEvidence(run.tracker, facts, () =>
        notifyDelivery(run.notifier, environment, revision, async (onRollback) => {
          const { rolledBack } = await releaseWithRollback(run.tracker, environment, revision, prior, onRollback);
          return { environment: environment.name, revision, previousRevision: prior.lastVerified, rolledBack };
        }),
      );
    });
  });
}
declareVersioning(rolloutEnvironment, WorkflowTypes.rolloutEnvironment);
