/**
 * The Worker Versioning behaviour of each workflow type, decided here and declared on the workflow
 * function. Reasons in `docs/workflow-versioning.md`; in short, logstack runs one worker per task queue and
 * replaces it with each new build, so an execution pinned to the old build would have no worker left: every
 * type is `AUTO_UPGRADE` and stays replay-safe with patches (`patches.ts`).
 */
import { setWorkflowOptions, workflowInfo } from '@temporalio/workflow';
import type { VersioningBehavior } from '@temporalio/common';
import { LOCK_WORKFLOW_TYPE, type WorkflowType } from '../domain/index.ts';

/** The lock workflow's type name (it is not one of the user-facing {@link WorkflowType}s); defined in domain/lock.ts. */
export { LOCK_WORKFLOW_TYPE };

/**
 * The behaviour of every workflow type on a versioned worker. `AUTO_UPGRADE` for all of them:
 * - `promoteEnvironment` waits up to `approvalTimeoutSeconds` (24 h by default, 7 days at most) for an
 *   approver; pinned, it would be stranded when the only worker is replaced by a new build.
 * - `bootstrapEnvironment`, `rolloutEnvironment`, `migrateProduction` can queue for the environment lock behind
 *   long holders (a migration, a promotion's gates), so they can outlive a deploy too.
 * - `remediateDrift` is short but continues as new; each run should start on the current build.
 * - `environmentLock` never ends (it continues as new when its history grows); pinned, it would keep the first build it
 *   ran on alive forever.
 */
export const versioningBehaviors = {
  bootstrapEnvironment: 'AUTO_UPGRADE',
  rolloutEnvironment: 'AUTO_UPGRADE',
  promoteEnvironment: 'AUTO_UPGRADE',
  migrateProduction: 'AUTO_UPGRADE',
  remediateDrift: 'AUTO_UPGRADE',
  [LOCK_WORKFLOW_TYPE]: 'AUTO_UPGRADE',
} as const satisfies Record<WorkflowType | typeof LOCK_WORKFLOW_TYPE, VersioningBehavior>;

/** A workflow type with a declared behaviour. */
export type VersionedWorkflowType = keyof typeof versioningBehaviors;

/**
 * True when the current workflow task runs on a worker of a Worker Deployment (the worker was given a
 * deployment name). Unversioned workers — the default, the time-skipping tests and replay — have none.
 */
function onVersionedWorker(): boolean {
  return (workflowInfo().currentDeploymentVersion?.deploymentName ?? '') !== '';
}

/**
 * Declares `workflow`'s behaviour from {@link versioningBehaviors}. Only on a versioned worker: a server
 * refuses every workflow task from an unversioned worker that names a behaviour, and versioning stays
 * opt-in (`LOGSTACK_DEPLOYMENT_NAME` and `LOGSTACK_BUILD_ID` on the worker). The option is read once per
 * execution, at its first activation on a worker, where it is deterministic: a replayed task reports the
 * version recorded in history.
 */
export function declareVersioning<A extends unknown[], R>(
  workflow: (...args: A) => Promise<R>,
  type: VersionedWorkflowType,
): void {
  setWorkflowOptions(() => (onVersionedWorker() ? { versioningBehavior: versioningBehaviors[type] } : {}), workflow);
}
