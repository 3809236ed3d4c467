/**
 * Bench environments on the shared sandbox: `count` generated environments `bench-<tag>-NN`, spread
 * round-robin over the sandbox's clusters, that a worker can bootstrap, roll out and scan like the real
 * ones — and the cleanup of everything they leave in the clusters and in moto.
 *
 * Each bench environment has targets of its own: S3 bucket `logstack-<env>-loki`, Secrets Manager secret
 * `logstack/<env>/loki-s3`, IAM user `logstack-<env>-loki` (static credentials), a Loki namespace named like
 * the environment holding its ExternalSecret, LokiStack, ClusterLogForwarder, collector service account and
 * the worker's Role there, the collector's ClusterRoleBindings (prefixed with the environment name), its
 * deployed-state record, its inventory label and its lock workflow.
 *
 * Why generated overlays: the repository's overlays describe one logging stack per cluster, so many
 * environments on three clusters would fight over the same objects (and re-label the real environments'
 * objects, which other runs on the sandbox scan for drift). The overlays here are the `dev` overlay as
 * rendered at a known-good revision, cut down to the per-stack objects and moved into the environment's
 * namespace by structured edits. Left out, because a cluster has exactly one of each and the real
 * environments own them: the operator namespaces, OperatorGroups and Subscriptions, ExternalSecretsConfig,
 * the worker's own namespace, service account and cluster RBAC, and the `logstack-aws` ClusterSecretStore.
 * The bootstrap overlay (a fixed path every bootstrap applies) is replaced in the temporary remote by one
 * ClusterSecretStore `bench-<tag>-aws`, shared by the bench environments of a cluster; it reads Secrets
 * Manager with the static store credential (`external-secrets/logstack-aws-credentials`, the same key the
 * sandbox's worker writes; created on a cluster that lacks it and removed again afterwards).
 *
 * The overlays live in a temporary bare Git remote (the sandbox's remote at the known-good revision plus one
 * commit), named by the generated catalog's `gitops.remote`, so nothing is pushed to the shared remote.
 */
import { execFile } from 'node:child_process';
import { randomBytes, createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DeleteAccessKeyCommand, DeleteUserCommand, DeleteUserPolicyCommand, ListAccessKeysCommand, ListUserPoliciesCommand, NoSuchEntityException } from '@aws-sdk/client-iam';
import { DeleteBucketCommand, DeleteObjectsCommand, ListObjectVersionsCommand, NoSuchBucket } from '@aws-sdk/client-s3';
import { DeleteSecretCommand, ResourceNotFoundException } from '@aws-sdk/client-secrets-manager';
import type { Client } from '@temporalio/client';
import { parseAllDocuments, stringify } from 'yaml';
import { createAwsClients } from '../activities/aws/index.ts';
import { deleteObject, listObjects, readObject } from '../activities/kubernetes/apply.ts';
import { type KubeClusters, createKubeClusters } from '../activities/kubernetes/cluster.ts';
import type { KubeObject } from '../activities/kubernetes/objects.ts';
import { PRUNE_KINDS } from '../activities/kubernetes/overlay.ts';
import { GITOPS_NAMES } from '../domain/gitops.ts';
import { type Environment, type GateKind, INVENTORY_LABEL, STATE_NAMESPACE, parseCatalog, principalName, stateConfigMapName } from '../domain/index.ts';
import { requireSandbox, type SandboxRuntime } from '../sandbox/status.ts';
import { knownGoodRevision } from '../test/worker/sandbox-runs.ts';

const execFileAsync = promisify(execFile);

/** The environment whose overlay the bench overlays are cut from. */
const SOURCE_ENVIRONMENT = 'dev';
/** The namespace of the per-stack objects in the source overlay. */
const SOURCE_NAMESPACE = 'openshift-logging';
/** API groups of cluster singletons that stay with the real environments. */
const SINGLETON_GROUPS = ['operators.coreos.com/', 'operator.openshift.io/'];

/** Options of {@link createEstate}. */
export interface EstateOptions {
  /** How many environments. */
  readonly count: number;
  /** The gates each environment's rollout waits for. */
  readonly gates: readonly GateKind[];
  /** A prefix after `bench-` naming the purpose (e.g. `oh`); keeps names short: ≤ 4 characters. */
  readonly purpose: string;
}

