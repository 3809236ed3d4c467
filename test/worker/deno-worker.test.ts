/**
 * The worker on Deno 2, as `deno task worker` starts it (worker/launch.ts: its permissions and V8 settings), next
 * to the worker on Node, on the sandbox's real parts. Four generated environments of their own (the benchmarks'
 * estate: own buckets, secrets, IAM users, namespaces and a temporary Git remote), all on one task queue:
 *
 * 1. a Deno worker alone, with the prebuilt workflow bundle, bootstraps an environment: every workflow and
 *    activity task ran on it;
 * 2. a Node worker (bundling on the fly) joins the same task queue: a bootstrap and a drift report complete on the
 *    mixed fleet (which worker takes which run is the server's choice: with eager activity execution a run's
 *    activities mostly stay on the worker that runs its workflow tasks);
 * 3. a worker killed right after an activity's side effect, before Temporal heard of it, and the run finished by a
 *    worker of the other runtime — a Deno worker killed after `ensureLokiCredentials` (IAM user and access key
 *    made), a Node worker killed after `seedLokiSecret` (secret version written) — with every AWS effect exactly
 *    once: one bucket, one principal, one active access key that the secret names, no repeated secret version.
 *    Each of these runs has workflow tasks on both runtimes: the other runtime replays the history the first one
 *    wrote, so the workflow code is deterministic across them.
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
import { GateKinds, WorkflowTypes, workflowIds, type BootstrapResult, type DriftResult, type Environment } from '../../domain/index.ts';
import { writeWorkflowBundle } from '../../worker/bundle.ts';
import { exactlyOnceProblems, readAwsState, type EffectsSnapshot } from '../reliability/effects.ts';
import { resultOrExplain } from '../reliability/fault-runs.ts';
import { startHeldWorker, stopWorker } from '../reliability/kill-chain.ts';
import type { KillPoint } from '../reliability/kill-worker.ts';
import { startStandIns, startWorkerProcess, type WorkerProcess, type WorkerRuntime } from '../support/processes.ts';
import { endLocksOnTaskQueue } from './sandbox-runs.ts';

const taskQueue = `deno-worker-${process.pid}`;

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

describe('the worker on Deno 2 and on Node 24, one task queue, the sandbox', () => {
  let estate: Estate;
  let standIns: ChildProcess;
  let connection: Connection;
  let client: Client;
  let bundle: string;
  let logDir: string;
  const workers: WorkerProcess[] = [];
  const envs = (): readonly Environment[] => estate.environments;

  const startWorker = (runtime: WorkerRuntime, env: Record<string, string> = {}): WorkerProcess => {
    const worker = startWorkerProcess({ taskQueue, runtime, env: { LOGSTACK_CATALOG: estate.catalogPath, ...env } });
    workers.push(worker);
    return worker;
  };

  const startBootstrap = (env: Environment): Promise<WorkflowHandle> =>
    client.workflow.start(WorkflowTypes.bootstrapEnvironment, {
      taskQueue,
      workflowId: workflowIds.bootstrap(env.name),
      args: [{ environment: env.name, revision: estate.commit }],
    });

  const bootstrapped = async (handle: WorkflowHandle, env: Environment): Promise<void> => {
    const result = (await resultOrExplain(handle)) as BootstrapResult;
    assert.equal(result.environment, env.name);
    assert.equal(result.revision, estate.commit);
  };

  before(async () => {
    estate = await createEstate({ count: 4, gates: [GateKinds.externalSecretsSynced, GateKinds.lokiStackReady, GateKinds.logForwarderReady], purpose: 'deno' });
    logDir = mkdtempSync(join(tmpdir(), 'logstack-deno-worker-'));
    bundle = join(estate.dir, 'workflow-bundle.js');
    await writeWorkflowBundle(bundle, new DefaultLogger('WARN'));
    standIns = await startStandIns();
    connection = await Connection.connect({ address: estate.sandbox.temporal.address });
    client = new Client({ connection });
  });

  after(async () => {
    await endLocksOnTaskQueue(client, envs().map((e) => e.name), taskQueue, 'end of the Deno worker test').catch(() => undefined);
    await Promise.all(workers.map((w) => stopWorker(w)));
    standIns.kill('SIGTERM');
    await connection.close();
    for (const w of workers) if (w.child.pid !== undefined) rmSync(workerCloneDir(estate.remote, w.child.pid), { recursive: true, force: true });
    rmSync(logDir, { recursive: true, force: true });
    await estate.cleanup();
  });

  it('a Deno worker alone bootstraps an environment with the prebuilt bundle: every task ran on it', async () => {
    const deno = startWorker('deno', { LOGSTACK_WORKFLOW_BUNDLE: bundle });
    await deno.running;
    assert.match(deno.output(), /"runtime":"deno 2\.\d+\.\d+"/);
    assert.match(deno.output(), /"bundle":"prebuilt"/);
    const [env] = envs();
    assert.ok(env);
    const handle = await startBootstrap(env);
    await bootstrapped(handle, env);
    assert.deepEqual(await taskWorkers(handle), [deno.identity]);
    assert.doesNotMatch(deno.output(), /NotCapable|"level":"ERROR"/, 'no permission missing, no error logged');
  });

  it('a Node worker joins the task queue: a bootstrap and a drift report complete on the mixed fleet', async () => {
    const [deno] = workers;
    const node = startWorker('node');
    await node.running;
    assert.match(node.output(), /"runtime":"node 24\.\d+\.\d+"/);
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
    const ran = new Set([...(await taskWorkers(bootstrap)), ...(await taskWorkers(drift))]);
    assert.ok(ran.size > 0 && [...ran].every((id) => id === deno.identity || id === node.identity), `tasks ran on the fleet's two workers only: ${[...ran].join(', ')}`);
    for (const w of [deno, node]) assert.doesNotMatch(w.output(), /NotCapable|"level":"ERROR"/);
    await Promise.all([stopWorker(deno), stopWorker(node)]);
    assert.match(deno.output(), /"state":"STOPPED"/, 'the Deno worker drains on SIGTERM');
  });

  const handovers: readonly { killed: WorkerRuntime; finisher: WorkerRuntime; point: KillPoint }[] = [
    { killed: 'deno', finisher: 'node', point: { activityType: 'ensureLokiCredentials', phase: 'end' } },
    { killed: 'node', finisher: 'deno', point: { activityType: 'seedLokiSecret', phase: 'end' } },
  ];
  for (const [i, { killed, finisher, point }] of handovers.entries()) {
    it(`a ${killed} worker killed after ${point.activityType}'s side effect: a ${finisher} worker finishes, each AWS effect once`, async () => {
      const env = envs()[2 + i];
      assert.ok(env);
      const workflowId = workflowIds.bootstrap(env.name);
      const logFile = join(logDir, `${env.name}.jsonl`);
      const before: EffectsSnapshot = { aws: await readAwsState(estate.sandbox, env), pins: [] };
      const withCatalog = { LOGSTACK_CATALOG: estate.catalogPath };
      const dying = await startHeldWorker(taskQueue, { point, workflowId, logFile, runtime: killed, env: withCatalog });
      const next = await startHeldWorker(taskQueue, { logFile, runtime: finisher, env: withCatalog });
      workers.push(dying.process, next.process);
      await dying.release();
      const handle = await startBootstrap(env);
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
