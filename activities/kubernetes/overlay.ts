/**
 * Applying a rendered overlay to a cluster: a server-side dry-run first of every object the cluster can check
 * (so a rejected manifest, a field conflict or a missing kind fails before anything is written; a kind is looked
 * up for every object, but an object in a namespace the apply creates can only be checked by its own apply), a
 * diff summary of names only, then ordered server-side apply and — only when asked — pruning of objects that carry
 * the inventory label and are no longer rendered.
 */
import { createHash } from 'node:crypto';
import { type DiffSummary, FIELD_MANAGER, INVENTORY_LABEL } from '../../domain/index.ts';
import { deleteObject, listObjects, readObject, serverSideApply } from './apply.ts';
import type { KubeCluster } from './cluster.ts';
import { apiErrorOf, isImmutableFieldError } from './failures.ts';
import { type KubeObject, appliedBy, canonicalJson, cloneJson, comparable, fieldAt, keyOf, refOf, sameDesiredState } from './objects.ts';

/** Options of one overlay apply. */
export interface OverlayApplyOptions {
  /** Only compute the diff (server-side dry run); write nothing. */
  readonly dryRun?: boolean;
  /** Delete labelled objects that are no longer rendered. Never without this flag. */
  readonly prune?: boolean;
  /** The inventory label value: names the apply set (see {@link inventoryId}). */
  readonly inventory: string;
  /** Take over fields owned by other managers (adoption only). */
  readonly force?: boolean;
}

/** What an apply did (or would do). */
export interface OverlayApplyResult {
  readonly applied: number;
  readonly deleted: number;
  readonly diff: DiffSummary;
}

/** Kinds always searched for labelled leftovers when pruning, beyond the rendered kinds. */
export const PRUNE_KINDS: readonly { apiVersion: string; kind: string }[] = [
  { apiVersion: 'v1', kind: 'Namespace' },
  { apiVersion: 'v1', kind: 'ConfigMap' },
  { apiVersion: 'v1', kind: 'ServiceAccount' },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole' },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding' },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role' },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding' },
  { apiVersion: 'operators.coreos.com/v1', kind: 'OperatorGroup' },
  { apiVersion: 'operators.coreos.com/v1alpha1', kind: 'Subscription' },
  { apiVersion: 'external-secrets.io/v1', kind: 'ClusterSecretStore' },
  { apiVersion: 'external-secrets.io/v1', kind: 'ExternalSecret' },
  { apiVersion: 'loki.grafana.com/v1', kind: 'LokiStack' },
  { apiVersion: 'observability.openshift.io/v1', kind: 'ClusterLogForwarder' },
  { apiVersion: 'argoproj.io/v1alpha1', kind: 'Application' },
];

/** A kind's key: in {@link DATA_KINDS} and in the inventory listing. */
const kindKey = (k: { apiVersion: string; kind: string }): string => `${k.apiVersion}|${k.kind}`;

/**
 * Kinds that hold data: searched for the inventory label only in the namespaces the apply set uses, never across
 * namespaces (the worker's RBAC lists them per namespace only).
 */
export const DATA_KINDS: ReadonlySet<string> = new Set(['v1|ConfigMap']);

/** The namespaces an apply set uses: those of its namespaced objects and the Namespaces it holds. */
export function namespacesOf(objects: readonly KubeObject[]): string[] {
  const names = objects.flatMap((o) => (o.kind === 'Namespace' && o.apiVersion === 'v1' ? [o.metadata.name] : o.metadata.namespace ? [o.metadata.namespace] : []));
  return [...new Set(names)].sort();
}

/** Lists the objects of one kind that carry `labelSelector`: across namespaces, or for {@link DATA_KINDS} in `namespaces` only. */
export async function listLabelled(cluster: KubeCluster, k: { apiVersion: string; kind: string }, labelSelector: string, namespaces: readonly string[]): Promise<KubeObject[]> {
  if (!DATA_KINDS.has(kindKey(k))) return (await listObjects(cluster, { ...k, labelSelector })).items;
  const items: KubeObject[] = [];
  for (const namespace of namespaces) items.push(...(await listObjects(cluster, { ...k, namespace, labelSelector })).items);
  return items;
}

