/**
 * The register of every patch ID the workflows pass to `patched()` or `deprecatePatch()`. Call sites use
 * these constants, never a string, so each ID lives here once, with when it came in, where it can be
 * reached, and when it may be deprecated and then removed.
 *
 * Why they matter: every workflow type is `AUTO_UPGRADE` on versioned workers (see `versioning.ts`), so an
 * execution that started on an older build carries on, on the new build, from its recorded history. A
 * `patched()` branch lets such an execution replay the path it took; new executions record a marker and
 * take the new path. Lifecycle of an ID: `patched(id)` → `deprecatePatch(id)` once no open execution can
 * lack the marker at the call site → no call at all once no open execution can carry the marker.
 * `test/replay/replay.test.ts` lists, from the recorded histories, which of them carry each marker and which
 * reach a patched workflow type without it.
 */
import type { WorkflowType } from '../domain/index.ts';

/** Where a patch stands: still branching (`patched`), or only keeping its marker valid (`deprecated`). */
export type PatchStage = 'patched' | 'deprecated';

/** One patch ID with its history. */
export interface Patch<I extends string = string> {
  /** The marker ID recorded in history; never change it once released. */
  readonly id: I;
  /** When the ID first appeared in `workflows/` (`git log -S '<id>' -- workflows`), and in which commit. */
  readonly introduced: { readonly date: string; readonly commit: string };
  readonly stage: PatchStage;
  /** The workflow types whose executions can reach the call site. */
  readonly workflowTypes: readonly WorkflowType[];
  /** When `patched(id)` may become `deprecatePatch(id)` (the old branch deleted). */
  readonly deprecateWhen: string;
  /** When the `deprecatePatch(id)` call may go too. */
  readonly removeWhen: string;
}

/** What a register entry states; the deprecation and removal rules follow from it. */
type PatchFacts<I extends string> = Omit<Patch<I>, 'deprecateWhen' | 'removeWhen'> & {
  /** What else must hold before the old branch goes, beyond the older executions having closed. */
  readonly alsoBeforeDeprecating: string;
};

/**
 * An entry of the register. Deprecation: no execution of its types started by a build older than the patch
 * is open, and `alsoBeforeDeprecating`. Removal: the same for the build that brought `deprecatePatch`, and
 * no recorded history carries the marker any more.
 */
function patch<const I extends string>({ alsoBeforeDeprecating, ...facts }: PatchFacts<I>): Patch<I> {
  const types = facts.workflowTypes.join(' or ');
  const openBefore = (build: string) =>
    `no ${types} started by a build before ${build} is open (visibility: WorkflowType, ExecutionStatus="Running", StartTime before its deploy)`;
  return {
    ...facts,
    deprecateWhen: `${openBefore(facts.introduced.commit)}, and ${alsoBeforeDeprecating}`,
    removeWhen: `${openBefore('the one with deprecatePatch')}, and no history in test/replay/histories carries the marker`,
  };
}

/**
 * `bootstrap-renders-overlay-first` — introduced 2026-11-26 (e70b07d). Bootstrap renders the environment's
 * overlay right after resolving the revision, so a catalog naming an overlay that does not build fails
 * before the bucket, credentials and secret exist. Every bootstrap reaches the call site.
 */
export const bootstrapRendersOverlayFirst = patch({
  id: 'bootstrap-renders-overlay-first',
  introduced: { date: '2026-11-26', commit: 'e70b07d' },
  stage: 'patched',
  workflowTypes: ['bootstrapEnvironment'],
  alsoBeforeDeprecating: 'the bootstrapEnvironment histories without the marker are recorded again',
});

/**
 * `rejected-delivery-fails-without-rollback` — introduced 2026-11-26 (e70b07d). A direct delivery the API
 * server rejects before writing anything fails `ManifestRejected` instead of rolling back. Reached only
 * after such a rejection, by rollouts and promotions; a promotion can be open for its approval timeout (up
 * to 7 days) plus its wait for the lock.
 */