/** Generated bench environments and the files behind them. */
export interface Estate {
  readonly sandbox: SandboxRuntime;
  /** Random per run: `bench-<purpose><tag>-NN`. */
  readonly prefix: string;
  readonly environments: readonly Environment[];
  /** The generated catalog (give it to the worker as LOGSTACK_CATALOG). */
  readonly catalogPath: string;
  /** The temporary bare Git remote. */
  readonly remote: string;
  /** The commit of the remote holding the bench overlays (its `main`). */
  readonly commit: string;
  /** The known-good revision of the shared remote the commit is based on. */
  readonly base: string;
  /** The ClusterSecretStore of the bench bootstrap overlay. */
  readonly storeName: string;
  /** A scratch directory that {@link Estate.cleanup} removes. */
  readonly dir: string;
  readonly clusters: KubeClusters;
  /** Removes everything the environments created in the clusters and in moto, and the files. Idempotent. */
  cleanup(): Promise<void>;
}

async function git(cwd: string, ...args: string[]): Promise<string> {
  const { stdout } = await execFileAsync('git', ['-c', 'user.name=logstack bench', '-c', 'user.email=bench@localhost', '-c', 'commit.gpgsign=false', ...args], { cwd, maxBuffer: 64 * 1024 * 1024 });
  return stdout.trim();
}

async function kustomize(sandbox: SandboxRuntime, dir: string): Promise<KubeObject[]> {
  const { stdout } = await execFileAsync(sandbox.kubectl, ['kustomize', dir], { maxBuffer: 64 * 1024 * 1024 });
  return parseAllDocuments(stdout)
    .map((d) => d.toJS() as KubeObject | null)
    .filter((o): o is KubeObject => o !== null && typeof o.kind === 'string');
}

const clone = <T>(value: T): T => structuredClone(value);

function yamlStream(objects: readonly object[]): string {
  return objects.map((o) => stringify(o, { version: '1.1' })).join('---\n');
}

/** True when `value` (any depth) holds `text` as a whole string — only under keys named `key` when given. */
function mentions(value: unknown, text: string, key?: string): boolean {
  if (Array.isArray(value)) return value.some((v) => mentions(v, text, key));
  if (value && typeof value === 'object') {
    return Object.entries(value).some(([k, v]) => ((key === undefined || k === key) && v === text) || mentions(v, text, key));
  }
  return key === undefined && value === text;
}

/**
 * The per-stack objects of the source overlay moved into `env`'s namespace: the Loki namespace, the
 * objects in it (but OLM's), and the collector's ClusterRoleBindings; the ExternalSecret reads the
 * environment's Secrets Manager secret through the bench store.
 */
export function benchOverlayObjects(source: readonly KubeObject[], env: Environment, storeName: string, sourceSecretName: string): KubeObject[] {
  const ns = env.loki.namespace;
  const out: KubeObject[] = [];
  for (const original of source) {
    if (SINGLETON_GROUPS.some((g) => original.apiVersion.startsWith(g))) continue;
    const obj = clone(original);
    if (obj.kind === 'Namespace') {
      if (obj.metadata.name !== SOURCE_NAMESPACE) continue;
      obj.metadata.name = ns;
    } else if (obj.kind === 'ClusterRoleBinding') {
      const subjects = (obj['subjects'] as { namespace?: string }[] | undefined) ?? [];
      if (!subjects.some((s) => s.namespace === SOURCE_NAMESPACE)) continue;
      obj.metadata.name = `${env.name}-${obj.metadata.name}`;
      for (const s of subjects) if (s.namespace === SOURCE_NAMESPACE) s.namespace = ns;
    } else if (obj.metadata.namespace === SOURCE_NAMESPACE) {
      obj.metadata.namespace = ns;
    } else {
      continue;
    }
    if (obj.kind === 'ExternalSecret') {
      const spec = obj['spec'] as { dataFrom?: { extract?: { key?: string } }[]; secretStoreRef?: { name?: string } };
      for (const from of spec.dataFrom ?? []) if (from.extract?.key === sourceSecretName) from.extract.key = env.aws.secretName;
      if (spec.secretStoreRef) spec.secretStoreRef.name = storeName;
    }
    if (obj.kind === 'ClusterLogForwarder') {
      const outputs = ((obj['spec'] as { outputs?: { lokiStack?: { target?: { namespace?: string } } }[] }).outputs ?? []);
      for (const o of outputs) if (o.lokiStack?.target?.namespace === SOURCE_NAMESPACE) o.lokiStack.target.namespace = ns;
    }
    if (mentions(obj, SOURCE_NAMESPACE, 'namespace') || mentions(obj, sourceSecretName) || mentions(obj, GITOPS_NAMES.secretStore)) {
      throw new Error(`bench overlay: ${obj.kind}/${obj.metadata.name} still names the source environment; teach benchOverlayObjects about it`);
    }
    out.push(obj);
  }
  return out;
}

