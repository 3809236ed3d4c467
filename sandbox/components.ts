/**
 * Starts each real part of the sandbox on 127.0.0.1, idempotently: a part whose recorded process is
 * alive and healthy is left alone, so a second `up` is quick and changes nothing.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync, cpSync, rmSync, mkdtempSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { Artefacts } from './build.ts';
import { capture, logFile, run, runningPid, startDaemon, waitFor } from './exec.ts';
import { GIT_REMOTE_DIR, KUBECONFIG_FILE, REPO_ROOT, RUN_DIR, type Versions } from './paths.ts';
import { SearchAttributeNames } from '../domain/index.ts';

type Say = (line: string) => void;

/** Ports of one cluster's parts. */
export interface ClusterPorts {
  name: string;
  context: string;
  etcdClient: number;
  etcdPeer: number;
  apiserver: number;
  esoMetrics: number;
  controllerManager: number;
}

/** Derives each cluster's ports from the manifest's bases. */
export function clusterPorts(v: Versions): ClusterPorts[] {
  return v.clusters.map((name, i) => ({
    name,
    context: `logstack-${name}`,
    etcdClient: v.ports.etcdBase + i * 10,
    etcdPeer: v.ports.etcdBase + i * 10 + 1,
    apiserver: v.ports.apiserverBase + i,
    esoMetrics: v.ports.esoMetricsBase + i,
    controllerManager: v.ports.apiserverBase + 100 + i,
  }));
}

async function httpOk(url: string): Promise<boolean> {
  const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
  return res.ok;
}

/** GET over HTTPS trusting the cluster's own self-signed CA bundle, with the admin token. */
function apiGet(port: number, path: string, token: string, ca: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path, ca, headers: { Authorization: `Bearer ${token}` }, timeout: 2000 },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

/** The sandbox's admin bearer token (random, created once, kept in RUN_DIR with mode 0600). */
export function adminToken(): string {
  const file = join(RUN_DIR, 'secrets', 'admin-token');
  if (!existsSync(file)) {
    mkdirSync(join(RUN_DIR, 'secrets'), { recursive: true, mode: 0o700 });
    writeFileSync(file, randomBytes(24).toString('hex'), { mode: 0o600 });
  }
  return readFileSync(file, 'utf8').trim();
}

/**
 * The static token file every sandbox API server reads once, at its start: written only when its content changes,
 * and then whole (a temporary file renamed over it). The three clusters start side by side; a server that read the
 * file while another cluster's start was rewriting it in place would refuse the admin token until restarted.
 */
function ensureTokenFile(token: string, cluster: string): string {
  const file = join(RUN_DIR, 'secrets', 'tokens.csv');
  const content = `${token},logstack-admin,logstack-admin,"system:masters"\n`;
  if (!existsSync(file) || readFileSync(file, 'utf8') !== content) {
    const partial = `${file}.${cluster}.partial`;
    writeFileSync(partial, content, { mode: 0o600 });
    renameSync(partial, file);
  }
  return file;
}

