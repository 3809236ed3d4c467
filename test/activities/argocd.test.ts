/**
 * The Argo CD gate against a real kube-apiserver serving Argo CD's Application CRD. No Argo CD
 * controller runs in the sandbox: the tests write the Application status in the controller's place.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { REFRESH_ANNOTATION, createWaitForArgoAppAtRevision } from '../../activities/argocd/application.ts';
import { readObject, serverSideApply } from '../../activities/kubernetes/apply.ts';
import { openWatchCount } from '../../activities/kubernetes/watch.ts';
import { clusterOf, clusters, environment, eventually, failureTypeOf, runInActivity, suffix, writeStatus } from './sandbox-parts.ts';

const namespace = `t-argo-${suffix()}`;
const app = { apiVersion: 'argoproj.io/v1alpha1', kind: 'Application', metadata: { name: 'logstack-dev', namespace } };
const env = environment('dev', { delivery: 'argocd', argocd: { application: app.metadata.name, namespace } });
const cluster = clusterOf(env);
const gate = createWaitForArgoAppAtRevision({ clusters });
const pinned = 'c'.repeat(40);
const older = 'd'.repeat(40);
const header = { apiVersion: app.apiVersion, kind: app.kind, name: app.metadata.name, namespace };

const status = (revision: string, sync: string, health: string, phase: string) => ({
  sync: { status: sync, revision },
  health: { status: health },
  operationState: { phase, startedAt: new Date().toISOString(), operation: { sync: { revision } }, syncResult: { revision } },
});

describe('Argo CD gate on a real kube-apiserver', () => {
  before(async () => {
    await serverSideApply(cluster, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } });
    await serverSideApply(cluster, {
      ...app,
      spec: {
        project: 'default',
        source: { repoURL: 'https://git.example.com/platform/logstack.git', targetRevision: pinned, path: 'gitops/overlays/dev' },
        destination: { server: 'https://kubernetes.default.svc', namespace: 'openshift-logging' },
      },
    });
    await writeStatus(cluster, app, status(older, 'Synced', 'Healthy', 'Succeeded'));
  });

  it('forces a hard refresh, ignores Synced+Healthy at an older revision, returns at the pinned one (test writes Argo CD status in the controller\'s place)', async () => {
    const run = runInActivity(gate, { environment: env, revision: pinned, timeoutSeconds: 30 });
    await eventually(async () => (await readObject(cluster, header))?.metadata.annotations?.[REFRESH_ANNOTATION] === 'hard', 5000, 'the refresh annotation');
    await eventually(() => openWatchCount() > 0, 5000, 'the watch');
    await writeStatus(cluster, app, status(pinned, 'OutOfSync', 'Progressing', 'Running'));
    await writeStatus(cluster, app, status(pinned, 'Synced', 'Progressing', 'Succeeded'));
    await writeStatus(cluster, app, status(pinned, 'Synced', 'Healthy', 'Succeeded'));
    const outcome = await run.result;
    assert.equal(outcome.gate, 'argocd-app-at-revision');
    assert.match(outcome.detail, /Synced at ccccccc, Healthy/);
  });

  it('a second run writes nothing while the refresh is pending (test writes Argo CD status in the controller\'s place)', async () => {
    const rv = (await readObject(cluster, header))?.metadata.resourceVersion;
    await runInActivity(gate, { environment: env, revision: pinned, timeoutSeconds: 10 }).result;
    assert.equal((await readObject(cluster, header))?.metadata.resourceVersion, rv);
  });

  it('fails fast with GateFailed when the pinned revision is Degraded (test writes Argo CD status in the controller\'s place)', async () => {
    await writeStatus(cluster, app, status(pinned, 'Synced', 'Degraded', 'Succeeded'));
    const started = Date.now();
    const error = await runInActivity(gate, { environment: env, revision: pinned, timeoutSeconds: 60 }).result.catch((e: Error & { type?: string; nonRetryable?: boolean }) => e);
    assert.equal((error as { type?: string }).type, 'GateFailed');
    assert.equal((error as { nonRetryable?: boolean }).nonRetryable, true);
    assert.match((error as Error).message, /Degraded/);
    assert.ok(Date.now() - started < 5000, 'fails fast, not at the timeout');
  });

  it('fails fast when the sync operation of the pinned revision failed (test writes Argo CD status in the controller\'s place)', async () => {
    await writeStatus(cluster, app, status(pinned, 'OutOfSync', 'Missing', 'Failed'));
    assert.equal(await failureTypeOf(runInActivity(gate, { environment: env, revision: pinned, timeoutSeconds: 60 }).result), 'GateFailed');
  });

  it('refuses a branch name instead of a commit, and an environment without Argo CD settings, with InvalidInput', async () => {
    assert.equal(await failureTypeOf(gate({ environment: env, revision: 'main' })), 'InvalidInput');
    assert.equal(await failureTypeOf(gate({ environment: environment('dev'), revision: pinned })), 'InvalidInput');
  });
});