/** Runs `fn` over `items` with at most `limit` calls in flight; rejects with the first failure after all settle. */
export async function forEachLimited<T>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const errors: unknown[] = [];
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      try {
        await fn(items[i] as T, i);
      } catch (error) {
        errors.push(error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  if (errors.length) throw errors[0];
}

/** The worker's default working clone of `remote` (activities/index.ts), removed after a worker process ends. */
export function workerCloneDir(remote: string, pid: number): string {
  return join(tmpdir(), `logstack-gitops-${createHash('sha256').update(remote).digest('hex').slice(0, 12)}-${pid}`);
}

/**
 * Generates the environments, their overlays in a temporary remote and their catalog. Creates nothing in
 * the clusters or in moto (workflows and activities do that); {@link Estate.cleanup} removes what they made.
 */
export async function createEstate(options: EstateOptions): Promise<Estate> {
  const dir = mkdtempSync(join(tmpdir(), 'logstack-bench-'));
  try {
    return await generate(options, dir);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

async function generate(options: EstateOptions, dir: string): Promise<Estate> {
  const sandbox = requireSandbox();
  const clusters = createKubeClusters(sandbox.kubeconfig);
  const tag = randomBytes(2).toString('hex');
  const prefix = `bench-${options.purpose}${tag}-`;
  const storeName = `bench-${options.purpose}${tag}-aws`;
  const work = join(dir, 'work');
  const remote = join(dir, 'remote.git');
  const base = await knownGoodRevision(sandbox, SOURCE_ENVIRONMENT);

  await execFileAsync('git', ['clone', '--quiet', '--no-checkout', sandbox.git.remote, work]);
  await git(work, 'checkout', '--quiet', '-B', 'main', base);
  const source = await kustomize(sandbox, join(work, `gitops/overlays/${SOURCE_ENVIRONMENT}`));
  const bootstrapSource = await kustomize(sandbox, join(work, 'gitops/overlays/bootstrap'));
  const sourceSecret = source.find((o) => o.kind === 'ExternalSecret' && o.metadata.name === GITOPS_NAMES.lokiExternalSecret);
  const sourceSecretName = (sourceSecret?.['spec'] as { dataFrom?: { extract?: { key?: string } }[] } | undefined)?.dataFrom?.[0]?.extract?.key;
  if (!sourceSecretName) throw new Error(`the ${SOURCE_ENVIRONMENT} overlay has no ExternalSecret ${GITOPS_NAMES.lokiExternalSecret} reading a Secrets Manager key`);
  const store = bootstrapSource.find((o) => o.kind === 'ClusterSecretStore' && o.metadata.name === GITOPS_NAMES.secretStore);
  if (!store) throw new Error(`the bootstrap overlay has no ClusterSecretStore ${GITOPS_NAMES.secretStore}`);

  const contexts = sandbox.clusters.map((c) => c.context);
  const width = String(options.count - 1).length < 2 ? 2 : String(options.count - 1).length;
  const entries = Array.from({ length: options.count }, (_, i) => {
    const name = `${prefix}${String(i).padStart(width, '0')}`;
    return {
      name,
      cluster: { context: contexts[i % contexts.length] as string },
      aws: { region: 'us-east-1', bucket: `logstack-${name}-loki`, secretName: `logstack/${name}/loki-s3`, credentialMode: 'static' },
      overlay: `gitops/overlays/${name}`,
      delivery: 'direct',
      loki: { namespace: name, size: '1x.demo' },
      gates: [...options.gates],
      retentionDays: 7,
    };
  });
  const catalogDocument = {
    apiVersion: 'logstack.io/v1',
    kind: 'EnvironmentCatalog',
    promotionOrder: [entries[0]?.name ?? 'none'],
    gitops: { remote, branch: 'main' },
    environments: entries,
  };
  const environments = parseCatalog(catalogDocument, 'bench catalog').environments;

  const benchStore = clone(store);
  benchStore.metadata.name = storeName;
  // The bench's ExternalSecrets live in namespaces of their own, outside the product store's conditions.
  delete (benchStore['spec'] as Record<string, unknown> | undefined)?.['conditions'];
  rmSync(join(work, 'gitops/overlays/bootstrap'), { recursive: true, force: true });
  const write = (path: string, text: string): void => {
    mkdirSync(join(work, path, '..'), { recursive: true });
    writeFileSync(join(work, path), text);
  };
  const kustomization = stringify({ apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization', resources: ['objects.yaml'] });
  write('gitops/overlays/bootstrap/kustomization.yaml', kustomization);
  write('gitops/overlays/bootstrap/objects.yaml', yamlStream([benchStore]));
  for (const env of environments) {
    write(`${env.overlay}/kustomization.yaml`, kustomization);
    write(`${env.overlay}/objects.yaml`, yamlStream(benchOverlayObjects(source, env, storeName, sourceSecretName)));
  }
  await git(work, 'add', '--all', 'gitops');
  await git(work, 'commit', '--quiet', '-m', `Bench overlays for ${environments.length} environments`);
  const commit = await git(work, 'rev-parse', 'HEAD');
  await execFileAsync('git', ['init', '--quiet', '--bare', '--initial-branch=main', remote]);
  await git(work, 'push', '--quiet', remote, 'main:main');
  rmSync(work, { recursive: true, force: true });

  const catalogPath = join(dir, 'environments.yaml');
  writeFileSync(catalogPath, stringify(catalogDocument));

  // The store credential is shared with the real environments; remember where it is missing, so only the
  // ones the bench environments create are removed again.
  const credential = GITOPS_NAMES.storeCredential;
  const usedContexts = [...new Set(environments.map((e) => e.cluster.context))];
  const credentialAbsent = new Set<string>();
  for (const context of usedContexts) {
    const found = await readObject(clusters.forContext(context), { apiVersion: 'v1', kind: 'Secret', name: credential.name, namespace: credential.namespace });
    if (!found) credentialAbsent.add(context);
  }

  let cleaning: Promise<void> | undefined;
  const estate: Estate = {
    sandbox,
    prefix,
    environments,
    catalogPath,
    remote,
    commit,
    base,
    storeName,
    dir,
    clusters,
    cleanup() {
      // One cleanup, however many ask: an interrupt and the run's own end may both call it, and each must wait for it.
      cleaning ??= removeAll();
      return cleaning;
    },
  };
  async function removeAll(): Promise<void> {
    const problems: string[] = [];
    await Promise.all(
      usedContexts.map((context) =>
        cleanupCluster(estate, context, credentialAbsent.has(context)).catch((e: unknown) => void problems.push(`${context}: ${String(e)}`)),
      ),
    );
    await cleanupAws(sandbox, environments).catch((e: unknown) => void problems.push(`aws: ${String(e)}`));
    rmSync(dir, { recursive: true, force: true });
    if (problems.length) throw new Error(`bench cleanup left something behind:\n${problems.join('\n')}`);
  }
  return estate;
}

/** Deletes the objects the bench environments applied (found by their inventory label), their records and store credential. */
async function cleanupCluster(estate: Estate, context: string, removeCredential: boolean): Promise<void> {
  const cluster = estate.clusters.forContext(context);
  const namespaces: string[] = [];
  for (const k of PRUNE_KINDS) {
    if (!(await cluster.tryResource(k.apiVersion, k.kind))) continue;
    const { items } = await listObjects(cluster, { ...k, labelSelector: INVENTORY_LABEL });
    const ours = items.filter((o) => (o.metadata.labels?.[INVENTORY_LABEL] ?? '').startsWith(estate.prefix));
    await forEachLimited(ours, 8, async (o) => {
      if (o.kind === 'Namespace') namespaces.push(o.metadata.name);
      await deleteObject(cluster, { apiVersion: k.apiVersion, kind: k.kind, name: o.metadata.name, namespace: o.metadata.namespace });
    });
  }
  for (const env of estate.environments.filter((e) => e.cluster.context === context)) {
    await deleteObject(cluster, { apiVersion: 'v1', kind: 'ConfigMap', name: stateConfigMapName(env.name), namespace: STATE_NAMESPACE });
  }
  if (removeCredential) {
    const { namespace, name } = GITOPS_NAMES.storeCredential;
    await deleteObject(cluster, { apiVersion: 'v1', kind: 'Secret', name, namespace });
  }
  const deadline = Date.now() + 120_000;
  for (const ns of namespaces) {
    while (await readObject(cluster, { apiVersion: 'v1', kind: 'Namespace', name: ns })) {
      if (Date.now() > deadline) throw new Error(`namespace ${ns} still terminating after 120 s`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

const ignore = (...types: (abstract new (...args: never[]) => Error)[]) => (error: unknown) => {
  if (types.some((t) => error instanceof t)) return undefined;
  throw error;
};

/** Deletes each environment's Secrets Manager secret, IAM user (keys, inline policies) and bucket (all versions). */
async function cleanupAws(sandbox: SandboxRuntime, environments: readonly Environment[]): Promise<void> {
  const aws = createAwsClients({ endpoint: sandbox.aws.endpoint, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
  try {
    await forEachLimited(environments, 8, async (env) => {
      const sm = aws.secretsManager(env.aws.region);
      await sm.send(new DeleteSecretCommand({ SecretId: env.aws.secretName, ForceDeleteWithoutRecovery: true })).catch(ignore(ResourceNotFoundException));
      const iam = aws.iam();
      const user = principalName(env);
      const keys = await iam.send(new ListAccessKeysCommand({ UserName: user })).catch(ignore(NoSuchEntityException));
      if (keys) {
        for (const k of keys.AccessKeyMetadata ?? []) await iam.send(new DeleteAccessKeyCommand({ UserName: user, AccessKeyId: k.AccessKeyId }));
        const policies = await iam.send(new ListUserPoliciesCommand({ UserName: user }));
        for (const p of policies.PolicyNames ?? []) await iam.send(new DeleteUserPolicyCommand({ UserName: user, PolicyName: p }));
        await iam.send(new DeleteUserCommand({ UserName: user }));
      }
      const s3 = aws.s3(env.aws.region);
      const versions = await s3.send(new ListObjectVersionsCommand({ Bucket: env.aws.bucket })).catch(ignore(NoSuchBucket));
      if (versions) {
        const objects = [...(versions.Versions ?? []), ...(versions.DeleteMarkers ?? [])].map((v) => ({ Key: v.Key, VersionId: v.VersionId }));
        if (objects.length) await s3.send(new DeleteObjectsCommand({ Bucket: env.aws.bucket, Delete: { Objects: objects } }));
        await s3.send(new DeleteBucketCommand({ Bucket: env.aws.bucket }));
      }
    });
  } finally {
    aws.destroy();
  }
}

/** What {@link cleanupOnInterrupt} returns: more to stop first, and the end of listening. */
export interface InterruptCleanup {
  /** Adds a step an interrupt runs before the cleanup (the run's workers and workflows), once the run has them. */
  stopFirst(step: () => Promise<void>): void;
  /** Stops listening: the run ended by itself. */
  release(): void;
}

/** Runs `cleanup` once when the process is interrupted (SIGINT/SIGTERM), after the steps added with `stopFirst`, then exits 130. */
export function cleanupOnInterrupt(cleanup: () => Promise<void>): InterruptCleanup {
  const first: (() => Promise<void>)[] = [];
  let cleaning = false;
  const handler = (signal: NodeJS.Signals): void => {
    // Ctrl-C reaches this process twice, from the terminal and forwarded by the loader that started it: the second
    // must not end the process halfway through the cleanup.
    if (cleaning) return;
    cleaning = true;
    process.stderr.write(`${signal}: cleaning up the bench environments\n`);
    const report = (e: unknown): void => void process.stderr.write(`${String(e)}\n`);
    (async () => {
      // A step that fails (the run's own end may have closed its client already) never skips the cleanup, and the
      // process ends only once the cleanup is done, whoever started it.
      for (const step of first) await step().catch(report);
      await cleanup();
    })()
      .catch(report)
      .finally(() => process.exit(130));
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    stopFirst: (step) => void first.push(step),
    release: () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}

/**
 * Terminates every workflow still running on `taskQueue` — a bench's own queue, so its runs and their environment
 * locks and nothing else. For an interrupted bench, whose workers stop with it: left running, its workflows would
 * wait on the server for a worker that never comes. Returns how many it ended.
 */
export async function terminateRunsOnTaskQueue(client: Client, taskQueue: string, reason: string): Promise<number> {
  let ended = 0;
  for await (const run of client.workflow.list({ query: `TaskQueue = '${taskQueue}' AND ExecutionStatus = 'Running'` })) {
    await client.workflow
      .getHandle(run.workflowId, run.runId)
      .terminate(reason)
      .then(() => ended++)
      .catch(() => undefined);
  }
  return ended;
}
