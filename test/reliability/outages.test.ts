/**
 * Outages of the sandbox's real parts in the middle of a run, seen by one worker only: the real worker
 * process of this test reaches staging's kube-apiserver and moto through loopback fault proxies
 * (test/reliability/fault-proxy.ts) — its kubeconfig is a copy whose staging server is the proxy (TLS
 * passes through; the serving certificate covers 127.0.0.1), and AWS_ENDPOINT_URL is the proxy in front of
 * moto. Everyone else keeps talking to the parts directly.
 *
 * A. A rollout of staging waits in its LokiStack gate: the LokiStack's status was cleared while the rollout
 *    delivered, and the controller stand-ins are not running yet. The apiserver is made unreachable for 30 s:
 *    open connections — the gate's watch among them — are destroyed and new ones refused. While it is away
 *    the stand-ins start and write the LokiStack's status in the Loki Operator's place. After the restore
 *    the watch resumes by itself (same activity attempt), sees the status written during the outage, and the
 *    rollout completes with every rendered object present once, none re-created.
 * B. A bootstrap of dev must rotate the Loki access key (the stored key was made Inactive). The proxy lets
 *    `iam:CreateAccessKey` reach moto and drops its answer (the SDK repeats the call: moto now holds two new
 *    keys), then lets `secretsmanager:PutSecretValue` reach moto, drops its answer and takes moto down for
 *    30 s (connections refused). The bootstrap completes with exactly one bucket, one IAM user, one access
 *    key (not the one whose answer was lost) and exactly one new Secrets Manager version, distinct from the
 *    one before: the retries after the outage wrote nothing twice.
 *
 * The attempts of each activity (the attempt of its ActivityTaskStarted event) are printed as diagnostics.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { GetBucketTaggingCommand, ListBucketsCommand } from '@aws-sdk/client-s3';
import { ListAccessKeysCommand, ListUserTagsCommand, ListUsersCommand, UpdateAccessKeyCommand } from '@aws-sdk/client-iam';
import { GetSecretValueCommand, ListSecretVersionIdsCommand } from '@aws-sdk/client-secrets-manager';
import { parse } from 'yaml';
import { createAwsClients, type AwsClients } from '../../activities/aws/index.ts';
import { ENVIRONMENT_TAG } from '../../activities/aws/common.ts';
import { storeReaderName } from '../../activities/aws/store-reader.ts';
import { inventoryId } from '../../activities/kubernetes/overlay.ts';
import { findEnvironment, parseCatalog, principalName, type BootstrapResult, type Environment, type RolloutResult } from '../../domain/index.ts';
import { requireSandbox } from '../../sandbox/status.ts';
import { startStandIns, startWorkerProcess, type WorkerProcess } from '../support/processes.ts';
import { endLocksOnTaskQueue, endOrphanedLocks, ensureBootstrapped, knownGoodRevision } from '../worker/sandbox-runs.ts';
import { startFaultProxy, type FaultProxy } from './fault-proxy.ts';
import {
  activitySpans,
  apiserverOf,
  clearLokiStackStatus,
  clusterClient,
  deliveredObjects,
  deployedState,
  describeSpans,
  endRunning,
  keyOfRef,
  liveLokiStack,
  pendingActivities,
  proxiedKubeconfig,
  renderAt,
  resultOrExplain,
  sleep,
  waitForActivityInFlight,
  type ActivitySpan,
} from './fault-runs.ts';

const OUTAGE_MS = 30_000;
const ENVIRONMENTS = ['dev', 'staging'];
const LOKISTACK_GATE = 'waitForLokiStackReady';

/** `type: attempts` of every activity, one per line, for the diagnostics. */
const attemptsLine = (spans: readonly ActivitySpan[]): string => spans.map((s) => `${s.type}: attempt ${s.attempt ?? '-'} ${s.outcome}`).join('\n');

/** The parsed JSON of one secret version (read in this process only; never printed). */
async function secretDocument(aws: AwsClients, env: Environment, versionId?: string): Promise<Record<string, string>> {
  const value = await aws.secretsManager(env.aws.region).send(new GetSecretValueCommand({ SecretId: env.aws.secretName, ...(versionId ? { VersionId: versionId } : {}) }));
  return JSON.parse(value.SecretString ?? '{}') as Record<string, string>;
}

