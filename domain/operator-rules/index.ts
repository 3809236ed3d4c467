/**
 * Operator-rule pre-flight: the rules the Loki Operator and the Cluster Logging Operator apply to the
 * objects logstack delivers, checked on the rendered overlay against the catalog before any side effect
 * (`logstack validate --operator-rules`, and the worker's apply, dry-run and pin activities). Pure; runs on
 * Node and Deno.
 *
 * A mistake these operators refuse otherwise shows only as a LokiStack or a forwarder that never turns
 * Ready. Every violation is reported, each with its path (`Kind/namespace/name: field`) and the operator's
 * own reason text.
 */
import { checkForwarder } from './forwarder.ts';
import { checkLokiStack } from './lokistack.ts';
import { type OperatorRuleViolation, type RuleEnvironment, groupOf, isObject } from './objects.ts';

export type { OperatorRuleViolation, RuleEnvironment, RuleOwner, RenderedObject } from './objects.ts';
export { BUILTIN_INPUTS, LOKI_WRITER_ROLE, checkForwarder, collectedLogTypes } from './forwarder.ts';
export { checkLokiStack, retentionSettings } from './lokistack.ts';
export { catalogSecretDocument, checkLokiStorage, credentialModeOf, endpointProblems, evaluateTemplate } from './loki-storage.ts';

/**
 * Every operator-rule violation of a rendered overlay for `env`: each LokiStack (size, tenancy, retention,
 * its object-storage secret) and each ClusterLogForwarder (service account and its bindings, outputs,
 * pipelines and their refs). Objects of other kinds are read only as what these refer to. An overlay with
 * neither kind (the bootstrap overlay) has no violations.
 */
export function checkOperatorRules(rendered: readonly unknown[], env: RuleEnvironment): OperatorRuleViolation[] {
  const objects = rendered.filter(isObject);
  const violations: OperatorRuleViolation[] = [];
  for (const o of objects) {
    if (o.kind === 'LokiStack' && groupOf(o) === 'loki.grafana.com') violations.push(...checkLokiStack(o, objects, env));
    else if (o.kind === 'ClusterLogForwarder' && (groupOf(o) === 'observability.openshift.io' || groupOf(o) === 'logging.openshift.io')) violations.push(...checkForwarder(o, objects));
  }
  return violations;
}

/** At most this many violations are spelled out in a message; the rest are counted. */
const MESSAGE_LIMIT = 25;

/** One line per violation: `path: reason (owner)`. */
export function formatViolation(v: OperatorRuleViolation): string {
  return `${v.path}: ${v.reason} [${v.owner}]`;
}

/** The failure message of an `OperatorRuleViolation`: what to fix, every violation with its path. */
export function operatorRulesMessage(envName: string, overlay: string, violations: readonly OperatorRuleViolation[]): string {
  const shown = violations.slice(0, MESSAGE_LIMIT).map((v) => `- ${formatViolation(v)}`);
  const more = violations.length > MESSAGE_LIMIT ? [`- … and ${violations.length - MESSAGE_LIMIT} more`] : [];
  return [
    `${overlay} breaks ${violations.length} operator rule(s) for ${envName}; the operators would refuse it (nothing was changed). Fix the overlay or the catalog:`,
    ...shown,
    ...more,
  ].join('\n');
}