/** Apply order within a sync wave: what others depend on first. */
const KIND_ORDER = [
  'Namespace',
  'CustomResourceDefinition',
  'ServiceAccount',
  'ClusterRole',
  'ClusterRoleBinding',
  'Role',
  'RoleBinding',
  'ConfigMap',
  'Secret',
  'OperatorGroup',
  'CatalogSource',
  'Subscription',
  'ClusterSecretStore',
  'SecretStore',
  'ExternalSecret',
  'LokiStack',
  'ClusterLogForwarder',
];

function syncWave(obj: KubeObject): number {
  const wave = Number(obj.metadata.annotations?.['argocd.argoproj.io/sync-wave'] ?? 0);
  return Number.isFinite(wave) ? wave : 0;
}

function kindRank(obj: KubeObject): number {
  const i = KIND_ORDER.indexOf(obj.kind);
  return i < 0 ? KIND_ORDER.length : i;
}

/** Objects in apply order: sync wave, then dependency rank of the kind, then name. */
export function applyOrder(objects: readonly KubeObject[]): KubeObject[] {
  return [...objects].sort((a, b) => syncWave(a) - syncWave(b) || kindRank(a) - kindRank(b) || refOf(a).localeCompare(refOf(b)));
}

/**
 * The inventory label value of one apply set: environment and overlay (`dev.overlays.dev`), so
 * pruning one overlay never touches objects another overlay (e.g. bootstrap) applied. Always a valid
 * label value (≤ 63 characters; long names end in a hash).
 */
export function inventoryId(environment: string, overlay: string): string {
  const id = `${environment}.${overlay.replace(/^gitops\//, '')}`.replace(/[^A-Za-z0-9_.-]+/g, '.').replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
  if (id.length <= 63) return id;
  return `${id.slice(0, 50).replace(/[^A-Za-z0-9]+$/, '')}-${createHash('sha256').update(id).digest('hex').slice(0, 12)}`;
}

/** Gives the object the inventory label of its apply set (the label is logstack's own). */
export function withInventoryLabel(obj: KubeObject, inventory: string): KubeObject {
  const copy = cloneJson(obj);
  copy.metadata.labels = { ...copy.metadata.labels, [INVENTORY_LABEL]: inventory };
  return copy;
}

/** Spec fields of a LokiStack whose change replaces storage or capacity. */
const LOKI_DESTRUCTIVE_FIELDS = [['spec', 'size'], ['spec', 'storage'], ['spec', 'storageClassName']] as const;

/** Why a change of `live` into `next` loses data or availability, if it does. */
export function destructiveReason(live: KubeObject, next: KubeObject): string | undefined {
  if (live.kind !== 'LokiStack') return undefined;
  const changed = LOKI_DESTRUCTIVE_FIELDS.filter((path) => canonicalJson(fieldAt(live, path)) !== canonicalJson(fieldAt(next, path)));
  return changed.length ? `${refOf(live)}: ${changed.map((p) => p.join('.')).join(', ')} changes` : undefined;
}

/**
 * Puts a namespaced object without namespace into `default` and drops a namespace from a
 * cluster-scoped one, so references name what the apiserver stores.
 * @throws ApplicationFailure `MissingCustomResource` when the kind is not served.
 */
async function withScope(cluster: KubeCluster, obj: KubeObject): Promise<KubeObject> {
  const info = await cluster.resource(obj.apiVersion, obj.kind);
  if (info.namespaced && !obj.metadata.namespace) obj.metadata.namespace = 'default';
  if (!info.namespaced && obj.metadata.namespace) delete obj.metadata.namespace;
  return obj;
}

/** One object's plan; `live` is what the cluster holds now (its desired state), for the diff's digest. */
type Planned = { obj: KubeObject; action: 'create' | 'change' | 'unchanged'; live?: unknown };

function isMissingNamespace(error: unknown, renderedNamespaces: ReadonlySet<string>, obj: KubeObject): boolean {
  const api = apiErrorOf(error);
  return api?.status === 404 && api.body?.details?.kind === 'namespaces' && renderedNamespaces.has(obj.metadata.namespace ?? '');
}