async function secretVersions(aws: AwsClients, env: Environment): Promise<{ id: string; stages: string[] }[]> {
  const listed = await aws.secretsManager(env.aws.region).send(new ListSecretVersionIdsCommand({ SecretId: env.aws.secretName, IncludeDeprecated: true }));
  return (listed.Versions ?? []).map((v) => ({ id: v.VersionId ?? '', stages: v.VersionStages ?? [] }));
}

async function accessKeys(aws: AwsClients, user: string): Promise<{ id: string; status: string }[]> {
  const listed = await aws.iam().send(new ListAccessKeysCommand({ UserName: user }));
  return (listed.AccessKeyMetadata ?? []).map((k) => ({ id: k.AccessKeyId ?? '', status: k.Status ?? '' }));
}

/** Buckets tagged as belonging to `env` (the tag every bucket logstack creates carries). */
async function bucketsOf(aws: AwsClients, env: Environment): Promise<string[]> {
  const s3 = aws.s3(env.aws.region);
  const names = ((await s3.send(new ListBucketsCommand({}))).Buckets ?? []).map((b) => b.Name ?? '');
  const owned: string[] = [];
  for (const name of names) {
    // An untagged bucket, or one another run deleted since the list, belongs to nobody.
    const tags = await s3.send(new GetBucketTaggingCommand({ Bucket: name })).catch((error: unknown) => {
      if (error instanceof Error && ['NoSuchTagSet', 'NoSuchBucket'].includes(error.name)) return { TagSet: [] };
      throw error;
    });
    if ((tags.TagSet ?? []).some((t) => t.Key === ENVIRONMENT_TAG && t.Value === env.name)) owned.push(name);
  }
  return owned;
}

/** IAM users tagged as belonging to `env`. */
async function usersOf(aws: AwsClients, env: Environment): Promise<string[]> {
  const users = ((await aws.iam().send(new ListUsersCommand({ MaxItems: 1000 }))).Users ?? []).map((u) => u.UserName ?? '');
  const owned: string[] = [];
  for (const user of users) {
    // Other runs create and delete users meanwhile: one gone since the list has no tags to read.
    const tags = await aws
      .iam()
      .send(new ListUserTagsCommand({ UserName: user }))
      .catch((error: unknown) => {
        if (error instanceof Error && error.name === 'NoSuchEntityException') return { Tags: [] };
        throw error;
      });
    if ((tags.Tags ?? []).some((t) => t.Key === ENVIRONMENT_TAG && t.Value === env.name)) owned.push(user);
  }
  return owned;
}

