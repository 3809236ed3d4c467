/**
 * OLM gate and InstallPlan approval against a real kube-apiserver serving OLM's CRDs. OLM itself does
 * not run in the sandbox: the tests write Subscription, CSV and InstallPlan status in OLM's place.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { createOlmActivities } from '../../activities/olm/operators.ts';
import { readObject, serverSideApply } from '../../activities/kubernetes/apply.ts';
import { openWatchCount } from '../../activities/kubernetes/watch.ts';
import { clusterOf, clusters, environment, eventually, runInActivity, suffix, writeStatus } from './sandbox-parts.ts';

const namespace = `t-olm-${suffix()}`;
const env = environment('staging');
const cluster = clusterOf(env);
const olm = createOlmActivities({ clusters });
const V = 'operators.coreos.com/v1alpha1';
const csvName = 'loki-operator.v6.2.3';

const subscription = { apiVersion: V, kind: 'Subscription', metadata: { name: 'loki-operator', namespace } };
const csv = { apiVersion: V, kind: 'ClusterServiceVersion', metadata: { name: csvName, namespace } };
const plan = (name: string, csvs: string[]) => ({
  apiVersion: V,
  kind: 'InstallPlan',
  metadata: { name, namespace },
  spec: { approval: 'Manual', approved: false, clusterServiceVersionNames: csvs },
});

describe('OLM on a real kube-apiserver', () => {
  before(async () => {
    await serverSideApply(cluster, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } });
    await serverSideApply(cluster, { ...subscription, spec: { channel: 'stable-6.2', name: 'loki-operator', source: 'redhat-operators', sourceNamespace: 'openshift-marketplace', installPlanApproval: 'Manual' } });
    await serverSideApply(cluster, {
      ...csv,
      spec: { displayName: 'Loki Operator', install: { strategy: 'deployment', spec: { deployments: [] } } },
    });
    await serverSideApply(cluster, plan('install-good', [csvName]));
    await serverSideApply(cluster, plan('install-bundle', [csvName, 'other-operator.v1.0.0']));
  });

  it('waitForOperatorsSucceeded waits for installedCSV, then the CSV phase Succeeded (test writes OLM status in OLM\'s place)', async () => {
    await writeStatus(cluster, subscription, { lastUpdated: new Date().toISOString(), state: 'UpgradePending', installPlanRef: { name: 'install-good', namespace } });
    const run = runInActivity(olm.waitForOperatorsSucceeded, { environment: env, timeoutSeconds: 30, subscriptions: [`${namespace}/loki-operator`] });
    await eventually(() => openWatchCount() >= 2, 5000, 'both watches');
    await writeStatus(cluster, subscription, { lastUpdated: new Date().toISOString(), state: 'AtLatestKnown', installedCSV: csvName, currentCSV: csvName });
    await writeStatus(cluster, csv, { phase: 'Installing', reason: 'InstallWaiting' });
    await new Promise((r) => setTimeout(r, 300));
    await writeStatus(cluster, csv, { phase: 'Succeeded', reason: 'InstallSucceeded' });
    const outcome = await run.result;
    assert.equal(outcome.gate, 'operators-succeeded');
    assert.match(outcome.detail, /loki-operator→loki-operator\.v6\.2\.3/);
    assert.equal(openWatchCount(), 0);
  });

  it('approveInstallPlan approves a plan installing exactly the expected CSV, once (test writes Subscription status in OLM\'s place)', async () => {
    await writeStatus(cluster, subscription, { lastUpdated: new Date().toISOString(), state: 'UpgradePending', installPlanRef: { name: 'install-good', namespace }, installedCSV: csvName });
    const input = { environment: env, namespace, subscription: 'loki-operator', expectedCsv: csvName };
    assert.deepEqual(await olm.approveInstallPlan(input), { installPlan: 'install-good', approved: true });
    const rv = (await readObject(cluster, { apiVersion: V, kind: 'InstallPlan', name: 'install-good', namespace }))?.metadata.resourceVersion;
    assert.deepEqual(await olm.approveInstallPlan(input), { installPlan: 'install-good', approved: true });
    const after = await readObject(cluster, { apiVersion: V, kind: 'InstallPlan', name: 'install-good', namespace });
    assert.equal((after?.['spec'] as { approved: boolean }).approved, true);
    assert.equal(after?.metadata.resourceVersion, rv, 'one side effect');
  });

  it('refuses NotAuthorized a plan that installs anything besides the expected CSV, and leaves it unapproved (test writes Subscription status in OLM\'s place)', async () => {
    await writeStatus(cluster, subscription, { lastUpdated: new Date().toISOString(), state: 'UpgradePending', installPlanRef: { name: 'install-bundle', namespace }, installedCSV: csvName });
    const error = await olm.approveInstallPlan({ environment: env, namespace, subscription: 'loki-operator', expectedCsv: csvName }).catch((e: Error & { type?: string }) => e);
    assert.equal((error as { type?: string }).type, 'NotAuthorized');
    assert.match((error as Error).message, /other-operator\.v1\.0\.0/);
    const bundle = await readObject(cluster, { apiVersion: V, kind: 'InstallPlan', name: 'install-bundle', namespace });
    assert.equal((bundle?.['spec'] as { approved: boolean }).approved, false);
  });
});
