/**
 * The worker on Deno 2, as `deno task worker` starts it (worker/launch.ts: its permissions and V8 settings), next
 * to the worker on Node, on the sandbox's real parts. Six generated environments of their own (the benchmarks'
 * estate: own buckets, secrets, IAM users, namespaces and a temporary Git remote):
 *
 * 1. a Deno worker alone, with the prebuilt workflow bundle, bootstraps an environment: every workflow and activity
 *    task ran on it, every payload in its history is encrypted, and its Prometheus endpoint (served by the SDK's
 *    native runtime) counts the run;
 * 2. a Node worker (bundling on the fly) joins the same task queue: a bootstrap, a drift report and a rollout complete
 *    on the mixed fleet (which worker takes which run is the server's choice: with eager activity execution a run's
 *    activities mostly stay on the worker that runs its workflow tasks);
 * 3. handovers, four side by side, each on a task queue of its own: a worker killed at an activity's start (nothing
 *    done yet) or right after its side effect (done, Temporal not told), and the run finished by a worker of the
 *    other runtime — each runtime dies at both kinds of point, in `ensureLokiCredentials` (IAM user and access key)
 *    and `seedLokiSecret` (secret version) — with every AWS effect exactly once: one bucket, one principal, one
 *    active access key that the secret names, no repeated secret version. Each of these runs has workflow tasks on
 *    both runtimes: the other runtime replays the history the first one wrote, so the workflow code is
 *    deterministic across them.
 *
 * Every worker here and the test's client use the product's payload codec (`LOGSTACK_CODEC_KEYS`, AES-GCM through
 * WebCrypto), so each runtime encrypts what it writes to history and decrypts what the other wrote.
 *
 * The controller stand-ins write the LokiStack and ClusterLogForwarder statuses the rollout gates wait for.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { DefaultLogger } from '@temporalio/worker';
import { createEstate, workerCloneDir, type Estate } from '../../bench/support-estate.ts';
import { dataConverterFromEnv, ENCRYPTED_ENCODING, generateCodecKey } from '../../codec/codec.ts';
import { GateKinds, WorkflowTypes, workflowIds, type BootstrapResult, type DriftResult, type Environment, type RolloutResult } from '../../domain/index.ts';
import { writeWorkflowBundles } from '../../worker/bundle.ts';
import { freePort } from '../reliability/private-temporal.ts';
import { exactlyOnceProblems, readAwsState, type EffectsSnapshot } from '../reliability/effects.ts';
import { resultOrExplain } from '../reliability/fault-runs.ts';
import { startHeldWorker } from '../reliability/kill-chain.ts';
import type { KillPoint } from '../reliability/kill-worker.ts';
import { startStandIns, startWorkerProcess, stopWorker, type WorkerProcess, type WorkerRuntime } from '../support/processes.ts';
import { endLocksOnTaskQueue } from './sandbox-runs.ts';

const taskQueue = `deno-worker-${process.pid}`;
/** Every worker and the client of this file encrypt payloads with this key (the product's AES-GCM codec, WebCrypto). */
const CODEC_KEYS = generateCodecKey('deno-test');

/** The worker identities that ran the workflow's tasks (workflow task and activity starts), in first-seen order. */
async function taskWorkers(handle: WorkflowHandle): Promise<string[]> {
  const { events } = await handle.fetchHistory();
  const seen = new Set<string>();
  for (const e of events ?? []) {
    const identity = e.workflowTaskStartedEventAttributes?.identity ?? e.activityTaskStartedEventAttributes?.identity;
    if (identity) seen.add(identity);
  }
  return [...seen];
}

/** The identity and attempt of the started event of the activity of type `type` (the attempt that closed it). */
async function activityStart(handle: WorkflowHandle, type: string): Promise<{ identity: string; attempt: number }> {
  const { events } = await handle.fetchHistory();
  const scheduled = new Map<string, string>();
  for (const e of events ?? []) {
    const s = e.activityTaskScheduledEventAttributes;
    if (s) scheduled.set(String(e.eventId), s.activityType?.name ?? '');
    const started = e.activityTaskStartedEventAttributes;
    if (started && scheduled.get(String(started.scheduledEventId)) === type) {
      return { identity: started.identity ?? '', attempt: started.attempt ?? 0 };
    }
  }
  throw new Error(`${handle.workflowId} has no started ${type}`);
}

