/**
 * What the operator rules share: the violation record, the slice of the catalog environment they read,
 * and safe readers over rendered objects (plain parsed YAML, never trusted to have any shape).
 */
import type { Environment } from '../environments.ts';

/** Whose rule a violation mirrors: the Loki Operator, the Cluster Logging Operator, or logstack's own catalog agreement. */
export type RuleOwner = 'loki-operator' | 'cluster-logging-operator' | 'logstack';

/** One broken rule, at one field of one rendered object. */
export interface OperatorRuleViolation {
  /** `Kind/namespace/name` (or `Kind/name` for cluster-scoped objects). */
  readonly object: string;
  /** Dotted field path inside the object, e.g. `spec.size`, `data.endpoint`, `spec.target.template.data.endpoint`. */
  readonly field: string;
  /** `<object>: <field>`, as printed. */
  readonly path: string;
  readonly owner: RuleOwner;
  /** The operator's own reason text (or, for `logstack`, what disagrees with the catalog). */
  readonly reason: string;
}

/** The catalog facts the rules compare the overlay with. */
export type RuleEnvironment = Pick<Environment, 'name' | 'protected' | 'retentionDays'> & {
  readonly aws: Pick<Environment['aws'], 'region' | 'bucket' | 'secretName' | 'credentialMode'>;
};

/** A rendered object as the rules read it: only the envelope is assumed, and checked by {@link isObject}. */
export interface RenderedObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string };
  readonly [key: string]: unknown;
}

/** True for a mapping with a string `kind`, `apiVersion` and `metadata.name`. */
export function isObject(value: unknown): value is RenderedObject {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const v = value as Record<string, unknown>;
  const meta = v['metadata'] as Record<string, unknown> | undefined;
  return typeof v['kind'] === 'string' && typeof v['apiVersion'] === 'string' && meta !== null && typeof meta === 'object' && typeof meta['name'] === 'string';
}

/** API group of an object (`''` for the core group). */
export function groupOf(o: RenderedObject): string {
  return o.apiVersion.includes('/') ? (o.apiVersion.split('/')[0] ?? '') : '';
}

/** `Kind/namespace/name`, or `Kind/name` without a namespace. */
export function refOf(o: RenderedObject): string {
  return o.metadata.namespace ? `${o.kind}/${o.metadata.namespace}/${o.metadata.name}` : `${o.kind}/${o.metadata.name}`;
}

/** Reads a nested field; undefined when any step is missing or not a container. */
export function at(value: unknown, ...path: readonly (string | number)[]): unknown {
  let cur: unknown = value;
  for (const step of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string | number, unknown>)[step];
  }
  return cur;
}

/** A field as a record, or undefined. */
export function recordAt(value: unknown, ...path: readonly (string | number)[]): Readonly<Record<string, unknown>> | undefined {
  const v = at(value, ...path);
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

/** A field as an array (empty when absent or not an array). */
export function listAt(value: unknown, ...path: readonly (string | number)[]): readonly unknown[] {
  const v = at(value, ...path);
  return Array.isArray(v) ? v : [];
}

/** A field as a non-empty string, or undefined. */
export function stringAt(value: unknown, ...path: readonly (string | number)[]): string | undefined {
  const v = at(value, ...path);
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

/** Builds violations for one object. */
export function violationsOf(o: RenderedObject | string, owner: RuleOwner) {
  const object = typeof o === 'string' ? o : refOf(o);
  return (field: string, reason: string): OperatorRuleViolation => ({ object, field, path: `${object}: ${field}`, owner, reason });
}
