/**
 * Least privilege — escalation with the worker's token, refused by the real API server of the staging cluster.
 *
 * This run's copy of the worker account (test/reliability/rbac-identity.ts) holds the rendered RBAC of
 * gitops/base/orchestrator and is fenced by the rendered admission policies of gitops/base/orchestrator/admission;
 * for the Application rows it also gets the hub's Role and Application policy (gitops/base/orchestrator/worker), its
 * repository and destination being the sandbox's. Every row sends a real request authenticated by that token alone — `dryRun=All` where a
 * write would be allowed, so nothing is stored even if a row failed — and asserts the API server's HTTP status and
 * that its message names the refusing policy or RBAC. A control row shows the same token's legitimate writes pass,
 * so a refusal is the policy's and not a broken setup. The cluster inventory of staging (the only cluster these rows
 * touch; other helpers' runs change the other clusters meanwhile) and a read-back of the policy binding are compared
 * before and after.
 */
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { createKubeClusters } from '../../activities/kubernetes/cluster.ts';
import { apiErrorOf } from '../../activities/kubernetes/failures.ts';
import type { KubeCluster } from '../../activities/kubernetes/cluster.ts';
import { GITOPS_NAMES } from '../../domain/gitops.ts';
import { parseCatalog } from '../../domain/environments.ts';
import { parse, stringify } from 'yaml';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../support/processes.ts';
import { diffInventory, takeInventory, type Inventory } from './inventory.ts';
import { ENV, RUN, RUN_LABEL, describeRbac, forThisRun, kubectl, render, sandbox, type RbacIdentity } from './rbac-identity.ts';

const ARGO = 'openshift-gitops';
const APP = `logstack-adv-${process.pid}`;
const policy = (name: string): string => `${name}-${RUN}`;
const remote = parseCatalog(parse(readFileSync(join(ROOT, 'sandbox/environments.yaml'), 'utf8')), 'sandbox/environments.yaml').gitops.remote;

/** The API server's answer to one request: HTTP status and message (200 and '' when it was accepted). */
async function answer(cluster: KubeCluster, request: Parameters<KubeCluster['request']>[0]): Promise<{ status: number; message: string }> {
  try {
    await cluster.request(request);
    return { status: 200, message: '' };
  } catch (error) {
    const api = apiErrorOf(error);
    if (!api) throw error;
    return { status: api.status, message: api.body?.message ?? '' };
  }
}

/** A server-side apply (dry run) of `obj` by field manager `logstack`, forced like an adoption. */
function apply(obj: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } }, plural: string) {
  const group = obj.apiVersion.includes('/') ? `/apis/${obj.apiVersion}` : `/api/${obj.apiVersion}`;
  const ns = obj.metadata.namespace ? `/namespaces/${obj.metadata.namespace}` : '';
  return {
    method: 'PATCH' as const,
    path: `${group}${ns}/${plural}/${obj.metadata.name}`,
    query: { dryRun: 'All', fieldManager: 'logstack', force: true },
    body: obj,
    contentType: 'application/apply-patch+yaml',
  };
}

/** A create (dry run): RBAC lets the worker create Secrets of any name in its namespaces, patch only by name. */
function create(obj: { apiVersion: string; metadata: { namespace?: string } }, plural: string) {
  return {
    method: 'POST' as const,
    path: `/api/${obj.apiVersion}/namespaces/${obj.metadata.namespace ?? 'default'}/${plural}`,
    query: { dryRun: 'All', fieldManager: 'logstack' },
    body: obj,
  };
}

const subscription = (name: string, namespace: string, spec: Record<string, unknown>) => ({
  apiVersion: 'operators.coreos.com/v1alpha1',
  kind: 'Subscription',
  metadata: { name, namespace },
  spec: { name, channel: 'stable-6.4', source: 'redhat-operators', sourceNamespace: 'openshift-marketplace', ...spec },
});

const externalSecret = (name: string, namespace: string, target: string, dataFrom: unknown[]) => ({
  apiVersion: 'external-secrets.io/v1',
  kind: 'ExternalSecret',
  metadata: { name, namespace },
  spec: { secretStoreRef: { kind: 'ClusterSecretStore', name: GITOPS_NAMES.secretStore }, target: { name: target }, dataFrom },
});