export const rejectedDeliveryFailsWithoutRollback = patch({
  id: 'rejected-delivery-fails-without-rollback',
  introduced: { date: '2026-11-26', commit: 'e70b07d' },
  stage: 'patched',
  workflowTypes: ['rolloutEnvironment', 'promoteEnvironment'],
  alsoBeforeDeprecating: 'no recorded history of those types reaches a rejected delivery without the marker',
});

/**
 * `migrate-merge-pass-covers-overlay` — introduced 2026-11-26 (caed98c). The merge pass of a migration
 * covers every rendered object (creating what is absent) and, with direct delivery, is the delivery, so
 * ESO owns the Secret only after every gate. Dry runs end before the call site.
 */
export const migrateMergePassCoversOverlay = patch({
  id: 'migrate-merge-pass-covers-overlay',
  introduced: { date: '2026-11-26', commit: 'caed98c' },
  stage: 'patched',
  workflowTypes: ['migrateProduction'],
  alsoBeforeDeprecating: 'the migrateProduction histories that take the lock without the marker are recorded again',
});

/**
 * `protected-change-needs-requester` — introduced 2026-12-02 (a08d891). A promotion or (non-dry-run) migration to a
 * protected environment without `requestedBy` fails `InvalidInput` right after the environment is found,
 * before any side effect. Reached only by such runs; a promotion started without a requester before it can
 * wait for its approver up to 7 days, plus its wait for the lock.
 */
export const protectedChangeNeedsRequester = patch({
  id: 'protected-change-needs-requester',
  introduced: { date: '2026-12-02', commit: 'a08d891' },
  stage: 'patched',
  workflowTypes: ['promoteEnvironment', 'migrateProduction'],
  alsoBeforeDeprecating: 'the promoteEnvironment and migrateProduction histories recorded without a requester (promoteEnvironment--timed-out, migrateProduction--adopt, migrateProduction--merge-pass-covers-overlay) are recorded again with one',
});

/**
 * `migrate-ensures-store-identity` — introduced 2026-12-02 (730535e). A migration ensures the environment's ESO
 * reader (its key as the store credential in static mode, the service account's role annotation in sts mode)
 * before the merge pass: the overlay no longer carries the role ARN, so a store created by the migration would
 * otherwise have no identity. Dry runs end before the call site; every other migration reaches it.
 */
export const migrateEnsuresStoreIdentity = patch({
  id: 'migrate-ensures-store-identity',
  introduced: { date: '2026-12-02', commit: '730535e' },
  stage: 'patched',
  workflowTypes: ['migrateProduction'],
  alsoBeforeDeprecating: 'the migrateProduction histories that take the lock without the marker are recorded again',
});

/**
 * `record-evidence` — introduced 2026-12-02 (870856f). A rollout or promotion that delivered (verified,
 * rolled back, or failed after changing the environment) ends with the `recordEvidence` activity: its signed
 * in-toto statement stored in the environment's S3 evidence location and, with Argo CD delivery, beside the
 * pins. Reached at the end of every such run; a promotion can be open for its approval timeout (up to 7 days)
 * plus its wait for the lock.
 */
export const recordsEvidence = patch({
  id: 'record-evidence',
  introduced: { date: '2026-12-02', commit: '870856f' },
  stage: 'patched',
  workflowTypes: ['rolloutEnvironment', 'promoteEnvironment'],
  alsoBeforeDeprecating: 'the rolloutEnvironment and promoteEnvironment histories that deliver without the marker are recorded again',
});

/**
 * `aws-plan` — introduced 2026-12-02 (99d29d3). A promotion to a protected environment runs the read-only
 * `planAws` activity after the dry-run diff, each time it asks for approval, and shows the plan in
 * `progress.awaitingApproval.aws` (not in the digest). Reached by every promotion to a protected environment that
 * is not already there; such a promotion can be open for its approval timeout (up to 7 days) plus its wait for
 * the lock.
 */
