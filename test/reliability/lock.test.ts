/**
 * The environment lock on real parts: the sandbox's shared Temporal dev server, real worker processes on task
 * queues of this test, dev's real kube-apiserver, moto and the GitOps remote. Only dev is used.
 *
 * Two "installations" (two worker processes on task queues A and B) share a lock task queue L
 * (`LOGSTACK_LOCK_TASK_QUEUE`), as two teams' workers would. Their rollouts of dev never interleave, `lock-dev`
 * runs on L, and when worker A is killed the lock is still served by B. Then, with only B left: a holder
 * terminated by hand frees the lease at once (the latency is measured), and forged messages sent through the
 * real server change nothing.
 *
 * To hold the lock for as long as a case needs, the workers of this test read a copy of the sandbox catalog in
 * which dev also has the `lokistack-ready` gate. No Loki Operator runs in the sandbox; this test writes dev's
 * LokiStack status in its place ({@link DevLokiStackStandIn}), and only on dev, because the sandbox stand-ins
 * write every cluster and other tests hold gates of staging and production at the same time.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection, WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import * as k8s from '@kubernetes/client-node';
import { parse, stringify } from 'yaml';
import { workflowIds, type LockRequest, type LockState, type RolloutResult } from '../../domain/index.ts';
import { lockAcquireUpdate, lockGrantedSignal, lockReleaseSignal, lockStateQuery } from '../../workflows/lock.ts';
import { progressQuery } from '../../workflows/messages.ts';
import { requireSandbox } from '../../sandbox/status.ts';
import { startWorkerProcess, type WorkerProcess } from '../support/processes.ts';
import { endLocksOnTaskQueue, knownGoodRevision } from '../worker/sandbox-runs.ts';
import {
  activitySpans,
  clearLokiStackStatus,
  clusterClient,
  deployedState,
  describeSpans,
  endRunning,
  resultOrExplain,
  sleep,
  waitForActivityInFlight,
} from './fault-runs.ts';

const ENV = 'dev';
const LOCK_ID = workflowIds.lock(ENV);
/** Activities that change dev or check it after a change: AWS writes, applies, the state record, gates. */
const MUTATING = /^(ensure\w+|seedLokiSecret|applyOverlay|pruneOverlay|recordDeployedState|approve\w+|waitFor\w+)$/;
const GATE = 'waitForLokiStackReady';
/** The longest a terminated holder may keep the next in line waiting. */
const RELEASE_LIMIT_MS = 2_000;
const QUERY_DEADLINE_MS = 5_000;

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/**
 * Writes dev's LokiStack status in the Loki Operator's place while it runs: `Ready=True` for the current
 * generation, checked every 200 ms. Stopped, it writes nothing, so a cleared status keeps the gate waiting.
 */
class DevLokiStackStandIn {
  readonly #api: k8s.CustomObjectsApi;
  #running: Promise<void> | undefined;
  #stop = false;

  constructor(kc: k8s.KubeConfig) {
    this.#api = kc.makeApiClient(k8s.CustomObjectsApi);
  }

