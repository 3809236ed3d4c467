/**
 * Object verbs on top of the generic `KubernetesObjectApi`: server-side apply with the `logstack`
 * field manager and the apply-patch content type, read, merge patch, status patch and delete. Every
 * write maps apiserver rejections to typed failures (see failures.ts).
 */
import { type KubernetesObject, PatchStrategy } from '@kubernetes/client-node';
import { FIELD_MANAGER } from '../../domain/index.ts';
import type { KubeCluster } from './cluster.ts';
import { apiErrorOf, isNotFound, mapWriteError } from './failures.ts';
import { type KubeObject, refOf } from './objects.ts';

/** Options of one server-side apply. */
export interface ApplyOptions {
  /** Server-side dry run (`dryRun=All`): validated and defaulted by the apiserver, nothing persisted. */
  readonly dryRun?: boolean;
  /**
   * Take over fields owned by other managers. Off by default: a conflict then fails `Conflict`
   * naming the fields and their owners. Only adoption turns it on, deliberately.
   */
  readonly force?: boolean;
}

/** Identifies an object to read or delete. */
export interface ObjectHeader {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  readonly namespace?: string | undefined;
}

/** The object as plain JSON (the client deserialises built-in kinds into classes with Dates). */
export function toJson<T = KubeObject>(value: unknown): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

function headerRef(h: ObjectHeader): string {
  return refOf({ kind: h.kind, metadata: { name: h.name, ...(h.namespace ? { namespace: h.namespace } : {}) } });
}

/** The object as an apply body: no server-owned metadata and no status (status is the controller's). */
export function applyBody(obj: KubeObject): KubernetesObject {
  const { managedFields: _m, resourceVersion: _r, uid: _u, generation: _g, creationTimestamp: _c, ...metadata } = obj.metadata;
  const { status: _s, ...rest } = obj;
  return { ...rest, metadata } as KubernetesObject;
}

/**
 * Server-side applies `obj` as field manager `logstack` and returns what the apiserver stored (or
 * would store, on dry run). Idempotent: applying the same object twice changes nothing the second time.
 * @throws ApplicationFailure `MissingCustomResource`, `ManifestRejected`, `Conflict`, `AccessDenied`.
 */
export async function serverSideApply(cluster: KubeCluster, obj: KubeObject, options: ApplyOptions = {}): Promise<KubeObject> {
  await cluster.resource(obj.apiVersion, obj.kind);
  try {
    const result = await cluster.objects.patch(
      applyBody(obj),
      undefined,
      options.dryRun ? 'All' : undefined,
      FIELD_MANAGER,
      options.force ?? false,
      PatchStrategy.ServerSideApply,
    );
    return toJson(result);
  } catch (error) {
    throw mapWriteError(error, refOf(obj), `cluster "${cluster.context}"`);
  }
}

/**
 * Reads one object; undefined when it does not exist.
 * @throws ApplicationFailure `MissingCustomResource` when the kind is not served.
 */
export async function readObject(cluster: KubeCluster, header: ObjectHeader): Promise<KubeObject | undefined> {
  await cluster.resource(header.apiVersion, header.kind);
  try {
    const spec = { apiVersion: header.apiVersion, kind: header.kind, metadata: { name: header.name, ...(header.namespace ? { namespace: header.namespace } : {}) } };
    return toJson(await cluster.objects.read(spec));
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw mapWriteError(error, headerRef(header), `cluster "${cluster.context}"`);
  }
}

/**
 * JSON merge-patches metadata or spec of an existing object (e.g. a refresh annotation) without
 * taking field ownership through apply.
 */
export async function mergePatch(cluster: KubeCluster, header: ObjectHeader, patch: Record<string, unknown>): Promise<KubeObject> {
  const info = await cluster.resource(header.apiVersion, header.kind);
  try {
    return await cluster.request<KubeObject>({
      method: 'PATCH',
      path: `${cluster.collectionPath(info, header.namespace)}/${encodeURIComponent(header.name)}`,
      query: { fieldManager: FIELD_MANAGER },
      contentType: PatchStrategy.MergePatch,
      body: patch,
    });
  } catch (error) {
    throw mapWriteError(error, headerRef(header), `cluster "${cluster.context}"`);
  }
}

