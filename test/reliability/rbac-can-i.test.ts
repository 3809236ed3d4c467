/**
 * The worker's RBAC (gitops/base/orchestrator, applied for a service account of this run on the staging
 * cluster — test/reliability/rbac-identity.ts) as `kubectl auth can-i --as=system:serviceaccount:…` sees it:
 * yes to every right the activities use, no to everything else (other namespaces' Secrets, RBAC escalation,
 * nodes, pods/exec, impersonation…) — and the no can be a yes, for the sandbox admin.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { createKubeClusters } from '../../activities/kubernetes/cluster.ts';
import { GITOPS_NAMES } from '../../domain/gitops.ts';
import { CONTEXT, ENV, NAMESPACE, canI, kubectl, describeRbac, render, sandbox, type Access } from './rbac-identity.ts';

/** Every right the activities use on a cluster, beyond get/patch/create of each rendered object. */
const ACTIVITY_RIGHTS: readonly Access[] = [
  ...['openshift-operators-redhat', 'openshift-logging', 'external-secrets-operator', 'external-secrets', NAMESPACE, 'openshift-gitops'].map(
    (namespace): Access => ({
      verb: 'list',
      resource: 'configmaps',
      namespace,
      why: 'prune and drift search the inventory label in each namespace the overlays use',
    }),
  ),
  { verb: 'list', resource: 'serviceaccounts', why: 'prune / drift inventory' },
  { verb: 'list', resource: 'roles.rbac.authorization.k8s.io', why: 'prune / drift inventory' },
  { verb: 'list', resource: 'rolebindings.rbac.authorization.k8s.io', why: 'prune / drift inventory' },
  { verb: 'list', resource: 'clusterroles.rbac.authorization.k8s.io', why: 'prune / drift inventory' },
  { verb: 'list', resource: 'clusterrolebindings.rbac.authorization.k8s.io', why: 'prune / drift inventory' },
  { verb: 'list', resource: 'namespaces', why: 'prune / drift inventory' },
  { verb: 'list', resource: 'operatorgroups.operators.coreos.com', why: 'prune / drift inventory' },
  {
    verb: 'list',
    resource: 'subscriptions.operators.coreos.com',
    why: 'operators gate and drift list every Subscription',
  },
  { verb: 'watch', resource: 'subscriptions.operators.coreos.com', why: 'operators gate watches Subscriptions' },
  {
    verb: 'list',
    resource: 'clusterserviceversions.operators.coreos.com',
    why: 'operators gate and drift list every CSV',
  },
  { verb: 'watch', resource: 'clusterserviceversions.operators.coreos.com', why: 'operators gate watches CSVs' },
  { verb: 'list', resource: 'externalsecrets.external-secrets.io', why: 'prune / drift inventory' },
  { verb: 'list', resource: 'lokistacks.loki.grafana.com', why: 'prune / drift inventory' },
  { verb: 'list', resource: 'clusterlogforwarders.observability.openshift.io', why: 'prune / drift inventory' },
  { verb: 'list', resource: 'applications.argoproj.io', why: 'prune inventory (the kind is served)' },
  { verb: 'list', resource: 'clustersecretstores.external-secrets.io', why: 'secret-store gate lists labelled stores' },
  {
    verb: 'watch',
    resource: 'clustersecretstores.external-secrets.io',
    why: 'secret-store and ESO gates watch the store',
  },
  {
    verb: 'get',
    resource: 'customresourcedefinitions.apiextensions.k8s.io/lokistacks.loki.grafana.com',
    why: 'tell a missing operator from a bad manifest',
  },
  {
    verb: 'watch',
    resource: 'lokistacks.loki.grafana.com/logging-loki',
    namespace: 'openshift-logging',
    why: 'LokiStack gate',
  },
  {
    verb: 'watch',
    resource: 'clusterlogforwarders.observability.openshift.io',
    namespace: 'openshift-logging',
    why: 'forwarder gate',
  },
  {
    verb: 'list',
    resource: 'externalsecrets.external-secrets.io',
    namespace: 'openshift-logging',
    why: 'ESO gate finds the Loki ExternalSecret',
  },
  {
    verb: 'watch',
    resource: 'externalsecrets.external-secrets.io/logging-loki-s3',
    namespace: 'openshift-logging',
    why: 'ESO gate',
  },
  {
    verb: 'patch',
    resource: 'externalsecrets.external-secrets.io/logging-loki-s3',
    namespace: 'openshift-logging',
    why: 'ESO gate forces a refresh',
  },
  {
    verb: 'get',
    resource: 'secrets/logging-loki-s3',
    namespace: 'openshift-logging',
    why: 'ESO gate and drift check the Secret keys',
  },
  {
    verb: 'list',
    resource: 'secrets/logging-loki-s3',
    namespace: 'openshift-logging',
    why: 'ESO gate lists that one Secret by name',
  },
  {
    verb: 'watch',
    resource: 'secrets/logging-loki-s3',
    namespace: 'openshift-logging',
    why: 'ESO gate watches that one Secret',
  },
  {
    verb: 'get',
    resource: `secrets/${GITOPS_NAMES.storeCredential.name}`,
    namespace: GITOPS_NAMES.storeCredential.namespace,
    why: 'store credential compared by hash',
  },
  {
    verb: 'patch',
    resource: `secrets/${GITOPS_NAMES.storeCredential.name}`,
    namespace: GITOPS_NAMES.storeCredential.namespace,
    why: 'store credential written',
  },
  {
    verb: 'create',
    resource: 'secrets',
    namespace: GITOPS_NAMES.storeCredential.namespace,
    why: 'store credential created on first bootstrap',
  },
  {
    verb: 'list',
    resource: 'installplans.operators.coreos.com',
    namespace: 'openshift-logging',
    why: 'pinned InstallPlans approved',
  },
  {
    verb: 'patch',
    resource: 'installplans.operators.coreos.com',
    namespace: 'openshift-logging',
    why: 'pinned InstallPlans approved',
  },
  {
    verb: 'get',
    resource: 'configmaps/logstack-state-staging',
    namespace: 'logstack-system',
    why: 'deployed-state record read',
  },
  {
    verb: 'patch',
    resource: 'configmaps/logstack-state-staging',
    namespace: 'logstack-system',
    why: 'deployed-state record written',
  },
  { verb: 'create', resource: 'configmaps', namespace: 'logstack-system', why: 'deployed-state record created' },
  {
    verb: 'bind',
    resource: 'clusterroles.rbac.authorization.k8s.io/collect-application-logs',
    why: 'the collector binding',
  },
  {
    verb: 'bind',
    resource: 'roles.rbac.authorization.k8s.io/logstack-worker-bootstrap',
    namespace: 'openshift-gitops',
    why: 'its own Role, bound in the dry run of the apply that creates it',
  },
  { verb: 'get', resource: '/apis/external-secrets.io/v1', why: 'discovery of the kinds it applies' },
];