export const awsPlan = patch({
  id: 'aws-plan',
  introduced: { date: '2026-12-02', commit: '99d29d3' },
  stage: 'patched',
  workflowTypes: ['promoteEnvironment'],
  alsoBeforeDeprecating: 'the promoteEnvironment histories that ask for approval without the marker are recorded again',
});

/**
 * `notify` — introduced 2026-12-02 (4a07374). Runs whose environment names
 * notification targets (`notifications` in the catalog) send events with the `notify` activity: approval requested,
 * approved, rejected, timed out (promotions), superseded (any run that waits for the lock), gate failed and rolled
 * back (rollouts and promotions), drift found and remediated (drift runs). The call site is reached only when the
 * environment has targets, so runs on catalogs without them record no marker; a promotion can be open for its
 * approval timeout (up to 7 days) plus its wait for the lock.
 */
export const notifies = patch({
  id: 'notify',
  introduced: { date: '2026-12-02', commit: '4a07374' },
  stage: 'patched',
  workflowTypes: ['promoteEnvironment', 'rolloutEnvironment', 'remediateDrift', 'bootstrapEnvironment', 'migrateProduction'],
  alsoBeforeDeprecating: 'the histories of runs on catalogs with notification targets recorded without the marker are recorded again',
});

/**
 * `lock-local-activities` — introduced 2026-12-04 (2273484). A mutating workflow asks for the
 * lease (`acquireLock`) and releases it (`releaseLock`, instead of a signal sent by the workflow and the workflow
 * task that confirms its delivery) with local activities: each runs inside the workflow task that reaches it,
 * saving a workflow task round trip apiece. Every run that takes the lock reaches both call sites; a promotion
 * can be open for its approval timeout (up to 7 days) plus its wait for the lock.
 */
export const lockLocalActivities = patch({
  id: 'lock-local-activities',
  introduced: { date: '2026-12-04', commit: '2273484' },
  stage: 'patched',
  workflowTypes: ['bootstrapEnvironment', 'rolloutEnvironment', 'promoteEnvironment', 'migrateProduction', 'remediateDrift'],
  alsoBeforeDeprecating: 'the histories that take the lock without the marker are recorded again',
});

/**
 * `read-only-steps-run-locally` — introduced 2026-12-04 (7db2bf9). The read-only steps that
 * end on their own — `load-catalog`, `resolve-revision`, `render-overlay` — run as local activities inside the
 * workflow task that reaches them, each saving an activity task and a workflow task round trip. Every run reaches
 * the first call site (`load-catalog` opens every workflow); a promotion can be open for its approval timeout (up to
 * 7 days) plus its wait for the lock.
 */
export const readOnlyStepsRunLocally = patch({
  id: 'read-only-steps-run-locally',
  introduced: { date: '2026-12-04', commit: '7db2bf9' },
  stage: 'patched',
  workflowTypes: ['bootstrapEnvironment', 'rolloutEnvironment', 'promoteEnvironment', 'migrateProduction', 'remediateDrift'],
  alsoBeforeDeprecating: 'the histories recorded without the marker are recorded again',
});

/**
 * `lock-acquired-by-activity` — introduced 2026-12-04 (f514666). A mutating workflow asks for the lease with the
 * `acquireLock` activity again, no longer a local activity: a local activity's workflow task holds its worker's slot
 * while it runs, and the lock's answer needs a workflow task of the lock on the same worker. With the opening steps
 * local (`read-only-steps-run-locally`) the ask ran in the run's first workflow task, and runs asking at once stalled
 * (of 50 concurrent bootstraps on the default 40 slots, 31 failed when their asks ran out of attempts). The release
 * stays a local activity (a signal: no workflow task of the lock answers it). Every run that takes the lock reaches the call site; a promotion
 * can be open for its approval timeout (up to 7 days) plus its wait for the lock.
 */