describe('outages of one worker\'s kube-apiserver and moto for 30 s mid-run (statuses written by stand-ins)', { concurrency: false, timeout: 900_000 }, () => {
  const sandbox = requireSandbox();
  const catalog = parseCatalog(parse(readFileSync(sandbox.catalog, 'utf8')));
  const taskQueue = `reliability-outages-${process.pid}`;
  const aws = createAwsClients({ endpoint: sandbox.aws.endpoint, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
  let kube: FaultProxy;
  let moto: FaultProxy;
  let kubeconfigDir = '';
  let connection: Connection;
  let client: Client;
  let worker: WorkerProcess;
  let standIns: ChildProcess | undefined;
  const started: WorkflowHandle[] = [];
  /** Set while dev's stored access key is Inactive and no bootstrap has rotated it yet. */
  let statusCleared = false;
  let deactivatedKey: { user: string; id: string } | undefined;

  before(async () => {
    connection = await Connection.connect({ address: sandbox.temporal.address });
    client = new Client({ connection });
    await endOrphanedLocks(client, ENVIRONMENTS, 'outage test');
    kube = await startFaultProxy(apiserverOf(sandbox, 'logstack-staging'));
    const motoUrl = new URL(sandbox.aws.endpoint);
    moto = await startFaultProxy({ host: motoUrl.hostname, port: Number(motoUrl.port) });
    const kubeconfig = proxiedKubeconfig(sandbox, { 'logstack-staging': kube.port });
    kubeconfigDir = kubeconfig.dir;
    worker = startWorkerProcess({
      taskQueue,
      env: {
        KUBECONFIG: kubeconfig.path,
        AWS_ENDPOINT_URL: `http://127.0.0.1:${moto.port}`,
        // moto accepts any key; the worker sets these itself only when it talks to the sandbox's own endpoint.
        AWS_ACCESS_KEY_ID: 'test',
        AWS_SECRET_ACCESS_KEY: 'test',
        AWS_REGION: 'us-east-1',
      },
    });
    await worker.running;
  });

  after(async () => {
    kube?.restore();
    moto?.restore();
    // Failed before the stand-ins ran: let stand-ins write the cleared status back for whoever runs next.
    if (statusCleared && !standIns) {
      standIns = await startStandIns();
      await sleep(3_000);
    }
    if (deactivatedKey) {
      await aws
        .iam()
        .send(new UpdateAccessKeyCommand({ UserName: deactivatedKey.user, AccessKeyId: deactivatedKey.id, Status: 'Active' }))
        .catch(() => undefined);
    }
    if (client) await endRunning(started, 'outage test ended');
    const children = [worker?.child, standIns].filter((c): c is ChildProcess => c !== undefined && c.exitCode === null && c.signalCode === null);
    const exits = children.map((c) => new Promise((r) => c.once('exit', r)));
    for (const child of children) child.kill('SIGTERM');
    await Promise.all(exits);
    if (client) await endLocksOnTaskQueue(client, ENVIRONMENTS, taskQueue, 'outage test');
    await connection?.close();
    await kube?.close();
    await moto?.close();
    aws.destroy();
    if (kubeconfigDir) rmSync(kubeconfigDir, { recursive: true, force: true });
  });

  it('A: staging apiserver unreachable for 30 s while the LokiStack gate watches: the watch resumes, the rollout completes, no object missing, extra or re-created', async (t) => {
    const env = findEnvironment(catalog, 'staging');
    const revision = await ensureBootstrapped(client, sandbox, env.name, taskQueue);
    const inventory = inventoryId(env.name, env.overlay);
    const rendered = await renderAt(sandbox, revision, env.overlay);
    assert.ok(rendered.some((o) => o.kind === 'LokiStack'), 'the overlay renders the LokiStack');
    const before = await deliveredObjects(sandbox, env.name, inventory, rendered);

    // The LokiStack's status goes once the rollout delivers: its gate has to wait for stand-ins. Stand-ins that
    // another run starts meanwhile write it at once; then that rollout ends normally and the next one tries again.
    let handle: WorkflowHandle | undefined;
    for (let attempt = 1; !handle; attempt++) {
      assert.ok(attempt <= 3, 'the LokiStack gate never waited: stand-ins of other runs kept writing its status');
      const candidate = await client.workflow.start('rolloutEnvironment', {
        taskQueue,
        workflowId: `outage-rollout-staging-${process.pid}-${attempt}`,
        args: [{ environment: env.name, revision, reason: 'apiserver outage test' }],
      });
      started.push(candidate);
      await waitForActivityInFlight(candidate, (type) => type === 'applyOverlay', 300_000, 20);
      await clearLokiStackStatus(clusterClient(sandbox, env.name));
      statusCleared = true;
      const waiting = await waitForActivityInFlight(candidate, (type) => type === LOKISTACK_GATE, 300_000, 20)
        .then(() => sleep(1_500)) // let the gate list and open its watch
        .then(async () => {
          const pending = await pendingActivities(candidate);
          const ready = (await liveLokiStack(sandbox, env.name)).conditions.some((c) => c.type === 'Ready');
          return !ready && pending.some((a) => a.type === LOKISTACK_GATE && a.state === 'started');
        })
        .catch(() => false);
      if (waiting) handle = candidate;
      else {
        await resultOrExplain(candidate);
        t.diagnostic(`attempt ${attempt}: the LokiStack status was written before the cut (stand-ins of another run); trying again`);
      }
    }

    kube.cut();
    const cutAt = Date.now();
    const openAtCut = kube.stats.destroyed;
    assert.ok(openAtCut > 0, "open connections (the gate's watch among them) were destroyed");
    standIns = await startStandIns();
    let readyDuringOutage = false;
    while (!readyDuringOutage && Date.now() - cutAt < OUTAGE_MS - 1_000) {
      readyDuringOutage = (await liveLokiStack(sandbox, env.name)).conditions.some((c) => c.type === 'Ready' && c.status === 'True');
      if (!readyDuringOutage) await sleep(250);
    }
    assert.ok(readyDuringOutage, 'the stand-ins wrote LokiStack Ready while the worker could not see it');
    await sleep(cutAt + OUTAGE_MS - Date.now());
    kube.restore();
    const restoredAt = Date.now();
    t.diagnostic(`apiserver unreachable for ${((restoredAt - cutAt) / 1000).toFixed(1)} s: ${openAtCut} open connections destroyed, ${kube.stats.refused} new ones refused`);

    const result = (await resultOrExplain(handle)) as RolloutResult;
    assert.equal(result.environment, env.name);
    assert.equal(result.revision, revision);
    assert.equal(result.rolledBack, false, 'no gate failed: the outage was ridden out');
    const state = await deployedState(sandbox, env.name);
    assert.equal(state['revision'], revision);
    assert.equal(state['verified'], 'true');

    const spans = await activitySpans(handle);
    t.diagnostic(`activity attempts:\n${attemptsLine(spans)}`);
    const gate = spans.find((s) => s.type === LOKISTACK_GATE);
    assert.equal(gate?.outcome, 'completed', describeSpans(spans));
    assert.ok((gate.closedAt ?? 0) >= restoredAt, 'the gate passed only once the apiserver was back: its resumed watch saw the status');
    assert.equal(gate.attempt, 1, 'in the attempt that was waiting at the cut: the watch resumed by itself, the activity was not retried');

    const afterObjects = await deliveredObjects(sandbox, env.name, inventory, rendered);
    const expected = new Set(rendered.map((o) => keyOfRef(o)));
    const missing = [...expected].filter((k) => !afterObjects.has(k));
    const extra = [...afterObjects.keys()].filter((k) => !expected.has(k));
    assert.deepEqual(missing, [], 'every rendered object is live');
    assert.deepEqual(extra, [], 'nothing else carries the apply set label');
    const recreated = [...before].filter(([key, uid]) => afterObjects.has(key) && afterObjects.get(key) !== uid).map(([key]) => key);
    assert.deepEqual(recreated, [], 'no object was deleted and created again');
    t.diagnostic(`${afterObjects.size} delivered objects, each once, none re-created`);
  });

  it('B: moto: a lost iam:CreateAccessKey answer, then a lost secretsmanager:PutSecretValue answer and moto down for 30 s: one bucket, one user, one access key, one new secret version', async (t) => {
    const env = findEnvironment(catalog, 'dev');
    const user = principalName(env);
    const revision = await knownGoodRevision(sandbox, env.name);
    // dev must hold a seeded static credential to rotate; an earlier run may have emptied moto: seed it first.
    let documentBefore = await secretDocument(aws, env).catch((error: unknown): Record<string, string> => {
      if (error instanceof Error && error.name === 'ResourceNotFoundException') return {};
      throw error;
    });
    if (!documentBefore['access_key_id']) {
      const seed = await client.workflow.start('bootstrapEnvironment', {
        taskQueue,
        workflowId: `outage-seed-dev-${process.pid}`,
        args: [{ environment: env.name, revision }],
      });
      started.push(seed);
      await resultOrExplain(seed);
      documentBefore = await secretDocument(aws, env);
      t.diagnostic('dev was not seeded: bootstrapped it first, without faults');
    }
    const versionsBefore = await secretVersions(aws, env);
    const storedKey = documentBefore['access_key_id'];
    assert.ok(storedKey, 'dev has a seeded static credential');
    // The stored key stops being usable: the bootstrap has to create a new key and write a new version.
    await aws.iam().send(new UpdateAccessKeyCommand({ UserName: user, AccessKeyId: storedKey, Status: 'Inactive' }));
    deactivatedKey = { user, id: storedKey };

    const lostCreate = moto.loseAnswer(/CreateAccessKey/);
    const lostPut = moto.loseAnswer(/secretsmanager\.PutSecretValue/, { cut: true });
    const handle = await client.workflow.start('bootstrapEnvironment', {
      taskQueue,
      workflowId: `outage-bootstrap-dev-${process.pid}`,
      args: [{ environment: env.name, revision }],
    });
    started.push(handle);
    const ended = handle.result().then(() => {
      throw new Error('the bootstrap ended before both answers were lost');
    });
    const createAnswer = await Promise.race([lostCreate, ended]);
    const orphan = /<AccessKeyId>([A-Z0-9]+)<\/AccessKeyId>|"AccessKeyId"\s*:\s*"([A-Z0-9]+)"/.exec(createAnswer.toString('utf8'));
    const orphanId = orphan?.[1] ?? orphan?.[2];
    assert.ok(orphanId, 'the dropped answer named the key moto created');
    await Promise.race([lostPut, ended]);
    const cutAt = Date.now();
    // What the secret was written with, seen directly (the test's own clients do not go through the proxy).
    const keysAtPut = await accessKeys(aws, user);
    const inFlight = (await pendingActivities(handle)).map((a) => `${a.type} (attempt ${a.attempt})`);
    await sleep(cutAt + OUTAGE_MS - Date.now());
    moto.restore();
    t.diagnostic(`moto down for ${((Date.now() - cutAt) / 1000).toFixed(1)} s with ${inFlight.join(', ')} in flight: ${moto.stats.lostAnswers} answers lost, ${moto.stats.refused} connections refused`);
    assert.deepEqual(
      keysAtPut.map((k) => k.id === orphanId),
      [false],
      `when the secret was written, the user had one key, and not the one whose answer was lost: ${keysAtPut.map((k) => `${k.id} ${k.status}`).join(', ')}`,
    );

    const result = (await resultOrExplain(handle)) as BootstrapResult;
    deactivatedKey = undefined;
    assert.equal(result.environment, env.name);
    assert.equal(result.bucket, env.aws.bucket);
    assert.equal(result.revision, revision);
    const state = await deployedState(sandbox, env.name);
    assert.equal(state['revision'], revision);
    assert.equal(state['verified'], 'true');

    const spans = await activitySpans(handle);
    t.diagnostic(`activity attempts:\n${attemptsLine(spans)}`);
    const seed = spans.find((s) => s.type === 'seedLokiSecret');
    assert.equal(seed?.outcome, 'completed', describeSpans(spans));
    assert.ok((seed.attempt ?? 0) > 1, `seedLokiSecret was retried through the outage:\n${describeSpans(spans)}`);

    assert.deepEqual(await bucketsOf(aws, env), [env.aws.bucket], 'exactly one bucket belongs to dev');
    assert.deepEqual((await usersOf(aws, env)).sort(), [user, storeReaderName(env)].sort(), "exactly dev's Loki user and its ESO reader belong to dev");
    const keys = await accessKeys(aws, user);
    assert.equal(keys.length, 1, `exactly one access key: ${keys.map((k) => `${k.id} ${k.status}`).join(', ')}`);
    const [key] = keys;
    assert.ok(key);
    assert.equal(key.status, 'Active');
    assert.notEqual(key.id, storedKey, 'the inactive key was rotated away');
    assert.equal(key.id, keysAtPut[0]?.id, 'the key written before the outage is the one kept');

    const versionsAfter = await secretVersions(aws, env);
    const added = versionsAfter.filter((v) => !versionsBefore.some((b) => b.id === v.id));
    assert.equal(added.length, 1, `exactly one new Secrets Manager version: the retries after the lost answer wrote none (${versionsBefore.length} before, ${versionsAfter.length} after)`);
    const [version] = added;
    assert.ok(version);
    assert.ok(version.stages.includes('AWSCURRENT'), 'the new version is current');
    const documentAfter = await secretDocument(aws, env, version.id);
    assert.equal(documentAfter['access_key_id'], key.id, 'the secret holds the one live key');
    assert.notDeepEqual(documentAfter, documentBefore, 'the new version differs from the one before');
    t.diagnostic(`1 bucket, 1 user, 1 access key (the lost answer's key deleted), secret versions ${versionsBefore.length} → ${versionsAfter.length}`);
  });
});
