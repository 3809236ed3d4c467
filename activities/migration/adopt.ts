/**
 * Taking over objects that scripts or `kubectl apply` created, without deleting or recreating any:
 * inventory who manages each rendered object, then adopt in two phases — `merge` applies the
 * ExternalSecrets with `creationPolicy: Merge` so ESO writes into the script-made Secret instead of
 * fighting over it, `own` applies them as rendered (`Owner`). Both phases take field ownership by
 * server-side apply with force: the explicit, reviewed takeover the normal apply never does. Then the
 * client-side managers' entries and their last-applied annotation are dropped (as `kubectl apply
 * --server-side` does when it upgrades an object): otherwise `kubectl-client-side-apply` keeps co-owning
 * every field it ever set, and a field later removed from Git would silently stay. Fields only the
 * script set are left in place, owned by nobody: adoption removes nothing.
 */
import { type Environment, FIELD_MANAGER, FailureType } from '../../domain/index.ts';
import type { MigrationInventory } from '../../domain/activity-contract.ts';
import { nonRetryable } from '../errors.ts';
import type { GitRepo } from '../gitops/git.ts';
import type { OverlayRenderer } from '../gitops/render.ts';
import { assertOperatorRules } from '../gitops/preflight.ts';
import { resolveRevision } from '../gitops/revisions.ts';
import { readObject, serverSideApply } from '../kubernetes/apply.ts';
import type { KubeCluster, KubeClusters } from '../kubernetes/cluster.ts';
import { mapWriteError } from '../kubernetes/failures.ts';
import { type KubeObject, appliedBy, cloneJson, refOf, sameDesiredState } from '../kubernetes/objects.ts';
import { applyOrder, inventoryId, withInventoryLabel } from '../kubernetes/overlay.ts';
import { PatchType } from '../kubernetes/rest.ts';

/** Annotation `kubectl apply` (client-side) leaves on objects it manages. */
export const LAST_APPLIED_ANNOTATION = 'kubectl.kubernetes.io/last-applied-configuration';
const CLIENT_SIDE_MANAGERS = new Set(['kubectl-client-side-apply', 'before-first-apply']);

type ManagedBy = MigrationInventory['objects'][number]['managedBy'];

/** Who manages a live object: logstack (server-side apply), client-side apply, or a script. */
export function managedBy(live: KubeObject | undefined): ManagedBy {
  if (!live) return 'absent';
  if (appliedBy(live, FIELD_MANAGER)) return 'logstack';
  const csa = live.metadata.annotations?.[LAST_APPLIED_ANNOTATION] !== undefined || (live.metadata.managedFields ?? []).some((m) => CLIENT_SIDE_MANAGERS.has(m.manager ?? ''));
  return csa ? 'client-side-apply' : 'script';
}

/** The object to apply in `phase`: ExternalSecrets get `creationPolicy: Merge` in the merge phase. */
export function forPhase(obj: KubeObject, phase: 'merge' | 'own'): KubeObject {
  if (phase !== 'merge' || obj.kind !== 'ExternalSecret') return obj;
  const copy = cloneJson(obj);
  const spec = (copy['spec'] ?? {}) as { target?: Record<string, unknown> };
  spec.target = { ...spec.target, creationPolicy: 'Merge' };
  copy['spec'] = spec;
  return copy;
}

/** What migration needs. */
export interface MigrationDeps {
  readonly clusters: KubeClusters;
  readonly repo: () => Promise<GitRepo>;
  readonly renderer: () => Promise<OverlayRenderer>;
}

async function renderFor(deps: MigrationDeps, env: Environment, revision: string): Promise<KubeObject[]> {
  const commit = await resolveRevision(await deps.repo(), revision);
  const rendered = await (await deps.renderer()).render(commit, env.overlay);
  // The operators' rules first (`../gitops/preflight.ts`): a migration never takes objects over into a state they refuse.
  assertOperatorRules(env, rendered);
  return applyOrder(rendered.objects.map((o) => withInventoryLabel(o, inventoryId(env.name, env.overlay))));
}

/** Whether a client-side manager still owns fields of `live`, or its last-applied annotation is still there. */
function clientSideOwned(live: KubeObject): boolean {
  return live.metadata.annotations?.[LAST_APPLIED_ANNOTATION] !== undefined || (live.metadata.managedFields ?? []).some((m) => CLIENT_SIDE_MANAGERS.has(m.manager ?? ''));
}

type Header = { apiVersion: string; kind: string; name: string; namespace?: string | undefined };