/** Rights the worker must not have. */
const FORBIDDEN: readonly Access[] = [
  ...['kube-system', 'default', 'logstack-system', 'openshift-operators-redhat', 'external-secrets-operator'].flatMap(
    (ns): Access[] => [
      { verb: 'get', resource: 'secrets', namespace: ns, why: `Secrets of ${ns}` },
      { verb: 'list', resource: 'secrets', namespace: ns, why: `Secrets of ${ns}` },
      { verb: 'watch', resource: 'secrets', namespace: ns, why: `Secrets of ${ns}` },
    ],
  ),
  { verb: 'list', resource: 'secrets', why: 'Secrets of every namespace' },
  { verb: 'list', resource: 'secrets', namespace: 'openshift-logging', why: 'every Secret of the Loki namespace' },
  {
    verb: 'get',
    resource: 'secrets/logging-loki-s3-other',
    namespace: 'openshift-logging',
    why: 'another Secret of the Loki namespace',
  },
  {
    verb: 'delete',
    resource: 'secrets/logging-loki-s3',
    namespace: 'openshift-logging',
    why: 'deleting the Loki Secret',
  },
  { verb: 'list', resource: 'secrets', namespace: 'external-secrets', why: 'every Secret of the ESO namespace' },
  {
    verb: 'get',
    resource: 'secrets/other-credentials',
    namespace: 'external-secrets',
    why: 'another Secret of the ESO namespace',
  },
  {
    verb: 'delete',
    resource: `secrets/${GITOPS_NAMES.storeCredential.name}`,
    namespace: 'external-secrets',
    why: 'deleting the store credential',
  },
  {
    verb: 'create',
    resource: 'serviceaccounts',
    subresource: 'token',
    namespace: 'openshift-logging',
    why: 'minting tokens of other accounts',
  },
  { verb: 'create', resource: 'serviceaccounts', namespace: NAMESPACE, why: 'creating accounts in its own namespace' },
  { verb: 'get', resource: 'serviceaccounts/default', namespace: NAMESPACE, why: 'other accounts of its namespace' },
  { verb: 'create', resource: 'clusterroles.rbac.authorization.k8s.io', why: 'new ClusterRoles' },
  {
    verb: 'patch',
    resource: 'clusterroles.rbac.authorization.k8s.io/cluster-admin',
    why: 'changing other ClusterRoles',
  },
  {
    verb: 'delete',
    resource: 'clusterroles.rbac.authorization.k8s.io/logstack-worker',
    why: 'deleting its own ClusterRole',
  },
  { verb: 'escalate', resource: 'clusterroles.rbac.authorization.k8s.io', why: 'escalate on ClusterRoles' },
  {
    verb: 'escalate',
    resource: 'clusterroles.rbac.authorization.k8s.io/logstack-worker',
    why: 'escalate on its own ClusterRole',
  },
  { verb: 'bind', resource: 'clusterroles.rbac.authorization.k8s.io/cluster-admin', why: 'binding cluster-admin' },
  { verb: 'bind', resource: 'clusterroles.rbac.authorization.k8s.io/admin', why: 'binding admin' },
  {
    verb: 'patch',
    resource: 'clusterrolebindings.rbac.authorization.k8s.io/cluster-admin',
    why: 'changing other ClusterRoleBindings',
  },
  {
    verb: 'delete',
    resource: 'clusterrolebindings.rbac.authorization.k8s.io/system:basic-user',
    why: 'deleting other ClusterRoleBindings',
  },
  {
    verb: 'escalate',
    resource: 'roles.rbac.authorization.k8s.io',
    namespace: 'openshift-logging',
    why: 'escalate on Roles',
  },
  { verb: 'bind', resource: 'roles.rbac.authorization.k8s.io', namespace: 'openshift-logging', why: 'bind on Roles' },
  {
    verb: 'patch',
    resource: 'roles.rbac.authorization.k8s.io/other',
    namespace: 'openshift-logging',
    why: 'changing other Roles',
  },
  {
    verb: 'patch',
    resource: 'rolebindings.rbac.authorization.k8s.io/other',
    namespace: 'external-secrets',
    why: 'changing other RoleBindings',
  },
  {
    verb: 'create',
    resource: 'roles.rbac.authorization.k8s.io',
    namespace: 'kube-system',
    why: 'Roles in kube-system',
  },
  {
    verb: 'create',
    resource: 'rolebindings.rbac.authorization.k8s.io',
    namespace: 'default',
    why: 'RoleBindings in default',
  },
  {
    verb: 'delete',
    resource: 'roles.rbac.authorization.k8s.io/logstack-worker',
    namespace: 'openshift-logging',
    why: 'deleting its Roles',
  },
  { verb: 'get', resource: 'nodes', why: 'nodes' },
  { verb: 'list', resource: 'nodes', why: 'nodes' },
  { verb: 'create', resource: 'pods', namespace: 'openshift-logging', why: 'running workloads' },
  { verb: 'create', resource: 'pods', subresource: 'exec', namespace: 'openshift-logging', why: 'exec into pods' },
  { verb: 'get', resource: 'pods', subresource: 'log', namespace: 'kube-system', why: 'reading logs' },
  { verb: 'list', resource: 'pods', namespace: 'kube-system', why: 'pods of kube-system' },
  { verb: 'create', resource: 'deployments.apps', namespace: 'openshift-logging', why: 'running workloads' },
  { verb: 'create', resource: 'jobs.batch', namespace: 'logstack-system', why: 'running workloads' },
  { verb: 'impersonate', resource: 'users', why: 'impersonation' },
  { verb: 'impersonate', resource: 'groups', why: 'impersonation' },
  { verb: 'impersonate', resource: 'serviceaccounts', namespace: 'kube-system', why: 'impersonation' },
  { verb: 'create', resource: 'certificatesigningrequests.certificates.k8s.io', why: 'client certificates' },
  {
    verb: 'update',
    resource: 'certificatesigningrequests.certificates.k8s.io',
    subresource: 'approval',
    why: 'approving certificates',
  },
  { verb: 'create', resource: 'customresourcedefinitions.apiextensions.k8s.io', why: 'installing CRDs' },
  {
    verb: 'delete',
    resource: 'customresourcedefinitions.apiextensions.k8s.io/lokistacks.loki.grafana.com',
    why: 'deleting CRDs',
  },
  {
    verb: 'create',
    resource: 'validatingwebhookconfigurations.admissionregistration.k8s.io',
    why: 'admission webhooks',
  },
  { verb: 'create', resource: 'mutatingwebhookconfigurations.admissionregistration.k8s.io', why: 'admission webhooks' },
  { verb: 'delete', resource: 'namespaces/openshift-logging', why: 'deleting namespaces' },
  { verb: 'patch', resource: 'namespaces/kube-system', why: 'relabelling namespaces it does not own' },
  { verb: 'patch', resource: 'namespaces/default', why: 'relabelling namespaces it does not own' },
  {
    verb: 'delete',
    resource: 'lokistacks.loki.grafana.com/logging-loki',
    namespace: 'openshift-logging',
    why: 'the LokiStack is never pruned',
  },
  {
    verb: 'delete',
    resource: 'subscriptions.operators.coreos.com/cluster-logging',
    namespace: 'openshift-logging',
    why: 'Subscriptions are never pruned',
  },
  {
    verb: 'create',
    resource: 'leases.coordination.k8s.io',
    namespace: NAMESPACE,
    why: 'locks are workflows, not Leases',
  },
  { verb: 'get', resource: 'configmaps', namespace: 'kube-system', why: 'ConfigMaps outside its namespace' },
  { verb: 'list', resource: 'configmaps', why: 'ConfigMaps of every namespace (they hold data)' },
  { verb: 'list', resource: 'configmaps', namespace: 'kube-system', why: 'ConfigMaps outside the namespaces it uses' },
  { verb: 'list', resource: 'configmaps', namespace: 'default', why: 'ConfigMaps outside the namespaces it uses' },
  ...['validatingadmissionpolicies', 'validatingadmissionpolicybindings'].flatMap((kind): Access[] =>
    ['create', 'patch', 'update', 'delete'].map((verb) => ({
      verb,
      resource: `${kind}.admissionregistration.k8s.io`,
      why: 'lifting or weakening the policies that fence its writes',
    })),
  ),
  {
    verb: 'patch',
    resource: 'configmaps/extension-apiserver-authentication',
    namespace: 'kube-system',
    why: 'ConfigMaps outside its namespace',
  },
  {
    verb: 'patch',
    resource: 'externalsecrets.external-secrets.io',
    namespace: 'default',
    why: 'ExternalSecrets outside the stack',
  },
  {
    verb: 'create',
    resource: 'secretstores.external-secrets.io',
    namespace: 'openshift-logging',
    why: 'namespaced stores (could read any AWS secret)',
  },
  { verb: 'patch', resource: 'clustersecretstores.external-secrets.io/other-store', why: 'other cluster stores' },
  { verb: 'delete', resource: 'clustersecretstores.external-secrets.io/logstack-aws', why: 'deleting the store' },
  {
    verb: 'create',
    resource: 'pushsecrets.external-secrets.io',
    namespace: 'openshift-logging',
    why: 'pushing cluster Secrets out',
  },
  {
    verb: 'patch',
    resource: 'applications.argoproj.io',
    namespace: 'openshift-gitops',
    why: 'Argo CD Applications on managed clusters',
  },
  { verb: 'get', resource: 'persistentvolumes', why: 'storage' },
];