export const lockAcquiredByActivity = patch({
  id: 'lock-acquired-by-activity',
  introduced: { date: '2026-12-04', commit: 'f514666' },
  stage: 'patched',
  workflowTypes: ['bootstrapEnvironment', 'rolloutEnvironment', 'promoteEnvironment', 'migrateProduction', 'remediateDrift'],
  alsoBeforeDeprecating: 'the histories that ask for the lease with a local activity (lock-local-activities without this marker) are recorded again',
});

/**
 * `state-read-under-lock-runs-locally` — introduced 2026-12-05 (75f113f). The read of the deployed-state record right after
 * the lease is granted (`read-deployed-state` in `underLock`) runs as a local activity, inside the workflow task that
 * learns of the grant: one activity task and one workflow task round trip fewer on every run that takes the lock, on
 * the lock's critical path. The other reads of the record (a promotion's of its source, and of its target before
 * approval) stay activities. Every run that takes the lock through `underLock` reaches the call site; a promotion can
 * be open for its approval timeout (up to 7 days) plus its wait for the lock.
 */
export const stateReadUnderLockRunsLocally = patch({
  id: 'state-read-under-lock-runs-locally',
  introduced: { date: '2026-12-05', commit: '75f113f' },
  stage: 'patched',
  workflowTypes: ['bootstrapEnvironment', 'rolloutEnvironment', 'promoteEnvironment', 'migrateProduction'],
  alsoBeforeDeprecating: 'the histories that read the record under the lock with an activity are recorded again',
});

/**
 * A change no `patched()` can bridge: executions started before it cannot continue on code after it, so the
 * histories recorded before it are retired (kept in `retiredHistories`, checked to fail replay) rather than
 * replayed, and a deploy across it follows `upgrade`.
 */
export interface Retirement {
  readonly id: string;
  readonly date: string;
  /** What changed, and why a patch cannot carry old executions across. */
  readonly reason: string;
  readonly workflowTypes: readonly (WorkflowType | 'environmentLock')[];
  /** The folder, under `test/replay/retired/`, of the histories recorded before it. */
  readonly retiredHistories: string;
  /** What an operator does before deploying a build with it over a build without it. */
  readonly upgrade: string;
}

/**
 * `lock-by-signals` — 2026-12-02. The environment lock moved from signals exchanged between workflows
 * (acquire, granted, queued, refused, lease checks, release; the lock started as an abandoned child) to an
 * Update sent by the `acquireLock` activity with update-with-start, lease tokens, a watch activity of the
 * holder, and approval outside the lock. Every mutating workflow and the lock itself schedule other
 * commands at the points the old histories signal, so no marker could route them: old executions end on the
 * build they started on.
 */
export const lockBySignals: Retirement = {
  id: 'lock-by-signals',
  date: '2026-12-02',
  reason: 'the lock protocol changed from workflow-to-workflow signals to an Update with lease tokens and a holder watch',
  workflowTypes: ['bootstrapEnvironment', 'rolloutEnvironment', 'promoteEnvironment', 'migrateProduction', 'remediateDrift', 'environmentLock'],
  retiredHistories: 'lock-by-signals',
  upgrade: 'drain: no mutating workflow running or waiting for approval (visibility: ExecutionStatus="Running" AND WorkflowType != "environmentLock"); terminate every lock-<env>; then deploy the new build',
};

/** Every retirement in the register. */
export const RETIREMENTS: readonly Retirement[] = [lockBySignals];

/** Every patch in the register. */
export const PATCHES: readonly Patch[] = [
  bootstrapRendersOverlayFirst,
  rejectedDeliveryFailsWithoutRollback,
  migrateMergePassCoversOverlay,
  protectedChangeNeedsRequester,
  migrateEnsuresStoreIdentity,
  recordsEvidence,
  awsPlan,
  notifies,
  lockLocalActivities,
  readOnlyStepsRunLocally,
  lockAcquiredByActivity,
  stateReadUnderLockRunsLocally,
];