/**
 * Plans one object: reads it (unless `listed` holds it, as the apply set's inventory listing found it), dry-runs its
 * apply and compares the two.
 */
async function planOne(
  cluster: KubeCluster,
  obj: KubeObject,
  namespaces: ReadonlySet<string>,
  options: OverlayApplyOptions,
  destructive: string[],
  listed: ReadonlyMap<string, KubeObject>,
): Promise<Planned> {
  const live =
    listed.get(keyOf(obj)) ?? (await readObject(cluster, { apiVersion: obj.apiVersion, kind: obj.kind, name: obj.metadata.name, namespace: obj.metadata.namespace }));
  let dry: KubeObject;
  try {
    dry = await serverSideApply(cluster, obj, { dryRun: true, force: options.force ?? false });
  } catch (error) {
    if (isMissingNamespace(error, namespaces, obj)) return { obj, action: 'create' };
    if (options.dryRun && isImmutableFieldError(error)) {
      destructive.push(`${refOf(obj)}: immutable field change (needs delete and re-create): ${apiErrorOf(error)?.body?.message ?? ''}`);
      return { obj, action: 'change' };
    }
    throw error;
  }
  if (!live) return { obj, action: 'create' };
  const reason = destructiveReason(live, dry);
  if (reason) destructive.push(reason);
  const unchanged = sameDesiredState(live, dry) && appliedBy(live, FIELD_MANAGER);
  return { obj, action: unchanged ? 'unchanged' : 'change', live: comparable(live) };
}

/**
 * What would change, as one digest: every object that would be created or changed with what it would become,
 * what the cluster holds now for the changed ones (spec and labels, not status or bookkeeping), and every object
 * that would be deleted. The same diff against the same cluster gives the same digest; a cluster changed in
 * between (another revision rolled out, a hand edit) or another target content gives another.
 */
function diffDigest(plan: readonly Planned[], leftovers: readonly KubeObject[]): string {
  const changes = plan
    .filter((p) => p.action !== 'unchanged')
    .map((p) => ({ ref: refOf(p.obj), action: p.action, desired: comparable(p.obj), live: p.live ?? null }));
  const deletions = leftovers.map((o) => ({ ref: refOf(o), live: comparable(o) }));
  return `sha256:${createHash('sha256').update(canonicalJson({ changes, deletions })).digest('hex')}`;
}

/** The kinds searched for the apply set's labelled objects: {@link PRUNE_KINDS}, then the rendered ones, those the cluster serves. */
async function inventoryKinds(cluster: KubeCluster, rendered: readonly KubeObject[]): Promise<{ apiVersion: string; kind: string }[]> {
  const kinds = new Map<string, { apiVersion: string; kind: string }>();
  for (const k of [...PRUNE_KINDS, ...rendered]) kinds.set(kindKey(k), { apiVersion: k.apiVersion, kind: k.kind });
  const served: { apiVersion: string; kind: string }[] = [];
  for (const k of kinds.values()) if (await cluster.tryResource(k.apiVersion, k.kind)) served.push(k);
  return served;
}

/** The objects of each of `kinds` that carry the apply set's inventory label (for {@link DATA_KINDS}, in `namespaces` only), by kind. */
async function listInventory(
  cluster: KubeCluster,
  kinds: readonly { apiVersion: string; kind: string }[],
  inventory: string,
  namespaces: readonly string[],
): Promise<Map<string, KubeObject[]>> {
  const byKind = new Map<string, KubeObject[]>();
  for (const k of kinds) byKind.set(kindKey(k), await listLabelled(cluster, k, `${INVENTORY_LABEL}=${inventory}`, namespaces));
  return byKind;
}

/** Labelled objects that are not rendered and not being deleted, in the order of `kinds`: what pruning deletes. */
function leftoversOf(kinds: readonly { apiVersion: string; kind: string }[], listed: ReadonlyMap<string, readonly KubeObject[]>, rendered: readonly KubeObject[]): KubeObject[] {
  const keys = new Set(rendered.map(keyOf));
  return kinds.flatMap((k) => (listed.get(kindKey(k)) ?? []).filter((item) => !keys.has(keyOf(item)) && !item.metadata['deletionTimestamp']));
}

