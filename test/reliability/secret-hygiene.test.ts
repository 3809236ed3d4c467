/**
 * Zero secret bytes where secrets must never go, proven on the sandbox's real parts by looking for known
 * secret values.
 *
 * The real workflow types — bootstrapEnvironment (dev), rolloutEnvironment (dev), promoteEnvironment
 * (dev → staging), remediateDrift (report) and migrateProduction (dry run) — run through a real worker
 * process twice: without a payload codec, and with `LOGSTACK_CODEC_KEYS`. The worker reaches AWS through a
 * recording endpoint in front of moto, which keeps every secret value that passes (the access keys IAM hands
 * out, the Secrets Manager values the worker reads and writes). Seeded markers make the search concrete: the
 * Loki secret in Secrets Manager carries a marker as its access key secret (the product keeps a stored key
 * that is still active, so the marker flows Secrets Manager → worker → ESO → Kubernetes Secret), and the
 * worker's ESO store credential is a marker. With the Loki and store Secrets ESO and the worker wrote into
 * the clusters, the IAM key ids and the codec key, each value is searched for — plain, base64 at every
 * alignment, base64url, hex — in every workflow history of both runs (exported by the Temporal CLI and by
 * the client's fetchHistory: raw JSON, base64-decoded payloads, and for the codec run the ciphertext and the
 * decrypted payloads), in the worker's JSON logs, and in every commit and object of the GitOps remote.
 *
 * Then activities fail while they hold secret material — Secrets Manager refuses to store a freshly created
 * access key, and the API server refuses the write of the store credential Secret — and neither the
 * failure message, its details and cause chain in history, nor the worker log holds a secret.
 *
 * Statuses of OLM, the Loki Operator and the Cluster Logging Operator are written by the sandbox stand-ins.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client, Connection, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import {
  DeleteAccessKeyCommand,
  DeleteUserCommand,
  DeleteUserPolicyCommand,
  IAMClient,
  ListAccessKeysCommand,
  ListUserPoliciesCommand,
} from '@aws-sdk/client-iam';
import { DeleteBucketCommand, S3Client } from '@aws-sdk/client-s3';
import {
  DeleteSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { parse, stringify } from 'yaml';
import { createKubeClusters } from '../../activities/kubernetes/cluster.ts';
import { readObject } from '../../activities/kubernetes/apply.ts';
import { AesGcmCodec, ENCRYPTED_ENCODING, generateCodecKey, parseCodecKeys } from '../../codec/codec.ts';
import { GITOPS_NAMES } from '../../domain/gitops.ts';
import { SearchAttributeNames, type BootstrapResult } from '../../domain/index.ts';
import { requireSandbox } from '../../sandbox/status.ts';
import { startStandIns, startWorkerProcess, type WorkerProcess } from '../support/processes.ts';
import { endLocksOnTaskQueue, endOrphanedLocks, knownGoodRevision } from '../worker/sandbox-runs.ts';
import {
  addSecret,
  describeFindings,
  markerSecret,
  scanFor,
  secretOf,
  startAwsRecorder,
  toJsonText,
  type AwsRecorder,
  type KnownSecret,
  type SecretFinding,
} from './secret-scan.ts';

const execFileAsync = promisify(execFile);
const sandbox = requireSandbox();
const PID = process.pid;
const REGION = 'us-east-1';
const AWS = {
  endpoint: sandbox.aws.endpoint,
  region: REGION,
  credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
};
const ENVIRONMENTS = sandbox.clusters.map((c) => c.name);
const LOKI_SECRET_DEV = 'logstack/dev/loki-s3';
const LOKI_SECRET_NAME = GITOPS_NAMES.lokiExternalSecret;
const LOKI_NAMESPACE = 'openshift-logging';
const STORE = GITOPS_NAMES.storeCredential;

/** What one run of the workflow types left behind to scan. */
interface RunRecord {
  readonly mode: 'plain' | 'codec';
  /** The Temporal namespace the run used. */
  readonly namespace: string;
  readonly taskQueue: string;
  readonly workflowIds: readonly string[];
  readonly log: string;
  /** The Secrets Manager ARN of dev: only in payloads, so it tells whether a scan reads them. */
  readonly secretArn: string;
}

/** A history exported both ways, plus the decrypted view of its payloads. */
interface ExportedHistory {
  readonly id: string;
  readonly cli: string;
  readonly fetched: string;
  /** Payloads decoded with the codec (codec run) or as stored (plain run): metadata and data as UTF-8. */
  readonly payloads: string;
  readonly encrypted: number;
  /**
   * Payloads that are not encrypted, other than search attributes (indexed, so plain by design) and the
   * SDK's patch markers (written by the SDK's core with the patch id only, outside the data converter).
   */
  readonly plainUserPayloads: number;
}

/**
 * The namespace of the codec run. Lock workflows (`lock-<env>`) are shared by every run that mutates an
 * environment in a namespace: in the default namespace, where other runs without the codec ask for the same
 * locks, a lock served by the codec worker would answer them with payloads they cannot decode (and theirs
 * would receive ours), so the codec run keeps to a namespace of its own, as a codec-enabled fleet would.
 */
