/** The deployed-revision record in a real cluster's `logstack-system` ConfigMap. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { STATE_NAMESPACE, stateConfigMapName } from '../../domain/index.ts';
import { readObject } from '../../activities/kubernetes/apply.ts';
import { clusterOf, environment, failureTypeOf, sandboxActivities, suffix } from './sandbox-parts.ts';

const env = environment('staging', { name: `state-${suffix()}` });
const acts = sandboxActivities();
const configMap = () => readObject(clusterOf(env), { apiVersion: 'v1', kind: 'ConfigMap', name: stateConfigMapName(env.name), namespace: STATE_NAMESPACE });
const r1 = 'a'.repeat(40);
const r2 = 'b'.repeat(40);

describe('deployed-revision state on a real kube-apiserver', () => {
  it('reads null before anything was recorded', async () => {
    assert.equal(await acts.readDeployedState({ environment: env }), null);
  });

  it('records once: the same record twice writes nothing and keeps verifiedAt', async () => {
    const first = await acts.recordDeployedState({ environment: env, revision: r1, verified: true, previousRevision: null });
    assert.equal(first.revision, r1);
    assert.ok(first.verifiedAt);
    const rv = (await configMap())?.metadata.resourceVersion;
    await new Promise((r) => setTimeout(r, 1100));
    const second = await acts.recordDeployedState({ environment: env, revision: r1, verified: true, previousRevision: null });
    assert.deepEqual(second, first);
    assert.equal((await configMap())?.metadata.resourceVersion, rv, 'one side effect');
    assert.deepEqual(await acts.readDeployedState({ environment: env }), first);
  });

  it('a new revision moves the previous one along; unverified clears verifiedAt', async () => {
    const next = await acts.recordDeployedState({ environment: env, revision: r2, verified: false, previousRevision: r1 });
    assert.deepEqual(next, { environment: env.name, revision: r2, verified: false, verifiedAt: null, previousRevision: r1 });
    const cm = await configMap();
    assert.ok(cm?.metadata.managedFields?.some((m) => m.manager === 'logstack'));
  });

  it('refuses an empty revision with InvalidInput', async () => {
    assert.equal(await failureTypeOf(acts.recordDeployedState({ environment: env, revision: '', verified: false, previousRevision: null })), 'InvalidInput');
  });
});
