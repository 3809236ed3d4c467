/**
 * ClusterLogForwarder (`observability.openshift.io/v1`) rules of the Cluster Logging Operator: the service
 * account it runs as (present in the overlay, bound to the `collect-<input>-logs` cluster roles of every
 * input its pipelines read, and to `logging-collector-logs-writer` when it writes to a LokiStack), outputs
 * and pipelines present, every pipeline's `inputRefs`/`outputRefs`/`filterRefs` defined, and each
 * `lokiStack` output naming its `target` and `authentication.token` — and that target being a LokiStack of
 * the same overlay.
 */
import { type OperatorRuleViolation, type RenderedObject, groupOf, listAt, recordAt, stringAt, violationsOf } from './objects.ts';

/** The inputs every forwarder has without declaring them. */
export const BUILTIN_INPUTS = ['application', 'infrastructure', 'audit'] as const;
/** The cluster role the collector needs to push to a LokiStack's gateway. */
export const LOKI_WRITER_ROLE = 'logging-collector-logs-writer';
const INFRA_NAMESPACE = /^(default|openshift.*|kube.*)$/;

const names = (list: readonly unknown[]): string[] => list.flatMap((x) => (typeof x === 'string' ? [x] : []));

/** The log types (application, infrastructure, audit) the forwarder's pipelines collect, as the operator derives them for its permission check. */
export function collectedLogTypes(clf: RenderedObject): string[] {
  const refs = new Set(listAt(clf, 'spec', 'pipelines').flatMap((p) => names(listAt(p, 'inputRefs'))));
  const types = new Set<string>();
  for (const ref of refs) if ((BUILTIN_INPUTS as readonly string[]).includes(ref)) types.add(ref);
  for (const input of listAt(clf, 'spec', 'inputs')) {
    const name = stringAt(input, 'name');
    if (name === undefined || !refs.has(name)) continue;
    const type = stringAt(input, 'type');
    if (type === 'application') {
      types.add('application');
      if (listAt(input, 'application', 'includes').some((inc) => INFRA_NAMESPACE.test(stringAt(inc, 'namespace') ?? ''))) types.add('infrastructure');
    } else if (type === 'infrastructure' || type === 'audit') types.add(type);
    else if (type === 'receiver' && stringAt(input, 'receiver', 'type') === 'syslog') types.add('infrastructure');
  }
  return BUILTIN_INPUTS.filter((t) => types.has(t));
}

/** True when a ClusterRoleBinding of the overlay binds `role` to the service account `namespace/name`. */
function bound(objects: readonly RenderedObject[], role: string, namespace: string, name: string): boolean {
  return objects.some(
    (o) =>
      o.kind === 'ClusterRoleBinding' &&
      groupOf(o) === 'rbac.authorization.k8s.io' &&
      stringAt(o, 'roleRef', 'kind') === 'ClusterRole' &&
      stringAt(o, 'roleRef', 'name') === role &&
      listAt(o, 'subjects').some((s) => stringAt(s, 'kind') === 'ServiceAccount' && stringAt(s, 'name') === name && stringAt(s, 'namespace') === namespace),
  );
}