/**
 * Every payload in the workflow's history that is not encrypted, as `<path>: <encoding>` — except search attributes,
 * which the server indexes and so must stay plain (names and revisions, never a secret), the details of a
 * `patched()` marker, which the SDK's core writes itself (the patch's name, a constant of the workflow code), and
 * the `data` detail of a local activity's marker, also the core's own (sequence number, attempt, activity ID and
 * type, times; the activity's result beside it is encrypted).
 */
async function plainPayloads(handle: WorkflowHandle): Promise<string[]> {
  const { events } = await handle.fetchHistory();
  const plain: string[] = [];
  const localActivityData = (path: string): boolean => {
    const index = /^events\.(\d+)\.markerRecordedEventAttributes\.details\.data\./.exec(path)?.[1];
    return index !== undefined && events?.[Number(index)]?.markerRecordedEventAttributes?.markerName === 'core_local_activity';
  };
  const visit = (value: unknown, path: string): void => {
    if (!value || typeof value !== 'object' || value instanceof Uint8Array || /searchAttributes|details\.patch-data/i.test(path) || localActivityData(path)) return;
    const encoding = (value as { metadata?: Record<string, unknown> }).metadata?.['encoding'];
    if (encoding instanceof Uint8Array && 'data' in value) {
      const name = new TextDecoder().decode(encoding);
      if (name !== ENCRYPTED_ENCODING) plain.push(`${path}: ${name}`);
      return;
    }
    for (const [key, child] of Object.entries(value)) visit(child, `${path}.${key}`);
  };
  visit(events, 'events');
  return plain;
}

/**
 * The worker's Prometheus endpoint (`LOGSTACK_METRICS_ADDRESS`, served by the SDK's native runtime): the count of
 * workflows completed on `queue`, summed over its series; fails if the endpoint does not answer.
 */
async function workflowsCompleted(address: string, queue: string): Promise<number> {
  const response = await fetch(`http://${address}/metrics`);
  assert.equal(response.status, 200, `GET http://${address}/metrics`);
  let total = 0;
  for (const line of (await response.text()).split('\n')) {
    const m = /^temporal_workflow_completed(?:_total)?\{([^}]*)\} (\d+)/.exec(line);
    if (m?.[1]?.includes(`task_queue="${queue}"`)) total += Number(m[2]);
  }
  return total;
}

