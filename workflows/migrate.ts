/** `migrateProduction`: zero-downtime takeover of script-managed objects by GitOps. */
import { patched } from '@temporalio/workflow';
import {
  FailureType,
  migrateInputSchema,
  shortSha,
  WorkflowTypes,
  type MigrateInput,
  type MigrateResult,
} from '../domain/index.ts';
import { deliver, postDeliveryGates, priorState, runGates } from './delivery.ts';
import { typedFailure } from './failures.ts';
import type { LockOptions } from './lock.ts';
import { migrateEnsuresStoreIdentity, migrateMergePassCoversOverlay } from './patches.ts';
import { Phase } from './progress.ts';
import { prepare, runWorkflow, underLock } from './run.ts';
import { planSteps, runStep } from './steps/index.ts';
import { declareVersioning } from './versioning.ts';

/** Input of {@link migrateProduction}. */
export type MigrateWorkflowInput = MigrateInput & LockOptions;

const unique = (xs: readonly string[]): string[] => [...new Set(xs)];

/**
 * Takes over what a script made in production without deleting anything: inventory the live objects and
 * who manages them, dry-run the overlay (refusing destructive changes), then adopt — ESO `Merge` onto the
 * existing Loki Secret and server-side apply taking field ownership — so the Secret exists with valid keys
 * at every moment; deliver with pruning off; wait for every gate; switch ESO to `Owner`; and only then prune
 * and record the revision verified. The merge pass also creates what is absent (a script estate has no
 * ExternalSecret and no store: ESO needs both before it can take the Secret over) and, with direct delivery,
 * is the delivery itself, so no plain apply turns the ExternalSecret to `Owner` before the gates are green.
 * `dryRun` stops after the plan: `adopted` then lists what would be adopted, `skipped` what will be created.
 * The revision is the one verified in production, or the GitOps branch head when none is.
 * `AUTO_UPGRADE` on versioned workers: it can wait for the lock behind a day-long promotion (`versioning.ts`).
 * @throws ApplicationFailure `InvalidInput`, `UnknownEnvironment`, `ChangeFreeze` before any side effect;
 *   `ManifestRejected` (destructive plan or rejected apply), `GateFailed`, `EnvironmentLocked` (failIfLocked),
 *   `Superseded`, `RevisionNotVerified` (the verified revision moved while it waited for the lock).
 */
