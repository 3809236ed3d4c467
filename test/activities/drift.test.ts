/**
 * Drift scan and remediation against a real kube-apiserver: an overlay applied from a scratch branch
 * of the sandbox remote, then changed behind logstack's back the way `kubectl edit` does.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { readObject } from '../../activities/kubernetes/apply.ts';
import { clusterOf, environment, kustomization, sandboxActivities, scratchBranch, suffix, type ScratchBranch } from './sandbox-parts.ts';

const id = suffix();
const ns = `t-drift-${id}`;
const overlay = `gitops/overlays/t-drift-${id}`;
/** dev's entry, with the test's overlay and its namespace as the Loki namespace (where no ExternalSecret writes the Loki Secret). */
const env = environment('dev', { name: `drift-${id}`, overlay, loki: { namespace: ns } });
const cluster = clusterOf(env);
let branch: ScratchBranch;
let acts: ReturnType<typeof sandboxActivities>;

const lokiStack = {
  apiVersion: 'loki.grafana.com/v1',
  kind: 'LokiStack',
  metadata: { name: 'logging-loki', namespace: ns },
  spec: { size: '1x.demo', storageClassName: 'gp3-csi', storage: { schemas: [{ version: 'v13', effectiveDate: '2024-10-01' }], secret: { name: 'logging-loki-s3', type: 's3' } }, tenants: { mode: 'openshift-logging' } },
};

/**
 * The object storage secret a LokiStack names, in the same overlay: the worker's pre-flight (the Loki Operator's
 * storage rules) refuses a LokiStack whose secret no object of the overlay writes. Placeholder keys, not credentials.
 */
const storageSecret = {
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name: 'logging-loki-s3', namespace: ns },
  data: Object.fromEntries(
    Object.entries({
      bucketnames: env.aws.bucket,
      endpoint: `https://s3.${env.aws.region}.amazonaws.com`,
      region: env.aws.region,
      access_key_id: 'drift-test-placeholder',
      access_key_secret: 'drift-test-placeholder',
    }).map(([key, value]) => [key, Buffer.from(value).toString('base64')]),
  ),
};

function kubectlEdit(path: string, patch: object) {
  return cluster.request({ method: 'PATCH', path, query: { fieldManager: 'kubectl-edit' }, contentType: 'application/merge-patch+json', body: patch });
}

describe('drift on a real kube-apiserver', () => {
  before(async () => {
    branch = scratchBranch();
    const commit = branch.commit(
      {
        [`${overlay}/kustomization.yaml`]: kustomization(['namespace.yaml', 'a.yaml', 'lokistack.yaml', 'storage-secret.yaml']),
        [`${overlay}/namespace.yaml`]: [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }],
        [`${overlay}/a.yaml`]: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a', namespace: ns }, data: { k: 'from-git' } }],
        [`${overlay}/lokistack.yaml`]: [lokiStack],
        [`${overlay}/storage-secret.yaml`]: [storageSecret],
      },
      'drift overlay',
    );
    acts = sandboxActivities({ branch: branch.branch });
    await acts.applyOverlay({ environment: env, revision: commit });
    await acts.recordDeployedState({ environment: env, revision: commit, verified: true, previousRevision: null });
  });
  after(() => branch.dispose());

  it('finds nothing in Git vs cluster right after the apply', async () => {
    const findings = await acts.scanDrift({ environment: env });
    assert.deepEqual(findings.filter((f) => f.class === 'git-vs-cluster'), []);
    assert.ok(findings.every((f) => f.environment === env.name && typeof f.safeToRemediate === 'boolean'));
  });

  it('classifies a kubectl edit as safe drift, remediates it once, and a second remediation does nothing', async () => {
    await kubectlEdit(`/api/v1/namespaces/${ns}/configmaps/a`, { data: { k: 'hotfix' } });
    const findings = await acts.scanDrift({ environment: env });
    const finding = findings.find((f) => f.object === `ConfigMap/${ns}/a`);
    assert.ok(finding, 'the edit is found');
    assert.equal(finding.class, 'git-vs-cluster');
    assert.equal(finding.safeToRemediate, true);
    assert.match(finding.detail, /kubectl-edit/);
    const first = await acts.remediateFinding({ environment: env, finding });
    assert.equal(first.remediated, true);
    const live = await readObject(cluster, { apiVersion: 'v1', kind: 'ConfigMap', name: 'a', namespace: ns });
    assert.equal((live?.['data'] as { k: string }).k, 'from-git');
    const second = await acts.remediateFinding({ environment: env, finding });
    assert.equal(second.remediated, false);
    assert.match(second.detail, /already matches Git/);
  });

  it('a LokiStack resized by hand is drift that is not safe to remediate, and is left alone', async () => {
    await kubectlEdit(`/apis/loki.grafana.com/v1/namespaces/${ns}/lokistacks/logging-loki`, { spec: { size: '1x.pico' } });
    const finding = (await acts.scanDrift({ environment: env })).find((f) => f.object === `LokiStack/${ns}/logging-loki`);
    assert.ok(finding);
    assert.equal(finding.safeToRemediate, false);
    assert.match(finding.detail, /spec\.size/);
    const result = await acts.remediateFinding({ environment: env, finding });
    assert.equal(result.remediated, false);
    const live = await readObject(cluster, { apiVersion: 'loki.grafana.com/v1', kind: 'LokiStack', name: 'logging-loki', namespace: ns });
    assert.equal((live?.['spec'] as { size: string }).size, '1x.pico');
  });

  it('reports the External Secrets and AWS state of the environment as typed findings', async () => {
    const findings = await acts.scanDrift({ environment: env });
    const eso = findings.filter((f) => f.class === 'external-secrets');
    assert.deepEqual(
      eso.map((f) => ({ object: f.object, safe: f.safeToRemediate })),
      [{ object: `ExternalSecret/${ns}/?`, safe: false }],
      'the overlay writes the Loki Secret itself: the scan reports that no ExternalSecret does, and leaves it alone',
    );
    assert.match(eso[0]?.detail ?? '', new RegExp(`no ExternalSecret in ${ns} targets Secret logging-loki-s3`));
    // The bucket and secret are dev's, tagged for dev: to this environment they are AWS drift.
    assert.ok(findings.some((f) => f.class === 'aws'), JSON.stringify(findings.map((f) => f.class)));
  });
});
