/**
 * Migration of script-managed objects on a real kube-apiserver: objects first created the way
 * scripts and `kubectl apply` (client-side) create them, then inventoried and adopted in two phases.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { readObject } from '../../activities/kubernetes/apply.ts';
import { LAST_APPLIED_ANNOTATION } from '../../activities/migration/adopt.ts';
import { clusterOf, environment, failureTypeOf, kustomization, sandboxActivities, scratchBranch, suffix, type ScratchBranch } from './sandbox-parts.ts';

const id = suffix();
const ns = `t-migrate-${id}`;
const overlay = `gitops/overlays/t-migrate-${id}`;
const env = environment('staging', { name: `migrate-${id}`, overlay });
const cluster = clusterOf(env);
let branch: ScratchBranch;
let commit: string;
let acts: ReturnType<typeof sandboxActivities>;

const configMap = (name: string, value: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: ns }, data: { k: value } });
const externalSecret = {
  apiVersion: 'external-secrets.io/v1',
  kind: 'ExternalSecret',
  metadata: { name: 'logging-loki-s3', namespace: ns, annotations: { 'argocd.argoproj.io/sync-options': 'Prune=false,Delete=false' } },
  spec: { refreshInterval: '1h', secretStoreRef: { kind: 'ClusterSecretStore', name: `t-none-${id}` }, target: { name: 'logging-loki-s3', creationPolicy: 'Owner' }, dataFrom: [{ extract: { key: 'none' } }] },
};
const refs = { ns: `Namespace/${ns}`, script: `ConfigMap/${ns}/script`, csa: `ConfigMap/${ns}/csa`, absent: `ConfigMap/${ns}/absent`, es: `ExternalSecret/${ns}/logging-loki-s3` };
const creationPolicy = async () => ((await readObject(cluster, { apiVersion: externalSecret.apiVersion, kind: 'ExternalSecret', name: 'logging-loki-s3', namespace: ns }))?.['spec'] as { target: { creationPolicy: string } }).target.creationPolicy;

describe('migration of script-managed objects on a real kube-apiserver', () => {
  before(async () => {
    branch = scratchBranch();
    commit = branch.commit(
      {
        [`${overlay}/kustomization.yaml`]: kustomization(['namespace.yaml', 'script.yaml', 'csa.yaml', 'absent.yaml', 'es.yaml']),
        [`${overlay}/namespace.yaml`]: [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }],
        [`${overlay}/script.yaml`]: [configMap('script', 'git')],
        [`${overlay}/csa.yaml`]: [configMap('csa', 'git')],
        [`${overlay}/absent.yaml`]: [configMap('absent', 'git')],
        [`${overlay}/es.yaml`]: [externalSecret],
      },
      'migration overlay',
    );
    acts = sandboxActivities({ branch: branch.branch });
    // What the scripts left behind: `kubectl create` objects and a client-side `kubectl apply`.
    await cluster.request({ method: 'POST', path: '/api/v1/namespaces', query: { fieldManager: 'kubectl-create' }, body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } } });
    await cluster.request({ method: 'POST', path: `/api/v1/namespaces/${ns}/configmaps`, query: { fieldManager: 'kubectl-create' }, body: configMap('script', 'script') });
    const csa = configMap('csa', 'git');
    await cluster.request({
      method: 'POST',
      path: `/api/v1/namespaces/${ns}/configmaps`,
      query: { fieldManager: 'kubectl-client-side-apply' },
      body: { ...csa, metadata: { ...csa.metadata, annotations: { [LAST_APPLIED_ANNOTATION]: JSON.stringify(csa) } } },
    });
  });
  after(() => branch.dispose());

  it('inventoryLiveObjects tells script, client-side-apply and absent objects apart', async () => {
    const inventory = await acts.inventoryLiveObjects({ environment: env, revision: commit });
    const by = Object.fromEntries(inventory.objects.map((o) => [o.ref, o.managedBy]));
    assert.deepEqual(by, { [refs.ns]: 'script', [refs.script]: 'script', [refs.csa]: 'client-side-apply', [refs.absent]: 'absent', [refs.es]: 'absent' });
  });

  it('merge phase: takes the objects over without deleting, the ExternalSecret with creationPolicy Merge', async () => {
    const uid = (await readObject(cluster, { apiVersion: 'v1', kind: 'ConfigMap', name: 'script', namespace: ns }))?.metadata.uid;
    const result = await acts.adoptObjects({ environment: env, revision: commit, objects: [refs.ns, refs.script, refs.csa, refs.es], phase: 'merge' });
    assert.deepEqual(result.adopted.sort(), [refs.csa, refs.script, refs.es, refs.ns].sort());
    const script = await readObject(cluster, { apiVersion: 'v1', kind: 'ConfigMap', name: 'script', namespace: ns });
    assert.equal(script?.metadata.uid, uid, 'the same object, not a re-creation');
    assert.equal((script?.['data'] as { k: string }).k, 'git');
    assert.equal(await creationPolicy(), 'Merge');
    const inventory = await acts.inventoryLiveObjects({ environment: env, revision: commit });
    assert.ok(inventory.objects.filter((o) => o.ref !== refs.absent).every((o) => o.managedBy === 'logstack'));
  });

  it('own phase: the ExternalSecret becomes Owner; adopting again changes nothing', async () => {
    assert.deepEqual(await acts.adoptObjects({ environment: env, revision: commit, objects: [refs.es], phase: 'own' }), { adopted: [refs.es], unchanged: [] });
    assert.equal(await creationPolicy(), 'Owner');
    assert.deepEqual(await acts.adoptObjects({ environment: env, revision: commit, objects: [refs.es, refs.script], phase: 'own' }), { adopted: [], unchanged: [refs.script, refs.es] });
  });

  it('refuses to adopt an object that Git does not render, with InvalidInput', async () => {
    assert.equal(await failureTypeOf(acts.adoptObjects({ environment: env, revision: commit, objects: [`ConfigMap/${ns}/stranger`], phase: 'own' })), 'InvalidInput');
  });
});
