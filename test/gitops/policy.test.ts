/**
 * Policy of the gitops/ tree: every rule holds on the real renders and catalogs, and every rule is
 * shown to bite — a copy of the rendered tree with one deliberate fault makes it report.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseCatalog } from '../../domain/environments.ts';
import { policyContext } from './context.ts';
import { at, type KObject, loadCatalog, CATALOG_FILES } from './lib.ts';
import { POLICY_RULES, type PolicyContext } from './policy.ts';

describe('gitops policy holds', () => {
  for (const rule of POLICY_RULES) {
    test(rule.name, () => {
      assert.deepEqual(rule.check(policyContext()), []);
    });
  }

  test('both catalogs validate with parseCatalog', () => {
    for (const file of Object.values(CATALOG_FILES)) assert.doesNotThrow(() => loadCatalog(file), file);
  });
});

/** A deep copy of the context with `fault` applied to it. */
function withFault(fault: (ctx: PolicyContext) => void): PolicyContext {
  const base = policyContext();
  const copy: PolicyContext = { renders: structuredClone(base.renders), catalogs: structuredClone(base.catalogs), sources: base.sources };
  fault(copy);
  return copy;
}

function one(objs: KObject[], kind: string, name?: string): KObject {
  const o = objs.find((x) => x.kind === kind && (name === undefined || x.metadata.name === name));
  assert.ok(o, `no ${kind} ${name ?? ''} rendered`);
  return o;
}

function set(obj: unknown, path: (string | number)[], value: unknown): void {
  const parent = at(obj, ...path.slice(0, -1)) as Record<string | number, unknown>;
  assert.ok(parent && typeof parent === 'object', `no parent for ${path.join('.')}`);
  const key = path[path.length - 1] as string | number;
  if (value === undefined) delete parent[key];
  else parent[key] = value;
}

