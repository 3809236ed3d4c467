/**
 * The worker's Kubernetes RBAC (gitops/base/orchestrator) as the worker itself sees it, for the `rbac-*` tests:
 * the rendered Roles, ClusterRole and bindings are applied to the staging cluster (or to each cluster a test
 * names, {@link RbacIdentityOptions}) for a service account of this run, and a token is issued for it on each
 * through the TokenRequest API. One kubeconfig holds a token context per cluster, named as in the sandbox
 * catalog (`logstack-<env>`), so a worker given it runs with the catalog unchanged. Where a cluster lacks the
 * worker's own identity (`logstack-worker` and its rights, which an administrator installs and the worker cannot
 * create), it is created as rendered, untouched where it exists.
 *
 * The service account and its bindings carry a suffix of this run, so nothing here changes the rights of
 * `logstack-worker` itself while other runs use the cluster; the rules are the rendered ones, unchanged
 * (resource names inside rules included). The admission policies of gitops/base/orchestrator/admission are
 * applied for the same account: renamed likewise, with their match condition naming this run's account instead
 * of `logstack-worker` and every validation unchanged.
 */
import { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { GITOPS_NAMES } from '../../domain/gitops.ts';
import { requireSandbox } from '../../sandbox/status.ts';
import { ROOT } from '../support/processes.ts';

const execFileAsync = promisify(execFile);

/** The environment whose cluster the RBAC is checked on. */
export const ENV = 'staging';
/** Its kubeconfig context. */
export const CONTEXT = `logstack-${ENV}`;
/** This run (one per test file process): the suffix of the identity's names and the value of its label. */
export const RUN = `rbac-${process.pid}`;
/** The worker's namespace. */
export const NAMESPACE = GITOPS_NAMES.workerNamespace;
/** This run's copy of the worker service account. */
export const SERVICE_ACCOUNT = `${GITOPS_NAMES.workerServiceAccount}-${RUN}`;
/** The user name that account authenticates as. */
export const SUBJECT = `system:serviceaccount:${NAMESPACE}:${SERVICE_ACCOUNT}`;
/** Label on every object of this run's identity, for the clean-up. */
export const RUN_LABEL = 'logstack.io/rbac-test';

/** A Kubernetes object as rendered (plain JSON). */
export interface Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  roleRef?: { name: string };
  subjects?: { kind: string; name: string; namespace?: string }[];
  rules?: unknown[];
  /** Admission policies and bindings. */
  spec?: { policyName?: string; paramRef?: { name?: string }; matchConditions?: { name: string; expression: string }[] };
}

/** The rendered admission policies' user name of the worker, replaced by this run's account in {@link forThisRun}. */
export const WORKER_USER = `system:serviceaccount:${NAMESPACE}:${GITOPS_NAMES.workerServiceAccount}`;

/** One `kubectl auth can-i` question: verb, resource (`plural[.group][/name]`), namespace. */
export interface Access {
  readonly verb: string;
  readonly resource: string;
  readonly namespace?: string;
  /** A subresource (`exec`, `token`, `log`, `approval`). */
  readonly subresource?: string;
  /** Why the worker needs it, or why it must not have it. */
  readonly why: string;
}

/** The running sandbox. */
export const sandbox = requireSandbox();

/** The kubeconfig context of an environment's cluster (sandbox catalog). */
export const contextOf = (env: string): string => `logstack-${env}`;

/**
 * Runs kubectl on the cluster of `env` (default {@link ENV}), as the sandbox admin unless `kubeconfig` says
 * otherwise; never throws.
 */