const CODEC_NAMESPACE = 'logstack-hygiene-codec';

async function temporalCli(...argv: string[]): Promise<string> {
  const { stdout } = await execFileAsync(sandbox.temporal.cli, [...argv, '--address', sandbox.temporal.address], {
    maxBuffer: 256 * 1024 * 1024,
  });
  return stdout;
}

/** Registers the codec run's namespace and the search attributes the workflows set, when missing. */
async function ensureCodecNamespace(): Promise<void> {
  const attributes = (): Promise<string | undefined> =>
    temporalCli('operator', 'search-attribute', 'list', '--namespace', CODEC_NAMESPACE, '--output', 'json').catch(
      () => undefined,
    );
  const registered = async (): Promise<string> => {
    // A new namespace is served once the frontend's namespace cache has it (about a second on the dev server).
    for (let i = 0; i < 60; i++) {
      const listed = await attributes();
      if (listed !== undefined) return listed;
      await new Promise((r) => setTimeout(r, 500));
    }
    throw new Error(`namespace ${CODEC_NAMESPACE} is not served 30 s after it was created`);
  };
  if ((await attributes()) === undefined) {
    await temporalCli('operator', 'namespace', 'create', '--namespace', CODEC_NAMESPACE, '--retention', '24h').catch(
      (error: unknown) => {
        if (!/already/i.test(String(error))) throw error;
      },
    );
  }
  const listed = await registered();
  for (const name of [SearchAttributeNames.environment, SearchAttributeNames.revision]) {
    if (!listed.includes(`"${name}"`)) {
      await temporalCli(
        'operator',
        'search-attribute',
        'create',
        '--namespace',
        CODEC_NAMESPACE,
        '--name',
        name,
        '--type',
        'Keyword',
      );
    }
  }
}

/** Every payload object in a fetched history, with the path it was found at. */
function payloadsIn(
  value: unknown,
  path = '',
  out: { path: string; payload: Payload }[] = [],
): { path: string; payload: Payload }[] {
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array) return out;
  const candidate = value as { data?: unknown; metadata?: unknown };
  if (candidate.data instanceof Uint8Array && candidate.metadata !== null && typeof candidate.metadata === 'object') {
    out.push({ path, payload: value });
    return out;
  }
  for (const [key, child] of Object.entries(value)) payloadsIn(child, `${path}.${key}`, out);
  return out;
}

const utf8 = (b: Uint8Array | null | undefined): string => (b ? Buffer.from(b).toString('utf8') : '');

/**
 * Exports one history. `own` lists the workflow ids of the run: a lock workflow is shared by every run that
 * mutates the environment, so signals other runs' workflows send it carry their payloads, not this run's.
 */
async function exportHistory(
  client: Client,
  workflowId: string,
  runId: string,
  codec: AesGcmCodec | undefined,
  own: readonly string[] = [],
): Promise<ExportedHistory> {
  const cli = await temporalCli(
    'workflow',
    'show',
    '--namespace',
    client.options.namespace,
    '--workflow-id',
    workflowId,
    '--run-id',
    runId,
    '--output',
    'json',
  );
  const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
  const signalFrom = (path: string): string | undefined => {
    const index = /^\.events\.(\d+)\.workflowExecutionSignaledEventAttributes\./.exec(path)?.[1];
    return index === undefined
      ? undefined
      : (history.events?.[Number(index)]?.workflowExecutionSignaledEventAttributes?.externalWorkflowExecution
          ?.workflowId ?? undefined);
  };
  const found = payloadsIn(history);
  let encrypted = 0;
  let plainUserPayloads = 0;
  const views: string[] = [];
  for (const { path, payload } of found) {
    const encoding = utf8(payload.metadata?.['encoding']);
    const sender = signalFrom(path);
    const foreign = sender !== undefined && !own.includes(sender);
    if (encoding === ENCRYPTED_ENCODING) encrypted++;
    else if (
      !foreign &&
      !/searchAttributes|indexedFields|markerRecordedEventAttributes\.details\.patch-data/.test(path)
    )
      plainUserPayloads++;
    const [decoded] = codec && encoding === ENCRYPTED_ENCODING ? await codec.decode([payload]) : [payload];
    const metadata = Object.fromEntries(Object.entries(decoded?.metadata ?? {}).map(([k, v]) => [k, utf8(v)]));
    views.push(`${path} ${JSON.stringify(metadata)} ${utf8(decoded?.data)}`);
  }
  return {
    id: `${workflowId}/${runId}`,
    cli,
    fetched: toJsonText(history),
    payloads: views.join('\n'),
    encrypted,
    plainUserPayloads,
  };
}

/** The failure of a failed workflow as text: every level's message, type, details, stack and raw failure. */
function failureText(error: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = error, depth = 0; e && depth < 10; depth++) {
    const f = e as {
      message?: string;
      stack?: string;
      type?: string;
      details?: unknown;
      failure?: unknown;
      cause?: unknown;
    };
    parts.push(
      toJsonText({ message: f.message, type: f.type, details: f.details, stack: f.stack, failure: f.failure }),
    );
    e = f.cause;
  }
  return parts.join('\n');
}