describeRbac('kubectl auth can-i', () => {
  it('kubectl auth can-i: yes to every right the activities use (get/patch/create of every object the overlays carry, the gates, state, prune and drift lists)', async (t) => {
    const admin = createKubeClusters(sandbox.kubeconfig).forContext(CONTEXT);
    const overlays = [...(await render(`gitops/overlays/${ENV}`)), ...(await render('gitops/overlays/bootstrap'))];
    const needed: Access[] = [...ACTIVITY_RIGHTS];
    const seen = new Set<string>();
    for (const o of overlays) {
      const info = await admin.resource(o.apiVersion, o.kind);
      const group = o.apiVersion.includes('/') ? `.${o.apiVersion.split('/')[0]}` : '';
      const resource = `${info.plural}${group}`;
      const namespace = info.namespaced ? o.metadata.namespace : undefined;
      const why = `apply ${o.kind} ${namespace ? `${namespace}/` : ''}${o.metadata.name}`;
      // The worker authenticates as its ServiceAccount and gets its cluster rights from its ClusterRole: both
      // exist before it can run (an administrator applies them when the cluster joins), so it never creates them.
      const identity =
        o.metadata.name === GITOPS_NAMES.workerServiceAccount &&
        (o.kind === 'ServiceAccount' || o.kind === 'ClusterRole');
      for (const access of [
        { verb: 'get', resource: `${resource}/${o.metadata.name}`, why },
        { verb: 'patch', resource: `${resource}/${o.metadata.name}`, why },
        ...(identity ? [] : [{ verb: 'create', resource, why }]),
      ]) {
        const key = `${access.verb} ${access.resource} ${namespace ?? ''}`;
        if (seen.has(key)) continue;
        seen.add(key);
        needed.push(namespace ? { ...access, namespace } : access);
      }
    }
    const denied = await canI(needed, 'yes');
    t.diagnostic(
      `${needed.length} rights checked (${overlays.length} rendered objects of overlays/${ENV} and overlays/bootstrap)`,
    );
    assert.deepEqual(denied, [], 'rights the activities need are missing');
  });

  it('kubectl auth can-i: no to Secrets of other namespaces and names, RBAC escalation, nodes, pods/exec, impersonation, CRDs, webhooks', async (t) => {
    const granted = await canI(FORBIDDEN, 'no');
    t.diagnostic(`${FORBIDDEN.length} rights checked`);
    assert.deepEqual(granted, [], 'rights the worker must not have');
  });

  it('the can-i checks can fail: the sandbox admin is allowed what the worker is refused', async () => {
    // Without this, a kubectl that answered "no" to everything would pass the denial test.
    const admin = await kubectl(['auth', 'can-i', 'list', 'secrets', '-n', 'kube-system']);
    assert.equal(admin.out.trim(), 'yes');
  });
});