/**
 * Dry-runs every object, then (unless `dryRun`) applies the ones that change and prunes labelled
 * leftovers when `prune` is set. Objects in a namespace this apply creates (its Namespace ordered before them and
 * not on the cluster) are planned as created without a request: the server could only answer that their namespace
 * does not exist, so they are validated by their apply, after the namespace's. Idempotent: a second run applies
 * nothing and reports all unchanged.
 * The diff's `toBeDeleted` (and the deletions in its digest) are the labelled leftovers a dry run or a pruning
 * apply finds; an apply without pruning deletes nothing and reports none.
 * @throws ApplicationFailure `ManifestRejected`, `Conflict`, `MissingCustomResource`, `AccessDenied` —
 *   always from the dry-run pass, before any object was written.
 */
export async function applyOverlayObjects(cluster: KubeCluster, objects: readonly KubeObject[], options: OverlayApplyOptions): Promise<OverlayApplyResult> {
  const labelled: KubeObject[] = [];
  for (const obj of objects) labelled.push(await withScope(cluster, withInventoryLabel(obj, options.inventory)));
  const ordered = applyOrder(labelled);
  const namespaces = new Set(ordered.filter((o) => o.kind === 'Namespace').map((o) => o.metadata.name));
  // Leftovers matter to a dry run (the whole change an approval names, pruning included) and to pruning; an apply
  // that does not prune deletes nothing, so it does not search every kind for them. A search lists the labelled
  // objects of every kind across the cluster before the plan, which then reads only objects those lists lack (new
  // ones, and ones without the label); kinds that hold data are listed per namespace after the plan.
  const kinds = options.dryRun || options.prune ? await inventoryKinds(cluster, ordered) : [];
  const listed = await listInventory(cluster, kinds.filter((k) => !DATA_KINDS.has(kindKey(k))), options.inventory, []);
  const listedByKey = new Map([...listed.values()].flat().map((item) => [keyOf(item), item] as const));
  const destructive: string[] = [];
  const plan: Planned[] = [];
  // A namespace this apply creates holds nothing yet: its objects are created without asking the server (which
  // could only answer that the namespace does not exist), and no leftover is searched for in it.
  const creating = new Set<string>();
  for (const obj of ordered) {
    const planned = creating.has(obj.metadata.namespace ?? '') ? { obj, action: 'create' as const } : await planOne(cluster, obj, namespaces, options, destructive, listedByKey);
    if (planned.action === 'create' && obj.kind === 'Namespace' && obj.apiVersion === 'v1') creating.add(obj.metadata.name);
    plan.push(planned);
  }
  const searched = namespacesOf(ordered).filter((name) => !creating.has(name));
  for (const [kind, items] of await listInventory(cluster, kinds.filter((k) => DATA_KINDS.has(kindKey(k))), options.inventory, searched)) listed.set(kind, items);
  const leftovers = leftoversOf(kinds, listed, ordered);
  const toBeDeleted = leftovers.map(refOf);
  const counts = {
    created: plan.filter((p) => p.action === 'create').map((p) => refOf(p.obj)),
    changed: plan.filter((p) => p.action === 'change').map((p) => refOf(p.obj)),
    unchanged: plan.filter((p) => p.action === 'unchanged').length,
    toBeDeleted,
    destructive: [...destructive, ...toBeDeleted.map((r) => `${r}: deletion`)],
  };
  const diff: DiffSummary = { ...counts, digest: diffDigest(plan, leftovers) };
  if (options.dryRun) return { applied: 0, deleted: 0, diff };
  let applied = 0;
  for (const p of plan) {
    if (p.action === 'unchanged') continue;
    await serverSideApply(cluster, p.obj, { force: options.force ?? false });
    applied++;
  }
  let deleted = 0;
  if (options.prune) {
    for (const obj of leftovers) {
      if (await deleteObject(cluster, { apiVersion: obj.apiVersion, kind: obj.kind, name: obj.metadata.name, namespace: obj.metadata.namespace })) deleted++;
    }
  }
  return { applied, deleted, diff };
}