describe('the worker on Deno 2 and on Node 24, one task queue, the sandbox', () => {
  let estate: Estate;
  let standIns: ChildProcess;
  let connection: Connection;
  let client: Client;
  let bundle: string;
  let logDir: string;
  const workers: WorkerProcess[] = [];
  /** Every task queue a worker of this file polled. */
  const queues: string[] = [taskQueue];
  const envs = (): readonly Environment[] => estate.environments;

  /** What every worker of this file reads: the estate's catalog, the codec key. */
  const workerEnv = (): Record<string, string> => ({ LOGSTACK_CATALOG: estate.catalogPath, LOGSTACK_CODEC_KEYS: CODEC_KEYS });

  const startWorker = (runtime: WorkerRuntime, env: Record<string, string> = {}): WorkerProcess => {
    const worker = startWorkerProcess({ taskQueue, runtime, env: { ...workerEnv(), ...env } });
    workers.push(worker);
    return worker;
  };

  const startBootstrap = (env: Environment, queue = taskQueue): Promise<WorkflowHandle> =>
    client.workflow.start(WorkflowTypes.bootstrapEnvironment, {
      taskQueue: queue,
      workflowId: workflowIds.bootstrap(env.name),
      args: [{ environment: env.name, revision: estate.commit }],
    });

  const bootstrapped = async (handle: WorkflowHandle, env: Environment): Promise<void> => {
    const result = (await resultOrExplain(handle)) as BootstrapResult;
    assert.equal(result.environment, env.name);
    assert.equal(result.revision, estate.commit);
  };

  before(async () => {
    estate = await createEstate({ count: 6, gates: [GateKinds.externalSecretsSynced, GateKinds.lokiStackReady, GateKinds.logForwarderReady], purpose: 'deno' });
    logDir = mkdtempSync(join(tmpdir(), 'logstack-deno-worker-'));
    bundle = join(estate.dir, 'workflow-bundle.js');
    await writeWorkflowBundles(bundle, new DefaultLogger('WARN'));
    standIns = await startStandIns();
    connection = await Connection.connect({ address: estate.sandbox.temporal.address });
    const dataConverter = await dataConverterFromEnv({ LOGSTACK_CODEC_KEYS: CODEC_KEYS }, 'default');
    client = new Client({ connection, ...(dataConverter ? { dataConverter } : {}) });
  });

  after(async () => {
    for (const queue of queues) await endLocksOnTaskQueue(client, envs().map((e) => e.name), queue, 'end of the Deno worker test').catch(() => undefined);
    await Promise.all(workers.map((w) => stopWorker(w)));
    standIns.kill('SIGTERM');
    await connection.close();
    for (const w of workers) if (w.child.pid !== undefined) rmSync(workerCloneDir(estate.remote, w.child.pid), { recursive: true, force: true });
    rmSync(logDir, { recursive: true, force: true });
    await estate.cleanup();
  });

  it('a Deno worker alone bootstraps an environment with the prebuilt bundle: every task ran on it, its payloads are encrypted, its metrics count it', async () => {
    const metrics = `127.0.0.1:${await freePort()}`;
    const deno = startWorker('deno', { LOGSTACK_WORKFLOW_BUNDLE: bundle, LOGSTACK_METRICS_ADDRESS: metrics });
    await deno.running;
    assert.match(deno.output(), /"runtime":"deno 2\.\d+\.\d+"/);
    assert.ok(deno.output().includes(`"bundle":"prebuilt ${join(estate.dir, 'workflow-bundle.untraced.js')}, untraced"`), 'tracing off: the untraced twin');
    assert.match(deno.output(), /"payloadCodec":"aes-256-gcm"/);
    assert.match(deno.output(), /"compileCache":"off: not on Node"/, 'Deno keeps its own code cache');
    const [env] = envs();
    assert.ok(env);
    const handle = await startBootstrap(env);
    await bootstrapped(handle, env);
    assert.deepEqual(await taskWorkers(handle), [deno.identity]);
    assert.deepEqual(await plainPayloads(handle), [], 'every payload in history is encrypted (but search attributes and the marker data the SDK core writes itself)');
    assert.ok((await workflowsCompleted(metrics, taskQueue)) >= 1, 'the Deno worker serves Prometheus metrics that count the run');
    assert.doesNotMatch(deno.output(), /NotCapable|"level":"ERROR"/, 'no permission missing, no error logged');
  });

  it('a Node worker joins the task queue: a bootstrap, a drift report and a rollout complete on the mixed fleet', async () => {
    const [deno] = workers;
    const node = startWorker('node');
    await node.running;
    assert.match(node.output(), /"runtime":"node 24\.\d+\.\d+"/);
    assert.match(node.output(), /"compileCache":"\/[^"]*logstack-compile-cache-\d+"/, 'the Node worker keeps its compiled modules');
    const [first, second] = envs();
    assert.ok(first && second && deno);
    const bootstrap = await startBootstrap(second);
    const drift = await client.workflow.start(WorkflowTypes.remediateDrift, {
      taskQueue,
      workflowId: `deno-worker-drift-${process.pid}`,
      args: [{ mode: 'report', environments: [first.name, second.name] }],
    });
    await bootstrapped(bootstrap, second);
    const report = (await resultOrExplain(drift)) as DriftResult;
    assert.deepEqual(report.remediated, [], 'a report changes nothing');
    const rollout = await client.workflow.start(WorkflowTypes.rolloutEnvironment, {
      taskQueue,
      workflowId: workflowIds.rollout(first.name),
      args: [{ environment: first.name, revision: estate.commit, reason: 'the mixed fleet' }],
    });
    const rolled = (await resultOrExplain(rollout)) as RolloutResult;
    assert.deepEqual([rolled.revision, rolled.rolledBack], [estate.commit, false]);
    const ran = new Set([...(await taskWorkers(bootstrap)), ...(await taskWorkers(drift)), ...(await taskWorkers(rollout))]);
    assert.ok(ran.size > 0 && [...ran].every((id) => id === deno.identity || id === node.identity), `tasks ran on the fleet's two workers only: ${[...ran].join(', ')}`);
    for (const w of [deno, node]) assert.doesNotMatch(w.output(), /NotCapable|"level":"ERROR"/);
    // Ctrl-C: the Deno worker drains on SIGINT as on SIGTERM (the handovers stop theirs with SIGTERM) and exits 0.
    deno.child.kill('SIGINT');
    const [denoExit] = await Promise.all([deno.exited, stopWorker(node)]);
    assert.equal(denoExit.code, 0, deno.output().slice(-2000));
    assert.match(deno.output(), /"state":"STOPPED"/, 'the Deno worker drains on SIGINT');
  });

  /**
   * Each runtime dies at both kinds of kill point — at an activity's start (nothing done yet) and right after its side
   * effect (done, Temporal not told) — and the other runtime finishes. The four run side by side, each on a task
   * queue and an environment of its own, so the killed attempts' heartbeat timeouts overlap.
   */
  const handovers: readonly { killed: WorkerRuntime; finisher: WorkerRuntime; point: KillPoint }[] = [
    { killed: 'deno', finisher: 'node', point: { activityType: 'seedLokiSecret', phase: 'start' } },
    { killed: 'deno', finisher: 'node', point: { activityType: 'ensureLokiCredentials', phase: 'end' } },
    { killed: 'node', finisher: 'deno', point: { activityType: 'ensureLokiCredentials', phase: 'start' } },
    { killed: 'node', finisher: 'deno', point: { activityType: 'seedLokiSecret', phase: 'end' } },
  ];
  describe('handovers between the runtimes, each AWS effect once', { concurrency: handovers.length }, () => {
    for (const [i, { killed, finisher, point }] of handovers.entries()) {
      const when = point.phase === 'start' ? `at ${point.activityType}'s start` : `after ${point.activityType}'s side effect`;
      it(`a ${killed} worker killed ${when}: a ${finisher} worker finishes`, async () => {
        const env = envs()[2 + i];
        assert.ok(env);
        const queue = `${taskQueue}-handover-${i}`;
        queues.push(queue);
        const workflowId = workflowIds.bootstrap(env.name);
        const logFile = join(logDir, `${env.name}.jsonl`);
        const before: EffectsSnapshot = { aws: await readAwsState(estate.sandbox, env), pins: [] };
        const withCatalog = { ...workerEnv(), LOGSTACK_WORKFLOW_BUNDLE: bundle };
        const dying = await startHeldWorker(queue, { point, workflowId, logFile, runtime: killed, env: withCatalog });
        const next = await startHeldWorker(queue, { logFile, runtime: finisher, env: withCatalog });
        workers.push(dying.process, next.process);
        await dying.release();
        const handle = await startBootstrap(env, queue);
        const exit = await dying.process.exited;
        assert.equal(exit.signal, 'SIGKILL', `the ${killed} worker died at its kill point:\n${dying.process.output().slice(-2000)}`);
        await next.release();
        await bootstrapped(handle, env);
        const started = await activityStart(handle, point.activityType);
        assert.equal(started.identity, next.process.identity, `${point.activityType} completed on the ${finisher} worker`);
        assert.ok(started.attempt >= 2, `the killed attempt was retried (attempt ${started.attempt})`);
        assert.deepEqual(await taskWorkers(handle), [dying.process.identity, next.process.identity], `the run went from the ${killed} worker to the ${finisher} worker`);
        // Pins are not compared: the estate's bootstrap pins nothing it is checked for here.
        const afterRun: EffectsSnapshot = { aws: await readAwsState(estate.sandbox, env), pins: [] };
        assert.deepEqual(exactlyOnceProblems(env, before, afterRun, { pins: 0 }), []);
        await stopWorker(next.process);
      });
    }
  });
});
