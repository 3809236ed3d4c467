/**
 * The lifecycle with only the worker's token: a real worker process whose kubeconfig holds, for each of
 * dev, staging and production, only the token of this run's copy of the worker service account
 * (test/reliability/rbac-identity.ts: the rendered RBAC and the admission policies, renamed for the run, in force
 * on every cluster) bootstraps dev and staging, promotes dev → staging through Argo CD delivery (pin in Git, the
 * hub's Application refreshed), migrates a script-made production (sts mode) and reports drift on all three —
 * refused nothing by any API server.
 *
 * The revisions delivered carry this tree's gitops/ (so the worker applies exactly the rights it runs with and
 * the admission policies' allow lists match what it writes), on a branch of this run, which the run's catalog
 * names: pins go there, never to main. Production is put in the script-made state with the sandbox admin's
 * credentials before the token-only part, as test/e2e/migration.test.ts does. Statuses of OLM, the Loki Operator
 * and the Cluster Logging Operator are written by the sandbox stand-ins; the Argo CD Application's status by
 * this test, in the application controller's place (the sandbox runs no Argo CD; the revision promoted renders
 * the same manifests as the one already applied, so the cluster is what a sync would leave).
 *
 * The run's branch stays in the remote: the deployed-state records of all three environments name its commits.
 * Wall time of the whole file on the sandbox: about 40 s (printed at the end).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { createActivities } from '../../activities/index.ts';
import { createAwsClients } from '../../activities/aws/index.ts';
import { patchStatus, readObject } from '../../activities/kubernetes/apply.ts';
import { createKubeClusters } from '../../activities/kubernetes/cluster.ts';
import type { KubeObject } from '../../activities/kubernetes/objects.ts';
import {
  parseCatalog,
  type BootstrapResult,
  type DriftResult,
  type MigrateResult,
  type PromoteResult,
} from '../../domain/index.ts';
import { pinnedCommitOf, pinPath } from '../../activities/gitops/pins.ts';
import { ROLE_ARN_ANNOTATION, STORE_IDENTITY_FIELD_MANAGER } from '../../activities/eso/store-credential.ts';
import { GITOPS_NAMES } from '../../domain/gitops.ts';
import { stateKeysFromEnv } from '../../sandbox/inputs.ts';
import { ROOT, startStandIns, startWorkerProcess, type WorkerProcess } from '../support/processes.ts';
import { endLocksOnTaskQueue, endOrphanedLocks, knownGoodRevision } from '../worker/sandbox-runs.ts';
import { RUN, RUN_LABEL, SUBJECT, contextOf, kubectl, rbacIdentity, sandbox, tokensKubeconfig } from './rbac-identity.ts';

const execFileAsync = promisify(execFile);

const ENVS = ['dev', 'staging', 'production'] as const;
/** The Argo CD Application of staging for this run, on the staging cluster (which plays the hub). */
const ARGO = 'openshift-gitops';
const APP = `logstack-staging-${RUN}`;
/** The catalog's GitOps remote as the Application names it (the placeholder of sandbox/environments.yaml). */
const REPO_URL = parseCatalog(parse(readFileSync(join(ROOT, 'sandbox/environments.yaml'), 'utf8'))).gitops.remote;
const DESTINATION = { name: contextOf('staging'), namespace: 'openshift-logging' };
const GATES = ['external-secrets-synced', 'operators-succeeded', 'lokistack-ready', 'log-forwarder-ready'];
/** What the scripts never made in production: the External Secrets objects GitOps brings. */
const GITOPS_ONLY_KINDS = new Set(['ExternalSecret', 'ClusterSecretStore']);

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const git = (cwd: string, ...args: string[]) =>
  execFileAsync('git', ['-C', cwd, '-c', 'user.name=RBAC Test', '-c', 'user.email=rbac-test@localhost', ...args], {
    maxBuffer: 32 * 1024 * 1024,
  }).then((r) => r.stdout.trim());

/** Admin kubectl on an environment's cluster that throws on failure. */
async function admin(env: string, args: string[], input?: string): Promise<string> {
  const got = await kubectl(args, { env, ...(input === undefined ? {} : { input }) });
  assert.equal(got.code, 0, `${env}: kubectl ${args.join(' ')}: ${got.err}`);
  return got.out;
}

