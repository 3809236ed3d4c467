/**
 * renderOverlay and applyOverlay against the real parts: overlays committed to a scratch branch of
 * the sandbox's Git remote, rendered by the sandbox's kubectl, applied to a real kube-apiserver.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FIELD_MANAGER, INVENTORY_LABEL } from '../../domain/index.ts';
import { deleteObject, readObject } from '../../activities/kubernetes/apply.ts';
import type { KubeCluster } from '../../activities/kubernetes/cluster.ts';
import { applyOverlayObjects } from '../../activities/kubernetes/overlay.ts';
import type { KubeRequest } from '../../activities/kubernetes/rest.ts';
import { clusterOf, environment, failureTypeOf, kustomization, sandboxActivities, scratchBranch, suffix, type ScratchBranch } from './sandbox-parts.ts';

const id = suffix();
const ns = `t-apply-${id}`;
const root = `gitops/overlays/t-${id}`;
const env = environment('dev');
const cluster = clusterOf(env);

const namespace = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } };
const configMap = (name: string, value: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: ns }, data: { k: value } });
const lokiStack = (size: string) => ({
  apiVersion: 'loki.grafana.com/v1',
  kind: 'LokiStack',
  metadata: { name: 'logging-loki', namespace: ns },
  spec: {
    size,
    storageClassName: 'gp3-csi',
    storage: { schemas: [{ version: 'v13', effectiveDate: '2024-10-01' }], secret: { name: 'logging-loki-s3', type: 's3' } },
    tenants: { mode: 'openshift-logging' },
  },
});

function overlay(name: string, objects: Record<string, object>): Record<string, object[] | string> {
  const files: Record<string, object[] | string> = { [`${root}/${name}/kustomization.yaml`]: kustomization(Object.keys(objects)) };
  for (const [file, obj] of Object.entries(objects)) files[`${root}/${name}/${file}`] = [obj];
  return files;
}

let branch: ScratchBranch;
let commit: string;
let commitV2: string;
let acts: ReturnType<typeof sandboxActivities>;
const read = (kind: string, name: string, apiVersion = 'v1') => readObject(cluster, { apiVersion, kind, name, namespace: kind === 'Namespace' ? undefined : ns });

describe('renderOverlay and applyOverlay on the sandbox', () => {
  before(() => {
    branch = scratchBranch();
    commit = branch.commit(
      {
        ...overlay('app', { 'namespace.yaml': namespace, 'a.yaml': configMap('a', 'v1'), 'b.yaml': configMap('b', 'v1'), 'lokistack.yaml': lokiStack('1x.demo') }),
        ...overlay('rejected', { 'first.yaml': configMap('rejected-first', 'x'), 'lokistack.yaml': lokiStack('2x.enormous') }),
        ...overlay('conflict', { 'first.yaml': configMap('conflict-sibling', 'x'), 'owned.yaml': configMap('owned', 'ours') }),
        ...overlay('missing', { 'first.yaml': configMap('missing-first', 'x'), 'widget.yaml': { apiVersion: 'example.invalid/v1', kind: 'Widget', metadata: { name: 'w', namespace: ns } } }),
      },
      'test overlays',
    );
    commitV2 = branch.commit(overlay('app', { 'namespace.yaml': namespace, 'a.yaml': configMap('a', 'v2'), 'lokistack.yaml': lokiStack('1x.pico') }), 'app v2: a changed, b removed, LokiStack resized');
    acts = sandboxActivities({ branch: branch.branch });
  });
  after(() => branch.dispose());

  it('renderOverlay renders the real dev overlay at main: digest and counts only, stable', async () => {
    const main = sandboxActivities();
    const first = await main.renderOverlay({ environment: env, revision: 'main' });
    const second = await main.renderOverlay({ environment: env, revision: first.commit });
    assert.match(first.commit, /^[0-9a-f]{40}$/);
    assert.match(first.digest, /^sha256:[0-9a-f]{64}$/);
    assert.equal(second.digest, first.digest);
    assert.ok(first.objects > 10);
    assert.equal(first.kinds['LokiStack'], 1);
    assert.equal(first.kinds['ClusterLogForwarder'], 1);
    assert.ok(!JSON.stringify(first).includes('apiVersion'), 'no manifest content in the result');
  });

  it('renderOverlay refuses an unknown revision and a missing overlay with InvalidInput', async () => {
    assert.equal(await failureTypeOf(acts.renderOverlay({ environment: env, revision: 'no-such-branch' })), 'InvalidInput');
    assert.equal(await failureTypeOf(acts.renderOverlay({ environment: env, revision: commit, overlay: `${root}/absent` })), 'InvalidInput');
    assert.equal(await failureTypeOf(acts.renderOverlay({ environment: env, revision: commit, overlay: 'gitops/../etc' })), 'InvalidInput');
  });

  it('dry run reports what would be created and writes nothing', async () => {
    const result = await acts.applyOverlay({ environment: env, revision: commit, overlay: `${root}/app`, dryRun: true });
    assert.equal(result.applied, 0);
    assert.deepEqual([...result.diff.created].sort(), [`ConfigMap/${ns}/a`, `ConfigMap/${ns}/b`, `LokiStack/${ns}/logging-loki`, `Namespace/${ns}`].sort());
    assert.equal(await read('Namespace', ns), undefined);
  });

  it('applies server-side as "logstack" with the inventory label; a second run changes nothing', async () => {
    const first = await acts.applyOverlay({ environment: env, revision: commit, overlay: `${root}/app` });
    assert.equal(first.applied, 4);
    const a = await read('ConfigMap', 'a');
    assert.equal(a?.metadata.labels?.[INVENTORY_LABEL], `dev.overlays.t-${id}.app`);
    assert.ok(a?.metadata.managedFields?.some((m) => m.manager === FIELD_MANAGER && m.operation === 'Apply'));
    const rv = a?.metadata.resourceVersion;
    const second = await acts.applyOverlay({ environment: env, revision: commit, overlay: `${root}/app` });
    assert.equal(second.applied, 0);
    assert.equal(second.diff.unchanged, 4);
    assert.deepEqual(second.diff.changed, []);
    assert.equal((await read('ConfigMap', 'a'))?.metadata.resourceVersion, rv, 'one side effect');
  });

  it('dry run of a new revision flags the LokiStack size change and the deletion as destructive', async () => {
    const { diff } = await acts.applyOverlay({ environment: env, revision: commitV2, overlay: `${root}/app`, dryRun: true });
    assert.deepEqual([...diff.changed].sort(), [`ConfigMap/${ns}/a`, `LokiStack/${ns}/logging-loki`]);
    assert.deepEqual(diff.toBeDeleted, [`ConfigMap/${ns}/b`]);
    assert.ok(diff.destructive.some((d) => d.includes('LokiStack') && d.includes('spec.size')));
    assert.ok(diff.destructive.some((d) => d.includes(`ConfigMap/${ns}/b`)));
    assert.equal((await read('ConfigMap', 'a'))?.['data'] && ((await read('ConfigMap', 'a'))?.['data'] as { k: string }).k, 'v1');
  });

  it('prunes labelled leftovers only when prune is true', async () => {
    const kept = await acts.applyOverlay({ environment: env, revision: commitV2, overlay: `${root}/app` });
    assert.ok(await read('ConfigMap', 'b'), 'kept without prune');
    assert.deepEqual([kept.diff.toBeDeleted, kept.diff.destructive.filter((d) => d.includes('deletion'))], [[], []], 'an apply that does not prune deletes nothing and reports no deletion');
    const pruned = await acts.applyOverlay({ environment: env, revision: commitV2, overlay: `${root}/app`, prune: true });
    assert.deepEqual(pruned.diff.toBeDeleted, [`ConfigMap/${ns}/b`]);
    assert.equal(await read('ConfigMap', 'b'), undefined, 'pruned');
    assert.ok(await read('Namespace', ns), 'rendered objects stay');
  });

  it('objects in a namespace the apply creates are created without asking the server about them first', async () => {
    const fresh = `${ns}-new`;
    const sent: string[] = [];
    const recording: KubeCluster = {
      ...cluster,
      request: <T,>(request: KubeRequest) => {
        sent.push(`${request.method} ${request.path}`);
        return cluster.request<T>(request);
      },
    };
    const objects = [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: fresh } },
      { ...configMap('a', 'v1'), metadata: { name: 'a', namespace: fresh } },
      { ...configMap('b', 'v1'), metadata: { name: 'b', namespace: fresh } },
    ];
    const inside = () => sent.filter((line) => line.includes(`/namespaces/${fresh}/`));
    try {
      const dry = await applyOverlayObjects(recording, objects, { inventory: `t-${id}.fresh`, dryRun: true });
      assert.deepEqual([...dry.diff.created].sort(), [`ConfigMap/${fresh}/a`, `ConfigMap/${fresh}/b`, `Namespace/${fresh}`]);
      assert.deepEqual(inside(), [], 'the dry run asks nothing about objects in a namespace that does not exist');
      const applied = await applyOverlayObjects(recording, objects, { inventory: `t-${id}.fresh` });
      assert.equal(applied.applied, 3);
      assert.deepEqual(inside(), [`PATCH /api/v1/namespaces/${fresh}/configmaps/a`, `PATCH /api/v1/namespaces/${fresh}/configmaps/b`], 'only their writes');
      assert.equal(((await readObject(cluster, { apiVersion: 'v1', kind: 'ConfigMap', name: 'b', namespace: fresh }))?.['data'] as { k: string }).k, 'v1');
      sent.length = 0;
      const again = await applyOverlayObjects(recording, objects, { inventory: `t-${id}.fresh` });
      assert.deepEqual([again.applied, again.diff.unchanged], [0, 3], 'once the namespace exists its objects are read and dry-run as any other');
      assert.equal(inside().filter((line) => line.startsWith('GET ')).length, 2);
    } finally {
      await deleteObject(cluster, { apiVersion: 'v1', kind: 'Namespace', name: fresh });
    }
  });

  it('a rejected manifest fails ManifestRejected with the server message and changes nothing', async () => {
    const error = await acts.applyOverlay({ environment: env, revision: commit, overlay: `${root}/rejected` }).then(
      () => assert.fail('expected ManifestRejected'),
      (e: Error & { type?: string }) => e,
    );
    assert.equal(error.type, 'ManifestRejected');
    assert.match(error.message, /spec\.size/);
    assert.equal(await read('ConfigMap', 'rejected-first'), undefined);
  });

  it('a field owned by another manager fails Conflict naming field and owner, and changes nothing', async () => {
    await cluster.request({ method: 'POST', path: `/api/v1/namespaces/${ns}/configmaps`, query: { fieldManager: 'kubectl-edit' }, body: configMap('owned', 'theirs') });
    const error = await acts.applyOverlay({ environment: env, revision: commit, overlay: `${root}/conflict` }).then(
      () => assert.fail('expected Conflict'),
      (e: Error & { type?: string }) => e,
    );
    assert.equal(error.type, 'Conflict');
    assert.match(error.message, /\.data\.k/);
    assert.match(error.message, /kubectl-edit/);
    assert.equal(((await read('ConfigMap', 'owned'))?.['data'] as { k: string }).k, 'theirs');
    assert.equal(await read('ConfigMap', 'conflict-sibling'), undefined);
  });

  it('a kind the cluster does not serve fails MissingCustomResource and changes nothing', async () => {
    assert.equal(await failureTypeOf(acts.applyOverlay({ environment: env, revision: commit, overlay: `${root}/missing` })), 'MissingCustomResource');
    assert.equal(await read('ConfigMap', 'missing-first'), undefined);
  });
});
