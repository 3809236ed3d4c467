/**
 * LokiStack and ClusterLogForwarder gates against a real kube-apiserver. The sandbox runs no Loki
 * Operator or Cluster Logging Operator, so the tests write their statuses in the controllers' place.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { CancelledFailure } from '@temporalio/common';
import { createLokiGates } from '../../activities/loki/gates.ts';
import { serverSideApply } from '../../activities/kubernetes/apply.ts';
import type { KubeObject } from '../../activities/kubernetes/objects.ts';
import { openWatchCount, watchCollection } from '../../activities/kubernetes/watch.ts';
import { apiserverWatches, clusterOf, clusters, condition, environment, eventually, failureTypeOf, runInActivity, suffix, writeStatus } from './sandbox-parts.ts';

const namespace = `t-loki-${suffix()}`;
const env = environment('dev', { loki: { namespace } });
const cluster = clusterOf(env);
const gates = createLokiGates({ clusters });

function fromTree(path: string): KubeObject {
  return parse(readFileSync(join(import.meta.dirname, '../../gitops', path), 'utf8')) as KubeObject;
}

const stack = fromTree('base/loki-stack/lokistack.yaml');
stack.metadata.namespace = namespace;
Object.assign(stack['spec'] as object, { size: '1x.demo', storageClassName: 'gp3-csi', limits: { global: { retention: { days: 7 } } } });
const forwarder = fromTree('base/logging/clusterlogforwarder.yaml');
forwarder.metadata.namespace = namespace;
(forwarder['spec'] as { outputs: { lokiStack: { target: { namespace: string } } }[] }).outputs[0]!.lokiStack.target.namespace = namespace;

describe('Loki gates on a real kube-apiserver', () => {
  before(async () => {
    await serverSideApply(cluster, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } });
    await serverSideApply(cluster, stack);
    await serverSideApply(cluster, forwarder);
  });
  after(() => assert.equal(openWatchCount(), 0, 'no watch left open'));

  it('waitForLokiStackReady returns when Ready turns True (test writes LokiStack status in the Loki Operator\'s place)', async () => {
    await writeStatus(cluster, stack, { conditions: [condition('Ready', 'False', 'PendingComponents'), condition('Pending', 'True')] });
    const run = runInActivity(gates.waitForLokiStackReady, { environment: env, timeoutSeconds: 30 });
    await eventually(() => openWatchCount() > 0, 5000, 'the watch to open');
    await writeStatus(cluster, stack, { conditions: [condition('Ready', 'True', 'ReadyComponents')] });
    const outcome = await run.result;
    assert.equal(outcome.gate, 'lokistack-ready');
    assert.match(outcome.detail, /Ready=True/);
    assert.ok(run.heartbeats.length >= 1, 'heartbeated while waiting');
    assert.equal(openWatchCount(), 0);
  });

  it('is read-only: a second run returns at once and writes nothing (test writes LokiStack status in the Loki Operator\'s place)', async () => {
    const before = (await cluster.request<KubeObject>({ method: 'GET', path: `/apis/loki.grafana.com/v1/namespaces/${namespace}/lokistacks/${stack.metadata.name}` })).metadata.resourceVersion;
    const outcome = await runInActivity(gates.waitForLokiStackReady, { environment: env, timeoutSeconds: 30 }).result;
    assert.ok(outcome.waitedMs < 2000);
    const afterRv = (await cluster.request<KubeObject>({ method: 'GET', path: `/apis/loki.grafana.com/v1/namespaces/${namespace}/lokistacks/${stack.metadata.name}` })).metadata.resourceVersion;
    assert.equal(afterRv, before);
  });

  it('cancellation mid-wait closes the watch on the apiserver and ends the activity cancelled (test writes LokiStack status in the Loki Operator\'s place)', async () => {
    await writeStatus(cluster, stack, { conditions: [condition('Ready', 'False', 'PendingComponents')] });
    const baseline = await apiserverWatches(cluster, 'lokistacks');
    const run = runInActivity(gates.waitForLokiStackReady, { environment: env, timeoutSeconds: 60 });
    await eventually(async () => (await apiserverWatches(cluster, 'lokistacks')) > baseline, 10_000, 'the apiserver to count the watch');
    run.cancel();
    await assert.rejects(run.result, (e: unknown) => e instanceof CancelledFailure);
    assert.equal(openWatchCount(), 0, 'client side closed');
    await eventually(async () => (await apiserverWatches(cluster, 'lokistacks')) <= baseline, 10_000, 'the apiserver to drop the watch');
  });

  it('times out with GateFailed naming the condition still missing (test writes LokiStack status in the Loki Operator\'s place)', async () => {
    const run = runInActivity(gates.waitForLokiStackReady, { environment: env, timeoutSeconds: 1 });
    await assert.rejects(run.result, (e: Error & { type?: string }) => e.type === 'GateFailed' && /Ready=False/.test(e.message) && /1 s/.test(e.message));
    assert.equal(openWatchCount(), 0);
  });

  it('fails MissingCustomResource when the cluster does not serve the kind', async () => {
    const { waitUntil } = await import('../../activities/kubernetes/watch.ts');
    const type = await failureTypeOf(
      waitUntil({ cluster, collections: [{ apiVersion: 'example.invalid/v1', kind: 'Nothing' }], evaluate: () => ({ done: true, value: 1 }), timeoutMs: 1000, description: 'nothing' }),
    );
    assert.equal(type, 'MissingCustomResource');
  });

  it('waitForLogForwarderReady needs Authorized, Valid and Ready (test writes ClusterLogForwarder status in the Cluster Logging Operator\'s place)', async () => {
    await writeStatus(cluster, forwarder, {
      conditions: [condition('observability.openshift.io/Authorized', 'True', 'ClusterRolesExist'), condition('observability.openshift.io/Valid', 'False', 'ValidationFailure'), condition('Ready', 'False')],
    });
    const run = runInActivity(gates.waitForLogForwarderReady, { environment: env, timeoutSeconds: 30 });
    await eventually(() => openWatchCount() > 0, 5000, 'the watch to open');
    await writeStatus(cluster, forwarder, {
      conditions: [condition('observability.openshift.io/Authorized', 'True', 'ClusterRolesExist'), condition('observability.openshift.io/Valid', 'True', 'ValidationSuccess'), condition('Ready', 'False')],
    });
    await new Promise((r) => setTimeout(r, 300));
    let settled = false;
    void run.result.finally(() => (settled = true)).catch(() => undefined);
    assert.equal(settled, false, 'Ready=False still holds the gate');
    await writeStatus(cluster, forwarder, {
      conditions: [condition('observability.openshift.io/Authorized', 'True', 'ClusterRolesExist'), condition('observability.openshift.io/Valid', 'True', 'ValidationSuccess'), condition('Ready', 'True', 'ReconciliationComplete')],
    });
    const outcome = await run.result;
    assert.equal(outcome.gate, 'log-forwarder-ready');
    assert.match(outcome.detail, /collector/);
  });

  it('resumes from the last resourceVersion when the server closes the stream, without listing again (test writes LokiStack status in the Loki Operator\'s place)', async () => {
    await writeStatus(cluster, stack, { conditions: [condition('Ready', 'False', 'PendingComponents')] });
    const info = await cluster.resource('loki.grafana.com/v1', 'LokiStack');
    const stop = new AbortController();
    let ready = false;
    const watch = watchCollection(cluster, info, { apiVersion: 'loki.grafana.com/v1', kind: 'LokiStack', namespace, name: stack.metadata.name }, stop.signal, () => {
      ready = [...watch.objects.values()].some((o) => o['status'] && JSON.stringify(o['status']).includes('"status":"True"'));
    }, (e) => assert.fail(String(e)), 1);
    await watch.listed;
    await new Promise((r) => setTimeout(r, 2500));
    await writeStatus(cluster, stack, { conditions: [condition('Ready', 'True', 'ReadyComponents')] });
    await eventually(() => ready, 5000, 'the event after resuming');
    stop.abort();
    await watch.finished;
    assert.equal(watch.stats.lists, 1);
    assert.ok(watch.stats.streams >= 2, `streams: ${watch.stats.streams}`);
  });

  it('re-lists when the resourceVersion has expired (410 Gone from the apiserver)', async () => {
    const info = await cluster.resource('loki.grafana.com/v1', 'LokiStack');
    const stop = new AbortController();
    const watch = watchCollection(cluster, info, { apiVersion: 'loki.grafana.com/v1', kind: 'LokiStack', namespace }, stop.signal, () => undefined, (e) => assert.fail(String(e)), 20, '1');
    await watch.listed;
    stop.abort();
    await watch.finished;
    assert.equal(watch.stats.expired, 1, 'the apiserver answered 410 for resourceVersion 1');
    assert.equal(watch.stats.lists, 1);
    assert.ok(watch.objects.size >= 1);
  });
});
