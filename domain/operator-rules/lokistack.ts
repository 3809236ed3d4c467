/**
 * LokiStack rules: the sizes the Loki Operator's CRD accepts, `1x.demo` kept out of protected environments,
 * the `openshift-logging` tenancy the Cluster Logging Operator's forwarder writes into, and retention that the
 * bucket's lifecycle (the catalog's `retentionDays`) does not cut short.
 */
import { LOKI_SIZES, MAX_RETENTION_DAYS } from '../environments.ts';
import { checkLokiStorage } from './loki-storage.ts';
import { type OperatorRuleViolation, type RenderedObject, type RuleEnvironment, at, listAt, recordAt, stringAt, violationsOf } from './objects.ts';

/** Every retention setting of a LokiStack: global, per tenant, and per stream, with its field path. */
export function retentionSettings(stack: RenderedObject): { field: string; days: unknown }[] {
  const found: { field: string; days: unknown }[] = [];
  const visit = (retention: unknown, field: string) => {
    if (retention === undefined) return;
    found.push({ field: `${field}.days`, days: at(retention, 'days') });
    listAt(retention, 'streams').forEach((s, i) => found.push({ field: `${field}.streams[${i}].days`, days: at(s, 'days') }));
  };
  visit(at(stack, 'spec', 'limits', 'global', 'retention'), 'spec.limits.global.retention');
  for (const [tenant, limits] of Object.entries(recordAt(stack, 'spec', 'limits', 'tenants') ?? {})) {
    visit(at(limits, 'retention'), `spec.limits.tenants.${tenant}.retention`);
  }
  return found;
}

/** Every violation of one LokiStack, its storage secret included. */
export function checkLokiStack(stack: RenderedObject, objects: readonly RenderedObject[], env: RuleEnvironment): OperatorRuleViolation[] {
  const crd = violationsOf(stack, 'loki-operator');
  const ours = violationsOf(stack, 'logstack');
  const violations: OperatorRuleViolation[] = [];
  const size = at(stack, 'spec', 'size');
  if (typeof size !== 'string' || !(LOKI_SIZES as readonly string[]).includes(size)) {
    violations.push(crd('spec.size', size === undefined ? 'Required value: spec.size' : `Unsupported value: ${JSON.stringify(size)}: supported values: ${LOKI_SIZES.map((s) => `"${s}"`).join(', ')}`));
  } else if (size === '1x.demo' && env.protected) {
    violations.push(ours('spec.size', `1x.demo has no replication and is for demonstrations only; ${env.name} is protected, use 1x.extra-small or larger`));
  }
  const mode = stringAt(stack, 'spec', 'tenants', 'mode');
  if (mode !== 'openshift-logging') {
    violations.push(
      ours('spec.tenants.mode', `is ${mode ?? 'not set'}; the ClusterLogForwarder's lokiStack output writes through the gateway in openshift-logging mode (application, infrastructure, audit tenants), so it must be openshift-logging`),
    );
  }
  const limit = Math.min(env.retentionDays, MAX_RETENTION_DAYS);
  for (const { field, days } of retentionSettings(stack)) {
    if (typeof days !== 'number' || !Number.isInteger(days) || days < 1) {
      violations.push(crd(field, `Invalid value: ${JSON.stringify(days ?? null)}: must be a whole number of days, at least 1`));
    } else if (days > limit) {
      violations.push(
        ours(
          field,
          days > MAX_RETENTION_DAYS
            ? `${days} days is beyond the ${MAX_RETENTION_DAYS} days the Loki Operator supports on OpenShift Logging 6`
            : `${days} days outlives the bucket: the catalog's retentionDays for ${env.name} is ${env.retentionDays}, after which S3 expires the chunks Loki still indexes`,
        ),
      );
    }
  }
  violations.push(...checkLokiStorage(stack, objects, env));
  return violations;
}