  start(): void {
    if (this.#running) return;
    this.#stop = false;
    this.#running = this.#loop();
  }

  async stop(): Promise<void> {
    this.#stop = true;
    await this.#running;
    this.#running = undefined;
  }

  async #loop(): Promise<void> {
    const where = { group: 'loki.grafana.com', version: 'v1', namespace: 'openshift-logging', plural: 'lokistacks', name: 'logging-loki' };
    while (!this.#stop) {
      const stack = (await this.#api.getNamespacedCustomObject(where).catch(() => undefined)) as
        | { metadata?: { generation?: number }; status?: { conditions?: { type?: string; status?: string; observedGeneration?: number }[] } }
        | undefined;
      const generation = stack?.metadata?.generation;
      const ready = stack?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True' && c.observedGeneration === generation);
      if (stack && !ready && !this.#stop) {
        const condition = { type: 'Ready', status: 'True', reason: 'ReadyComponents', message: 'All components ready (lock test stand-in)', lastTransitionTime: new Date().toISOString(), observedGeneration: generation };
        await this.#api.patchNamespacedCustomObjectStatus({ ...where, body: [{ op: 'add', path: '/status', value: { conditions: [condition] } }] }).catch(() => undefined);
      }
      await sleep(200);
    }
  }
}

describe('the environment lock of dev on the shared Temporal server, served by real worker processes', { timeout: 240_000 }, () => {
  const sandbox = requireSandbox();
  const suffix = `${process.pid}-${Date.now().toString(36)}`;
  /** Every workflow ID of this test starts with this. */
  const prefix = `lock-e2e-${suffix}`;
  const queueA = `reliability-lock-a-${suffix}`;
  const queueB = `reliability-lock-b-${suffix}`;
  const lockQueue = `reliability-lock-l-${suffix}`;
  const dir = mkdtempSync(join(tmpdir(), 'logstack-lock-e2e-'));
  const catalogPath = join(dir, 'environments.yaml');
  const standIn = new DevLokiStackStandIn(clusterClient(sandbox, ENV));
  const started: WorkflowHandle[] = [];
  let connection: Connection;
  let client: Client;
  let workerA: WorkerProcess;
  let workerB: WorkerProcess;
  let revision: string;
  let n = 0;
  /** Figures of the set-up, printed by the first case. */
  const setup: string[] = [];

  const lock = (): WorkflowHandle => client.workflow.getHandle(LOCK_ID);
  const lockState = (): Promise<LockState> =>
    client.connection.withDeadline(Date.now() + QUERY_DEADLINE_MS, () => lock().query(lockStateQuery));

  async function rollout(taskQueue: string, name: string): Promise<WorkflowHandle> {
    const handle = await client.workflow.start('rolloutEnvironment', {
      taskQueue,
      workflowId: `${prefix}-${++n}-${name}`,
      args: [{ environment: ENV, revision, reason: `lock test: ${name}` }],
    });
    started.push(handle);
    return handle;
  }

  /** Polls `lockState` every `everyMs` until `ok` holds; returns the state and when it was seen. */
  async function lockUntil(ok: (s: LockState) => boolean, what: string, everyMs = 100, deadlineMs = 30_000): Promise<{ state: LockState; at: number }> {
    const deadline = performance.now() + deadlineMs;
    let last: LockState | string = 'no answer yet';
    for (;;) {
      const state = await lockState().catch((e: unknown) => (e instanceof Error ? e.message : String(e)));
      const at = performance.now();
      if (typeof state !== 'string' && ok(state)) return { state, at };
      last = state;
      if (at > deadline) throw new Error(`${LOCK_ID} never showed ${what} within ${deadlineMs / 1000} s; last: ${JSON.stringify(last)}`);
      await sleep(everyMs);
    }
  }

  /** The server-time span of a run's mutating activities. */
  async function mutatingSpan(handle: WorkflowHandle): Promise<{ from: number; to: number }> {
    const spans = await activitySpans(handle);
    const mutating = spans.filter((s) => MUTATING.test(s.type));
    assert.ok(mutating.length > 0 && mutating.every((s) => s.closedAt !== undefined), `${handle.workflowId} ran mutating activities:\n${describeSpans(spans)}`);
    return { from: Math.min(...mutating.map((s) => s.scheduledAt)), to: Math.max(...mutating.map((s) => s.closedAt ?? Number.NaN)) };
  }

  async function completed(handle: WorkflowHandle): Promise<RolloutResult> {
    const result = (await resultOrExplain(handle)) as RolloutResult;
    assert.equal(result.revision, revision, `${handle.workflowId} delivered the revision`);
    assert.equal(result.rolledBack, false, `${handle.workflowId} passed its gates`);
    return result;
  }

  /**
   * A rollout asks `lock-dev` by update-with-start with USE_EXISTING: a `lock-dev` already running is used
   * wherever it runs, and it runs on the queue of whoever started it first (an earlier run of this or another
   * test, on a queue of its own). To prove that our workers start it on L, this test starts from no lock: a
   * `lock-dev` that nobody answers for (its worker is gone) or in which nobody holds or waits is terminated —
   * terminating forgets only holder and queue, and both are empty. One that is in use is never touched: the
   * test fails instead, naming who uses it.
   */
  async function startFromOwnLock(): Promise<void> {
    const description = await lock().describe().catch(() => undefined);
    if (description?.status.name !== 'RUNNING') return;
    const state = await lockState().catch(() => undefined);
    if (state && (state.holder || state.queue.length > 0)) {
      throw new Error(`${LOCK_ID} is in use on task queue ${description.taskQueue}: ${JSON.stringify({ holder: state.holder, queue: state.queue })}`);
    }
    await lock().terminate(`lock test: ${state ? 'idle' : 'unserved'} lock on task queue ${description.taskQueue}; the test starts its own on ${lockQueue}`);
  }

  before(async () => {
    connection = await Connection.connect({ address: sandbox.temporal.address });
    client = new Client({ connection });
    // The workers' catalog: the sandbox's, with the LokiStack gate added to dev.
    const catalog = parse(readFileSync(process.env['LOGSTACK_CATALOG'] ?? sandbox.catalog, 'utf8')) as { environments: { name: string; gates: string[] }[] };
    const dev = catalog.environments.find((e) => e.name === ENV);
    assert.ok(dev, 'the sandbox catalog has dev');
    dev.gates = [...new Set([...dev.gates, 'lokistack-ready'])];
    writeFileSync(catalogPath, stringify(catalog));
    const env = { LOGSTACK_LOCK_TASK_QUEUE: lockQueue, LOGSTACK_CATALOG: catalogPath };
    const t0 = performance.now();
    workerA = startWorkerProcess({ taskQueue: queueA, env });
    workerB = startWorkerProcess({ taskQueue: queueB, env });
    await startFromOwnLock();
    revision = await knownGoodRevision(sandbox, ENV);
    await Promise.all([workerA.running, workerB.running]);
    setup.push(`workers A and B running after ${seconds(performance.now() - t0)}`);
    standIn.start();
    // A fresh sandbox has never delivered dev: a rollout needs its bucket and secret, which bootstrap makes.
    if ((await deployedState(sandbox, ENV))['verified'] !== 'true') {
      const b0 = performance.now();
      const handle = await client.workflow.start('bootstrapEnvironment', { taskQueue: queueB, workflowId: `${prefix}-bootstrap`, args: [{ environment: ENV, revision }] });
      started.push(handle);
      await resultOrExplain(handle);
      setup.push(`dev bootstrapped in ${seconds(performance.now() - b0)}`);
    }
  });

  after(async () => {
    await standIn.stop();
    if (client) await endRunning(started, 'lock test ended');
    const alive = [workerA, workerB].filter((w) => w && w.child.exitCode === null && w.child.signalCode === null);
    for (const w of alive) w.child.kill('SIGTERM');
    await Promise.all(alive.map((w) => w.exited));
    // Nobody serves L any more: a lock-dev left on it would strand the next mutation of dev.
    if (client) await endLocksOnTaskQueue(client, [ENV], lockQueue, 'lock test');
    // Leave dev's LokiStack Ready, as the stand-ins would have it.
    await clearLokiStackStatus(clusterClient(sandbox, ENV)).catch(() => undefined);
    const last = new DevLokiStackStandIn(clusterClient(sandbox, ENV));
    last.start();
    await sleep(300);
    await last.stop();
    await connection?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('two installations on queues A and B share the lock on queue L: their rollouts never interleave, and B serves the lock alone once A is killed', async (t) => {
    for (const line of setup) t.diagnostic(line);
    // Started together, the two might still reach the lock one after the other by chance. The first to take it
    // holds it in its LokiStack gate, which waits until this test writes the status again: the other must queue.
    const grantsAtStart = (await lockState().catch(() => undefined))?.grants ?? 0;
    await standIn.stop();
    await clearLokiStackStatus(clusterClient(sandbox, ENV));
    const t0 = performance.now();
    const [onA, onB] = await Promise.all([rollout(queueA, 'on-a'), rollout(queueB, 'on-b')]);
    const ids = [onA.workflowId, onB.workflowId];
    const { state: both } = await lockUntil(
      (s) => s.holder !== null && ids.includes(s.holder.workflowId) && s.queue.length === 1 && ids.includes(s.queue[0]?.workflowId ?? '') && s.queue[0]?.workflowId !== s.holder.workflowId,
      'one of the two holding and the other in line',
    );
    const [holding, waiting] = both.holder?.workflowId === onA.workflowId ? [onA, onB] : [onB, onA];
    const description = await lock().describe();
    assert.equal(description.taskQueue, lockQueue, `${LOCK_ID} runs on the lock task queue L`);
    assert.equal(description.status.name, 'RUNNING');
    standIn.start();
    await Promise.all([completed(onA), completed(onB)]);
    const bothDone = performance.now() - t0;

    const [first, second] = await Promise.all([holding, waiting].map(async (h) => ({ h, ...(await mutatingSpan(h)) })));
    assert.ok(first && second);
    assert.ok(first.to <= second.from, `no overlap: ${first.h.workflowId} ended its changes (${new Date(first.to).toISOString()}) before ${second.h.workflowId} began (${new Date(second.from).toISOString()})`);
    const waited = (await second.h.query(progressQuery)).steps.find((step) => step.name.includes(LOCK_ID))?.detail ?? '';
    assert.equal(waited, `granted after waiting behind rolloutEnvironment ${first.h.workflowId}`, 'the second says whom it waited behind');
    const done = await lockState();
    assert.equal(done.grants - grantsAtStart, 2, 'two leases, one each');
    assert.equal(done.holder, null);
    t.diagnostic(`rollouts on A and B both completed in ${seconds(bothDone)} (the first held in its gate until both were seen); ${first.h.workflowId} then ${second.h.workflowId}; lock on ${description.taskQueue}`);

    // Kill A while nothing runs: no holder, nobody waiting, no watch of a holder in flight.
    await lockUntil((s) => s.holder === null && s.queue.length === 0, 'no holder and no queue');
    for (let i = 0; (await lock().describe()).raw.pendingActivities?.length; i++) {
      assert.ok(i < 100, `${LOCK_ID}'s watch of its last holder ended`);
      await sleep(100);
    }
    const grantsBefore = (await lockState()).grants;
    workerA.child.kill('SIGKILL');
    const exit = await workerA.exited;
    assert.equal(exit.signal, 'SIGKILL');
    // A is dead: nothing it did can reach the lock's history after this point.
    const killedAtEvent = (await lock().fetchHistory()).events?.length ?? 0;

    const k0 = performance.now();
    const afterKill = await rollout(queueB, 'after-kill');
    await completed(afterKill);
    const afterKillMs = performance.now() - k0;
    const state = await lockState();
    assert.equal(state.grants, grantsBefore + 1, 'the lock granted the rollout on B');
    assert.equal(state.holder, null, 'and it released the lease');
    // Everything the lock did after the kill, worker B did.
    const { events } = await lock().fetchHistory();
    const identities = (events ?? [])
      .slice(killedAtEvent)
      .filter((e) => e.workflowTaskCompletedEventAttributes)
      .map((e) => e.workflowTaskCompletedEventAttributes?.identity ?? '');
    assert.ok(identities.length > 0, `${LOCK_ID} made progress after the kill`);
    assert.deepEqual([...new Set(identities)], [workerB.identity], `only worker B (${workerB.identity}) served ${LOCK_ID} after A (${workerA.identity}) was killed`);
    assert.equal((await lock().describe()).taskQueue, lockQueue);
    t.diagnostic(`after SIGKILL of A, a rollout on B completed in ${seconds(afterKillMs)}`);
  });

  it('a holder terminated by hand frees the lease for the next in line at once', async (t) => {
    await standIn.stop();
    await clearLokiStackStatus(clusterClient(sandbox, ENV));
    const holder = await rollout(queueB, 'doomed-holder');
    await waitForActivityInFlight(holder, (type) => type === GATE, 60_000, 50);
    await lockUntil((s) => s.holder?.workflowId === holder.workflowId, `${holder.workflowId} as holder`);
    const waiter = await rollout(queueB, 'next-in-line');
    await lockUntil((s) => s.queue.some((q) => q.workflowId === waiter.workflowId), `${waiter.workflowId} in line`);
    // Nothing writes dev's LokiStack status now: without the terminate, the holder would hold on.
    await sleep(500);
    assert.equal((await lockState()).holder?.workflowId, holder.workflowId, 'the holder still holds while its gate waits');

    const t0 = performance.now();
    await holder.terminate('lock test: the operator gives up on this rollout');
    const terminateMs = performance.now() - t0;
    const { state, at } = await lockUntil((s) => s.holder?.workflowId === waiter.workflowId, `${waiter.workflowId} as holder`, 50, 10_000);
    const latency = at - t0;
    t.diagnostic(`release latency: ${Math.round(latency)} ms from the terminate call (which took ${Math.round(terminateMs)} ms) to ${LOCK_ID} showing the next in line as holder`);
    assert.ok(latency <= RELEASE_LIMIT_MS, `the next in line held the lock ${Math.round(latency)} ms after the terminate (limit ${RELEASE_LIMIT_MS} ms)`);
    assert.deepEqual(state.queue, []);
    assert.equal((await holder.describe()).status.name, 'TERMINATED');

    const w0 = performance.now();
    standIn.start();
    await completed(waiter);
    t.diagnostic(`the next in line completed ${seconds(performance.now() - w0)} after its gate was let pass`);
  });

  it('forged releases, a forged grant and refused acquires change nothing; both runs then complete one after the other', async (t) => {
    await standIn.stop();
    await clearLokiStackStatus(clusterClient(sandbox, ENV));
    const holder = await rollout(queueB, 'holder');
    await waitForActivityInFlight(holder, (type) => type === GATE, 60_000, 50);
    const waiter = await rollout(queueB, 'waiter');
    const { state: before } = await lockUntil(
      (s) => s.holder?.workflowId === holder.workflowId && s.queue.length === 1 && s.queue[0]?.workflowId === waiter.workflowId,
      `${holder.workflowId} holding and ${waiter.workflowId} in line`,
    );
    assert.ok(before.holder);
    const holderRun = { workflowId: before.holder.workflowId, runId: before.holder.runId };
    const lockHistoryBefore = (await lock().fetchHistory()).events?.length ?? 0;

    // Releases naming the holder's run (lockState shows it to anyone) without its token or request ID.
    await lock().signal(lockReleaseSignal, { ...holderRun, requestId: randomUUID() });
    await lock().signal(lockReleaseSignal, { ...holderRun, requestId: randomUUID(), token: randomUUID() });
    await lock().signal(lockReleaseSignal, holderRun);
    // A grant to the waiting run, for a request it never made.
    await waiter.signal(lockGrantedSignal, { environment: ENV, requestId: randomUUID(), token: randomUUID() });
    // Acquires the validator refuses before they reach history: null, and a well-formed one of 1 MB.
    const request: LockRequest = {
      workflowId: `${prefix}-intruder`,
      runId: randomUUID(),
      workflowType: 'rolloutEnvironment',
      environment: ENV,
      requestId: randomUUID(),
      failIfLocked: false,
      supersede: true,
      requestedAt: new Date().toISOString(),
    };
    for (const [name, forged] of [['null', null], ['1 MB', { ...request, purpose: 'x'.repeat(1024 * 1024) }]] as const) {
      const outcome = await lock()
        .executeUpdate(lockAcquireUpdate, { args: [forged as unknown as LockRequest] })
        .then(
          (answer) => `accepted: ${JSON.stringify(answer).slice(0, 200)}`,
          (error: unknown) => error,
        );
      assert.ok(outcome instanceof WorkflowUpdateFailedError, `the ${name} acquire was refused by the validator: ${String(outcome)}`);
    }

    // The signals reached the lock (and the waiter handed the forged grant back); let every task settle.
    await sleep(1_000);
    const { events } = await lock().fetchHistory();
    const newEvents = (events ?? []).slice(lockHistoryBefore);
    const releases = newEvents.filter((e) => e.workflowExecutionSignaledEventAttributes?.signalName === lockReleaseSignal.name);
    assert.equal(releases.length, 4, 'three forged releases, and the waiter returning the forged grant');
    assert.ok(!newEvents.some((e) => e.workflowExecutionUpdateAcceptedEventAttributes), 'no refused acquire reached the lock\'s history');
    assert.ok(JSON.stringify(newEvents).length < 100_000, 'the 1 MB acquire left nothing in history');
    const waiterSignals = (await waiter.fetchHistory()).events?.filter((e) => e.workflowExecutionSignaledEventAttributes?.signalName === lockGrantedSignal.name) ?? [];
    assert.equal(waiterSignals.length, 1, 'the forged grant reached the waiter');

    const afterForgery = await lockState();
    assert.deepEqual(afterForgery.holder, before.holder, 'the holder keeps its lease');
    assert.deepEqual(afterForgery.queue, before.queue, 'the waiter keeps its place');
    assert.equal(afterForgery.grants, before.grants, 'nothing was granted');
    assert.equal((await waiter.query(progressQuery)).phase, 'waiting-for-lock', 'the waiter still waits');
    assert.equal((await holder.describe()).status.name, 'RUNNING');

    const c0 = performance.now();
    standIn.start();
    await completed(holder);
    const holderMs = performance.now() - c0;
    await completed(waiter);
    const waiterMs = performance.now() - c0;
    const [h, w] = [await mutatingSpan(holder), await mutatingSpan(waiter)];
    assert.ok(h.to <= w.from, `one after the other: the holder ended its changes (${new Date(h.to).toISOString()}) before the waiter began (${new Date(w.from).toISOString()})`);
    t.diagnostic(`once the gate could pass: holder completed in ${seconds(holderMs)}, waiter in ${seconds(waiterMs)}`);
  });
});
