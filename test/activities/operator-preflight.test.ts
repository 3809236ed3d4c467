/**
 * The operator-rule pre-flight inside the worker's activities, on the real parts: overlays committed to a
 * scratch branch of the sandbox's Git remote, rendered by the sandbox's kubectl. A violating overlay is
 * refused `OperatorRuleViolation` by `applyOverlay` (apply and dry-run), `renderOverlay` and `pinRevision`
 * before any side effect — the dev cluster never sees its namespace, the remote branch gains no pin commit —
 * while the same overlay fixed renders and pins. The overlay lives in its own namespace, so had the
 * pre-flight let it through, only this test's objects would have been created (and the test would fail).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { readObject } from '../../activities/kubernetes/apply.ts';
import { clusterOf, environment, kustomization, sandbox, sandboxActivities, scratchBranch, suffix, type ScratchBranch } from './sandbox-parts.ts';

const id = suffix();
const ns = `t-preflight-${id}`;
const badDir = `gitops/overlays/t-pf-bad-${id}`;
const goodDir = `gitops/overlays/t-pf-good-${id}`;
const bad = environment('dev', { name: `pf-${id}`, overlay: badDir });
const good = environment('dev', { name: `pf-${id}`, overlay: goodDir });
const cluster = clusterOf(bad);

const namespace = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } };
const configMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'preflight-first', namespace: ns }, data: { k: 'v' } };
const lokiStack = (tenants: string) => ({
  apiVersion: 'loki.grafana.com/v1',
  kind: 'LokiStack',
  metadata: { name: 'logging-loki', namespace: ns },
  spec: {
    size: '1x.demo',
    limits: { global: { retention: { days: 7 } } },
    storageClassName: 'gp3-csi',
    storage: { schemas: [{ version: 'v13', effectiveDate: '2024-10-01' }], secret: { name: 'logging-loki-s3', type: 's3' } },
    tenants: { mode: tenants },
  },
});
/** The storage Secret as the operator wants it for the catalog's dev (static): every value a catalog fact. */
const storageSecret = {
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name: 'logging-loki-s3', namespace: ns },
  stringData: { bucketnames: bad.aws.bucket, region: bad.aws.region, endpoint: `https://s3.${bad.aws.region}.amazonaws.com`, access_key_id: 'placeholder', access_key_secret: 'placeholder' },
};

function files(dir: string, objects: Record<string, object>): Record<string, object[] | string> {
  const out: Record<string, object[] | string> = { [`${dir}/kustomization.yaml`]: kustomization(Object.keys(objects)) };
  for (const [file, obj] of Object.entries(objects)) out[`${dir}/${file}`] = [obj];
  return out;
}

const remoteLog = (ref: string): string[] => execFileSync('git', ['--git-dir', sandbox.git.remote, 'log', '--format=%H', ref], { encoding: 'utf8' }).trim().split('\n');

/** The refusal of `promise`: its type, message and listed paths. */
async function refusal(promise: Promise<unknown>): Promise<{ type: string | undefined; message: string; paths: string[] }> {
  try {
    await promise;
  } catch (error) {
    const e = error as { type?: string; message: string; details?: unknown[] };
    const details = (e.details?.[0] ?? {}) as { violations?: { path: string }[] };
    return { type: e.type, message: e.message, paths: (details.violations ?? []).map((v) => v.path) };
  }
  return assert.fail('expected OperatorRuleViolation');
}

const EXPECTED = [`LokiStack/${ns}/logging-loki: spec.tenants.mode`, `LokiStack/${ns}/logging-loki: spec.storage.secret.name`];

let branch: ScratchBranch;
let badCommit: string;
let goodCommit: string;
let acts: ReturnType<typeof sandboxActivities>;

describe('operator-rule pre-flight in the activities (sandbox)', () => {
  before(() => {
    branch = scratchBranch();
    badCommit = branch.commit(files(badDir, { 'namespace.yaml': namespace, 'first.yaml': configMap, 'lokistack.yaml': lokiStack('static') }), 'an overlay the Loki Operator would refuse');
    goodCommit = branch.commit(files(goodDir, { 'namespace.yaml': namespace, 'first.yaml': configMap, 'lokistack.yaml': lokiStack('openshift-logging'), 'secret.yaml': storageSecret }), 'the same overlay, fixed');
    acts = sandboxActivities({ branch: branch.branch });
  });
  after(async () => {
    try {
      execFileSync('git', ['-C', branch.clone, 'push', '--quiet', 'origin', '--delete', branch.branch]);
    } finally {
      branch.dispose();
      // Only reached when the pre-flight failed to stop an apply: leave the cluster as it was.
      if (await readObject(cluster, { apiVersion: 'v1', kind: 'Namespace', name: ns })) {
        await cluster.request({ method: 'DELETE', path: `/api/v1/namespaces/${ns}` });
      }
    }
  });

  it('applyOverlay (apply and dry-run) refuses before any request to the cluster: every violation with its path, the namespace never created', async () => {
    for (const dryRun of [false, true]) {
      const r = await refusal(acts.applyOverlay({ environment: bad, revision: badCommit, dryRun }));
      assert.equal(r.type, 'OperatorRuleViolation', r.message);
      assert.deepEqual(r.paths.sort(), [...EXPECTED].sort());
      assert.match(r.message, /breaks 2 operator rule\(s\) for pf-/);
      assert.match(r.message, /spec\.tenants\.mode: is static; .* must be openshift-logging/);
      assert.match(r.message, /Missing object storage secret/);
    }
    assert.equal(await readObject(cluster, { apiVersion: 'v1', kind: 'Namespace', name: ns }), undefined, 'nothing was applied');
  });

  it('pinRevision refuses before pushing; renderOverlay (bootstrap\'s first step) refuses too', async () => {
    const before = remoteLog(branch.branch).length;
    const pin = await refusal(acts.pinRevision({ environment: bad, commit: badCommit }));
    assert.equal(pin.type, 'OperatorRuleViolation', pin.message);
    assert.deepEqual(pin.paths.sort(), [...EXPECTED].sort());
    assert.equal(remoteLog(branch.branch).length, before, 'no pin commit pushed');
    const render = await refusal(acts.renderOverlay({ environment: bad, revision: badCommit }));
    assert.equal(render.type, 'OperatorRuleViolation', render.message);
  });

  it('the fixed overlay renders and pins (the check refuses violations, not overlays)', async () => {
    const rendered = await acts.renderOverlay({ environment: good, revision: goodCommit });
    assert.deepEqual(rendered.kinds, { ConfigMap: 1, LokiStack: 1, Namespace: 1, Secret: 1 });
    const pinned = await acts.pinRevision({ environment: good, commit: goodCommit });
    assert.equal(pinned.changed, true);
    assert.equal(await readObject(cluster, { apiVersion: 'v1', kind: 'Namespace', name: ns }), undefined, 'rendering and pinning touch no cluster');
  });
});
