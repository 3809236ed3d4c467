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
 * that is still active, so the marker flows Secrets Manager → worker → ESO → Kubernetes Secret). The ESO
 * store credential is dev's reader key, which the bootstrap's `ensureStoreCredential` creates (or keeps):
 * its secret access key is read back from dev's store credential Secret after each bootstrap (in memory,
 * never printed) and is one of the values searched for — a key kept from an earlier run never crosses the
 * recorder, so this read is what makes the store credential part of the scan. With the Loki and store
 * Secrets ESO and the worker wrote into the clusters, the IAM key ids and the codec key, each value is searched for — plain, base64 at every
 * alignment, base64url, hex — in every workflow history of both runs (exported by the Temporal CLI and by
 * the client's fetchHistory: raw JSON, base64-decoded payloads, and for the codec run the ciphertext and the
 * decrypted payloads), in the worker's JSON logs, and in every commit and object of the GitOps remote.
 *
 * The two runs are the expensive part (bootstraps, a rollout, a promotion), so every scan of what they left
 * behind is in this file. The scanner itself is proven in secret-hygiene-scanner.test.ts; activities that
 * fail while they hold secret material, in secret-hygiene-failures.test.ts.
 *
 * Statuses of OLM, the Loki Operator and the Cluster Logging Operator are written by the sandbox stand-ins.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Client, type Connection, type WorkflowHandle } from '@temporalio/client';
