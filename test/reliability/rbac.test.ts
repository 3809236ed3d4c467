/**
 * The worker's Kubernetes RBAC (gitops/base/orchestrator) on a sandbox cluster, as the worker itself sees
 * it: the rendered Roles, ClusterRole and bindings are applied to the staging cluster for a service
 * account of this run, a token is issued for it through the TokenRequest API, and
 *
 * - `kubectl auth can-i --as=system:serviceaccount:…` says yes to every right the activities use and no
 *   to everything else (other namespaces' Secrets, RBAC escalation, nodes, pods/exec, impersonation…);
 * - escalation attempts made with the token itself are refused by the API server;
 * - a real worker process whose kubeconfig holds only that token bootstraps staging (the revision carries
 *   this tree's orchestrator RBAC, so the worker applies exactly the rights it runs with) and reports drift.
 *
 * The service account and its bindings carry a suffix of this run, so nothing here changes the rights of
 * `logstack-worker` itself while other runs use the cluster; the rules are the rendered ones, unchanged
 * (resource names inside rules included). Statuses of OLM, the Loki Operator and the Cluster Logging
 * Operator are written by the sandbox stand-ins.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { createActivities } from '../../activities/index.ts';
import { createKubeClusters } from '../../activities/kubernetes/cluster.ts';
import { parseCatalog, type BootstrapResult, type DriftResult } from '../../domain/index.ts';
import { GITOPS_NAMES } from '../../domain/gitops.ts';
import { requireSandbox } from '../../sandbox/status.ts';
import { ROOT, startStandIns, startWorkerProcess, type WorkerProcess } from '../support/processes.ts';
import { endLocksOnTaskQueue, endOrphanedLocks, knownGoodRevision } from '../worker/sandbox-runs.ts';

const execFileAsync = promisify(execFile);

const ENV = 'staging';
const CONTEXT = `logstack-${ENV}`;
const RUN = `rbac-${process.pid}`;
const NAMESPACE = GITOPS_NAMES.workerNamespace;
const SERVICE_ACCOUNT = `${GITOPS_NAMES.workerServiceAccount}-${RUN}`;
const SUBJECT = `system:serviceaccount:${NAMESPACE}:${SERVICE_ACCOUNT}`;
const RUN_LABEL = 'logstack.io/rbac-test';

/** A Kubernetes object as rendered (plain JSON). */
interface Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  roleRef?: { name: string };
  subjects?: { kind: string; name: string; namespace?: string }[];
  rules?: unknown[];
}

/** One `kubectl auth can-i` question: verb, resource (`plural[.group][/name]`), namespace. */
interface Access {
  readonly verb: string;
  readonly resource: string;
  readonly namespace?: string;
  /** A subresource (`exec`, `token`, `log`, `approval`). */
  readonly subresource?: string;
  /** Why the worker needs it, or why it must not have it. */
  readonly why: string;
}

const sandbox = requireSandbox();

async function kubectl(
  args: readonly string[],
  options: { kubeconfig?: string; input?: string } = {},
): Promise<{ code: number; out: string; err: string }> {
  const argv = ['--kubeconfig', options.kubeconfig ?? sandbox.kubeconfig, '--context', CONTEXT, ...args];
  const child = execFileAsync(sandbox.kubectl, argv, { maxBuffer: 64 * 1024 * 1024 });
  if (options.input !== undefined) {
    child.child.stdin?.end(options.input);
  }
  try {
    const { stdout, stderr } = await child;
    return { code: 0, out: stdout, err: stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, out: e.stdout ?? '', err: e.stderr ?? '' };
  }
}

async function render(dir: string): Promise<Obj[]> {
  const { stdout } = await execFileAsync(sandbox.kubectl, ['kustomize', join(ROOT, dir)], {
    maxBuffer: 64 * 1024 * 1024,
  });
  return parseAllDocuments(stdout)
    .map((d) => d.toJS() as Obj | null)
    .filter((o): o is Obj => o !== null);
}

/**
 * The rendered identity for a service account of this run: the same rules, with the account, the roles and
 * the bindings renamed (`…-<suffix>`). Rule contents — resource names included — stay exactly as rendered.
 */
function forThisRun(objects: readonly Obj[], suffix = RUN): Obj[] {
  const renamed: Obj[] = [];
  for (const source of objects) {
    if (source.kind === 'Namespace') continue;
    const o = structuredClone(source);
    o.metadata.name = `${o.metadata.name}-${suffix}`;
    o.metadata.labels = { ...o.metadata.labels, [RUN_LABEL]: RUN };
    if (o.roleRef) o.roleRef.name = `${o.roleRef.name}-${suffix}`;
    for (const s of o.subjects ?? []) {
      assert.equal(
        `${s.kind} ${s.namespace}/${s.name}`,
        `ServiceAccount ${NAMESPACE}/${GITOPS_NAMES.workerServiceAccount}`,
        'the orchestrator binds only the worker account',
      );
      s.name = `${GITOPS_NAMES.workerServiceAccount}-${suffix}`;
    }
    renamed.push(o);
  }
  return renamed;
}

