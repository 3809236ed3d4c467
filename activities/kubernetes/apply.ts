/**
 * Object verbs on a cluster's transport: server-side apply with the `logstack` field manager and the
 * apply-patch content type, read, merge patch, status patch, delete and paged lists. Every write maps
 * apiserver rejections to typed failures (see failures.ts).
 */
import { FIELD_MANAGER } from '../../domain/index.ts';
import type { KubeCluster } from './cluster.ts';
import { apiErrorOf, isNotFound, mapWriteError } from './failures.ts';
import { type KubeObject, refOf } from './objects.ts';
import { PatchType } from './rest.ts';

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

function headerRef(h: ObjectHeader): string {
  return refOf({ kind: h.kind, metadata: { name: h.name, ...(h.namespace ? { namespace: h.namespace } : {}) } });
}

/** The object as an apply body: no server-owned metadata and no status (status is the controller's). */
export function applyBody(obj: KubeObject): KubeObject {
  const { managedFields: _m, resourceVersion: _r, uid: _u, generation: _g, creationTimestamp: _c, ...metadata } = obj.metadata;
  const { status: _s, ...rest } = obj;
  return { ...rest, metadata };
}

/**
 * Server-side applies `obj` as `fieldManager` (the apiserver answers 409 on conflicts unless `force`).
 * The kind must be served (discovery); errors are the transport's, unmapped.
 */
export async function applyAs(cluster: KubeCluster, obj: KubeObject, fieldManager: string, options: ApplyOptions = {}): Promise<KubeObject> {
  const info = await cluster.resource(obj.apiVersion, obj.kind);
  return cluster.request<KubeObject>({
    method: 'PATCH',
    path: cluster.objectPath(info, obj.metadata.name, obj.metadata.namespace),
    query: { fieldManager, force: options.force ? true : undefined, dryRun: options.dryRun ? 'All' : undefined },
    contentType: PatchType.Apply,
    body: applyBody(obj),
  });
}

/**
 * Server-side applies `obj` as field manager `logstack` and returns what the apiserver stored (or
 * would store, on dry run). Idempotent: applying the same object twice changes nothing the second time.
 * @throws ApplicationFailure `MissingCustomResource`, `ManifestRejected`, `Conflict`, `AccessDenied`.
 */
export async function serverSideApply(cluster: KubeCluster, obj: KubeObject, options: ApplyOptions = {}): Promise<KubeObject> {
  await cluster.resource(obj.apiVersion, obj.kind);
  try {
    return await applyAs(cluster, obj, FIELD_MANAGER, options);
  } catch (error) {
    throw mapWriteError(error, refOf(obj), `cluster "${cluster.context}"`);
  }
}

/**
 * Reads one object; undefined when it does not exist.
 * @throws ApplicationFailure `MissingCustomResource` when the kind is not served.
 */
export async function readObject(cluster: KubeCluster, header: ObjectHeader): Promise<KubeObject | undefined> {
  const info = await cluster.resource(header.apiVersion, header.kind);
  try {
    return await cluster.request<KubeObject>({ method: 'GET', path: cluster.objectPath(info, header.name, header.namespace) });
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
      path: cluster.objectPath(info, header.name, header.namespace),
      query: { fieldManager: FIELD_MANAGER },
      contentType: PatchType.MergePatch,
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
  const path = cluster.objectPath(info, header.name, header.namespace);
  const patch = (target: string) =>
    cluster.request<KubeObject>({ method: 'PATCH', path: target, query: { fieldManager }, contentType: PatchType.MergePatch, body: { status } });
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
  const info = await cluster.resource(header.apiVersion, header.kind);
  try {
    await cluster.request({
      method: 'DELETE',
      path: cluster.objectPath(info, header.name, header.namespace),
      query: { dryRun: options.dryRun ? 'All' : undefined },
      body: { apiVersion: 'v1', kind: 'DeleteOptions', propagationPolicy: 'Background' },
    });
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