import {
  GetSecretValueCommand,
  PutSecretValueCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { ListAccessKeysCommand } from '@aws-sdk/client-iam';
import type { KubeClusters } from '../../activities/kubernetes/cluster.ts';
import { readObject } from '../../activities/kubernetes/apply.ts';
import { AesGcmCodec, generateCodecKey, parseCodecKeys } from '../../codec/codec.ts';
import { SearchAttributeNames, type BootstrapResult } from '../../domain/index.ts';
import { startWorkerProcess } from '../support/processes.ts';
import { endOrphanedLocks, knownGoodRevision } from '../worker/sandbox-runs.ts';
import {
  ENVIRONMENTS,
  LOKI_NAMESPACE,
  LOKI_SECRET_DEV,
  LOKI_SECRET_NAME,
  PID,
  STORE,
  exportHistory,
  sandbox,
  startHygiene,
  temporalCli,
  type ExportedHistory,
  type Hygiene,
} from './secret-hygiene-context.ts';
import { addSecret, describeFindings, markerSecret, scanFor, secretOf, toJsonText } from './secret-scan.ts';
import type { AwsRecorder, KnownSecret, SecretFinding } from './secret-scan.ts';

const execFileAsync = promisify(execFile);

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

/**
 * The namespace of the codec run. Lock workflows (`lock-<env>`) are shared by every run that mutates an
 * environment in a namespace: in the default namespace, where other runs without the codec ask for the same
 * locks, a lock served by the codec worker would answer them with payloads they cannot decode (and theirs
 * would receive ours), so the codec run keeps to a namespace of its own, as a codec-enabled fleet would.
 */
const CODEC_NAMESPACE = 'logstack-hygiene-codec';

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

describe(
  'secret hygiene: no secret in any workflow history, worker log or Git, with and without the codec (controller statuses written by stand-ins)',
  { concurrency: false, timeout: 1_800_000 },
  () => {
    let hyg: Hygiene;
    let connection: Connection;
    let client: Client;
    let recorder: AwsRecorder;
    let sm: SecretsManagerClient;
    let kube: KubeClusters;
    const runs: RunRecord[] = [];
    const lokiMarker = markerSecret('lokihyg');
    /** Dev's store credential (the reader's key) as read back after each bootstrap: in memory only, never printed. */
    const storeKeys: { accessKeyId: string; secretAccessKey: string }[] = [];
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

    /** A client without codec (histories as stored) in `namespace`. */
    const clientIn = (namespace: string): Client =>
      namespace === 'default' ? client : new Client({ connection, namespace });

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
          ...hyg.workerEnv(),
          ...(mode === 'codec' ? { LOGSTACK_CODEC_KEYS: codecSpec, TEMPORAL_NAMESPACE: namespace } : {}),
        },
      });
      hyg.children.push(worker.child);
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
        const storeKey = await hyg.storeCredential('dev');
        assert.ok(storeKey, `${mode}: the bootstrap left dev a store credential`);
        storeKeys.push(storeKey);
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
        await hyg.stopWorker(worker, taskQueue, ENVIRONMENTS, rawClient);
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

    /** Every secret value that exists after the runs: the markers, the codec key, recorded in AWS traffic, stored in AWS and in the clusters. */
    async function collectSecrets(): Promise<KnownSecret[]> {
      const found: KnownSecret[] = [];
      addSecret(found, secretOf('seeded Loki access key secret marker', lokiMarker));
      for (const key of storeKeys)
        addSecret(found, secretOf("dev store credential: the reader's secret access key", key.secretAccessKey));
      assert.ok(codecKey, 'the codec key parses');
      addSecret(found, { label: 'payload codec key (raw bytes)', value: Buffer.from(codecKey.key) });
      addSecret(found, secretOf('LOGSTACK_CODEC_KEYS value', codecSpec));
      for (const s of recorder.secrets) addSecret(found, secretOf(`AWS traffic: ${s.label}`, s.value));
      for (const replaced of replacedLokiSecrets) {
        const original = JSON.parse(replaced) as Record<string, string>;
        addSecret(found, secretOf('dev Loki access key secret before seeding', original['access_key_secret'] ?? ''));
      }
      await hyg.storedSecrets(found);
      return found;
    }

    before(async () => {
      hyg = await startHygiene();
      ({ connection, client, recorder, sm, kube } = hyg);
      await ensureCodecNamespace();
      await endOrphanedLocks(clientIn(CODEC_NAMESPACE), ENVIRONMENTS, 'secret hygiene test');
      assert.ok(codecKey);
      codec = await AesGcmCodec.create([codecKey], { namespace: CODEC_NAMESPACE });
    });

    after(async () => {
      // Give dev back the Loki secret it had, unless someone changed it since.
      if (originalLokiSecret && sm) {
        const now = await sm.send(new GetSecretValueCommand({ SecretId: LOKI_SECRET_DEV })).catch(() => undefined);
        if (now?.SecretString?.includes(lokiMarker))
          await sm.send(new PutSecretValueCommand({ SecretId: LOKI_SECRET_DEV, SecretString: originalLokiSecret }));
      }
      await hyg?.close();
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
      // The marker went from Secrets Manager through ESO into the dev cluster's Loki Secret, and the reader's key
      // into the store credential Secret: the scanner must see both there (base64 in the Secrets' data).
      const inCluster = (value: string) =>
        clusterSnapshots.some((json) => scanFor([secretOf('marker', value)], json, 'dev Secrets').length > 0);
      assert.ok(inCluster(lokiMarker), 'ESO synced the seeded marker into the dev Loki Secret');
      // The store credential is dev's reader key, not the worker's: its id is an Active key of the reader.
      assert.equal(storeKeys.length, 2, 'the store credential was read after both bootstraps');
      const readerKeys = await hyg.iam.send(new ListAccessKeysCommand({ UserName: 'logstack-dev-secrets-reader' }));
      const active = (readerKeys.AccessKeyMetadata ?? [])
        .filter((k) => k.Status === 'Active')
        .map((k) => k.AccessKeyId);
      for (const [i, key] of storeKeys.entries()) {
        assert.notEqual(key.accessKeyId, 'test', `bootstrap ${i + 1}: the store credential is not the worker's key`);
        assert.ok(
          inCluster(key.secretAccessKey),
          `bootstrap ${i + 1}: the scanner finds the reader's secret in the dev store credential Secret`,
        );
        assert.ok(
          secrets.some((s) => s.value.equals(Buffer.from(key.secretAccessKey))),
          `bootstrap ${i + 1}: the reader's secret is among the scanned values`,
        );
      }
      const latest = storeKeys.at(-1);
      assert.ok(
        latest !== undefined && active.includes(latest.accessKeyId),
        'the latest store credential is an Active key of logstack-dev-secrets-reader (key ids not printed)',
      );
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

    it("the history scans read payloads: without the codec the dev secret ARN is found in exported histories; with it only in the decrypted payloads, and every payload but search attributes and the SDK core's own marker data (patches, local activities) is ciphertext", () => {
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
          `codec: every payload of ${h.id} but search attributes and the SDK's own marker data is encrypted`,
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
  },
);