function ensureServiceAccountKeys(cluster: string): { key: string; pub: string } {
  const dir = join(RUN_DIR, cluster, 'pki');
  const key = join(dir, 'sa.key');
  const pub = join(dir, 'sa.pub');
  if (!existsSync(key)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(key, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    writeFileSync(pub, pair.publicKey.export({ type: 'spki', format: 'pem' }));
  }
  return { key, pub };
}

/** The OIDC issuer of a sandbox cluster's service-account tokens (used by the STS credential mode). */
export const oidcIssuer = (cluster: string): string => `https://oidc.${cluster}.logstack.sandbox`;

async function startEtcd(a: Artefacts, c: ClusterPorts, say: Say): Promise<void> {
  const name = `etcd-${c.name}`;
  if (!runningPid(name)) {
    say(`starting etcd for ${c.name} on 127.0.0.1:${c.etcdClient}`);
    const client = `http://127.0.0.1:${c.etcdClient}`;
    const peer = `http://127.0.0.1:${c.etcdPeer}`;
    startDaemon(name, a.etcd, [
      `--name=${c.name}`,
      `--data-dir=${join(RUN_DIR, c.name, 'etcd')}`,
      `--listen-client-urls=${client}`,
      `--advertise-client-urls=${client}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=${c.name}=${peer}`,
      '--log-level=warn',
      // A throwaway local store: durability across power loss is not worth the fsync latency here.
      '--unsafe-no-fsync',
    ]);
  }
  await waitFor(name, () => httpOk(`http://127.0.0.1:${c.etcdClient}/health`), 30_000, logFile(name));
}

async function startApiserver(a: Artefacts, c: ClusterPorts, say: Say): Promise<string> {
  const name = `kube-apiserver-${c.name}`;
  const certDir = join(RUN_DIR, c.name, 'pki');
  const token = adminToken();
  const tokenFile = ensureTokenFile(token, c.name);
  if (!runningPid(name)) {
    say(`starting kube-apiserver for ${c.name} on https://127.0.0.1:${c.apiserver}`);
    const sa = ensureServiceAccountKeys(c.name);
    startDaemon(name, a.kubeApiserver, [
      `--etcd-servers=http://127.0.0.1:${c.etcdClient}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${c.apiserver}`,
      `--cert-dir=${certDir}`,
      `--token-auth-file=${tokenFile}`,
      '--authorization-mode=RBAC',
      `--service-account-issuer=${oidcIssuer(c.name)}`,
      `--service-account-key-file=${sa.pub}`,
      `--service-account-signing-key-file=${sa.key}`,
      '--api-audiences=https://kubernetes.default.svc,sts.amazonaws.com',
      '--service-cluster-ip-range=10.96.0.0/16',
      '--enable-priority-and-fairness=false',
      '--profiling=false',
      // No controller-manager runs here and 127.0.0.1 may not be an endpoint: don't reconcile the kubernetes Service.
      '--endpoint-reconciler-type=none',
      '--v=0',
    ]);
  }
  const caFile = join(certDir, 'apiserver.crt');
  await waitFor(
    name,
    async () => existsSync(caFile) && (await apiGet(c.apiserver, '/readyz', token, readFileSync(caFile, 'utf8'))) === 200,
    90_000,
    logFile(name),
  );
  return caFile;
}

/** Writes one kubeconfig with a context per cluster, and a single-context one per cluster for controllers. */
function writeKubeconfigs(clusters: ClusterPorts[], caFiles: Record<string, string>): void {
  const token = adminToken();
  const doc = (cs: ClusterPorts[]) => ({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: cs.map((c) => ({
      name: c.context,
      cluster: {
        server: `https://127.0.0.1:${c.apiserver}`,
        'certificate-authority-data': Buffer.from(readFileSync(caFiles[c.name] ?? '', 'utf8')).toString('base64'),
      },
    })),
    users: [{ name: 'logstack-admin', user: { token } }],
    contexts: cs.map((c) => ({ name: c.context, context: { cluster: c.context, user: 'logstack-admin' } })),
    'current-context': cs[0]?.context,
  });
  writeFileSync(KUBECONFIG_FILE, stringify(doc(clusters)), { mode: 0o600 });
  for (const c of clusters) writeFileSync(join(RUN_DIR, c.name, 'kubeconfig'), stringify(doc([c])), { mode: 0o600 });
}

/**
 * The controller manager with only the lifecycle controllers: namespace deletion, garbage collection
 * of owned objects (ESO's Owner-policy Secrets), and service accounts with their tokens.
 */
function startControllerManager(a: Artefacts, c: ClusterPorts, say: Say): void {
  const name = `kube-controller-manager-${c.name}`;
  if (runningPid(name)) return;
  say(`starting kube-controller-manager for ${c.name}`);
  startDaemon(name, a.kubeControllerManager, [
    `--kubeconfig=${join(RUN_DIR, c.name, 'kubeconfig')}`,
    '--controllers=namespace-controller,garbage-collector-controller,serviceaccount-controller,serviceaccount-token-controller',
    `--service-account-private-key-file=${join(RUN_DIR, c.name, 'pki', 'sa.key')}`,
    `--root-ca-file=${join(RUN_DIR, c.name, 'pki', 'apiserver.crt')}`,
    '--use-service-account-credentials=false',
    '--leader-elect=false',
    '--bind-address=127.0.0.1',
    `--secure-port=${c.controllerManager}`,
    '--authentication-skip-lookup=true',
    '--v=0',
  ]);
}

async function installCrds(a: Artefacts, c: ClusterPorts, say: Say): Promise<void> {
  const marker = join(RUN_DIR, c.name, 'crds.applied');
  const wanted = a.crdFiles.join('\n') + '\n' + a.crdFiles.map((f) => readFileSync(f, 'utf8').length).join(',');
  if (existsSync(marker) && readFileSync(marker, 'utf8') === wanted) return;
  say(`installing ${a.crdFiles.length} CRDs into ${c.name}`);
  const args = ['--kubeconfig', KUBECONFIG_FILE, '--context', c.context];
  for (const file of a.crdFiles) {
    await run(a.kubectl, [...args, 'apply', '--server-side', '--force-conflicts', '--field-manager=logstack-sandbox', '-f', file], { logFile: logFile(`crds-${c.name}`) });
  }
  await run(a.kubectl, [...args, 'wait', '--for=condition=Established', '--timeout=120s', 'crd', '--all'], { logFile: logFile(`crds-${c.name}`) });
  writeFileSync(marker, wanted);
}

async function startExternalSecrets(a: Artefacts, c: ClusterPorts, awsEndpoint: string, say: Say): Promise<void> {
  const name = `external-secrets-${c.name}`;
  if (!runningPid(name)) {
    say(`starting External Secrets controller for ${c.name}`);
    startDaemon(name, a.externalSecrets, [`--metrics-addr=127.0.0.1:${c.esoMetrics}`, '--enable-leader-election=false', '--concurrent=2', '--loglevel=info', '--zap-time-encoding=iso8601'], {
      ...process.env,
      KUBECONFIG: join(RUN_DIR, c.name, 'kubeconfig'),
      AWS_SECRETSMANAGER_ENDPOINT: awsEndpoint,
      AWS_STS_ENDPOINT: awsEndpoint,
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_REGION: 'us-east-1',
    });
  }
  await waitFor(name, () => httpOk(`http://127.0.0.1:${c.esoMetrics}/metrics`), 60_000, logFile(name));
}

async function startMoto(a: Artefacts, v: Versions, say: Say): Promise<string> {
  const endpoint = `http://127.0.0.1:${v.ports.moto}`;
  if (!runningPid('moto')) {
    say(`starting moto (S3, Secrets Manager, IAM, STS) on ${endpoint}`);
    startDaemon('moto', a.motoServer, ['-H', '127.0.0.1', '-p', String(v.ports.moto)]);
  }
  await waitFor('moto', () => httpOk(`${endpoint}/moto-api/`), 60_000, logFile('moto'));
  return endpoint;
}

/** The `temporal server start-dev` flags that register logstack's Keyword search attributes. */
export function searchAttributeFlags(): string[] {
  return Object.values(SearchAttributeNames).map((name) => `--search-attribute=${name}=Keyword`);
}

/**
 * Dynamic configuration of the sandbox's Temporal server: eager activity execution on, as Temporal Cloud and
 * recent self-hosted defaults have it. The server then hands an activity task scheduled on the workflow's own
 * task queue back in the reply to the workflow task that scheduled it, when that worker has a free slot — one
 * matching round trip less per step. The product needs no setting of its own (the SDK asks by default).
 */
export const TEMPORAL_DYNAMIC_CONFIG: readonly string[] = ['system.enableActivityEagerExecution=true'];

/**
 * How the sandbox's Temporal keeps its SQLite file: a write-ahead log (`journal_mode=wal`), synced at checkpoints
 * rather than at every commit (`synchronous=normal`). Every commit survives the server's process being killed
 * (the log is in the file system's cache the moment a commit returns) — what the outage tests do to it; only a
 * power loss of the machine could take back the last commits. With SQLite's default (a rollback journal created,
 * synced and deleted per transaction) the server used 16–17 CPU-seconds for 50 bootstraps run at once, 10–11 with these.
 */
export const TEMPORAL_SQLITE_PRAGMAS: readonly string[] = ['journal_mode=wal', 'synchronous=normal'];

/** The `temporal server start-dev` flags that keep its state in `dbFile` as {@link TEMPORAL_SQLITE_PRAGMAS} say. */
export function temporalStoreFlags(dbFile: string): string[] {
  return [`--db-filename=${dbFile}`, ...TEMPORAL_SQLITE_PRAGMAS.map((pragma) => `--sqlite-pragma=${pragma}`)];
}

async function startTemporal(a: Artefacts, v: Versions, say: Say): Promise<void> {
  if (!runningPid('temporal')) {
    say(`starting Temporal dev server on 127.0.0.1:${v.ports.temporal}, Web UI on http://127.0.0.1:${v.ports.temporalUi}`);
    mkdirSync(join(RUN_DIR, 'temporal'), { recursive: true });
    const codec = process.env['LOGSTACK_UI_CODEC_ENDPOINT'];
    startDaemon('temporal', a.temporal, [
      'server',
      'start-dev',
      '--ip=127.0.0.1',
      `--port=${v.ports.temporal}`,
      '--ui-ip=127.0.0.1',
      `--ui-port=${v.ports.temporalUi}`,
      ...temporalStoreFlags(join(RUN_DIR, 'temporal', 'temporal.db')),
      '--namespace=default',
      ...searchAttributeFlags(),
      ...TEMPORAL_DYNAMIC_CONFIG.map((value) => `--dynamic-config-value=${value}`),
      '--log-level=warn',
      ...(codec ? [`--ui-codec-endpoint=${codec}`] : []),
    ]);
  }
  await waitFor('temporal web ui', () => httpOk(`http://127.0.0.1:${v.ports.temporalUi}/`), 90_000, logFile('temporal'));
  await waitFor(
    'temporal frontend',
    async () => {
      await capture(a.temporal, ['operator', 'namespace', 'describe', '--address', `127.0.0.1:${v.ports.temporal}`, '--namespace', 'default']);
      return true;
    },
    60_000,
    logFile('temporal'),
  );
}

/** Creates the bare Git remote once, seeded with the project's `gitops/` tree at path `gitops/`. */
export async function ensureGitRemote(say: Say): Promise<string> {
  if (existsSync(join(GIT_REMOTE_DIR, 'HEAD'))) return GIT_REMOTE_DIR;
  say(`seeding the GitOps remote ${GIT_REMOTE_DIR}`);
  const log = logFile('git');
  mkdirSync(GIT_REMOTE_DIR, { recursive: true });
  await run('git', ['init', '--bare', '--initial-branch=main', GIT_REMOTE_DIR], { logFile: log });
  const work = mkdtempSync(join(tmpdir(), 'logstack-seed-'));
  try {
    cpSync(join(REPO_ROOT, 'gitops'), join(work, 'gitops'), { recursive: true });
    const git = (...args: string[]) => run('git', ['-C', work, '-c', 'user.name=logstack', '-c', 'user.email=logstack@localhost', ...args], { logFile: log });
    await git('init', '--initial-branch=main');
    await git('add', '-A');
    await git('commit', '-m', 'Seed the GitOps repository');
    await git('push', GIT_REMOTE_DIR, 'main');
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return GIT_REMOTE_DIR;
}

/** Brings every part up (or confirms it is up). Independent parts start concurrently. */
export async function startAll(a: Artefacts, v: Versions, say: Say): Promise<{ awsEndpoint: string; gitRemote: string }> {
  mkdirSync(RUN_DIR, { recursive: true });
  const clusters = clusterPorts(v);
  const motoReady = startMoto(a, v, say);
  const temporalReady = startTemporal(a, v, say);
  const gitReady = ensureGitRemote(say);
  const caFiles: Record<string, string> = {};
  await Promise.all(
    clusters.map(async (c) => {
      mkdirSync(join(RUN_DIR, c.name), { recursive: true });
      await startEtcd(a, c, say);
      caFiles[c.name] = await startApiserver(a, c, say);
    }),
  );
  writeKubeconfigs(clusters, caFiles);
  for (const c of clusters) startControllerManager(a, c, say);
  for (const c of clusters) await installCrds(a, c, say);
  const awsEndpoint = await motoReady;
  await Promise.all(clusters.map((c) => startExternalSecrets(a, c, awsEndpoint, say)));
  const [, gitRemote] = await Promise.all([temporalReady, gitReady]);
  return { awsEndpoint, gitRemote };
}