export async function migrateProduction(input: MigrateWorkflowInput): Promise<MigrateResult> {
  return runWorkflow(WorkflowTypes.migrateProduction, async (run) => {
    const { tracker } = run;
    const opening = await prepare(
      run,
      {
        schema: migrateInputSchema(),
        environment: (args) => args.environment ?? 'production',
        // A dry run changes nothing, so it may show its plan inside a freeze window.
        changes: (args) => !(args.dryRun ?? false),
        requester: (args) => args.requestedBy,
        // The revision to migrate to comes from the record read here; it is read again under the lock.
        resolve: async ({ environment, catalog }) => {
          const prior = priorState(await runStep(tracker, 'read-deployed-state', { environment }));
          const revision =
            prior.lastVerified ??
            (await runStep(tracker, 'resolve-revision', { revision: catalog.gitops.branch })).commit;
          return { prior, revision };
        },
      },
      input ?? {},
    );
    const { args, environment, revision, prior } = opening;
    const dryRun = args.dryRun ?? false;

    const plan = async () => {
      tracker.setPhase(Phase.planning);
      const inventory = await runStep(tracker, 'inventory-live-objects', { environment, revision });
      const { diff } = await runStep(tracker, 'diff-overlay', { environment, revision });
      return {
        toAdopt: inventory.objects
          .filter((o) => o.managedBy === 'script' || o.managedBy === 'client-side-apply')
          .map((o) => o.ref),
        managed: inventory.objects.filter((o) => o.managedBy === 'logstack').map((o) => o.ref),
        absent: inventory.objects.filter((o) => o.managedBy === 'absent').map((o) => o.ref),
        diff,
      };
    };

    if (dryRun) {
      planSteps(tracker, ['inventory-live-objects', 'diff-overlay']);
      const { toAdopt, managed, absent } = await plan();
      tracker.finish(Phase.planned);
      return { adopted: toAdopt, unchanged: managed, skipped: absent, gates: [] };
    }

    const mergePassCoversOverlay = patched(migrateMergePassCoversOverlay.id);
    // ESO reads Secrets Manager as the environment's own reader: its credential (static) or the service account's
    // role annotation (sts) comes from the worker, not from the overlay, so it must exist before ESO takes over.
    const ensuresStoreIdentity = patched(migrateEnsuresStoreIdentity.id);
    const mergePassDelivers = mergePassCoversOverlay && environment.delivery === 'direct';
    planSteps(tracker, [
      'acquire-lock',
      'read-deployed-state',
      'inventory-live-objects',
      'diff-overlay',
      ...(ensuresStoreIdentity ? (['ensure-store-credential'] as const) : []),
      'adopt-objects',
      'wait-external-secret-synced',
      ...(environment.delivery === 'argocd'
        ? (['pin-revision', 'wait-argocd-app'] as const)
        : mergePassDelivers
          ? []
          : (['apply-overlay'] as const)),
      'record-deployed-state',
      ...postDeliveryGates(environment),
      'adopt-objects',
      'wait-external-secret-synced',
      ...(environment.delivery === 'direct' ? (['prune-overlay'] as const) : []),
      'record-deployed-state',
    ]);
    return underLock(opening, null, async (state) => {
      // Another change may have verified a new revision while this one waited in line: migrating to the one
      // read before the lock would then undo it.
      const current = priorState(state);
      if (current.lastVerified !== prior.lastVerified) {
        throw typedFailure(
          FailureType.RevisionNotVerified,
          `the revision verified in ${environment.name} moved from ${prior.lastVerified ? shortSha(prior.lastVerified) : 'none'} to ${current.lastVerified ? shortSha(current.lastVerified) : 'none'} while this migration waited for the lock; start it again to migrate at the revision verified now`,
          { environment: environment.name, expected: prior.lastVerified, found: current.lastVerified },
        );
      }
      const { toAdopt, managed, absent, diff } = await plan();
      if (diff.destructive.length > 0 || diff.toBeDeleted.length > 0) {
        throw typedFailure(
          FailureType.ManifestRejected,
          `the overlay would delete or replace live objects in ${environment.name} (${[...diff.destructive, ...diff.toBeDeleted].join(', ')}); a zero-downtime migration only adopts — make the overlay match the live objects, then migrate again`,
          { environment: environment.name, destructive: diff.destructive, toBeDeleted: diff.toBeDeleted },
        );
      }
      if (ensuresStoreIdentity) await runStep(tracker, 'ensure-store-credential', { environment });
      tracker.setPhase(Phase.adopting);
      const adopted: string[] = [];
      const unchanged: string[] = [...managed];
      const scriptManaged = (ref: string): boolean => toAdopt.includes(ref);
      // Both passes go over every rendered object: absent ones are created (in Merge), managed ones converge.
      const passObjects = mergePassCoversOverlay ? [...toAdopt, ...managed, ...absent] : toAdopt;
      const adoptionPass = async (phase: 'merge' | 'own'): Promise<{ adopted: string[]; unchanged: string[] }> => {
        if (passObjects.length === 0) {
          tracker.skip('adopt-objects', `adopt objects (${phase})`, 'nothing is managed by a script');
          return { adopted: [], unchanged: [] };
        }
        return runStep(tracker, 'adopt-objects', { environment, revision, objects: passObjects, phase });
      };
      const merged = await adoptionPass('merge');
      adopted.push(...merged.adopted.filter(scriptManaged));
      unchanged.push(...merged.unchanged.filter(scriptManaged));
      await runStep(tracker, 'wait-external-secret-synced', { environment });

      tracker.setPhase(Phase.delivering);
      const gates = [];
      const argo = mergePassDelivers ? undefined : await deliver(tracker, environment, revision);
      if (argo) gates.push(argo);
      await runStep(tracker, 'record-deployed-state', {
        environment,
        revision,
        verified: false,
        previousRevision: prior.lastVerified,
      });
      tracker.setPhase(Phase.verifying);
      gates.push(...(await runGates(tracker, environment, revision)));

      // Every gate is green: hand the Secret to ESO for good, and only now let pruning remove leftovers.
      tracker.setPhase(Phase.adopting);
      adopted.push(...(await adoptionPass('own')).adopted.filter(scriptManaged));
      await runStep(tracker, 'wait-external-secret-synced', { environment });
      if (environment.delivery === 'direct') await runStep(tracker, 'prune-overlay', { environment, revision });
      await runStep(tracker, 'record-deployed-state', {
        environment,
        revision,
        verified: true,
        previousRevision: prior.lastVerified,
      });
      const adoptedRefs = unique(adopted);
      return {
        adopted: adoptedRefs,
        unchanged: unique(unchanged).filter((r) => !adoptedRefs.includes(r)),
        skipped: absent,
        gates,
      };
    });
  });
}
declareVersioning(migrateProduction, WorkflowTypes.migrateProduction);
