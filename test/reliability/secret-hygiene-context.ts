/**
 * What the secret-hygiene tests share: the sandbox's names, exporting a workflow history both ways (Temporal
 * CLI and fetchHistory, payloads decoded), and the set-up every such file runs on — a Temporal client, the
 * recording AWS endpoint in front of moto (test/reliability/secret-scan.ts), AWS clients, the controller
 * stand-ins — with the worker settings, the worker stop and the collection of the secret values stored in AWS
 * and in the clusters.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import { IAMClient, ListAccessKeysCommand } from '@aws-sdk/client-iam';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { readObject } from '../../activities/kubernetes/apply.ts';
import { createKubeClusters, type KubeClusters } from '../../activities/kubernetes/cluster.ts';
import { type AesGcmCodec, ENCRYPTED_ENCODING } from '../../codec/codec.ts';
import { GITOPS_NAMES } from '../../domain/gitops.ts';
import { requireSandbox } from '../../sandbox/status.ts';
import { startStandIns, type WorkerProcess } from '../support/processes.ts';
import { endLocksOnTaskQueue, endOrphanedLocks } from '../worker/sandbox-runs.ts';
import {
  addSecret,
  secretOf,
  startAwsRecorder,
  toJsonText,
  type AwsRecorder,
  type KnownSecret,
} from './secret-scan.ts';

const execFileAsync = promisify(execFile);

/** The running sandbox. */
export const sandbox = requireSandbox();
/** This process: names of this file's workflows, task queues and markers carry it. */
export const PID = process.pid;
/** The sandbox's AWS region. */
export const REGION = 'us-east-1';
/** AWS client settings for moto itself (the test's own calls, not recorded). */
export const AWS = {
  endpoint: sandbox.aws.endpoint,
  region: REGION,
  credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
};
/** The sandbox's environments. */
export const ENVIRONMENTS = sandbox.clusters.map((c) => c.name);
/** The dev Loki secret in Secrets Manager. */
export const LOKI_SECRET_DEV = 'logstack/dev/loki-s3';
/** The Loki object-storage Secret (and its ExternalSecret) in the clusters. */
export const LOKI_SECRET_NAME = GITOPS_NAMES.lokiExternalSecret;
/** Where that Secret lives. */
export const LOKI_NAMESPACE = 'openshift-logging';
/** The ESO store credential Secret the worker writes (static mode). */
export const STORE = GITOPS_NAMES.storeCredential;