function describeAccess(q: Access): string {
  return `${q.verb} ${q.resource}${q.subresource ? ` --subresource=${q.subresource}` : ''}${q.namespace ? ` -n ${q.namespace}` : ''}`;
}

/** Runs `can-i` for each question, four at a time; returns the ones answered otherwise than `expected`. */
async function canI(questions: readonly Access[], expected: 'yes' | 'no'): Promise<string[]> {
  const wrong: string[] = [];
  const queue = [...questions];
  const ask = async (): Promise<void> => {
    for (let q = queue.shift(); q; q = queue.shift()) {
      const args = [
        'auth',
        'can-i',
        q.verb,
        q.resource,
        `--as=${SUBJECT}`,
        ...(q.namespace ? ['-n', q.namespace] : []),
        ...(q.subresource ? [`--subresource=${q.subresource}`] : []),
      ];
      const { code, out, err } = await kubectl(args);
      const answer = out.trim();
      if (answer !== 'yes' && answer !== 'no')
        throw new Error(`kubectl ${args.join(' ')} answered neither yes nor no (${code}): ${out}${err}`);
      if (answer !== expected) wrong.push(`${describeAccess(q)} → ${answer} (${q.why})`);
    }
  };
  await Promise.all([ask(), ask(), ask(), ask()]);
  return wrong;
}

const git = (cwd: string, ...args: string[]) =>
  execFileAsync('git', ['-C', cwd, '-c', 'user.name=RBAC Test', '-c', 'user.email=rbac-test@localhost', ...args]).then(
    (r) => r.stdout.trim(),
  );

/**
 * A commit on a branch of the GitOps remote: `base` with this tree's gitops/base/orchestrator, so the
 * revision the worker delivers carries exactly the rights bound to the token. `base` itself when equal.
 */
async function revisionWithThisRbac(base: string): Promise<string> {
  const work = mkdtempSync(join(tmpdir(), 'logstack-rbac-'));
  try {
    await execFileAsync('git', ['clone', '--quiet', sandbox.git.remote, work]);
    await git(work, 'checkout', '--quiet', '-b', RUN, base);
    const dir = 'gitops/base/orchestrator';
    rmSync(join(work, dir), { recursive: true, force: true });
    cpSync(join(ROOT, dir), join(work, dir), { recursive: true });
    await git(work, 'add', '--all', dir);
    if ((await git(work, 'status', '--porcelain')) === '') return base;
    await git(work, 'commit', '--quiet', '-m', "The worker's RBAC as in the tree under test");
    await git(work, 'push', '--quiet', 'origin', `HEAD:refs/heads/${RUN}`);
    return await git(work, 'rev-parse', 'HEAD');
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** A kubeconfig whose only context is the environment's cluster, authenticated by `token` alone. */
function tokenKubeconfig(token: string, dir: string, account = SERVICE_ACCOUNT): string {
  const admin = parse(readFileSync(sandbox.kubeconfig, 'utf8')) as {
    clusters: { name: string; cluster: Record<string, unknown> }[];
    contexts: { name: string; context: { cluster: string } }[];
  };
  const clusterName = admin.contexts.find((c) => c.name === CONTEXT)?.context.cluster;
  const cluster = admin.clusters.find((c) => c.name === clusterName);
  assert.ok(cluster, `the sandbox kubeconfig has context ${CONTEXT}`);
  const file = join(dir, `kubeconfig-${account}`);
  writeFileSync(
    file,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [cluster],
      users: [{ name: account, user: { token } }],
      contexts: [{ name: CONTEXT, context: { cluster: cluster.name, user: account } }],
      'current-context': CONTEXT,
    }),
    { mode: 0o600 },
  );
  return file;
}

