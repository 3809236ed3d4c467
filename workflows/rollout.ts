/** `rolloutEnvironment`: one revision to one environment, with automatic rollback. */
import {
  assertNotFrozen,
  findEnvironment,
  rolloutInputSchema,
  WorkflowTypes,
  type RolloutInput,
  type RolloutResult,
} from '../domain/index.ts';
import { deliveryPlan, priorState, releaseWithRollback } from './delivery.ts';
import { validate } from './failures.ts';
import type { LockOptions } from './lock.ts';
import { beginRun, execute, loadCatalog, parseWithLockOption } from './run.ts';
import { markWorkflow } from './search-attributes.ts';
import { planSteps, runStep } from './steps/index.ts';

/** Input of {@link rolloutEnvironment}. */
export type RolloutWorkflowInput = RolloutInput & LockOptions;

/**
 * Delivers `revision` (branch, tag or SHA, resolved to a commit) to one environment, waits for its gates and
 * records it verified. When a gate fails, rolls back to the previous verified revision and waits for it to be
 * healthy again (`rolledBack: true`); a failed rollback fails the workflow (`GateFailed`, `rollbackFailed`).
 * @throws ApplicationFailure `InvalidInput`, `UnknownEnvironment`, `ChangeFreeze` before any side effect;
 *   `EnvironmentLocked` (failIfLocked); `GateFailed`/`ManifestRejected` when there is nothing to roll back to.
 */
export async function rolloutEnvironment(input: RolloutWorkflowInput): Promise<RolloutResult> {
  const run = beginRun(WorkflowTypes.rolloutEnvironment);
  const { tracker } = run;
  return execute(run, async () => {
    const { input: args, failIfLocked } = parseWithLockOption(rolloutInputSchema, input, WorkflowTypes.rolloutEnvironment);
    const catalog = await loadCatalog(run);
    const environment = validate(() => findEnvironment(catalog, args.environment));
    validate(() => assertNotFrozen(environment, Date.now()));
    markWorkflow({ environment: environment.name });
    const { commit } = await runStep(tracker, 'resolve-revision', { revision: args.revision });
    markWorkflow({ revision: commit });

    planSteps(tracker, ['acquire-lock', 'read-deployed-state', ...deliveryPlan(environment)]);
    return run.locks.withLock(environment.name, { failIfLocked }, async () => {
      const prior = priorState(await runStep(tracker, 'read-deployed-state', { environment }));
      const { rolledBack } = await releaseWithRollback(tracker, environment, commit, prior);
      return { environment: environment.name, revision: commit, previousRevision: prior.lastVerified, rolledBack };
    });
  });
}