/** A history exported both ways, plus the decrypted view of its payloads. */
export interface ExportedHistory {
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

/** Runs the sandbox's Temporal CLI against its server; returns stdout. */
export async function temporalCli(...argv: string[]): Promise<string> {
  const { stdout } = await execFileAsync(sandbox.temporal.cli, [...argv, '--address', sandbox.temporal.address], {
    maxBuffer: 256 * 1024 * 1024,
  });
  return stdout;
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
export async function exportHistory(
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
  /**
   * The details' `data` of a local activity's marker: what the SDK's core writes itself (sequence number, attempt,
   * activity ID and type, times), plain like a patch marker's; the activity's result beside it goes through the codec.
   */
  const localActivityData = (path: string): boolean => {
    const index = /^\.events\.(\d+)\.markerRecordedEventAttributes\.details\.data\./.exec(path)?.[1];
    return index !== undefined && history.events?.[Number(index)]?.markerRecordedEventAttributes?.markerName === 'core_local_activity';
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
      !localActivityData(path) &&
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

/** The running set-up of one secret-hygiene test file; `close()` stops what it started. */
export interface Hygiene {
  readonly connection: Connection;
  /** A client of the default namespace, without codec (histories as stored). */
  readonly client: Client;
  /** The recording AWS endpoint the workers reach AWS through. */
  readonly recorder: AwsRecorder;
  readonly sm: SecretsManagerClient;
  readonly iam: IAMClient;
  readonly kube: KubeClusters;
  /** Processes stopped by `close()`: the stand-ins, and every worker the file starts. */
  readonly children: ChildProcess[];
  /**
   * The worker's AWS settings: AWS through the recorder. There is no store-credential setting any more: the
   * store credential is the environment's reader key, which `ensureStoreCredential` creates.
   */
  workerEnv(): Record<string, string>;
  /**
   * The store credential ESO uses on `env`'s cluster, read back from its Secret (the reader's key in static
   * mode). In memory only: callers add it to the scanned secrets and never print it.
   */
  storeCredential(env: string): Promise<{ accessKeyId: string; secretAccessKey: string } | undefined>;
  /** Ends the locks the worker served, then stops it. */
  stopWorker(
    worker: WorkerProcess,
    taskQueue: string,
    environments: readonly string[],
    inNamespace?: Client,
  ): Promise<void>;
  /**
   * Adds every secret value stored now for the sandbox's environments: the Loki secrets in Secrets Manager, the
   * IAM access key ids of the Loki users and of the ESO readers, the Loki and store Secrets in the clusters.
   */
  storedSecrets(found: KnownSecret[]): Promise<void>;
  close(): Promise<void>;
}

/** Connects to Temporal, ends orphaned locks of the sandbox's environments, starts the recorder and the stand-ins. */
export async function startHygiene(): Promise<Hygiene> {
  const connection = await Connection.connect({ address: sandbox.temporal.address });
  const client = new Client({ connection });
  await endOrphanedLocks(client, ENVIRONMENTS, 'secret hygiene test');
  const recorder = await startAwsRecorder(sandbox.aws.endpoint);
  const sm = new SecretsManagerClient(AWS);
  const iam = new IAMClient(AWS);
  const kube = createKubeClusters(sandbox.kubeconfig);
  const children: ChildProcess[] = [];
  const hygiene: Hygiene = {
    connection,
    client,
    recorder,
    sm,
    iam,
    kube,
    children,
    workerEnv: () => ({
      AWS_ENDPOINT_URL: recorder.endpoint,
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_REGION: REGION,
    }),
    async storeCredential(env) {
      const obj = await readObject(kube.forContext(`logstack-${env}`), {
        apiVersion: 'v1',
        kind: 'Secret',
        name: STORE.name,
        namespace: STORE.namespace,
      });
      const data = (obj?.['data'] as Record<string, string> | undefined) ?? {};
      const field = (key: string): string => Buffer.from(data[key] ?? '', 'base64').toString('utf8');
      const accessKeyId = field(STORE.accessKeyIdKey);
      const secretAccessKey = field(STORE.secretAccessKeyKey);
      return accessKeyId && secretAccessKey ? { accessKeyId, secretAccessKey } : undefined;
    },
    async stopWorker(worker, taskQueue, environments, inNamespace = client) {
      await endLocksOnTaskQueue(inNamespace, environments, taskQueue, 'secret hygiene test');
      if (worker.child.exitCode === null && worker.child.signalCode === null) {
        worker.child.kill('SIGTERM');
        await worker.exited;
      }
    },
    async storedSecrets(found) {
      for (const env of ENVIRONMENTS) {
        const value = await sm
          .send(new GetSecretValueCommand({ SecretId: `logstack/${env}/loki-s3` }))
          .catch(() => undefined);
        const doc = JSON.parse(value?.SecretString ?? '{}') as Record<string, string>;
        for (const key of ['access_key_id', 'access_key_secret'])
          if (doc[key]) addSecret(found, secretOf(`Secrets Manager ${env} ${key}`, doc[key]));
        const users = env === 'production' ? [] : [`logstack-${env}-loki`, `logstack-${env}-secrets-reader`];
        for (const user of users) {
          const keys = await iam.send(new ListAccessKeysCommand({ UserName: user })).catch(() => undefined);
          for (const k of keys?.AccessKeyMetadata ?? [])
            if (k.AccessKeyId) addSecret(found, secretOf(`IAM access key id of ${user}`, k.AccessKeyId));
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
    },
    async close() {
      const alive = children.filter((c) => c.exitCode === null && c.signalCode === null);
      const exits = alive.map((c) => new Promise((r) => c.once('exit', r)));
      for (const child of alive) child.kill('SIGTERM');
      await Promise.all(exits);
      await recorder.close();
      sm.destroy();
      iam.destroy();
      await connection.close();
    },
  };
  try {
    children.push(await startStandIns());
  } catch (error) {
    await hygiene.close();
    throw error;
  }
  return hygiene;
}