/** Every right the activities use on a cluster, beyond get/patch/create of each rendered object. */
const ACTIVITY_RIGHTS: readonly Access[] = [
  { verb: 'list', resource: 'configmaps', why: 'prune and drift search the inventory label in every namespace' },
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

describe(
  `worker RBAC from gitops/base/orchestrator on the ${ENV} cluster (controller statuses written by stand-ins)`,
  { concurrency: false, timeout: 900_000 },
  () => {
    let connection: Connection;
    let client: Client;
    let dir = '';
    let token = '';
    let tokenConfig = '';
    let rendered: Obj[] = [];
    const taskQueue = `rbac-${process.pid}`;
    const children: ChildProcess[] = [];
    let worker: WorkerProcess | undefined;

    before(async () => {
      connection = await Connection.connect({ address: sandbox.temporal.address });
      client = new Client({ connection });
      await endOrphanedLocks(client, [ENV], 'RBAC test');
      dir = mkdtempSync(join(tmpdir(), 'logstack-rbac-'));
      rendered = await render('gitops/base/orchestrator');
      // The namespaces the roles live in exist once the environment has been bootstrapped; make sure they do.
      const namespaces = new Set(
        rendered.flatMap((o) =>
          o.kind === 'Namespace' ? [o.metadata.name] : o.metadata.namespace ? [o.metadata.namespace] : [],
        ),
      );
      for (const ns of namespaces) {
        const got = await kubectl(['get', 'namespace', ns, '-o', 'name']);
        if (got.code !== 0)
          assert.equal((await kubectl(['create', 'namespace', ns])).code, 0, `namespace ${ns} created`);
      }
      const identity = forThisRun(rendered);
      const applied = await kubectl(['apply', '--server-side', '--field-manager=logstack-rbac-test', '-f', '-'], {
        input: identity.map((o) => stringify(o)).join('---\n'),
      });
      assert.equal(applied.code, 0, applied.err);
      const issued = await kubectl(['create', 'token', SERVICE_ACCOUNT, '-n', NAMESPACE, '--duration=2h']);
      assert.equal(issued.code, 0, issued.err);
      token = issued.out.trim();
      tokenConfig = tokenKubeconfig(token, dir);
    });

    after(async () => {
      const alive = children.filter((c) => c.exitCode === null && c.signalCode === null);
      const exits = alive.map((c) => new Promise((r) => c.once('exit', r)));
      for (const child of alive) child.kill('SIGTERM');
      await Promise.all(exits);
      if (client) await endLocksOnTaskQueue(client, [ENV], taskQueue, 'RBAC test');
      await connection?.close();
      await kubectl(['delete', 'clusterrolebinding,clusterrole', '-l', `${RUN_LABEL}=${RUN}`, '--ignore-not-found']);
      await kubectl([
        'delete',
        'rolebinding,role,serviceaccount',
        '--all-namespaces',
        '-l',
        `${RUN_LABEL}=${RUN}`,
        '--ignore-not-found',
      ]);
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('the token authenticates as the run’s copy of the worker service account', async () => {
      const who = await kubectl(['auth', 'whoami', '-o', 'json'], { kubeconfig: tokenConfig });
      assert.equal(who.code, 0, who.err);
      const user = (JSON.parse(who.out) as { status: { userInfo: { username: string; groups: string[] } } }).status
        .userInfo;
      assert.equal(user.username, SUBJECT);
      assert.ok(user.groups.includes(`system:serviceaccounts:${NAMESPACE}`), user.groups.join(','));
    });

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

    it('escalation attempts with the token itself are refused by the API server (server-side dry run)', async () => {
      const withToken = (args: string[], input?: string) =>
        kubectl(args, { kubeconfig: tokenConfig, ...(input === undefined ? {} : { input }) });
      const attempts: { what: string; run: () => Promise<{ code: number; out: string; err: string }> }[] = [
        {
          what: 'bind cluster-admin to itself',
          run: () =>
            withToken([
              'create',
              'clusterrolebinding',
              `${RUN}-admin`,
              '--clusterrole=cluster-admin',
              `--serviceaccount=${NAMESPACE}:${SERVICE_ACCOUNT}`,
              '--dry-run=server',
            ]),
        },
        {
          what: 'a Role that reads every Secret of the Loki namespace',
          run: () =>
            withToken([
              'create',
              'role',
              `${RUN}-secrets`,
              '-n',
              'openshift-logging',
              '--verb=get,list',
              '--resource=secrets',
              '--dry-run=server',
            ]),
        },
        {
          what: 'widen the worker ClusterRole to everything',
          run: () =>
            withToken(
              [
                'apply',
                '--server-side',
                '--field-manager=logstack',
                '--force-conflicts',
                '--dry-run=server',
                '-f',
                '-',
              ],
              stringify({
                apiVersion: 'rbac.authorization.k8s.io/v1',
                kind: 'ClusterRole',
                metadata: { name: 'logstack-worker' },
                rules: [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }],
              }),
            ),
        },
        { what: 'read a Secret of kube-system', run: () => withToken(['get', 'secrets', '-n', 'kube-system']) },
        {
          what: 'read the store credential of another name',
          run: () => withToken(['get', 'secret', 'other-credentials', '-n', 'external-secrets']),
        },
      ];
      for (const attempt of attempts) {
        const result = await attempt.run();
        assert.notEqual(result.code, 0, `${attempt.what} was allowed:\n${result.out}`);
        assert.match(
          result.err,
          /forbidden/i,
          `${attempt.what}: refused as forbidden, not for another reason:\n${result.err}`,
        );
      }
      // The same token can do its job: reading the deployed-state record is allowed.
      const allowed = await withToken(['get', 'configmaps', '-n', NAMESPACE, '-o', 'name']);
      assert.equal(allowed.code, 0, allowed.err);
    });

    it('a right missing from the RBAC fails the activity at once, non-retryable AccessDenied naming what was refused', async () => {
      // A second identity of this run: the same rules without the cluster-wide list of ConfigMaps that prune searches.
      const suffix = `${RUN}-nolist`;
      const account = `${GITOPS_NAMES.workerServiceAccount}-${suffix}`;
      const reduced = forThisRun(rendered, suffix);
      let removed = 0;
      for (const o of reduced.filter((r) => r.kind === 'ClusterRole')) {
        for (const rule of (o.rules ?? []) as { resources?: string[]; verbs?: string[] }[]) {
          if (rule.resources?.includes('configmaps') && rule.verbs?.join() === 'list') {
            rule.resources = rule.resources.filter((r) => r !== 'configmaps');
            removed++;
          }
        }
      }
      assert.equal(removed, 1, 'the ClusterRole has the cluster-wide ConfigMap list rule to remove');
      const applied = await kubectl(['apply', '--server-side', '--field-manager=logstack-rbac-test', '-f', '-'], {
        input: reduced.map((o) => stringify(o)).join('---\n'),
      });
      assert.equal(applied.code, 0, applied.err);
      const issued = await kubectl(['create', 'token', account, '-n', NAMESPACE, '--duration=10m']);
      assert.equal(issued.code, 0, issued.err);
      const activities = createActivities({
        catalogPath: sandbox.catalog,
        kubeconfig: tokenKubeconfig(issued.out.trim(), dir, account),
        kubectlPath: sandbox.kubectl,
        git: { workdir: join(dir, 'git') },
      });
      const environment = parseCatalog(parse(readFileSync(sandbox.catalog, 'utf8'))).environments.find(
        (e) => e.name === ENV,
      );
      assert.ok(environment);
      const revision = await knownGoodRevision(sandbox, ENV);
      const error = await activities.applyOverlay({ environment, revision, dryRun: true }).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(
        error instanceof ApplicationFailure,
        `the dry-run apply failed with an ApplicationFailure: ${String(error)}`,
      );
      assert.equal(error.type, 'AccessDenied');
      assert.equal(error.nonRetryable, true, 'a retry cannot grant the right');
      assert.match(error.message, /ConfigMap list across namespaces/);
      assert.match(error.message, /cannot list resource "configmaps"/);
    });

    it('a worker process authenticated only by the token bootstraps staging and reports drift (controller statuses written by stand-ins)', async (t) => {
      const base = await knownGoodRevision(sandbox, ENV);
      // The revision carries this tree's orchestrator RBAC, so the bootstrap below applies (and dry-runs) exactly the
      // Roles and ClusterRole the token holds. (What is live afterwards is not checked: other runs deliver to the cluster too.)
      const revision = await revisionWithThisRbac(base);
      t.diagnostic(
        `delivering ${revision.slice(0, 12)} (${revision === base ? 'the known-good revision' : `known-good ${base.slice(0, 12)} + this tree's orchestrator RBAC`})`,
      );
      children.push(await startStandIns());
      worker = startWorkerProcess({ taskQueue, env: { KUBECONFIG: tokenConfig } });
      children.push(worker.child);
      await worker.running;

      const started = performance.now();
      const bootstrap = (await client.workflow.execute('bootstrapEnvironment', {
        taskQueue,
        workflowId: `${RUN}-bootstrap-${ENV}`,
        args: [{ environment: ENV, revision }],
      })) as BootstrapResult;
      assert.equal(bootstrap.revision, revision);
      assert.deepEqual(
        bootstrap.gates.map((g) => g.gate),
        ['external-secrets-synced', 'operators-succeeded', 'lokistack-ready', 'log-forwarder-ready'],
      );
      const drift = (await client.workflow.execute('remediateDrift', {
        taskQueue,
        workflowId: `${RUN}-drift-${ENV}`,
        args: [{ environments: [ENV], mode: 'report' }],
      })) as DriftResult;
      t.diagnostic(
        `bootstrap + drift report with the token: ${((performance.now() - started) / 1000).toFixed(1)} s; ${drift.findings.length} drift findings`,
      );
      const refusals = drift.findings.filter((f) => /forbidden|refused access|AccessDenied/i.test(JSON.stringify(f)));
      assert.deepEqual(refusals, [], 'the drift scan was refused nothing');

      const log = worker.output();
      assert.doesNotMatch(
        log,
        /forbidden|"status":403|AccessDenied/i,
        'no activity attempt was refused by the API server',
      );
      assert.ok(!log.includes(token), 'the worker never logs its token');
    });
  },
);
