/**
 * End to end on the sandbox (the dev cluster, moto, the Git remote, Temporal): a real worker of this
 * checkout on a task queue of its own, reading a copy of the sandbox catalog whose dev environment names an
 * S3 evidence location unique to this run, rolls out dev at the revision it already runs (a no-op delivery,
 * its gates checked again); the evidence is in S3, `logstack evidence <id>` fetches exactly those bytes,
 * `logstack evidence verify` accepts them offline against a clone of the remote, and refuses a flipped byte.
 * Run through `sandbox exec` (it publishes LOGSTACK_EVIDENCE_KEY and LOGSTACK_EVIDENCE_PUBLIC_KEY).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import * as k8s from '@kubernetes/client-node';
import { parseDocument } from 'yaml';
import { runCli } from '../../client/cli.ts';
import type { CliIo } from '../../client/context.ts';
import { loadWorkerConfig } from '../../config/index.ts';
import { workflowIds } from '../../domain/index.ts';
import { requireSandbox } from '../../sandbox/status.ts';
import { workerOptions } from '../../worker/run.ts';
import { motoClients } from '../activities/aws-moto.ts';

const SUFFIX = randomBytes(4).toString('hex');
const BUCKET = `logstack-dev-evidence-${SUFFIX}`;
const dir = mkdtempSync(join(tmpdir(), 'logstack-e2e-evidence-'));

async function cli(taskQueue: string, ...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIo = { out: (t) => void (out += t), err: (t) => void (err += t), isTTY: false, env: process.env };
  const code = await runCli([...argv, '--task-queue', taskQueue], io);
  return { code, out, err };
}

describe('evidence of a dev rollout, end to end', () => {
  const sandbox = requireSandbox();
  const taskQueue = `evidence-${SUFFIX}`;
  let worker: Worker;
  let running: Promise<void>;
  let client: Client;

  before(async () => {
    const catalog = parseDocument(readFileSync(sandbox.catalog, 'utf8'));
    const environments = catalog.get('environments') as { items: { get(k: string): unknown; set(k: string, v: unknown): void }[] };
    const dev = environments.items.find((e) => e.get('name') === 'dev');
    dev?.set('evidence', { bucket: BUCKET, prefix: 'records', retentionDays: 1 });
    const catalogPath = join(dir, 'environments.yaml');
    writeFileSync(catalogPath, catalog.toString());
    const config = loadWorkerConfig({ ...process.env, LOGSTACK_TASK_QUEUE: taskQueue, LOGSTACK_CATALOG: catalogPath });
    assert.ok(config.evidenceKey, 'LOGSTACK_EVIDENCE_KEY is published by the sandbox');
    worker = await Worker.create(workerOptions(config, await NativeConnection.connect({ address: config.temporal.address })));
    running = worker.run();
    client = new Client({ connection: await Connection.connect({ address: sandbox.temporal.address }) });
  });

  after(async () => {
    const lock = client.workflow.getHandle(workflowIds.lock('dev'));
    const description = await lock.describe().catch(() => undefined);
    if (description?.status.name === 'RUNNING' && description.taskQueue === taskQueue) await lock.terminate(`end of the evidence run on ${taskQueue}`);
    worker.shutdown();
    await running;
    await client.connection.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('stores the record in S3, fetches it with `logstack evidence`, verifies it offline and refuses a flipped byte', async () => {
    // The revision dev runs (verified), so the rollout changes nothing on the cluster.
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(sandbox.kubeconfig);
    kc.setCurrentContext('logstack-dev');
    const state = await kc.makeApiClient(k8s.CoreV1Api).readNamespacedConfigMap({ name: 'logstack-state-dev', namespace: 'logstack-system' }).catch(() => undefined);
    const revision = state?.data?.['verified'] === 'true' ? (state.data['revision'] ?? 'main') : 'main';
    const workflowId = `rollout-dev-evidence-${SUFFIX}`;
    const handle = await client.workflow.start('rolloutEnvironment', { taskQueue, workflowId, args: [{ environment: 'dev', revision, reason: 'evidence end to end' }] });
    const result = (await handle.result()) as { revision: string; rolledBack: boolean };
    assert.equal(result.rolledBack, false);

    const file = join(dir, 'record.intoto.json');
    const fetched = await cli(taskQueue, 'evidence', workflowId, '--file', file);
    assert.equal(fetched.code, 0, fetched.err);
    const { runId } = await handle.describe();
    const key = `records/dev/${workflowId}/${runId}.intoto.json`;
    assert.match(fetched.out, new RegExp(`stored at s3://${BUCKET}/${key}`));
    const stored = await (await motoClients(sandbox.aws.endpoint).s3('us-east-1').send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))).Body?.transformToString('utf-8');
    assert.equal(readFileSync(file, 'utf8'), stored, 'the CLI gives exactly the bytes stored in S3');

    const clone = join(dir, 'clone');
    execFileSync('git', ['clone', '--quiet', '--bare', sandbox.git.remote, clone]);
    const publicKey = process.env['LOGSTACK_EVIDENCE_PUBLIC_KEY'] ?? '';
    const verified = await cli(taskQueue, 'evidence', 'verify', file, '--key', publicKey, '--repo', clone);
    assert.equal(verified.code, 0, verified.err);
    assert.match(verified.out, new RegExp(`rolloutEnvironment ${workflowId} \\(run ${runId}\\): dev at ${result.revision}, succeeded`));
    assert.match(verified.out, /gates: external-secrets-synced at /);

    const text = readFileSync(file, 'utf8');
    const at = Math.floor(text.length / 2);
    writeFileSync(file, `${text.slice(0, at)}${text[at] === 'A' ? 'B' : 'A'}${text.slice(at + 1)}`);
    const refused = await cli(taskQueue, 'evidence', 'verify', file, '--key', publicKey, '--repo', clone);
    assert.equal(refused.code, 1);
    assert.match(refused.err, /^evidence refused: /m);
  });
});