/** Every violation of one ClusterLogForwarder against the overlay it is rendered with. */
export function checkForwarder(clf: RenderedObject, objects: readonly RenderedObject[]): OperatorRuleViolation[] {
  const clo = violationsOf(clf, 'cluster-logging-operator');
  const ours = violationsOf(clf, 'logstack');
  const violations: OperatorRuleViolation[] = [];
  const namespace = clf.metadata.namespace ?? '';
  if (clf.apiVersion !== 'observability.openshift.io/v1') {
    violations.push(clo('apiVersion', `is ${clf.apiVersion}; Logging 6 serves ClusterLogForwarder only as observability.openshift.io/v1 (logging.openshift.io/v1 is gone)`));
  }

  const outputs = listAt(clf, 'spec', 'outputs');
  const pipelines = listAt(clf, 'spec', 'pipelines');
  if (outputs.length === 0) violations.push(clo('spec.outputs', 'Required value: at least one output'));
  if (pipelines.length === 0) violations.push(clo('spec.pipelines', 'Required value: at least one pipeline'));
  const outputNames = new Set(names(outputs.map((o) => stringAt(o, 'name'))));
  const inputNames = new Set<string>([...BUILTIN_INPUTS, ...names(listAt(clf, 'spec', 'inputs').map((i) => stringAt(i, 'name')))]);
  const filterNames = new Set(names(listAt(clf, 'spec', 'filters').map((f) => stringAt(f, 'name'))));

  pipelines.forEach((p, i) => {
    const field = `spec.pipelines[${i}]`;
    const pipeline = stringAt(p, 'name') ?? `#${i}`;
    const inputRefs = names(listAt(p, 'inputRefs'));
    const outputRefs = names(listAt(p, 'outputRefs'));
    if (inputRefs.length === 0) violations.push(clo(`${field}.inputRefs`, `Required value: pipeline ${pipeline} needs at least one inputRef`));
    if (outputRefs.length === 0) violations.push(clo(`${field}.outputRefs`, `Required value: pipeline ${pipeline} needs at least one outputRef`));
    const lost = [
      ['inputs', `${field}.inputRefs`, inputRefs.filter((r) => !inputNames.has(r))],
      ['outputs', `${field}.outputRefs`, outputRefs.filter((r) => !outputNames.has(r))],
      ['filters', `${field}.filterRefs`, names(listAt(p, 'filterRefs')).filter((r) => !filterNames.has(r))],
    ] as const;
    for (const [what, at, refs] of lost) {
      if (refs.length > 0) violations.push(clo(at, `refs not found: ${what}[${refs.join(' ')}] (pipeline ${pipeline})`));
    }
  });

  let writesToLoki = false;
  outputs.forEach((o, i) => {
    if (stringAt(o, 'type') !== 'lokiStack') return;
    writesToLoki = true;
    const field = `spec.outputs[${i}].lokiStack`;
    const target = stringAt(o, 'lokiStack', 'target', 'name');
    const targetNamespace = stringAt(o, 'lokiStack', 'target', 'namespace') ?? namespace;
    if (target === undefined) violations.push(clo(`${field}.target.name`, 'Required value: a lokiStack output names its LokiStack in target.name'));
    const source = recordAt(o, 'lokiStack', 'authentication', 'token')?.from;
    if (typeof source !== 'string' || source === '') {
      violations.push(clo(`${field}.authentication.token`, 'Required value: a lokiStack output authenticates with a bearer token (token.from: serviceAccount or secret)'));
    }
    if (target !== undefined && !objects.some((s) => s.kind === 'LokiStack' && groupOf(s) === 'loki.grafana.com' && s.metadata.name === target && s.metadata.namespace === targetNamespace)) {
      violations.push(ours(`${field}.target`, `no LokiStack ${targetNamespace}/${target} in this overlay; the collector would forward into nothing`));
    }
  });

  const sa = stringAt(clf, 'spec', 'serviceAccount', 'name');
  if (sa === undefined) {
    violations.push(clo('spec.serviceAccount.name', 'Required value: the collector runs as spec.serviceAccount.name'));
    return violations;
  }
  if (!objects.some((o) => o.kind === 'ServiceAccount' && groupOf(o) === '' && o.metadata.name === sa && o.metadata.namespace === namespace)) {
    violations.push(clo('spec.serviceAccount.name', `service account not found: ${namespace}/${sa} (ServiceAccountDoesNotExist; it is not in this overlay)`));
  }
  const unauthorized = collectedLogTypes(clf).filter((t) => !bound(objects, `collect-${t}-logs`, namespace, sa));
  if (unauthorized.length > 0) {
    violations.push(
      clo(
        'spec.serviceAccount.name',
        `insufficient permissions on service account, not authorized to collect ${JSON.stringify(unauthorized).replaceAll(',', ' ')} logs (ClusterRoleMissing: no ClusterRoleBinding of ${unauthorized.map((t) => `collect-${t}-logs`).join(', ')} to ${namespace}/${sa} in this overlay)`,
      ),
    );
  }
  if (writesToLoki && !bound(objects, LOKI_WRITER_ROLE, namespace, sa)) {
    violations.push(clo('spec.serviceAccount.name', `no ClusterRoleBinding of ${LOKI_WRITER_ROLE} to ${namespace}/${sa} in this overlay: the LokiStack gateway refuses the collector's pushes`));
  }
  return violations;
}