/** The typed failures (`ApplicationFailure.type`) and messages along a failure's cause chain. */
function failureChain(error: unknown): { type?: string; message: string }[] {
  const chain: { type?: string; message: string }[] = [];
  for (let e: unknown = error; e; e = (e as { cause?: unknown }).cause) {
    const f = e as { type?: string; message?: string };
    chain.push({ ...(f.type ? { type: f.type } : {}), message: f.message ?? '' });
  }
  return chain;
}

describe(
  'secret hygiene: no secret in any workflow history, worker log or Git, with and without the codec (controller statuses written by stand-ins)',
  { concurrency: false, timeout: 1_800_000 },
  () => {
    let connection: Connection;
    let client: Client;
    let recorder: AwsRecorder;
    let sm: SecretsManagerClient;
    let iam: IAMClient;
    const kube = createKubeClusters(sandbox.kubeconfig);
    const children: ChildProcess[] = [];
    const runs: RunRecord[] = [];
    const lokiMarker = markerSecret('lokihyg');
    const storeMarker = markerSecret('storehyg');
    const codecSpec = generateCodecKey(`hygiene-${PID}`);
    const codecKey = parseCodecKeys(codecSpec)[0];
    let codec: AesGcmCodec;
    /** The dev Loki secret as it was before the latest seeding (put back at the end). */
    let originalLokiSecret: string | undefined;
    /** Every dev Loki secret value the seeding replaced. */
    const replacedLokiSecrets: string[] = [];
    let secrets: KnownSecret[] = [];
    const histories: { run: RunRecord; history: ExportedHistory }[] = [];
    /** JSON of the dev store credential and Loki Secrets, read right after each bootstrap and rollout of the runs. */
    const clusterSnapshots: string[] = [];

    /** The worker's AWS and store-credential settings: AWS through the recorder, the store key a marker. */
    /** A client without codec (histories as stored) in `namespace`. */
    const clientIn = (namespace: string): Client =>
      namespace === 'default' ? client : new Client({ connection, namespace });

    const workerEnv = (): Record<string, string> => ({
      AWS_ENDPOINT_URL: recorder.endpoint,
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_REGION: REGION,
      LOGSTACK_STORE_ACCESS_KEY_ID: 'test',
      LOGSTACK_STORE_SECRET_ACCESS_KEY: storeMarker,
    });

    async function stopWorker(
      worker: WorkerProcess,
      taskQueue: string,
      environments: readonly string[],
      inNamespace: Client = client,
    ): Promise<void> {
      await endLocksOnTaskQueue(inNamespace, environments, taskQueue, 'secret hygiene test');
      if (worker.child.exitCode === null && worker.child.signalCode === null) {
        worker.child.kill('SIGTERM');
        await worker.exited;
      }
    }

    /**
     * Makes the stored Loki access key secret of dev a marker. The key id stays the user's active key, so
     * bootstrap keeps the stored value (it rotates only a key that is no longer active) and ESO syncs it.
     */
    async function seedLokiMarker(options: { ifPresent?: boolean } = {}): Promise<void> {
      const current = await sm
        .send(new GetSecretValueCommand({ SecretId: LOKI_SECRET_DEV }))
        .catch((error: unknown) => {
          // Another run may have deleted it (the drift tests do): the bootstrap that follows creates it again.
          if (options.ifPresent && (error as { name?: string }).name === 'ResourceNotFoundException') return undefined;
          throw error;
        });
      if (!current) return;
      // Seeded already (and not rotated since by another run's bootstrap): nothing to do.
      if (current.SecretString?.includes(lokiMarker)) return;
      originalLokiSecret = current.SecretString;
      if (originalLokiSecret) replacedLokiSecrets.push(originalLokiSecret);
      const doc = JSON.parse(current.SecretString ?? '{}') as Record<string, string>;
      assert.ok(doc['access_key_id'], 'the dev Loki secret holds an access key id (static mode, bootstrapped)');
      await sm.send(
        new PutSecretValueCommand({
          SecretId: LOKI_SECRET_DEV,
          SecretString: JSON.stringify({ ...doc, access_key_secret: lokiMarker }),
        }),
      );
    }

    /** Runs every workflow type through a worker process on a task queue of its own. */
    async function runAll(mode: RunRecord['mode']): Promise<RunRecord> {
      const taskQueue = `hygiene-${mode}-${PID}`;
      const namespace = mode === 'codec' ? CODEC_NAMESPACE : 'default';
      const worker = startWorkerProcess({
        taskQueue,
        env: {
          ...workerEnv(),
          ...(mode === 'codec' ? { LOGSTACK_CODEC_KEYS: codecSpec, TEMPORAL_NAMESPACE: namespace } : {}),
        },
      });
      children.push(worker.child);
      const runClient =
        mode === 'codec' ? new Client({ connection, namespace, dataConverter: { payloadCodecs: [codec] } }) : client;
      const rawClient = clientIn(namespace);
      const ids: string[] = [];
      const execute = async <R>(type: string, name: string, input: Record<string, unknown>): Promise<R> => {
        const workflowId = `hygiene-${mode}-${name}-${PID}`;
        ids.push(workflowId);
        const handle: WorkflowHandle = await runClient.workflow.start(type, { taskQueue, workflowId, args: [input] });
        return (await handle.result()) as R;
      };
      let bootstrap: BootstrapResult;
      // What the workers and ESO left in the dev cluster, read as soon as each step is done: other runs write there too.
      const snapshot = async (): Promise<void> => {
        for (const { name, namespace } of [STORE, { name: LOKI_SECRET_NAME, namespace: LOKI_NAMESPACE }]) {
          const obj = await readObject(kube.forContext('logstack-dev'), {
            apiVersion: 'v1',
            kind: 'Secret',
            name,
            namespace,
          });
          clusterSnapshots.push(toJsonText(obj));
        }
      };
      try {
        await worker.running;
        const revision = await knownGoodRevision(sandbox, 'dev');
        // The codec run's bootstrap reads the seeded marker (seeded again if another run rotated the key since).
        if (mode === 'codec') await seedLokiMarker({ ifPresent: true });
        bootstrap = await execute<BootstrapResult>('bootstrapEnvironment', 'bootstrap-dev', {
          environment: 'dev',
          revision,
        });
        await snapshot();
        if (mode === 'plain') await seedLokiMarker();
        await execute('rolloutEnvironment', 'rollout-dev', { environment: 'dev', revision, reason: 'secret hygiene' });
        await snapshot();
        await execute('promoteEnvironment', 'promote-staging', {
          from: 'dev',
          to: 'staging',
          requestedBy: 'hygiene-test',
        });
        await execute('remediateDrift', 'drift-report', { mode: 'report' });
        await execute('migrateProduction', 'migrate-dry-run', { dryRun: true });
      } finally {
        await stopWorker(worker, taskQueue, ENVIRONMENTS, rawClient);
      }
      const record: RunRecord = {
        mode,
        namespace,
        taskQueue,
        workflowIds: ids,
        log: worker.output(),
        secretArn: bootstrap.secretArn,
      };
      runs.push(record);
      return record;
    }

    /** Every secret value that exists after the runs: recorded in AWS traffic, stored in AWS and in the clusters, the codec key, the markers. */
    async function collectSecrets(): Promise<KnownSecret[]> {
      const found: KnownSecret[] = [];
      addSecret(found, secretOf('seeded Loki access key secret marker', lokiMarker));
      addSecret(found, secretOf('seeded ESO store credential marker', storeMarker));
      assert.ok(codecKey, 'the codec key parses');
      addSecret(found, { label: 'payload codec key (raw bytes)', value: Buffer.from(codecKey.key) });
      addSecret(found, secretOf('LOGSTACK_CODEC_KEYS value', codecSpec));
      for (const s of recorder.secrets) addSecret(found, secretOf(`AWS traffic: ${s.label}`, s.value));
      for (const replaced of replacedLokiSecrets) {
        const original = JSON.parse(replaced) as Record<string, string>;
        addSecret(found, secretOf('dev Loki access key secret before seeding', original['access_key_secret'] ?? ''));
      }
      for (const env of ENVIRONMENTS) {
        const value = await sm
          .send(new GetSecretValueCommand({ SecretId: `logstack/${env}/loki-s3` }))
          .catch(() => undefined);
        const doc = JSON.parse(value?.SecretString ?? '{}') as Record<string, string>;
        for (const key of ['access_key_id', 'access_key_secret'])
          if (doc[key]) addSecret(found, secretOf(`Secrets Manager ${env} ${key}`, doc[key]));
        if (env !== 'production') {
          const keys = await iam
            .send(new ListAccessKeysCommand({ UserName: `logstack-${env}-loki` }))
            .catch(() => undefined);
          for (const k of keys?.AccessKeyMetadata ?? [])
            if (k.AccessKeyId) addSecret(found, secretOf(`IAM access key id of logstack-${env}-loki`, k.AccessKeyId));
        }
        const cluster = kube.forContext(`logstack-${env}`);
        const secretsInCluster = [
          { namespace: LOKI_NAMESPACE, name: LOKI_SECRET_NAME, keys: ['access_key_id', 'access_key_secret'] },
          { namespace: STORE.namespace, name: STORE.name, keys: [STORE.accessKeyIdKey, STORE.secretAccessKeyKey] },
        ];
        for (const s of secretsInCluster) {
          const obj = await readObject(cluster, {
            apiVersion: 'v1',
            kind: 'Secret',
            name: s.name,
            namespace: s.namespace,
          });
          const data = (obj?.['data'] as Record<string, string> | undefined) ?? {};
          for (const key of s.keys) {
            if (data[key])
              addSecret(found, {
                label: `Secret ${env}/${s.namespace}/${s.name} ${key}`,
                value: Buffer.from(data[key], 'base64'),
              });
          }
        }
      }
      return found;
    }

    before(async () => {
      connection = await Connection.connect({ address: sandbox.temporal.address });
      client = new Client({ connection });
      await endOrphanedLocks(client, ENVIRONMENTS, 'secret hygiene test');
      await ensureCodecNamespace();
      await endOrphanedLocks(clientIn(CODEC_NAMESPACE), ENVIRONMENTS, 'secret hygiene test');
      recorder = await startAwsRecorder(sandbox.aws.endpoint);
      sm = new SecretsManagerClient(AWS);
      iam = new IAMClient(AWS);
      assert.ok(codecKey);
      codec = await AesGcmCodec.create([codecKey]);
      children.push(await startStandIns());
    });

    after(async () => {
      // Give dev back the Loki secret it had, unless someone changed it since.
      if (originalLokiSecret && sm) {
        const now = await sm.send(new GetSecretValueCommand({ SecretId: LOKI_SECRET_DEV })).catch(() => undefined);
        if (now?.SecretString?.includes(lokiMarker))
          await sm.send(new PutSecretValueCommand({ SecretId: LOKI_SECRET_DEV, SecretString: originalLokiSecret }));
      }
      const alive = children.filter((c) => c.exitCode === null && c.signalCode === null);
      const exits = alive.map((c) => new Promise((r) => c.once('exit', r)));
      for (const child of alive) child.kill('SIGTERM');
      await Promise.all(exits);
      await recorder?.close();
      sm?.destroy();
      iam?.destroy();
      await connection?.close();
    });

    it('the scanner finds a planted secret in every encoding and nested encoding, and nothing in a clean sample', () => {
      const planted = markerSecret('planted');
      const secret = [secretOf('planted marker', planted)];
      const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');
      const samples: Record<string, string | Buffer> = {
        plain: `{"note":"x${planted}y"}`,
        'base64, aligned': `data: ${b64(planted)}`,
        'base64 inside a longer value (offset 1)': b64(`a${planted}`),
        'base64 inside a longer value (offset 2)': b64(`ab${planted}`),
        base64url: Buffer.from(`{"k":"${planted}"}`).toString('base64url'),
        hex: `0x${Buffer.from(planted).toString('hex')}`,
        HEX: Buffer.from(planted).toString('hex').toUpperCase(),
        'base64 of JSON holding base64 (a payload holding Secret data)': JSON.stringify({
          data: b64(JSON.stringify({ kind: 'Secret', data: { k: b64(planted) } })),
        }),
        'bytes with the value inside': Buffer.concat([
          Buffer.from([0, 255, 1]),
          Buffer.from(planted),
          Buffer.from([7]),
        ]),
      };
      for (const [what, sample] of Object.entries(samples)) {
        assert.notDeepEqual(scanFor(secret, sample, what), [], `the scanner finds the marker: ${what}`);
      }
      const clean = JSON.stringify({
        data: b64(JSON.stringify({ kind: 'Secret', data: { k: b64(markerSecret('other')) } })),
        note: planted.slice(0, 10),
      });
      assert.deepEqual(scanFor(secret, clean, 'clean sample'), [], 'no finding without the secret');
    });

    it('runs bootstrap, rollout, promotion dev → staging, drift report and migration dry run through a worker process without the codec', async (t) => {
      const started = performance.now();
      const record = await runAll('plain');
      t.diagnostic(`${record.workflowIds.length} workflows in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    });

    it('runs the same with LOGSTACK_CODEC_KEYS set on the worker and the client', async (t) => {
      const started = performance.now();
      const record = await runAll('codec');
      t.diagnostic(`${record.workflowIds.length} workflows in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    });

    it('collects the secrets that exist, and finds the seeded markers where they must be (the scanner reads real artefacts)', async (t) => {
      secrets = await collectSecrets();
      t.diagnostic(`${secrets.length} secret values: ${secrets.map((s) => s.label).join('; ')}`);
      const labels = secrets.map((s) => s.label).join('\n');
      assert.match(
        labels,
        /AWS traffic: GetSecretValue answer access_key_secret/,
        'the worker read the Loki secret through the recorder',
      );
      assert.ok(
        recorder.secrets.some((s) => s.value === lokiMarker),
        'the worker read the seeded marker from Secrets Manager',
      );
      // The marker went from Secrets Manager through ESO into the dev cluster's Loki Secret, and the store marker
      // into the store credential Secret: the scanner must see both there (base64 in the Secrets' data).
      const inCluster = (value: string) =>
        clusterSnapshots.some((json) => scanFor([secretOf('marker', value)], json, 'dev Secrets').length > 0);
      assert.ok(inCluster(lokiMarker), 'ESO synced the seeded marker into the dev Loki Secret');
      assert.ok(inCluster(storeMarker), 'the worker wrote the store marker into the dev store credential Secret');
    });

    it('no workflow history of either run holds a secret: Temporal CLI export and fetchHistory, raw, base64-decoded and (codec) decrypted', async (t) => {
      assert.ok(secrets.length > 0, 'secrets were collected');
      assert.equal(runs.length, 2, 'both runs left a record');
      const findings: SecretFinding[] = [];
      for (const run of runs) {
        const seen = new Set<string>();
        const inNamespace = clientIn(run.namespace);
        for await (const execution of inNamespace.workflow.list({ query: `TaskQueue = "${run.taskQueue}"` })) {
          const history = await exportHistory(
            inNamespace,
            execution.workflowId,
            execution.runId,
            run.mode === 'codec' ? codec : undefined,
            run.workflowIds,
          );
          histories.push({ run, history });
          seen.add(execution.workflowId);
          findings.push(
            ...scanFor(secrets, history.cli, `${run.mode}: temporal workflow show ${history.id}`),
            ...scanFor(secrets, history.fetched, `${run.mode}: fetchHistory ${history.id}`),
            ...scanFor(secrets, history.payloads, `${run.mode}: decoded payloads of ${history.id}`),
          );
        }
        for (const id of run.workflowIds) assert.ok(seen.has(id), `${run.mode}: the history of ${id} was exported`);
      }
      t.diagnostic(
        `${histories.length} histories scanned (${histories.reduce((n, h) => n + h.history.cli.length + h.history.fetched.length, 0)} characters exported) for ${secrets.length} values`,
      );
      assert.deepEqual(findings, [], `secret values in workflow histories:\n${describeFindings(findings)}`);
    });

    it('the history scans read payloads: without the codec the dev secret ARN is found in exported histories; with it only in the decrypted payloads, and every payload but search attributes and patch markers is ciphertext', () => {
      const arnOf = (run: RunRecord) => [secretOf('dev secret ARN', run.secretArn)];
      const plain = runs.find((r) => r.mode === 'plain');
      const coded = runs.find((r) => r.mode === 'codec');
      assert.ok(plain?.secretArn && coded?.secretArn, 'both bootstraps returned the secret ARN');
      const of = (run: RunRecord) => histories.filter((h) => h.run === run).map((h) => h.history);
      assert.ok(
        of(plain).some((h) => scanFor(arnOf(plain), h.cli, 'cli').length > 0),
        'plain: the ARN is readable in the Temporal CLI export',
      );
      assert.ok(
        of(plain).some((h) => scanFor(arnOf(plain), h.fetched, 'fetched').length > 0),
        'plain: the ARN is readable in fetchHistory',
      );
      for (const h of of(coded)) {
        assert.deepEqual(scanFor(arnOf(coded), h.cli, 'cli'), [], `codec: ${h.id} shows no ARN in the CLI export`);
        assert.deepEqual(
          scanFor(arnOf(coded), h.fetched, 'fetched'),
          [],
          `codec: ${h.id} shows no ARN in fetchHistory`,
        );
        assert.equal(
          h.plainUserPayloads,
          0,
          `codec: every payload of ${h.id} but search attributes and patch markers is encrypted`,
        );
      }
      assert.ok(
        of(coded).some((h) => scanFor(arnOf(coded), h.payloads, 'decoded').length > 0),
        'codec: the ARN is in the decrypted payloads',
      );
      assert.ok(of(coded).reduce((n, h) => n + h.encrypted, 0) > 0, 'codec: payloads are encrypted');
    });

    it('no worker log of either run holds a secret', () => {
      const findings: SecretFinding[] = [];
      for (const run of runs) {
        assert.match(run.log, /"state":"RUNNING"/, `${run.mode}: the worker log was captured`);
        assert.match(
          run.log,
          new RegExp(`"payloadCodec":"${run.mode === 'codec' ? 'aes-256-gcm' : 'none'}"`),
          `${run.mode}: the worker ran with the intended codec setting`,
        );
        findings.push(...scanFor(secrets, run.log, `${run.mode}: worker log`));
      }
      assert.deepEqual(findings, [], `secret values in worker logs:\n${describeFindings(findings)}`);
    });

    it('no commit, diff or object of the GitOps remote holds a secret', async (t) => {
      const gitDir = sandbox.git.remote;
      const { stdout: log } = await execFileAsync(
        'git',
        ['--git-dir', gitDir, 'log', '--all', '-p', '--format=%H %an %s%n%b'],
        { maxBuffer: 512 * 1024 * 1024 },
      );
      const objects = await new Promise<Buffer>((resolve, reject) => {
        const child = execFile(
          'git',
          ['--git-dir', gitDir, 'cat-file', '--batch-all-objects', '--batch'],
          { encoding: 'buffer', maxBuffer: 512 * 1024 * 1024 },
          (error, stdout) => {
            if (error) reject(new Error(`git cat-file: ${error.message}`));
            else resolve(stdout);
          },
        );
        child.stdin?.end();
      });
      // The dump is read: the catalog's dev bucket name is in it.
      assert.notDeepEqual(
        scanFor([secretOf('bucket', 'logstack-dev-loki')], objects, 'git objects', 0),
        [],
        'the object dump holds the GitOps tree',
      );
      t.diagnostic(`git log -p --all: ${log.length} characters; all objects: ${objects.length} bytes`);
      const findings = [
        ...scanFor(secrets, log, 'git log -p --all'),
        ...scanFor(secrets, objects, 'git cat-file --batch-all-objects'),
      ];
      assert.deepEqual(findings, [], `secret values in the GitOps remote:\n${describeFindings(findings)}`);
    });

    describe('activities that fail while they hold secret material leak it nowhere', { concurrency: false }, () => {
      const run = `hyg${PID}`;
      const refusedEnv = `${run}-sm`;
      const writeEnv = `${run}-k8s`;
      const taskQueue = `hygiene-failures-${PID}`;
      const account = `logstack-hygiene-${PID}`;
      const label = 'logstack.io/hygiene-test';
      const failureStoreMarker = markerSecret('storefail');
      let dir = '';
      let worker: WorkerProcess | undefined;
      const failures = new Map<string, unknown>();

      const kubectl = async (args: string[], input?: string): Promise<string> => {
        const child = execFileAsync(sandbox.kubectl, [
          '--kubeconfig',
          sandbox.kubeconfig,
          '--context',
          'logstack-dev',
          ...args,
        ]);
        if (input !== undefined) child.child.stdin?.end(input);
        return (await child).stdout;
      };

      /** A catalog entry like dev's, for an environment of this test only (its own bucket, secret and IAM user). */
      const entry = (name: string) => ({
        name,
        cluster: { context: 'logstack-dev' },
        aws: {
          region: REGION,
          bucket: `logstack-${name}-loki`,
          secretName: `logstack/${name}/loki-s3`,
          credentialMode: 'static',
        },
        overlay: 'gitops/overlays/dev',
        delivery: 'direct',
        loki: { size: '1x.demo' },
        gates: ['external-secrets-synced'],
        retentionDays: 7,
      });

      before(async () => {
        dir = mkdtempSync(join(tmpdir(), 'logstack-hygiene-'));
        const catalog = parse(readFileSync(sandbox.catalog, 'utf8')) as { environments: unknown[] };
        catalog.environments.push(entry(refusedEnv), entry(writeEnv));
        const catalogPath = join(dir, 'environments.yaml');
        writeFileSync(catalogPath, stringify(catalog));

        // An identity that may read what these bootstraps read in dev but write nothing there.
        const meta = (kind: string, namespace?: string) => ({
          kind,
          apiVersion: kind === 'ServiceAccount' ? 'v1' : 'rbac.authorization.k8s.io/v1',
          metadata: { name: account, labels: { [label]: run }, ...(namespace ? { namespace } : {}) },
        });
        const subject = [{ kind: 'ServiceAccount', name: account, namespace: 'default' }];
        const objects = [
          meta('ServiceAccount', 'default'),
          {
            ...meta('Role', 'logstack-system'),
            rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get'] }],
          },
          {
            ...meta('RoleBinding', 'logstack-system'),
            roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: account },
            subjects: subject,
          },
          {
            ...meta('Role', STORE.namespace),
            rules: [{ apiGroups: [''], resources: ['secrets'], resourceNames: [STORE.name], verbs: ['get'] }],
          },
          {
            ...meta('RoleBinding', STORE.namespace),
            roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: account },
            subjects: subject,
          },
          { ...meta('ClusterRole'), rules: [{ apiGroups: [''], resources: ['namespaces'], verbs: ['get'] }] },
          {
            ...meta('ClusterRoleBinding'),
            roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: account },
            subjects: subject,
          },
        ];
        await kubectl(
          ['apply', '--server-side', '--field-manager=logstack-hygiene-test', '-f', '-'],
          objects.map((o) => stringify(o)).join('---\n'),
        );
        const token = (await kubectl(['create', 'token', account, '-n', 'default', '--duration=1h'])).trim();
        const admin = parse(readFileSync(sandbox.kubeconfig, 'utf8')) as { clusters: { name: string }[] };
        const kubeconfig = join(dir, 'kubeconfig');
        writeFileSync(
          kubeconfig,
          stringify({
            apiVersion: 'v1',
            kind: 'Config',
            clusters: admin.clusters.filter((c) => c.name === 'logstack-dev'),
            users: [{ name: account, user: { token } }],
            contexts: [{ name: 'logstack-dev', context: { cluster: 'logstack-dev', user: account } }],
            'current-context': 'logstack-dev',
          }),
          { mode: 0o600 },
        );

        recorder.refuse((call) =>
          call.target === 'secretsmanager.CreateSecret' && call.body.includes(`logstack/${refusedEnv}/`)
            ? `User: arn:aws:iam::123456789012:user/test is not authorized to perform: secretsmanager:CreateSecret on resource: logstack/${refusedEnv}/loki-s3 because no identity-based policy allows the secretsmanager:CreateSecret action`
            : undefined,
        );
        worker = startWorkerProcess({
          taskQueue,
          env: {
            ...workerEnv(),
            LOGSTACK_STORE_SECRET_ACCESS_KEY: failureStoreMarker,
            LOGSTACK_CATALOG: catalogPath,
            KUBECONFIG: kubeconfig,
          },
        });
        children.push(worker.child);
        await worker.running;
        const revision = await knownGoodRevision(sandbox, 'dev');
        for (const env of [refusedEnv, writeEnv]) {
          const handle = await client.workflow.start('bootstrapEnvironment', {
            taskQueue,
            workflowId: `hygiene-failure-${env}`,
            args: [{ environment: env, revision }],
          });
          failures.set(
            env,
            await handle.result().then(
              () => undefined,
              (error: unknown) => error,
            ),
          );
        }
      });

      after(async () => {
        recorder?.refuse(undefined);
        if (worker) await stopWorker(worker, taskQueue, [refusedEnv, writeEnv]);
        await kubectl([
          'delete',
          'clusterrolebinding,clusterrole',
          '-l',
          `${label}=${run}`,
          '--ignore-not-found',
        ]).catch(() => '');
        await kubectl([
          'delete',
          'rolebinding,role,serviceaccount',
          '--all-namespaces',
          '-l',
          `${label}=${run}`,
          '--ignore-not-found',
        ]).catch(() => '');
        // The AWS resources of the two test environments.
        const s3 = new S3Client({ ...AWS, forcePathStyle: true });
        for (const env of [refusedEnv, writeEnv]) {
          const user = `logstack-${env}-loki`;
          for (const key of (await iam.send(new ListAccessKeysCommand({ UserName: user })).catch(() => undefined))
            ?.AccessKeyMetadata ?? []) {
            await iam
              .send(new DeleteAccessKeyCommand({ UserName: user, AccessKeyId: key.AccessKeyId }))
              .catch(() => undefined);
          }
          for (const policy of (await iam.send(new ListUserPoliciesCommand({ UserName: user })).catch(() => undefined))
            ?.PolicyNames ?? []) {
            await iam.send(new DeleteUserPolicyCommand({ UserName: user, PolicyName: policy })).catch(() => undefined);
          }
          await iam.send(new DeleteUserCommand({ UserName: user })).catch(() => undefined);
          await sm
            .send(new DeleteSecretCommand({ SecretId: `logstack/${env}/loki-s3`, ForceDeleteWithoutRecovery: true }))
            .catch(() => undefined);
          await s3.send(new DeleteBucketCommand({ Bucket: `logstack-${env}-loki` })).catch(() => undefined);
        }
        s3.destroy();
        if (dir) rmSync(dir, { recursive: true, force: true });
      });

      it('Secrets Manager refuses to store a freshly created access key: the bootstrap fails AccessDenied naming the call', () => {
        const error = failures.get(refusedEnv);
        assert.ok(error instanceof WorkflowFailedError, `the bootstrap of ${refusedEnv} failed: ${String(error)}`);
        const chain = failureChain(error);
        assert.ok(
          chain.some((f) => f.type === 'AccessDenied' && /secretsmanager:CreateSecret/.test(f.message)),
          JSON.stringify(chain.map((f) => f.type)),
        );
        const refused = recorder.refused.filter((r) => r.call === 'secretsmanager.CreateSecret');
        assert.equal(refused.length, 1, 'exactly the one CreateSecret call was refused');
        assert.equal(
          refused[0]?.carriedSecret,
          true,
          'the refused request carried the access key IAM had just created: the activity held secret material when it failed',
        );
      });

      it('the API server refuses the write of the store credential Secret: the bootstrap fails AccessDenied naming the Secret', () => {
        const error = failures.get(writeEnv);
        assert.ok(error instanceof WorkflowFailedError, `the bootstrap of ${writeEnv} failed: ${String(error)}`);
        const chain = failureChain(error);
        assert.ok(
          chain.some(
            (f) =>
              f.type === 'AccessDenied' &&
              f.message.includes(`Secret/${STORE.namespace}/${STORE.name}`) &&
              /cannot patch/.test(f.message),
          ),
          JSON.stringify(chain.map((f) => f.type)),
        );
      });

      it('no failure message, detail, stack or cause — in the client error, the exported histories or the worker log — holds a secret', async (t) => {
        const all: KnownSecret[] = [...secrets];
        addSecret(all, secretOf('store credential marker of the failing runs', failureStoreMarker));
        for (const s of recorder.secrets) addSecret(all, secretOf(`AWS traffic: ${s.label}`, s.value));
        const created = recorder.secrets.filter((s) => s.label === 'CreateAccessKey SecretAccessKey').length;
        assert.ok(created >= 2, `the failing bootstraps created access keys (${created} seen)`);
        const findings: SecretFinding[] = [];
        for (const [env, error] of failures)
          findings.push(...scanFor(all, failureText(error), `client error of ${env}`));
        let exported = 0;
        for await (const execution of client.workflow.list({ query: `TaskQueue = "${taskQueue}"` })) {
          const history = await exportHistory(client, execution.workflowId, execution.runId, undefined);
          exported++;
          findings.push(
            ...scanFor(all, history.cli, `temporal workflow show ${history.id}`),
            ...scanFor(all, history.fetched, `fetchHistory ${history.id}`),
            ...scanFor(all, history.payloads, `payloads of ${history.id}`),
          );
        }
        assert.ok(exported >= 2, `the failed bootstraps' histories were exported (${exported})`);
        assert.ok(worker, 'the failing worker ran');
        const log = worker.output();
        assert.match(log, /Activity failed/, 'the worker logged the failed activities');
        findings.push(...scanFor(all, log, 'worker log of the failing runs'));
        t.diagnostic(`${exported} histories, ${log.length} log characters, ${all.length} values`);
        assert.deepEqual(findings, [], `secret values around failed activities:\n${describeFindings(findings)}`);
      });
    });
  },
);