/**
 * Merge-patches an object's `status` — through the `status` subresource, or through the object itself
 * for kinds without one (Argo CD's Application), as their controllers do. Controllers own status;
 * logstack itself never writes it — this exists for tests and benchmarks that stand in for a
 * controller the sandbox cannot run.
 */
export async function patchStatus(cluster: KubeCluster, header: ObjectHeader, status: Record<string, unknown>, fieldManager: string): Promise<KubeObject> {
  const info = await cluster.resource(header.apiVersion, header.kind);
  const path = `${cluster.collectionPath(info, header.namespace)}/${encodeURIComponent(header.name)}`;
  const patch = (target: string) =>
    cluster.request<KubeObject>({ method: 'PATCH', path: target, query: { fieldManager }, contentType: PatchStrategy.MergePatch, body: { status } });
  try {
    return await patch(`${path}/status`);
  } catch (error) {
    if (!isNotFound(error) || !(await readObject(cluster, header))) throw error;
    return patch(path);
  }
}

/**
 * Deletes one object (background propagation). Idempotent: a missing object counts as deleted.
 * @returns true when this call deleted it.
 */
export async function deleteObject(cluster: KubeCluster, header: ObjectHeader, options: { dryRun?: boolean } = {}): Promise<boolean> {
  await cluster.resource(header.apiVersion, header.kind);
  try {
    const spec = { apiVersion: header.apiVersion, kind: header.kind, metadata: { name: header.name, ...(header.namespace ? { namespace: header.namespace } : {}) } };
    await cluster.objects.delete(spec, undefined, options.dryRun ? 'All' : undefined, undefined, undefined, 'Background');
    return true;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw mapWriteError(error, headerRef(header), `cluster "${cluster.context}"`);
  }
}

/**
 * Lists objects of a kind as plain JSON, optionally by namespace and label selector.
 * @throws ApplicationFailure `MissingCustomResource` when the kind is not served; `AccessDenied` when the
 *   worker's account may not list it (a retry cannot grant the right).
 */
export async function listObjects(
  cluster: KubeCluster,
  query: { apiVersion: string; kind: string; namespace?: string; labelSelector?: string; signal?: AbortSignal },
): Promise<{ items: KubeObject[]; resourceVersion: string }> {
  const info = await cluster.resource(query.apiVersion, query.kind);
  try {
    return await listCollection(cluster, cluster.collectionPath(info, query.namespace), {
      apiVersion: query.apiVersion,
      kind: query.kind,
      ...(query.labelSelector ? { labelSelector: query.labelSelector } : {}),
      ...(query.signal ? { signal: query.signal } : {}),
    });
  } catch (error) {
    if (apiErrorOf(error)?.status !== 403) throw error;
    throw mapWriteError(error, `${query.kind} list ${query.namespace ? `in namespace ${query.namespace}` : 'across namespaces'}`, `cluster "${cluster.context}"`);
  }
}

/** Lists one collection path page by page; items get apiVersion and kind filled in. */
export async function listCollection(
  cluster: KubeCluster,
  path: string,
  opts: { apiVersion: string; kind: string; labelSelector?: string; fieldSelector?: string; signal?: AbortSignal },
): Promise<{ items: KubeObject[]; resourceVersion: string }> {
  const items: KubeObject[] = [];
  let token: string | undefined;
  let resourceVersion = '';
  for (let page = 0; page < 100; page++) {
    const list = await cluster.request<{ items?: KubeObject[]; metadata?: { resourceVersion?: string; continue?: string } }>({
      method: 'GET',
      path,
      query: { limit: 500, continue: token, labelSelector: opts.labelSelector, fieldSelector: opts.fieldSelector },
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    for (const item of list.items ?? []) items.push({ ...item, apiVersion: opts.apiVersion, kind: opts.kind });
    resourceVersion = list.metadata?.resourceVersion ?? resourceVersion;
    token = list.metadata?.continue || undefined;
    if (!token) break;
  }
  return { items, resourceVersion };
}