const secret = (name: string, namespace: string, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name, namespace, ...((extra['metadata'] as object | undefined) ?? {}) },
  type: (extra['type'] as string | undefined) ?? 'Opaque',
  stringData: { a: 'b' },
});

const appPatch = (patch: unknown) => ({
  method: 'PATCH' as const,
  path: `/apis/argoproj.io/v1alpha1/namespaces/${ARGO}/applications/${APP}`,
  query: { dryRun: 'All' },
  body: patch,
  contentType: 'application/merge-patch+json',
});

/** Asserts a refusal: the status and that the message names `by` (a policy of this run, or RBAC's "forbidden"). */
function refused(got: { status: number; message: string }, status: number, by: RegExp): void {
  assert.equal(got.status, status, `HTTP ${got.status}: ${got.message}`);
  assert.match(got.message, by);
}
const byPolicy = (name: string): RegExp => new RegExp(`ValidatingAdmissionPolicy '${policy(name)}' with binding '${policy(name)}' denied request`);
const byRbac = /is forbidden: User "system:serviceaccount:logstack-system:logstack-worker-rbac-\d+" cannot/;

describeRbac('adversarial rows, escalation with the worker token refused by RBAC or an admission policy', (identity: RbacIdentity) => {
  let worker: KubeCluster;
  let inventoryBefore: Inventory;
  let bindingUid = '';

  before(async () => {
    worker = createKubeClusters(identity.tokenConfig).forContext(`logstack-${ENV}`);
    // The hub's pieces for this run: the Role that may patch Applications, the Application policy and its binding,
    // the policy's parameters and one Application to patch.
    const hub = (await render('gitops/base/orchestrator/worker')).filter((o) =>
      ['Role', 'RoleBinding', 'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding'].includes(o.kind),
    );
    // The Application policy's facts are the installation's (gitops/apps: the example repository and clusters); this
    // run's copy names the sandbox catalog's repository and the staging cluster instead, every validation unchanged.
    const hubForRun = forThisRun(hub).map((o) => {
      const variables = (o as { spec?: { variables?: { name: string; expression: string }[] } }).spec?.variables ?? [];
      for (const v of variables) {
        if (v.name === 'repoURL') v.expression = `'${remote}'`;
        if (v.name === 'destinations') v.expression = `['name=logstack-${ENV} namespace=openshift-logging']`;
      }
      return o;
    });
    const objects: unknown[] = [
      ...hubForRun,
      {
        apiVersion: 'argoproj.io/v1alpha1',
        kind: 'Application',
        metadata: { name: APP, namespace: ARGO, labels: { [RUN_LABEL]: RUN } },
        spec: {
          project: 'logstack',
          source: { repoURL: remote, targetRevision: 'main', path: `gitops/overlays/${ENV}` },
          destination: { name: `logstack-${ENV}`, namespace: 'openshift-logging' },
        },
      },
    ];
    const applied = await kubectl(['apply', '--server-side', '--field-manager=logstack-rbac-test', '-f', '-'], {
      input: objects.map((o) => stringify(o)).join('---\n'),
    });
    assert.equal(applied.code, 0, applied.err);
    // Policies take effect once the API server has loaded them: wait until each fences this run's account.
    const deadline = Date.now() + 30_000;
    for (const [name, probe] of [
      ['logstack-worker-secrets', create(secret('probe-not-owned', 'external-secrets'), 'secrets')],
      ['logstack-worker-subscriptions', apply(subscription('probe-not-named', 'openshift-logging', {}), 'subscriptions')],
      ['logstack-worker-externalsecrets', apply(externalSecret('probe', 'openshift-logging', 'probe', [{ extract: { key: 'probe' } }]), 'externalsecrets')],
      ['logstack-worker-applications', appPatch({ spec: { project: 'default' } })],
    ] as const) {
      for (;;) {
        const got = await answer(worker, probe);
        if (byPolicy(name).test(got.message)) break;
        assert.ok(Date.now() < deadline, `${policy(name)} not in force after 30 s: HTTP ${got.status} ${got.message}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    const binding = await kubectl(['get', 'validatingadmissionpolicybinding', policy('logstack-worker-secrets'), '-o', 'jsonpath={.metadata.uid}']);
    bindingUid = binding.out;
    assert.ok(bindingUid, binding.err);
    inventoryBefore = await takeInventory(sandbox);
  });

  after(async () => {
    await kubectl(['delete', 'application', APP, '-n', ARGO, '--ignore-not-found']);
  });

  it('adversarial: control — the same token may still write what logstack owns (store credential, Loki ExternalSecret, named Subscription, Application refresh)', async () => {
    for (const request of [
      apply(secret(GITOPS_NAMES.storeCredential.name, GITOPS_NAMES.storeCredential.namespace), 'secrets'),
      apply(externalSecret('logging-loki-s3', 'openshift-logging', 'logging-loki-s3', [{ extract: { key: 'logstack/staging/loki-s3' } }]), 'externalsecrets'),
      apply(subscription('cluster-logging', 'openshift-logging', {}), 'subscriptions'),
      appPatch({ metadata: { annotations: { 'argocd.argoproj.io/refresh': 'hard' } } }),
    ]) {
      const got = await answer(worker, request);
      assert.equal(got.status, 200, `${request.method} ${request.path}: HTTP ${got.status} ${got.message}`);
    }
  });

  it('adversarial: Subscription for another package (community operator in openshift-operators-redhat) → 403 logstack-worker-subscriptions', async () => {
    const got = await answer(worker, apply(subscription('grafana-operator', 'openshift-operators-redhat', { source: 'community-operators' }), 'subscriptions'));
    refused(got, 403, byPolicy('logstack-worker-subscriptions'));
    assert.match(got.message, /grafana-operator/);
  });

  it('adversarial: the Loki Operator Subscription with env injected through spec.config → 403 logstack-worker-subscriptions', async () => {
    const got = await answer(
      worker,
      apply(subscription('loki-operator', 'openshift-operators-redhat', { config: { env: [{ name: 'HTTPS_PROXY', value: 'http://attacker:3128' }] } }), 'subscriptions'),
    );
    refused(got, 403, byPolicy('logstack-worker-subscriptions'));
    assert.match(got.message, /spec\.config/);
  });

  it('adversarial: Secret argocd-repo-x in the store credential namespace (RBAC allows create there) → 403 logstack-worker-secrets', async () => {
    const got = await answer(worker, create(secret('argocd-repo-x', 'external-secrets', { metadata: { labels: { 'argocd.argoproj.io/secret-type': 'repository' } } }), 'secrets'));
    refused(got, 403, byPolicy('logstack-worker-secrets'));
  });

  it('adversarial: the store credential as a service-account token Secret (a token of another account under a readable name) → 403 logstack-worker-secrets', async () => {
    const got = await answer(
      worker,
      // A create: admission answers before the store would report that the name exists.
      create(
        secret(GITOPS_NAMES.storeCredential.name, GITOPS_NAMES.storeCredential.namespace, {
          type: 'kubernetes.io/service-account-token',
          metadata: { annotations: { 'kubernetes.io/service-account.name': 'default' } },
        }),
        'secrets',
      ),
    );
    refused(got, 403, byPolicy('logstack-worker-secrets'));
    assert.match(got.message, /Opaque/);
  });

  it('adversarial: an Argo CD cluster Secret in openshift-gitops → 403 RBAC', async () => {
    const got = await answer(worker, {
      method: 'POST',
      path: `/api/v1/namespaces/${ARGO}/secrets`,
      query: { dryRun: 'All' },
      body: secret('cluster-evil', ARGO, { metadata: { labels: { 'argocd.argoproj.io/secret-type': 'cluster' } } }),
    });
    refused(got, 403, byRbac);
  });

  it('adversarial: ExternalSecret logstack-gitops-repository re-targeted at an Argo CD secret argocd-repo-creds → 403 logstack-worker-externalsecrets', async () => {
    const got = await answer(
      worker,
      apply(externalSecret('logstack-gitops-repository', ARGO, 'argocd-repo-creds', [{ extract: { key: 'logstack/gitops/repository' } }]), 'externalsecrets'),
    );
    refused(got, 403, byPolicy('logstack-worker-externalsecrets'));
    assert.match(got.message, /argocd-repo-creds/);
  });

  it('adversarial: ExternalSecret of another name in openshift-logging → 403 logstack-worker-externalsecrets', async () => {
    const got = await answer(worker, apply(externalSecret('collector-token', 'openshift-logging', 'collector-token', [{ extract: { key: 'logstack/staging/loki-s3' } }]), 'externalsecrets'));
    refused(got, 403, byPolicy('logstack-worker-externalsecrets'));
  });

  it('adversarial: the Loki ExternalSecret reading the GitOps repository key and searching every secret (find) → 403 logstack-worker-externalsecrets', async () => {
    const got = await answer(
      worker,
      apply(
        externalSecret('logging-loki-s3', 'openshift-logging', 'logging-loki-s3', [{ extract: { key: 'logstack/gitops/repository' } }, { find: { name: { regexp: '.*' } } }]),
        'externalsecrets',
      ),
    );
    refused(got, 403, byPolicy('logstack-worker-externalsecrets'));
  });

  it('adversarial: Application patch moving it to project default → 403 logstack-worker-applications', async () => {
    refused(await answer(worker, appPatch({ spec: { project: 'default' } })), 403, byPolicy('logstack-worker-applications'));
  });

  it('adversarial: Application patch to another source repository → 403 logstack-worker-applications', async () => {
    const got = await answer(worker, appPatch({ spec: { source: { repoURL: 'https://attacker.example/x.git', path: '.', targetRevision: 'main' } } }));
    refused(got, 403, byPolicy('logstack-worker-applications'));
    assert.match(got.message, /attacker\.example/);
  });

  it('adversarial: Application patch to another destination (the in-cluster server, kube-system) → 403 logstack-worker-applications', async () => {
    const got = await answer(worker, appPatch({ spec: { destination: { name: null, server: 'https://kubernetes.default.svc', namespace: 'kube-system' } } }));
    refused(got, 403, byPolicy('logstack-worker-applications'));
  });

  it('adversarial: Application patch of the target revision with the same source and destination (spec change) → 403 logstack-worker-applications', async () => {
    const got = await answer(worker, appPatch({ spec: { source: { repoURL: remote, path: `gitops/overlays/${ENV}`, targetRevision: 'attacker-branch' } } }));
    refused(got, 403, byPolicy('logstack-worker-applications'));
  });

  it('adversarial: list ConfigMaps across the cluster → 403 RBAC', async () => {
    refused(await answer(worker, { method: 'GET', path: '/api/v1/configmaps' }), 403, byRbac);
  });

  it('adversarial: list ConfigMaps in kube-system → 403 RBAC', async () => {
    refused(await answer(worker, { method: 'GET', path: '/api/v1/namespaces/kube-system/configmaps' }), 403, byRbac);
  });

  it('adversarial: delete the admission policy binding, or weaken the policy → 403 RBAC; the binding is unchanged', async () => {
    const base = '/apis/admissionregistration.k8s.io/v1';
    refused(
      await answer(worker, { method: 'DELETE', path: `${base}/validatingadmissionpolicybindings/${policy('logstack-worker-secrets')}`, query: { dryRun: 'All' } }),
      403,
      byRbac,
    );
    refused(
      await answer(worker, {
        method: 'PATCH',
        path: `${base}/validatingadmissionpolicies/${policy('logstack-worker-secrets')}`,
        query: { dryRun: 'All' },
        body: { spec: { failurePolicy: 'Ignore' } },
        contentType: 'application/merge-patch+json',
      }),
      403,
      byRbac,
    );
    const read = await kubectl(['get', 'validatingadmissionpolicybinding', policy('logstack-worker-secrets'), '-o', 'jsonpath={.metadata.uid} {.spec.validationActions}']);
    assert.equal(read.out, `${bindingUid} ["Deny"]`);
  });

  it('adversarial: nothing changed on the staging cluster (inventory of the kinds logstack writes, filtered to staging)', async () => {
    const after = await takeInventory(sandbox);
    const changed = diffInventory(inventoryBefore, after).filter((line) => line.includes(` cluster ${ENV} `));
    assert.deepEqual(changed, []);
  });
});