export async function kubectl(
  args: readonly string[],
  options: { kubeconfig?: string; input?: string; env?: string } = {},
): Promise<{ code: number; out: string; err: string }> {
  const argv = ['--kubeconfig', options.kubeconfig ?? sandbox.kubeconfig, '--context', contextOf(options.env ?? ENV), ...args];
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

/** The objects `kubectl kustomize` renders from `dir` of this tree. */
export async function render(dir: string): Promise<Obj[]> {
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
export function forThisRun(objects: readonly Obj[], suffix = RUN): Obj[] {
  const renamed: Obj[] = [];
  for (const source of objects) {
    if (source.kind === 'Namespace') continue;
    const o = structuredClone(source);
    o.metadata.name = `${o.metadata.name}-${suffix}`;
    o.metadata.labels = { ...o.metadata.labels, [RUN_LABEL]: RUN };
    if (o.roleRef) o.roleRef.name = `${o.roleRef.name}-${suffix}`;
    if (o.spec?.policyName) o.spec.policyName = `${o.spec.policyName}-${suffix}`;
    if (o.spec?.paramRef?.name) o.spec.paramRef.name = `${o.spec.paramRef.name}-${suffix}`;
    for (const c of o.spec?.matchConditions ?? []) {
      assert.ok(c.expression.includes(`'${WORKER_USER}'`), `${o.metadata.name}: the policy matches the worker account`);
      c.expression = c.expression.replaceAll(`'${WORKER_USER}'`, `'system:serviceaccount:${NAMESPACE}:${GITOPS_NAMES.workerServiceAccount}-${suffix}'`);
    }
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
export async function canI(questions: readonly Access[], expected: 'yes' | 'no'): Promise<string[]> {
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

/** A kubeconfig whose only context is the environment's cluster, authenticated by `token` alone. */
export function tokenKubeconfig(token: string, dir: string, account = SERVICE_ACCOUNT): string {
  return tokensKubeconfig({ [ENV]: token }, dir, account);
}

/**
 * A kubeconfig with one context per environment of `tokens` (named `logstack-<env>`, as in the sandbox catalog),
 * each on that environment's cluster and authenticated by its token alone; the first is the current context.
 */
export function tokensKubeconfig(tokens: Readonly<Record<string, string>>, dir: string, account = SERVICE_ACCOUNT): string {
  const admin = parse(readFileSync(sandbox.kubeconfig, 'utf8')) as {
    clusters: { name: string; cluster: Record<string, unknown> }[];
    contexts: { name: string; context: { cluster: string } }[];
  };
  const envs = Object.keys(tokens);
  assert.ok(envs.length > 0, 'a token per environment');
  const entries = envs.map((env) => {
    const context = contextOf(env);
    const clusterName = admin.contexts.find((c) => c.name === context)?.context.cluster;
    const cluster = admin.clusters.find((c) => c.name === clusterName);
    assert.ok(cluster, `the sandbox kubeconfig has context ${context}`);
    return { env, context, cluster, user: `${account}@${env}` };
  });
  const file = join(dir, `kubeconfig-${account}`);
  writeFileSync(
    file,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: entries.map((e) => e.cluster),
      users: entries.map((e) => ({ name: e.user, user: { token: tokens[e.env] } })),
      contexts: entries.map((e) => ({ name: e.context, context: { cluster: e.cluster.name, user: e.user } })),
      'current-context': entries[0]?.context,
    }),
    { mode: 0o600 },
  );
  return file;
}

/** Kinds of gitops/base/orchestrator/worker (the Argo CD hub's part) applied for a run: not the Deployment. */
const HUB_KINDS = new Set(['Role', 'RoleBinding', 'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding']);

/** Which clusters a run's identity is made on. */
export interface RbacIdentityOptions {
  /** The environments whose clusters get the identity (default `[ENV]`); the first is the kubeconfig's current context. */
  readonly environments?: readonly string[];
  /**
   * The environment whose cluster also plays the Argo CD hub: it gets the Role and binding of
   * gitops/base/orchestrator/worker that may refresh Applications, and the Application policy, renamed for the
   * run, with `hubFacts` (repository URL, destinations) instead of the installation's.
   */
  readonly hub?: { readonly env: string; readonly repoURL: string; readonly destinations: readonly string[] };
}

/** This run's identity on the clusters: its fields are filled by {@link RbacIdentity.setUp}. */
export interface RbacIdentity {
  /** Scratch directory of the run (kubeconfigs). */
  dir: string;
  /** The token issued for {@link SERVICE_ACCOUNT} on the first environment's cluster. */
  token: string;
  /** The token issued on each environment's cluster. */
  tokens: Record<string, string>;
  /** A kubeconfig authenticated by those tokens alone, one context per environment. */
  tokenConfig: string;
  /** The objects of gitops/base/orchestrator as rendered. */
  rendered: Obj[];
  /** The admission policies and bindings of gitops/base/orchestrator/admission as rendered. */
  admission: Obj[];
  /**
   * Renders the RBAC, and on each environment's cluster makes sure the namespaces it names exist, applies it for
   * this run, issues the token and waits until the run's admission policies are in force.
   */
  setUp(): Promise<void>;
  /** Deletes every object of this run's identity (labelled {@link RUN_LABEL}) on each cluster, and the scratch directory. */
  tearDown(): Promise<void>;
}

/**
 * Waits until the API server of `env` enforces the run's Secret policy for the token (policies load
 * asynchronously): a server-side dry run of a Secret logstack does not own must be denied by that policy.
 */
async function awaitPolicyInForce(env: string, kubeconfig: string, suffix: string): Promise<void> {
  const policy = `logstack-worker-secrets-${suffix}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    const got = await kubectl(
      ['create', 'secret', 'generic', 'probe-not-owned', '-n', 'external-secrets', '--dry-run=server', '-o', 'name'],
      { kubeconfig, env },
    );
    if (got.code !== 0 && got.err.includes(`ValidatingAdmissionPolicy '${policy}'`)) return;
    assert.ok(Date.now() < deadline, `${env}: ${policy} not in force after 30 s (${got.code}): ${got.out}${got.err}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** This run's identity; call `setUp` in a `before` hook and `tearDown` in an `after` hook. */
export function rbacIdentity(options: RbacIdentityOptions = {}): RbacIdentity {
  const environments = [...(options.environments ?? [ENV])];
  const setUpOn = async (env: string, rendered: Obj[], admission: Obj[], hub: Obj[]): Promise<string> => {
    // The namespaces the roles live in exist once the environment has been bootstrapped; make sure they do.
    const namespaces = new Set(
      [...rendered, ...hub].flatMap((o) =>
        o.kind === 'Namespace' ? [o.metadata.name] : o.metadata.namespace ? [o.metadata.namespace] : [],
      ),
    );
    for (const ns of namespaces) {
      const got = await kubectl(['get', 'namespace', ns, '-o', 'name'], { env });
      if (got.code !== 0)
        assert.equal((await kubectl(['create', 'namespace', ns], { env })).code, 0, `${env}: namespace ${ns} created`);
    }
    // The worker's own identity exists wherever the worker runs: the administrator installs gitops/base/orchestrator
    // (its account, ClusterRole, Roles and bindings) before the worker can authenticate, and the worker may change
    // those objects by name but never create a ClusterRole or an account. Objects missing on this cluster are made
    // as the installation makes them (`kubectl create`: existing ones are left as they are, owned by whoever wrote them).
    const installed = await kubectl(['create', '-f', '-', '-o', 'name'], {
      env,
      input: rendered.map((o) => stringify(o)).join('---\n'),
    });
    const notCreated = installed.err.split('\n').filter((l) => l.trim() !== '' && !/AlreadyExists|already exists/.test(l));
    assert.deepEqual(notCreated, [], `${env}: the worker's own identity installed`);
    const applied = await kubectl(['apply', '--server-side', '--field-manager=logstack-rbac-test', '-f', '-'], {
      env,
      input: [...forThisRun([...rendered, ...admission]), ...hub].map((o) => stringify(o)).join('---\n'),
    });
    assert.equal(applied.code, 0, `${env}: ${applied.err}`);
    const issued = await kubectl(['create', 'token', SERVICE_ACCOUNT, '-n', NAMESPACE, '--duration=2h'], { env });
    assert.equal(issued.code, 0, `${env}: ${issued.err}`);
    return issued.out.trim();
  };
  const identity: RbacIdentity = {
    dir: '',
    token: '',
    tokens: {},
    tokenConfig: '',
    rendered: [],
    admission: [],
    async setUp() {
      identity.dir = mkdtempSync(join(tmpdir(), 'logstack-rbac-'));
      identity.rendered = await render('gitops/base/orchestrator');
      identity.admission = await render('gitops/base/orchestrator/admission');
      let hub: Obj[] = [];
      if (options.hub) {
        const facts = options.hub;
        // The Application policy's facts are the installation's (gitops/apps); this run's copy names the given
        // repository and destinations instead, every validation unchanged.
        hub = forThisRun((await render('gitops/base/orchestrator/worker')).filter((o) => HUB_KINDS.has(o.kind))).map((o) => {
          for (const v of (o as { spec?: { variables?: { name: string; expression: string }[] } }).spec?.variables ?? []) {
            if (v.name === 'repoURL') v.expression = `'${facts.repoURL}'`;
            if (v.name === 'destinations') v.expression = `[${facts.destinations.map((d) => `'${d}'`).join(', ')}]`;
          }
          return o;
        });
      }
      const tokens = await Promise.all(
        environments.map((env) =>
          setUpOn(env, identity.rendered, identity.admission, env === options.hub?.env ? hub : []),
        ),
      );
      identity.tokens = Object.fromEntries(environments.map((env, i) => [env, tokens[i] ?? '']));
      identity.token = tokens[0] ?? '';
      identity.tokenConfig = tokensKubeconfig(identity.tokens, identity.dir);
      await Promise.all(environments.map((env) => awaitPolicyInForce(env, identity.tokenConfig, RUN)));
    },
    async tearDown() {
      await Promise.all(
        environments.map(async (env) => {
          // Cluster-scoped kinds, then the namespaced ones in every namespace.
          for (const kinds of [
            ['validatingadmissionpolicybinding,validatingadmissionpolicy,clusterrolebinding,clusterrole'],
            ['rolebinding,role,serviceaccount,configmap', '--all-namespaces'],
          ])
            await kubectl(['delete', ...kinds, '-l', `${RUN_LABEL}=${RUN}`, '--ignore-not-found'], { env });
        }),
      );
      if (identity.dir) rmSync(identity.dir, { recursive: true, force: true });
    },
  };
  return identity;
}

/**
 * Registers a suite run on this run's identity (`worker RBAC … on the staging cluster: <what>`): set up before
 * its tests, torn down after them. `body` registers the tests.
 */
export function describeRbac(what: string, body: (identity: RbacIdentity) => void): void {
  describe(
    `worker RBAC from gitops/base/orchestrator on the ${ENV} cluster: ${what}`,
    { concurrency: false, timeout: 900_000 },
    () => {
      const identity = rbacIdentity();
      before(() => identity.setUp());
      after(() => identity.tearDown());
      body(identity);
    },
  );
}