describe(
  'worker RBAC from gitops/base/orchestrator on dev, staging and production: bootstrap → promote → migrate → drift with only the worker token (controller statuses written by stand-ins)',
  { concurrency: false, timeout: 600_000 },
  () => {
    const identity = rbacIdentity({
      environments: [...ENVS],
      hub: { env: 'staging', repoURL: REPO_URL, destinations: [`name=${DESTINATION.name} namespace=${DESTINATION.namespace}`] },
    });
    const fileStarted = performance.now();
    const timings: string[] = [];
    const taskQueue = `rbac-${process.pid}`;
    const children: ChildProcess[] = [];
    let connection: Connection;
    let client: Client;
    let worker: WorkerProcess;
    let work = '';
    let catalogFile = '';
    /** This tree's gitops/ on the known-good revision; and a commit after it that renders the same manifests. */
    let r0 = '';
    let r1 = '';
    let catalog: Record<string, unknown> & { gitops: Record<string, unknown>; environments: Record<string, unknown>[] };
    const writeCatalog = (): void => writeFileSync(catalogFile, stringify(catalog));
    const staging = createKubeClusters(sandbox.kubeconfig).forContext(contextOf('staging'));
    const appHeader = { apiVersion: 'argoproj.io/v1alpha1', kind: 'Application', name: APP, namespace: ARGO };

    /** The run's branch: r0 = the known-good revision with this tree's gitops/, r1 = r0 + a file no overlay reads. */
    async function pushRevisions(): Promise<void> {
      const base = await knownGoodRevision(sandbox, 'staging');
      const clone = join(work, 'gitops');
      await execFileAsync('git', ['clone', '--quiet', sandbox.git.remote, clone]);
      await git(clone, 'checkout', '--quiet', '-b', RUN, base);
      rmSync(join(clone, 'gitops'), { recursive: true, force: true });
      cpSync(join(ROOT, 'gitops'), join(clone, 'gitops'), { recursive: true });
      await git(clone, 'add', '--all', 'gitops');
      await git(clone, 'commit', '--quiet', '--allow-empty', '-m', 'The GitOps tree under test');
      r0 = await git(clone, 'rev-parse', 'HEAD');
      writeFileSync(join(clone, 'gitops', `NOTES-${RUN}.md`), 'A change that renders the same manifests.\n');
      await git(clone, 'add', '--all', 'gitops');
      await git(clone, 'commit', '--quiet', '-m', 'A note beside the overlays');
      r1 = await git(clone, 'rev-parse', 'HEAD');
      await git(clone, 'push', '--quiet', 'origin', `HEAD:refs/heads/${RUN}`);
    }

    /**
     * Production as the scripts left it, with the sandbox admin's credentials (test/e2e/migration.test.ts): the AWS
     * side the migration expects, no logstack record, the overlay's objects deleted and made again by
     * `kubectl create secret generic` and a client-side `kubectl apply`, without the External Secrets objects.
     */
    async function scriptMadeProduction(): Promise<void> {
      const acts = createActivities({
        catalogPath: sandbox.catalog,
        stateKeys: stateKeysFromEnv(),
        kubeconfig: sandbox.kubeconfig,
        kubectlPath: sandbox.kubectl,
        awsClients: createAwsClients({ endpoint: sandbox.aws.endpoint, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } }),
        git: { workdir: join(work, 'admin-clone') },
      });
      const env = (await acts.loadCatalog()).environments.find((e) => e.name === 'production');
      assert.ok(env, 'the sandbox catalog has production');
      await acts.ensureBucket({ environment: env });
      const roleArn = (await acts.ensureLokiCredentials({ environment: env })).principalArn;
      await acts.seedLokiSecret({ environment: env, principalArn: roleArn });

      const yaml = await admin('production', ['kustomize', join(work, 'gitops', env.overlay)]);
      const rendered = parseAllDocuments(yaml)
        .map((d) => d.toJS() as KubeObject | null)
        .filter((o): o is KubeObject => Boolean(o?.kind));
      await admin('production', ['delete', 'configmap', '-n', 'logstack-system', 'logstack-state-production', '--ignore-not-found']);
      await admin('production', ['delete', '-f', '-', '--ignore-not-found', '--wait=true', '--timeout=180s'], yaml);
      const scripts = rendered.filter((o) => !GITOPS_ONLY_KINDS.has(o.kind));
      const toYaml = (objs: KubeObject[]) => objs.map((o) => JSON.stringify(o)).join('\n---\n');
      await admin('production', ['apply', '-f', '-'], toYaml(scripts.filter((o) => o.kind === 'Namespace')));
      // Namespaces the overlay uses without carrying them (the bootstrap overlay's, e.g. openshift-gitops).
      const carried = new Set(scripts.filter((o) => o.kind === 'Namespace').map((o) => o.metadata.name));
      for (const ns of new Set(scripts.flatMap((o) => (o.metadata.namespace ? [o.metadata.namespace] : [])))) {
        if (carried.has(ns) || (await kubectl(['get', 'namespace', ns, '-o', 'name'], { env: 'production' })).code === 0) continue;
        await admin('production', ['create', 'namespace', ns]);
      }
      await admin('production', [
        'create', 'secret', 'generic', 'logging-loki-s3', '-n', 'openshift-logging',
        `--from-literal=bucketnames=${env.aws.bucket}`, `--from-literal=region=${env.aws.region}`, `--from-literal=role_arn=${roleArn}`,
      ]);
      await admin('production', ['apply', '-f', '-'], toYaml(scripts.filter((o) => o.kind !== 'Namespace')));
    }

    before(async () => {
      connection = await Connection.connect({ address: sandbox.temporal.address });
      client = new Client({ connection });
      await endOrphanedLocks(client, [...ENVS], 'RBAC lifecycle test');
      work = mkdtempSync(join(tmpdir(), 'logstack-rbac-lifecycle-'));
      let started = performance.now();
      await pushRevisions();
      // Before the token-only part, and before the identity (deleting production's namespaces deletes its Roles).
      await scriptMadeProduction();
      timings.push(`revisions + script-made production (admin) ${seconds(performance.now() - started)}`);
      started = performance.now();
      await identity.setUp();
      // Staging's Application on the hub, made by the administrator (the ApplicationSet's job).
      await admin(
        'staging',
        ['apply', '--server-side', '--field-manager=logstack-rbac-test', '-f', '-'],
        stringify({
          apiVersion: appHeader.apiVersion,
          kind: appHeader.kind,
          metadata: { name: APP, namespace: ARGO, labels: { [RUN_LABEL]: RUN } },
          spec: {
            project: 'logstack',
            source: { repoURL: REPO_URL, targetRevision: r0, path: 'gitops/overlays/staging' },
            destination: DESTINATION,
          },
        }),
      );
      // The run's catalog: the sandbox's, on the run's branch (pins go there).
      catalog = parse(readFileSync(sandbox.catalog, 'utf8')) as typeof catalog;
      catalog.gitops.branch = RUN;
      catalogFile = join(work, 'catalog.yaml');
      writeCatalog();
      children.push(await startStandIns());
      worker = startWorkerProcess({ taskQueue, env: { KUBECONFIG: identity.tokenConfig, LOGSTACK_CATALOG: catalogFile } });
      children.push(worker.child);
      await worker.running;
      timings.push(`token identity on 3 clusters + worker ${seconds(performance.now() - started)}`);
    });

    after(async () => {
      const alive = children.filter((c) => c.exitCode === null && c.signalCode === null);
      const exits = alive.map((c) => new Promise((r) => c.once('exit', r)));
      for (const child of alive) child.kill('SIGTERM');
      await Promise.all(exits);
      if (client) await endLocksOnTaskQueue(client, [...ENVS], taskQueue, 'RBAC lifecycle test');
      await connection?.close();
      await kubectl(['delete', 'application', APP, '-n', ARGO, '--ignore-not-found'], { env: 'staging' });
      await identity.tearDown();
      if (work) rmSync(work, { recursive: true, force: true });
      console.log(`rbac lifecycle wall times: ${timings.join('; ')}; whole file ${seconds(performance.now() - fileStarted)}`);
    });

    it('each cluster’s token authenticates on its own cluster only: another cluster’s API server answers 401', async () => {
      const crossed: Record<string, string> = {};
      for (const [i, env] of ENVS.entries()) crossed[env] = identity.tokens[ENVS[(i + 1) % ENVS.length] ?? ''] ?? '';
      const dir = mkdtempSync(join(work, 'crossed-'));
      const config = tokensKubeconfig(crossed, dir);
      for (const env of ENVS) {
        const own = await kubectl(['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}'], { env, kubeconfig: identity.tokenConfig });
        assert.equal(own.code, 0, own.err);
        assert.equal(own.out, SUBJECT, `${env}: its own token is the run's worker account`);
        const other = await kubectl(['get', 'configmaps', '-n', 'logstack-system', '-o', 'name'], { env, kubeconfig: config });
        assert.notEqual(other.code, 0, `${env} accepted another cluster's token`);
        assert.match(other.err, /Unauthorized|must be logged in/i, `${env}: refused as unauthenticated:\n${other.err}`);
      }
    });

    it('bootstraps dev (r1) and staging (r0) with the token', async (t) => {
      const started = performance.now();
      const settled = await Promise.allSettled(
        [
          ['dev', r1],
          ['staging', r0],
        ].map(([environment, revision]) =>
          client.workflow.execute('bootstrapEnvironment', {
            taskQueue,
            workflowId: `${RUN}-bootstrap-${environment}`,
            args: [{ environment, revision }],
          }),
        ),
      );
      const failed = settled.flatMap((r) => (r.status === 'rejected' ? [String((r.reason as Error & { cause?: Error }).cause?.message ?? r.reason)] : []));
      assert.deepEqual(failed, [], 'both bootstraps succeeded');
      const [dev, stg] = settled.map((r) => (r.status === 'fulfilled' ? (r.value as BootstrapResult) : undefined));
      assert.equal(dev?.revision, r1);
      assert.deepEqual(dev?.gates.map((g) => g.gate), ['external-secrets-synced']);
      assert.equal(stg?.revision, r0);
      assert.deepEqual(stg?.gates.map((g) => g.gate), GATES);
      timings.push(`bootstrap dev + staging ${seconds(performance.now() - started)}`);
      t.diagnostic(`bootstrap dev + staging with the token: ${seconds(performance.now() - started)}`);
    });

    it('promotes dev → staging through Argo CD delivery with the token: pin in Git, the Application refreshed and at the pin (test writes its status in the controller’s place)', async (t) => {
      // From here staging is delivered by Argo CD; the catalog is read again by each workflow.
      const stagingEnv = catalog.environments.find((e) => e['name'] === 'staging');
      assert.ok(stagingEnv);
      stagingEnv['delivery'] = 'argocd';
      stagingEnv['argocd'] = { application: APP, namespace: ARGO };
      writeCatalog();
      const started = performance.now();
      const promotion = client.workflow.execute('promoteEnvironment', {
        taskQueue,
        workflowId: `${RUN}-promote-staging`,
        args: [{ from: 'dev', to: 'staging', requestedBy: 'carol' }],
      }) as Promise<PromoteResult>;
      // In the application controller's place: once the pin names r1 and the worker asked for a refresh, sync.
      const clone = join(work, 'gitops');
      let synced = false;
      while (!synced) {
        const outcome = await Promise.race([promotion.then(() => 'ended' as const, () => 'ended' as const), sleep(250)]);
        if (outcome === 'ended') break;
        // The worker pins first, then asks for the refresh.
        const app = await readObject(staging, appHeader);
        if (app?.metadata.annotations?.['argocd.argoproj.io/refresh'] !== 'hard') continue;
        await git(clone, 'fetch', '--quiet', 'origin', RUN);
        const pin = await git(clone, 'show', `FETCH_HEAD:${pinPath('staging')}`).catch(() => '');
        assert.equal(pinnedCommitOf(pin), r1, 'the refresh was asked for once staging was pinned to r1 on the run branch');
        await patchStatus(
          staging,
          appHeader,
          {
            sync: { status: 'Synced', revision: r1 },
            health: { status: 'Healthy' },
            operationState: { phase: 'Succeeded', startedAt: new Date().toISOString(), operation: { sync: { revision: r1 } }, syncResult: { revision: r1 } },
          },
          'test-stand-in',
        );
        synced = true;
      }
      const result = await promotion;
      assert.ok(synced, 'the Application was synced at the pinned commit');
      assert.equal(result.revision, r1);
      assert.equal(result.previousRevision, r0);
      assert.equal(result.rolledBack, false);
      timings.push(`promote dev → staging (argocd) ${seconds(performance.now() - started)}`);
      t.diagnostic(`promotion with the token: ${seconds(performance.now() - started)}`);
    });

    it('migrates the script-made production (sts) with the token, requestedBy given', async (t) => {
      const started = performance.now();
      const result = (await client.workflow.execute('migrateProduction', {
        taskQueue,
        workflowId: `${RUN}-migrate-production`,
        args: [{ requestedBy: 'alice' }],
      })) as MigrateResult;
      assert.ok(result.adopted.length > 0, 'the client-side applied objects were adopted');
      assert.deepEqual(result.gates.map((g) => g.gate), GATES);
      const state = await readObject(createKubeClusters(sandbox.kubeconfig).forContext(contextOf('production')), {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        name: 'logstack-state-production',
        namespace: 'logstack-system',
      });
      const data = (state?.['data'] ?? {}) as Record<string, string>;
      assert.equal(data['verified'], 'true', 'production recorded verified');
      // With no verified record the migration delivers the catalog branch's head: the run branch, pin commit included.
      const clone = join(work, 'gitops');
      await git(clone, 'fetch', '--quiet', 'origin', RUN);
      assert.equal(data['revision'], await git(clone, 'rev-parse', 'FETCH_HEAD'), 'the run branch head is recorded');
      // sts: the store's service account was made again by the scripts, so its reader-role annotation is the
      // worker's write during the migration (ensureStoreCredential), made with the token.
      const { namespace: saNamespace, name: saName } = GITOPS_NAMES.storeServiceAccount;
      const account = await readObject(createKubeClusters(sandbox.kubeconfig).forContext(contextOf('production')), {
        apiVersion: 'v1',
        kind: 'ServiceAccount',
        name: saName,
        namespace: saNamespace,
      });
      assert.match(account?.metadata.annotations?.[ROLE_ARN_ANNOTATION] ?? '', /^arn:aws:iam::\d{12}:role\//, 'the reader role is annotated');
      assert.ok(
        account?.metadata.managedFields?.some((f) => f.manager === STORE_IDENTITY_FIELD_MANAGER && JSON.stringify(f.fieldsV1 ?? {}).includes(ROLE_ARN_ANNOTATION)),
        'by the worker’s store-identity field manager',
      );
      timings.push(`migrate production ${seconds(performance.now() - started)}`);
      t.diagnostic(`migration with the token: ${seconds(performance.now() - started)}; adopted ${result.adopted.length}`);
    });

    it('reports drift on dev, staging (Argo CD) and production with the token, and nothing in the whole run was refused', async (t) => {
      const started = performance.now();
      const drift = (await client.workflow.execute('remediateDrift', {
        taskQueue,
        workflowId: `${RUN}-drift`,
        args: [{ environments: [...ENVS], mode: 'report' }],
      })) as DriftResult;
      timings.push(`drift report ×3 ${seconds(performance.now() - started)}`);
      t.diagnostic(
        `drift report with the token: ${seconds(performance.now() - started)}; ${drift.findings.length} findings: ${drift.findings
          .map((f) => JSON.stringify(f).slice(0, 200))
          .join(' | ')}`,
      );
      const refusals = drift.findings.filter((f) => /forbidden|refused access|AccessDenied|denied request/i.test(JSON.stringify(f)));
      assert.deepEqual(refusals, [], 'the drift scan was refused nothing');

      const log = worker.output();
      const refused = log.split('\n').filter((l) => /forbidden|"status":403|"code":403|AccessDenied|denied request/i.test(l));
      assert.deepEqual(refused, [], 'no activity attempt of the whole run was refused by an API server or AWS');
      assert.ok(!Object.values(identity.tokens).some((token) => log.includes(token)), 'the worker never logs a token');
    });
  },
);