const FAULTS: { rule: string; fault: string; apply: (ctx: PolicyContext) => void; expect: RegExp }[] = [
  { rule: 'no Secret with data', fault: 'a Secret in the dev render', expect: /renders Secret/, apply: (c) => c.renders.dev.push({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace: 'openshift-logging' }, data: { a: 'Yg==' } }) },
  { rule: 'no patch-me placeholder', fault: 'storage class left as patch-me', expect: /storageClassName is still patch-me/, apply: (c) => set(one(c.renders.staging, 'LokiStack'), ['spec', 'storageClassName'], 'patch-me') },
  { rule: 'Logging 6 only', fault: 'a ClusterLogging object', expect: /ClusterLogging/, apply: (c) => c.renders.dev.push({ apiVersion: 'logging.openshift.io/v1', kind: 'ClusterLogging', metadata: { name: 'instance', namespace: 'openshift-logging' } }) },
  { rule: 'External Secrets objects are external-secrets.io/v1', fault: 'an ExternalSecret on v1beta1', expect: /v1beta1/, apply: (c) => (one(c.renders.dev, 'ExternalSecret').apiVersion = 'external-secrets.io/v1beta1') },
  {
    rule: 'the Loki S3 Secret template', fault: "the ADR's wrong key secret_access_key", expect: /secret_access_key/,
    apply: (c) => {
      const data = at(one(c.renders.dev, 'ExternalSecret'), 'spec', 'target', 'template', 'data') as Record<string, string>;
      data['secret_access_key'] = data['access_key_secret'] ?? '';
      delete data['access_key_secret'];
    },
  },
  { rule: 'the Loki S3 Secret template', fault: 'an endpoint carrying the bucket', expect: /endpoint/, apply: (c) => set(one(c.renders.dev, 'ExternalSecret'), ['spec', 'target', 'template', 'data', 'endpoint'], 'https://logstack-dev-loki.s3.amazonaws.com') },
  { rule: 'the Loki S3 Secret template', fault: 'static keys in the sts production', expect: /sts mode needs/, apply: (c) => set(one(c.renders.production, 'ExternalSecret'), ['spec', 'target', 'template', 'data', 'access_key_id'], '{{ .access_key_id }}') },
  { rule: 'the ClusterSecretStore authenticates', fault: 'a static secretRef without namespace', expect: /namespace/, apply: (c) => set(one(c.renders.dev, 'ClusterSecretStore'), ['spec', 'provider', 'aws', 'auth', 'secretRef', 'accessKeyIDSecretRef', 'namespace'], undefined) },
  { rule: 'the ClusterSecretStore authenticates', fault: 'an sts role ARN (with its account) in Git', expect: /must not carry eks.amazonaws.com\/role-arn/, apply: (c) => set(one(c.renders.production, 'ServiceAccount', 'logstack-secrets-reader'), ['metadata', 'annotations', 'eks.amazonaws.com/role-arn'], 'arn:aws:iam::123456789012:role/logstack-production-secrets-reader') },
  { rule: 'the ClusterSecretStore is limited', fault: 'a store without conditions', expect: /must carry one spec.conditions/, apply: (c) => set(one(c.renders.dev, 'ClusterSecretStore'), ['spec', 'conditions'], undefined) },
  { rule: 'the ClusterSecretStore is limited', fault: 'a store open to another namespace', expect: /allow default,openshift-gitops,openshift-logging/, apply: (c) => (at(one(c.renders.staging, 'ClusterSecretStore'), 'spec', 'conditions', 0, 'namespaces') as string[]).push('default') },
  { rule: 'LokiStack', fault: '1x.demo in production', expect: /1x.demo is not for production/, apply: (c) => set(one(c.renders.production, 'LokiStack'), ['spec', 'size'], '1x.demo') },
  { rule: 'LokiStack', fault: '45 days of retention', expect: /outside 1..30/, apply: (c) => set(one(c.renders.dev, 'LokiStack'), ['spec', 'limits', 'global', 'retention', 'days'], 45) },
  { rule: 'LokiStack', fault: 'a catalog size that differs from the overlay', expect: /sandbox\/environments.yaml says 1x.pico/, apply: (c) => { const e = c.catalogs.sandbox.environments.find((x) => x.name === 'staging'); assert.ok(e); e.loki.size = '1x.pico'; } },
  { rule: 'production pins operators', fault: 'Automatic approval in production', expect: /must be Manual/, apply: (c) => set(one(c.renders.production, 'Subscription', 'loki-operator'), ['spec', 'installPlanApproval'], 'Automatic') },
  { rule: 'production pins operators', fault: 'no startingCSV in production', expect: /startingCSV/, apply: (c) => set(one(c.renders.production, 'Subscription', 'cluster-logging'), ['spec', 'startingCSV'], undefined) },
  { rule: 'operators install where', fault: 'the Loki Operator in openshift-logging', expect: /loki-operator must be in openshift-operators-redhat/, apply: (c) => (one(c.renders.dev, 'Subscription', 'loki-operator').metadata.namespace = 'openshift-logging') },
  { rule: 'Logging 6 forwarder', fault: 'no LokiStack writer binding', expect: /logging-collector-logs-writer/, apply: (c) => { c.renders.dev = c.renders.dev.filter((o) => !(o.kind === 'ClusterRoleBinding' && at(o, 'roleRef', 'name') === 'logging-collector-logs-writer')); } },
  { rule: 'Logging 6 forwarder', fault: 'audit forwarded without its role', expect: /collect-audit-logs/, apply: (c) => (at(one(c.renders.dev, 'ClusterLogForwarder'), 'spec', 'pipelines', 0, 'inputRefs') as string[]).push('audit') },
  { rule: 'Logging 6 forwarder', fault: 'a secret token instead of the service account', expect: /token.from serviceAccount/, apply: (c) => set(one(c.renders.dev, 'ClusterLogForwarder'), ['spec', 'outputs', 0, 'lokiStack', 'authentication', 'token', 'from'], 'secret') },
  { rule: 'sync waves', fault: 'the LokiStack before the secret', expect: /lokiStack belong in wave 4|do not precede/, apply: (c) => (one(c.renders.dev, 'LokiStack').metadata.annotations!['argocd.argoproj.io/sync-wave'] = '1') },
  { rule: 'operator custom resources skip the dry-run', fault: 'no SkipDryRunOnMissingResource on the LokiStack', expect: /LokiStack .* lacks/, apply: (c) => (one(c.renders.dev, 'LokiStack').metadata.annotations!['argocd.argoproj.io/sync-options'] = 'Prune=false,Delete=false') },
  { rule: 'objects that may predate Argo CD', fault: 'a prunable Subscription', expect: /needs Prune=false,Delete=false/, apply: (c) => (one(c.renders.dev, 'Subscription').metadata.annotations!['argocd.argoproj.io/sync-options'] = 'Delete=false') },
  { rule: 'Argo CD: app-of-apps', fault: 'client-side apply in the ApplicationSet', expect: /ServerSideApply=true/, apply: (c) => set(one(c.renders.apps, 'ApplicationSet'), ['spec', 'template', 'spec', 'syncPolicy', 'syncOptions'], ['PruneLast=true']) },
  { rule: 'Argo CD: app-of-apps', fault: 'a project that does not admit LokiStack', expect: /does not admit LokiStack/, apply: (c) => { const p = one(c.renders.apps, 'AppProject'); set(p, ['spec', 'namespaceResourceWhitelist'], (at(p, 'spec', 'namespaceResourceWhitelist') as unknown[]).filter((w) => at(w, 'kind') !== 'LokiStack')); } },
  { rule: 'the ArgoCD CR carries the Lua health checks', fault: 'an edited check in the CR', expect: /differs from/, apply: (c) => set(one(c.renders.apps, 'ArgoCD'), ['spec', 'resourceHealthChecks', 0, 'check'], 'return { status = "Healthy" }') },
  { rule: 'catalogs', fault: 'Argo CD delivery in the sandbox', expect: /delivery must be direct/, apply: (c) => { const e = c.catalogs.sandbox.environments[0]; assert.ok(e); e.delivery = 'argocd'; } },
  { rule: 'the worker RBAC is least privilege', fault: 'a wildcard verb', expect: /wildcard/, apply: (c) => (at(one(c.renders.dev, 'ClusterRole', 'logstack-worker'), 'rules') as unknown[]).push({ apiGroups: [''], resources: ['pods'], verbs: ['*'] }) },
  { rule: 'the worker RBAC is least privilege', fault: 'read access to every Secret', expect: /every Secret/, apply: (c) => (at(one(c.renders.dev, 'Role', 'logstack-worker'), 'rules') as unknown[]).push({ apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list'] }) },
  { rule: 'admission policies fence the worker only', fault: 'a policy that ignores its errors', expect: /failurePolicy must be Fail/, apply: (c) => set(one(c.renders.admission, 'ValidatingAdmissionPolicy', 'logstack-worker-secrets'), ['spec', 'failurePolicy'], 'Ignore') },
  { rule: 'admission policies fence the worker only', fault: 'a binding that only warns', expect: /validationActions must be \[Deny\]/, apply: (c) => set(one(c.renders.admission, 'ValidatingAdmissionPolicyBinding', 'logstack-worker-subscriptions'), ['spec', 'validationActions'], ['Warn']) },
  { rule: 'admission lists equal the tree', fault: 'a channel an overlay changed without the policy', expect: /Subscriptions: the policy lists/, apply: (c) => set(one(c.renders.staging, 'Subscription', 'loki-operator'), ['spec', 'channel'], 'stable-6.5') },
  { rule: 'admission lists equal the tree', fault: 'a remote key an overlay changed without the policy', expect: /remote keys/, apply: (c) => set(one(c.renders.dev, 'ExternalSecret'), ['spec', 'dataFrom', 0, 'extract', 'key'], 'logstack/other/loki-s3') },
  { rule: "the AppProject and the Application policy's parameters", fault: 'a wildcard destination server', expect: /wildcard destination/, apply: (c) => (at(one(c.renders.apps, 'AppProject'), 'spec', 'destinations') as unknown[]).push({ server: '*', namespace: 'openshift-logging' }) },
  { rule: "the AppProject and the Application policy's parameters", fault: 'another repository in the Application policy', expect: /repoURL must be/, apply: (c) => set(one(c.renders.apps, 'ValidatingAdmissionPolicy', 'logstack-worker-applications'), ['spec', 'variables', 1, 'expression'], "'https://evil.example/x.git'") },
  { rule: 'the worker holds no right on admission policies', fault: 'delete on bindings', expect: /admissionregistration/, apply: (c) => (at(one(c.renders.dev, 'ClusterRole', 'logstack-worker'), 'rules') as unknown[]).push({ apiGroups: ['admissionregistration.k8s.io'], resources: ['validatingadmissionpolicybindings'], verbs: ['delete'] }) },
];

describe('every policy rule bites', () => {
  for (const f of FAULTS) {
    test(`${f.rule} … reports ${f.fault}`, () => {
      const rule = POLICY_RULES.find((r) => r.name.startsWith(f.rule));
      assert.ok(rule, `no rule starting with "${f.rule}"`);
      const violations = rule.check(withFault(f.apply));
      assert.ok(violations.some((v) => f.expect.test(v)), `expected a violation matching ${f.expect}, got:\n${violations.join('\n') || '(none)'}`);
    });
  }

  test('every rule has at least one fault that makes it report', () => {
    const untested = POLICY_RULES.filter((r) => !FAULTS.some((f) => r.name.startsWith(f.rule))).map((r) => r.name);
    const sourceOnly = ['base keeps visible', 'pin files', 'one object per resource file', 'overlays stay one screen long'];
    assert.deepEqual(untested.filter((n) => !sourceOnly.some((s) => n.startsWith(s))), []);
  });

  test('parseCatalog refuses a protected environment sized 1x.demo', () => {
    const doc = structuredClone(policyContext().catalogs.real) as unknown as { environments: { name: string; loki: { size: string } }[] };
    const prod = doc.environments.find((e) => e.name === 'production');
    assert.ok(prod);
    prod.loki.size = '1x.demo';
    assert.throws(() => parseCatalog(doc), /1x.demo is not for protected environments/);
  });
});
