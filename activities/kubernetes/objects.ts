/**
 * Plain shapes and pure helpers for Kubernetes objects as JSON: references, conditions, labels and
 * the normalisation used to compare a live object with a server-side dry-run result.
 */

/** A Kubernetes object as the apiserver speaks it: raw JSON. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    resourceVersion?: string;
    generation?: number;
    uid?: string;
    managedFields?: ManagedFieldsEntry[];
    ownerReferences?: unknown[];
    [key: string]: unknown;
  };
  [key: string]: unknown;
}

/** One `metadata.managedFields` entry. */
export interface ManagedFieldsEntry {
  readonly manager?: string;
  readonly operation?: 'Apply' | 'Update';
  readonly subresource?: string;
  readonly fieldsV1?: unknown;
  readonly time?: string;
}

/** A `status.conditions[]` entry. */
export interface Condition {
  readonly type: string;
  readonly status: string;
  readonly reason?: string;
  readonly message?: string;
  readonly lastTransitionTime?: string;
}

/** Identifies one object: `Kind/namespace/name` for namespaced objects, `Kind/name` otherwise. */
export function refOf(obj: Pick<KubeObject, 'kind' | 'metadata'>): string {
  const { namespace, name } = obj.metadata;
  return namespace ? `${obj.kind}/${namespace}/${name}` : `${obj.kind}/${name}`;
}

/** The API group of an apiVersion (`''` for the core group). */
export function groupOf(apiVersion: string): string {
  return apiVersion.includes('/') ? (apiVersion.split('/')[0] ?? '') : '';
}

/** The reference plus API group: unique across groups and the same for every version of a kind (a map key). */
export function keyOf(obj: Pick<KubeObject, 'apiVersion' | 'kind' | 'metadata'>): string {
  return `${groupOf(obj.apiVersion)}|${refOf(obj)}`;
}

/** The condition of `type` under `status.conditions`, if any. */
export function conditionOf(obj: unknown, type: string): Condition | undefined {
  const conditions = (obj as { status?: { conditions?: unknown } } | undefined)?.status?.conditions;
  if (!Array.isArray(conditions)) return undefined;
  return (conditions as Condition[]).find((c) => c?.type === type);
}

/** True when condition `type` is `True`. */
export function isConditionTrue(obj: unknown, type: string): boolean {
  return conditionOf(obj, type)?.status === 'True';
}

/** A short "Type=Status (reason)" description for gate details and heartbeats. */
export function describeCondition(obj: unknown, type: string): string {
  const c = conditionOf(obj, type);
  return c ? `${type}=${c.status}${c.reason ? ` (${c.reason})` : ''}` : `${type} not reported`;
}

/** Reads a nested field by path; undefined when any step is missing. */
export function fieldAt(obj: unknown, path: readonly string[]): unknown {
  let cur: unknown = obj;
  for (const key of path) {
    if (typeof cur !== 'object' || cur === null) return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}

/** A deep copy of a JSON value. */
export function cloneJson<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

const VOLATILE_METADATA = ['resourceVersion', 'generation', 'managedFields', 'creationTimestamp', 'uid'] as const;

/**
 * The object without fields the apiserver changes on every write (resourceVersion, generation,
 * managedFields, timestamps) and without `status`: what is left differs only when the desired state does.
 */
export function comparable(obj: KubeObject): unknown {
  const copy = cloneJson(obj);
  for (const key of VOLATILE_METADATA) delete copy.metadata[key];
  delete copy['status'];
  return sortKeys(copy);
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
  );
}

/** Canonical JSON (sorted keys) of any value: stable input for digests and comparisons. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

/** True when a live object and a dry-run result agree on everything but volatile fields. */
export function sameDesiredState(live: KubeObject, dryRun: KubeObject): boolean {
  return canonicalJson(comparable(live)) === canonicalJson(comparable(dryRun));
}

/** True when the manager named `manager` holds fields of `obj` through server-side apply. */
export function appliedBy(obj: KubeObject, manager: string): boolean {
  return (obj.metadata.managedFields ?? []).some((m) => m.manager === manager && m.operation === 'Apply');
}

/** A status field as text for messages: strings and numbers as they are, anything else as JSON. */
export function text(value: unknown, fallback = 'none'): string {
  if (value === undefined || value === null || value === '') return fallback;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

/** Any thrown value as an Error. */
export function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(text(value, 'unknown error'));
}