/**
 * Drops the client-side managers' managedFields entries and the last-applied annotation, guarded by the
 * resourceVersion just read (a concurrent write, e.g. a controller's status, makes it read and try again).
 */
async function releaseClientSideOwnership(cluster: KubeCluster, header: Header): Promise<void> {
  const info = await cluster.resource(header.apiVersion, header.kind);
  const path = cluster.objectPath(info, header.name, header.namespace);
  for (let attempt = 1; ; attempt++) {
    const live = await readObject(cluster, header);
    if (!live || !clientSideOwned(live)) return;
    const patch: object[] = [
      { op: 'test', path: '/metadata/resourceVersion', value: live.metadata.resourceVersion },
      { op: 'replace', path: '/metadata/managedFields', value: (live.metadata.managedFields ?? []).filter((m) => !CLIENT_SIDE_MANAGERS.has(m.manager ?? '')) },
    ];
    if (live.metadata.annotations?.[LAST_APPLIED_ANNOTATION] !== undefined) {
      patch.push({ op: 'remove', path: `/metadata/annotations/${LAST_APPLIED_ANNOTATION.replace(/~/g, '~0').replace(/\//g, '~1')}` });
    }
    try {
      await cluster.request({ method: 'PATCH', path, query: { fieldManager: FIELD_MANAGER }, contentType: PatchType.JsonPatch, body: patch });
      return;
    } catch (error) {
      if (attempt >= 5) throw mapWriteError(error, refOf({ kind: header.kind, metadata: { name: header.name, namespace: header.namespace } }), `cluster "${cluster.context}"`);
    }
  }
}

async function adoptOne(cluster: KubeCluster, obj: KubeObject): Promise<boolean> {
  const header = { apiVersion: obj.apiVersion, kind: obj.kind, name: obj.metadata.name, namespace: obj.metadata.namespace };
  const live = await readObject(cluster, header);
  if (live && appliedBy(live, FIELD_MANAGER) && !clientSideOwned(live)) {
    const dry = await serverSideApply(cluster, obj, { dryRun: true, force: true });
    if (sameDesiredState(live, dry)) return false;
  }
  await serverSideApply(cluster, obj, { force: true });
  await releaseClientSideOwnership(cluster, header);
  return true;
}

/** Creates `inventoryLiveObjects` and `adoptObjects`. */
export function createMigrationActivities(deps: MigrationDeps) {
  return {
    /** Lists every object rendered at `revision` with who manages it live. Read-only. */
    inventoryLiveObjects: async (input: { environment: Environment; revision: string }): Promise<MigrationInventory> => {
      const env = input.environment;
      const cluster = deps.clusters.forContext(env.cluster.context);
      const objects: MigrationInventory['objects'][number][] = [];
      for (const obj of await renderFor(deps, env, input.revision)) {
        if (!(await cluster.tryResource(obj.apiVersion, obj.kind))) {
          objects.push({ ref: refOf(obj), managedBy: 'absent' });
          continue;
        }
        const live = await readObject(cluster, { apiVersion: obj.apiVersion, kind: obj.kind, name: obj.metadata.name, namespace: obj.metadata.namespace });
        objects.push({ ref: refOf(obj), managedBy: managedBy(live) });
      }
      return { objects };
    },

    /**
     * Adopts the named objects (references as listed by the inventory) in `phase`, never deleting
     * anything. Idempotent: objects already as rendered and owned by logstack are reported unchanged.
     * @throws ApplicationFailure `InvalidInput` for a reference that is not rendered at `revision`;
     *   `ManifestRejected`, `MissingCustomResource`.
     */
    adoptObjects: async (input: { environment: Environment; revision: string; objects: string[]; phase: 'merge' | 'own' }): Promise<{ adopted: string[]; unchanged: string[] }> => {
      const env = input.environment;
      const cluster = deps.clusters.forContext(env.cluster.context);
      const rendered = await renderFor(deps, env, input.revision);
      const unknown = input.objects.filter((ref) => !rendered.some((o) => refOf(o) === ref));
      if (unknown.length) {
        throw nonRetryable(FailureType.InvalidInput, `not rendered at ${input.revision}: ${unknown.join(', ')}; adopt only objects listed by inventoryLiveObjects`, { unknown });
      }
      const adopted: string[] = [];
      const unchanged: string[] = [];
      for (const obj of rendered.filter((o) => input.objects.includes(refOf(o)))) {
        (await adoptOne(cluster, forPhase(obj, input.phase)) ? adopted : unchanged).push(refOf(obj));
      }
      return { adopted, unchanged };
    },
  };
}
