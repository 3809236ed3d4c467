/**
 * Gates started while the API server is away. The gate activities run against the sandbox's production
 * kube-apiserver through a loopback fault proxy (test/reliability/fault-proxy.ts) that refuses every
 * connection when the gate starts: the gate's set-up (discovery, the first read) cannot reach the server.
 * Each gate runs once, in one activity context (`MockActivityEnvironment`, no retry around it), so "passes"
 * means "passes in one activity attempt": before set-up retried inside the gate, the first connection error
 * ended the attempt at once.
 *
 * The test makes its own namespace on production with a LokiStack and an Argo CD Application whose statuses
 * it writes in the controllers' place (the sandbox runs neither controller), and deletes it afterwards.
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { after, before, describe, it } from 'node:test';
import { CancelledFailure } from '@temporalio/common';
import { createWaitForArgoAppAtRevision } from '../../activities/argocd/application.ts';
import { serverSideApply } from '../../activities/kubernetes/apply.ts';
import { createKubeClusters } from '../../activities/kubernetes/cluster.ts';
import type { KubeObject } from '../../activities/kubernetes/objects.ts';
import { KubeApiError } from '../../activities/kubernetes/rest.ts';
import { isServerUnavailable, openWatchCount } from '../../activities/kubernetes/watch.ts';
import { createLokiGates } from '../../activities/loki/gates.ts';
import { clusters, condition, environment, runInActivity, sandbox, suffix, writeStatus } from '../activities/sandbox-parts.ts';
import { startFaultProxy, type FaultProxy } from './fault-proxy.ts';
import { apiserverOf, proxiedKubeconfig, sleep } from './fault-runs.ts';

const namespace = `t-gate-outage-${suffix()}`;
const env = environment('production', {
  loki: { namespace },
  argocd: { application: 'gate-outage', namespace },
});
const direct = clusters.forContext(env.cluster.context);
const revision = 'a'.repeat(40);
const OUTAGE_MS = 5_000;

const stack = parse(readFileSync(join(import.meta.dirname, '../../gitops/base/loki-stack/lokistack.yaml'), 'utf8')) as KubeObject;
stack.metadata.namespace = namespace;
Object.assign(stack['spec'] as object, { size: '1x.demo', storageClassName: 'gp3-csi', limits: { global: { retention: { days: 7 } } } });
const app: KubeObject = {
  apiVersion: 'argoproj.io/v1alpha1',
  kind: 'Application',
  metadata: { name: 'gate-outage', namespace, annotations: { 'argocd.argoproj.io/refresh': 'hard' } },
  spec: { project: 'default', source: { repoURL: 'https://gitops.sandbox.invalid/logstack.git', path: 'gitops/overlays/production', targetRevision: revision }, destination: { server: 'https://kubernetes.default.svc', namespace } },
};

describe('gates started during an API server outage retry their set-up inside the gate (production apiserver behind a fault proxy)', { concurrency: false, timeout: 90_000 }, () => {
  let proxy: FaultProxy;
  let kubeconfigDir = '';

  before(async () => {
    await serverSideApply(direct, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } });
    await serverSideApply(direct, stack);
    await writeStatus(direct, stack, { conditions: [condition('Ready', 'True', 'ReadyComponents')] });
    await serverSideApply(direct, app);
    await writeStatus(direct, app, {
      sync: { status: 'Synced', revision },
      health: { status: 'Healthy' },
      operationState: { phase: 'Succeeded', operation: { sync: { revision } }, startedAt: new Date().toISOString(), syncResult: { revision } },
    });
    proxy = await startFaultProxy(apiserverOf(sandbox, env.cluster.context));
    const kubeconfig = proxiedKubeconfig(sandbox, { [env.cluster.context]: proxy.port });
    kubeconfigDir = kubeconfig.dir;
  });

  after(async () => {
    proxy?.restore();
    await proxy?.close();
    if (kubeconfigDir) rmSync(kubeconfigDir, { recursive: true, force: true });
    await direct.request({ method: 'DELETE', path: `/api/v1/namespaces/${namespace}` }).catch(() => undefined);
    assert.equal(openWatchCount(), 0, 'no watch left open');
  });

  /** Fresh clients (no cached discovery) that reach production only through the proxy. */
  const proxiedClusters = () => createKubeClusters(`${kubeconfigDir}/kubeconfig`);

  it('the LokiStack gate started while the server refuses connections passes in one attempt once it is back', async () => {
    proxy.cut();
    const refusedBefore = proxy.stats.refused;
    const gates = createLokiGates({ clusters: proxiedClusters() });
    const started = performance.now();
    const run = runInActivity(gates.waitForLokiStackReady, { environment: env, timeoutSeconds: 30 });
    await sleep(OUTAGE_MS);
    proxy.restore();
    const outcome = await run.result;
    const elapsed = performance.now() - started;
    assert.equal(outcome.ok, true);
    assert.match(outcome.detail ?? '', /Ready=True/);
    assert.ok(elapsed >= OUTAGE_MS, `waited through the outage (${Math.round(elapsed)} ms)`);
    assert.ok(elapsed < OUTAGE_MS + 10_000, `passed soon after the restore (${Math.round(elapsed)} ms)`);
    assert.ok(proxy.stats.refused - refusedBefore >= 3, `the set-up kept trying during the outage (${proxy.stats.refused - refusedBefore} refused connections)`);
    const waiting = run.heartbeats.map((h) => JSON.stringify(h)).filter((h) => /API server/.test(h));
    assert.ok(waiting.length >= 1, `heartbeated while the server was away: ${JSON.stringify(run.heartbeats.slice(0, 3))}`);
  });

  it('the Argo CD gate (read and refresh before the watch) started during the outage passes in one attempt once it is back', async () => {
    proxy.cut();
    const gate = createWaitForArgoAppAtRevision({ clusters: proxiedClusters() });
    const started = performance.now();
    const run = runInActivity(gate, { environment: env, revision, timeoutSeconds: 30 });
    await sleep(3_000);
    proxy.restore();
    const outcome = await run.result;
    assert.equal(outcome.ok, true, outcome.detail);
    assert.ok(performance.now() - started >= 3_000);
  });

  it('an outage longer than the gate ends with the gate\'s own GateFailed timeout naming the API server, not a connection error', async () => {
    proxy.cut();
    const gates = createLokiGates({ clusters: proxiedClusters() });
    const started = performance.now();
    const error = await runInActivity(gates.waitForLokiStackReady, { environment: env, timeoutSeconds: 3 }).result.then(
      () => assert.fail('the gate passed while the server was away'),
      (e: unknown) => e as Error & { type?: string; nonRetryable?: boolean },
    );
    const elapsed = performance.now() - started;
    proxy.restore();
    assert.equal(error.type, 'GateFailed', error.message);
    assert.equal(error.nonRetryable, true);
    assert.match(error.message, /did not hold within 3 s; still waiting for the API server of "logstack-production" to answer/);
    assert.ok(elapsed >= 2_900 && elapsed < 6_000, `ended at the gate's timeout (${Math.round(elapsed)} ms)`);
  });

  it('cancellation during the outage ends the gate cancelled at once', async () => {
    proxy.cut();
    const gates = createLokiGates({ clusters: proxiedClusters() });
    const run = runInActivity(gates.waitForLokiStackReady, { environment: env, timeoutSeconds: 30 });
    await sleep(1_500);
    const cancelledAt = performance.now();
    run.cancel();
    await assert.rejects(run.result, (e: unknown) => e instanceof CancelledFailure);
    assert.ok(performance.now() - cancelledAt < 2_000, 'ended promptly after the cancellation');
    proxy.restore();
  });

  it('classifies answers: refusals and 5xx are an absent server; 403, 404 and typed failures are not', () => {
    assert.equal(isServerUnavailable(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' })), true);
    assert.equal(isServerUnavailable(new Error('request failed', { cause: Object.assign(new Error('reset'), { code: 'ECONNRESET' }) })), true);
    assert.equal(isServerUnavailable(new KubeApiError(503, { message: 'overloaded' }, 'HTTP 503')), true);
    assert.equal(isServerUnavailable(new KubeApiError(429, { reason: 'TooManyRequests' }, 'HTTP 429')), true);
    assert.equal(isServerUnavailable(new KubeApiError(403, { reason: 'Forbidden' }, 'HTTP 403')), false);
    assert.equal(isServerUnavailable(new KubeApiError(404, undefined, 'HTTP 404')), false);
    assert.equal(isServerUnavailable(new TypeError('x is not a function')), false);
  });
});
