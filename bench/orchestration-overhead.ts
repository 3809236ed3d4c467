/**
 * `orchestration_overhead_per_step_ms`: what Temporal orchestration adds per step of a real workflow.
 *
 * Real `bootstrapEnvironment` and `rolloutEnvironment` runs on a real worker (in this process, on a task
 * queue of its own, like the end-to-end harness) against the sandbox: a generated bench environment on the
 * dev cluster with its own bucket, IAM user, secret and namespace (bench/support-estate.ts), so the runs
 * never wait for another run's environment lock. Gates: ExternalSecret synced (the real ESO controller),
 * LokiStack and ClusterLogForwarder Ready (statuses written by the sandbox stand-ins in the Loki and
 * Cluster Logging Operators' place).
 *
 * Per workflow: wall time from the history (WorkflowExecutionStarted → WorkflowExecutionCompleted) minus
 * the union of the time spent inside the activity functions, as measured by the worker around each call
 * (so what remains is scheduling, task round trips, workflow code, the environment lock's messages and
 * history writes), divided by the number of steps — activities and local activities (the read-only steps that run
 * inside a workflow task). The server's view of the activities — ActivityTaskStarted → ActivityTaskCompleted — is
 * printed next to it on stderr.
 *
 * Baseline, side by side in the same run: a plain sequential script making the same external calls —
 * the activity functions of `createActivities`, called directly without Temporal, with the exact inputs
 * the workflow's steps were called with (recorded by the worker: a local activity's marker does not carry its input). Its per-step overhead is its
 * wall time minus its time inside those calls, divided by the number of calls. The reported `ratio`
 * (baseline / value) is therefore far below 1: it says how much of the per-step cost is Temporal's.
 *
 * For scale, stderr also shows the floor of this server and machine: a workflow of the same number of no-op
 * activities (bench/support-noop-workflow.ts) on a second worker in this process, run in each round.
 *
 * `workflow_code_per_workflow_task_ms`: the worker's own share of a workflow task, without the server — the last
 * round's bootstrap and rollout histories replayed BENCH_REPLAYS times (default 20) in this process with the bundle
 * the worker ran (untraced), against the last no-op workflow's history replayed as often with its own bundle:
 * milliseconds of workflow code (the SDK's activation, interceptors, our workflow functions) per workflow task.
 *
 * The first bootstrap creates the environment (and the workflow bundle and caches warm up); it is printed
 * but not counted. Then BENCH_ROUNDS rounds (default 3) of: bootstrap, its script replay, rollout at the same
 * revision, its script replay. Everything the environment created is deleted at the end.
 */
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Context } from '@temporalio/activity';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import { DefaultLogger, NativeConnection, Runtime, Worker, bundleWorkflowCode } from '@temporalio/worker';
import { createActivities } from '../activities/index.ts';
import type { LogstackActivities } from '../domain/activity-contract.ts';
import { GateKinds, WorkflowTypes } from '../domain/index.ts';
import { startStandIns } from '../test/support/processes.ts';
import { endLocksOnTaskQueue } from '../test/worker/sandbox-runs.ts';
import { loadWorkerConfig } from '../config/index.ts';
import { bundleWorkflows } from '../worker/bundle.ts';
import { workerOptions } from '../worker/run.ts';
import { percentile, report } from './report.ts';
import { cleanupOnInterrupt, createEstate, terminateRunsOnTaskQueue } from './support-estate.ts';
import type { NoopActivities } from './support-noop-workflow.ts';

const ROUNDS = Math.max(1, Number(process.env['BENCH_ROUNDS'] ?? '3'));
const REPLAYS = Math.max(2, Number(process.env['BENCH_REPLAYS'] ?? '20'));
/** The no-op workflow's module: the floor's worker runs it, and its replay bundles it. */
const NOOP_WORKFLOWS_PATH = fileURLToPath(new URL('./support-noop-workflow.ts', import.meta.url));

type Interval = readonly [start: number, end: number];
type ActivityFn = (...args: unknown[]) => Promise<unknown>;

/** Wall-clock epoch milliseconds with sub-millisecond resolution (same clock as the server's timestamps here). */
const epochNow = (): number => performance.timeOrigin + performance.now();

function timestampMs(ts: temporal.api.history.v1.IHistoryEvent['eventTime']): number {
  if (!ts) throw new Error('history event without a time');
  return Number(String(ts.seconds ?? 0)) * 1000 + (ts.nanos ?? 0) / 1e6;
}

/** Total length of the union of `intervals`, clipped to [from, to]. */
function unionMs(intervals: readonly Interval[], from: number, to: number): number {
  const sorted = intervals.map(([s, e]): Interval => [Math.max(s, from), Math.min(e, to)]).filter(([s, e]) => e > s).sort((a, b) => a[0] - b[0]);
  let total = 0;
  let current: [number, number] | undefined;
  for (const [s, e] of sorted) {
    if (current && s <= current[1]) current[1] = Math.max(current[1], e);
    else {
      if (current) total += current[1] - current[0];
      current = [s, e];
    }
  }
  return total + (current ? current[1] - current[0] : 0);
}

/** Per-step durations read from a history: where each step's time outside the activity goes. */
interface StepTimes {
  /** ActivityTaskScheduled → ActivityTaskStarted, per activity attempt. */
  readonly scheduleToStartMs: number[];
  /** ActivityTaskStarted → ActivityTaskCompleted/Failed/TimedOut, per activity attempt. */
  readonly startToCloseMs: number[];
  /** WorkflowTaskScheduled → WorkflowTaskCompleted, per workflow task (one task round trip). */
  readonly workflowTaskMs: number[];
}

/** The step durations of `events` (any workflow's history). */
function stepTimes(events: readonly temporal.api.history.v1.IHistoryEvent[]): StepTimes {
  const at = new Map<string, number>();
  const times: StepTimes = { scheduleToStartMs: [], startToCloseMs: [], workflowTaskMs: [] };
  const startedOf = new Map<string, number>();
  const wtScheduledOf = new Map<string, number>();
  for (const e of events) {
    const time = timestampMs(e.eventTime);
    at.set(String(e.eventId), time);
    const wtStarted = e.workflowTaskStartedEventAttributes;
    if (wtStarted) wtScheduledOf.set(String(e.eventId), at.get(String(wtStarted.scheduledEventId)) ?? time);
    const wtCompleted = e.workflowTaskCompletedEventAttributes;
    if (wtCompleted) times.workflowTaskMs.push(time - (wtScheduledOf.get(String(wtCompleted.startedEventId)) ?? time));
    const start = e.activityTaskStartedEventAttributes;
    if (start) {
      startedOf.set(String(start.scheduledEventId), time);
      times.scheduleToStartMs.push(time - (at.get(String(start.scheduledEventId)) ?? time));
    }
    const end = e.activityTaskCompletedEventAttributes ?? e.activityTaskFailedEventAttributes ?? e.activityTaskTimedOutEventAttributes;
    if (end) times.startToCloseMs.push(time - (startedOf.get(String(end.scheduledEventId)) ?? time));
  }
  return times;
}

/** Adds `more` into `into`. */
function addTimes(into: StepTimes, more: StepTimes): void {
  into.scheduleToStartMs.push(...more.scheduleToStartMs);
  into.startToCloseMs.push(...more.startToCloseMs);
  into.workflowTaskMs.push(...more.workflowTaskMs);
}

/** `p50 / p90 / max (n)` of `values` in ms. */
function histogram(values: readonly number[]): string {
  const f = (n: number): string => n.toFixed(1);
  return `p50 ${f(percentile(values, 50))} / p90 ${f(percentile(values, 90))} / max ${f(Math.max(...values))} ms (n=${values.length})`;
}

/** One activity call as the workflow made it (an activity or a local activity), with the input the worker received. */
interface Call {
  readonly type: string;
  readonly args: unknown[];
}

/** What one workflow run's history and the worker's measurements say. */
interface WorkflowFigure {
  readonly label: string;
  readonly wallMs: number;
  readonly steps: number;
  /** Retries of the run's activities, from their started events' attempts (local activities retry in the worker). */
  readonly retries: number;
  readonly insideWorkerMs: number;
  readonly insideHistoryMs: number;
  /** Where the time outside activities went, by history events (summed over the run). */
  readonly split: { readonly workflowTaskDispatchMs: number; readonly workflowTaskMs: number; readonly activityDispatchMs: number };
  readonly calls: readonly Call[];
  readonly times: StepTimes;
  /** Wall time the environment lock alone takes: its local activities, or its round trips (see {@link lockRoundTrips}). */
  readonly lockMs: number;
  readonly history: temporal.api.history.v1.IHistory;
}

/** One script replay. */
interface ScriptFigure {
  readonly wallMs: number;
  readonly insideMs: number;
  readonly steps: number;
}

const estate = await createEstate({ count: 1, gates: [GateKinds.externalSecretsSynced, GateKinds.lokiStackReady, GateKinds.logForwarderReady], purpose: 'oh' });
const env = estate.environments[0];
if (!env) throw new Error('no bench environment');
const interrupt = cleanupOnInterrupt(() => estate.cleanup());
const taskQueue = `bench-overhead-${process.pid}`;

Runtime.install({ logger: new DefaultLogger('WARN') });
const config = loadWorkerConfig({ ...process.env, LOGSTACK_TASK_QUEUE: taskQueue, LOGSTACK_CATALOG: estate.catalogPath });
const raw = createActivities({
  catalogPath: estate.catalogPath,
  stateKeys: config.stateKeys,
  evidenceKey: config.evidenceKey,
  kubectlPath: config.kubectlPath,
  ...(config.kubeconfig ? { kubeconfig: config.kubeconfig } : {}),
  ...(config.awsEndpoint ? { awsEndpoint: config.awsEndpoint } : {}),
  git: { workdir: join(estate.dir, 'worker-clone') },
});
const byName = raw as unknown as Record<string, ActivityFn>;

/**
 * Activities that are orchestration themselves (the environment lock's round trip): a script has no such step,
 * so their time counts as overhead (the lock's messages are local activities: their time is measured in the worker, see `lockMs`) and they are not
 * counted as steps.
 */
const ORCHESTRATION_ONLY: ReadonlySet<string> = new Set(['acquireLock', 'releaseLock', 'awaitLockHolderClose']);

/** Time inside each activity function, per workflow run: the steps', and the lock's (run as local activities). */
const inside = new Map<string, Interval[]>();
const insideLock = new Map<string, Interval[]>();
/**
 * The steps' calls that succeeded, per workflow run, in order, with their inputs: activities and local activities
 * alike (a local activity's marker in history does not carry its input), for the script replay.
 */
const succeeded = new Map<string, Call[]>();
const timed = Object.fromEntries(
  Object.entries(byName).map(([name, fn]) => [
    name,
    async (...args: unknown[]): Promise<unknown> => {
      if (name === 'awaitLockHolderClose') return fn(...args);
      const into = ORCHESTRATION_ONLY.has(name) ? insideLock : inside;
      const runId = Context.current().info.workflowExecution?.runId ?? '-';
      const start = epochNow();
      const input = structuredClone(args);
      try {
        const result = await fn(...args);
        if (into === inside) {
          const calls = succeeded.get(runId) ?? [];
          calls.push({ type: name, args: input });
          succeeded.set(runId, calls);
        }
        return result;
      } finally {
        const list = into.get(runId) ?? [];
        list.push([start, epochNow()]);
        into.set(runId, list);
      }
    },
  ]),
) as unknown as LogstackActivities;

const nativeConnection = await NativeConnection.connect({ address: config.temporal.address });
const worker = await Worker.create({ ...workerOptions(config, nativeConnection), activities: timed });
const running = worker.run();
const noopQueue = `${taskQueue}-noop`;
const noopWorker = await Worker.create({
  connection: nativeConnection,
  namespace: config.temporal.namespace,
  taskQueue: noopQueue,
  workflowsPath: NOOP_WORKFLOWS_PATH,
  activities: { noop: (step: number): Promise<number> => Promise.resolve(step) } satisfies NoopActivities,
});
const noopRunning = noopWorker.run();
const standIns = await startStandIns();
const connection = await Connection.connect({ address: config.temporal.address });
const client = new Client({ connection });
interrupt.stopFirst(async () => {
  // The workers run in this process and end with it; their workflows would wait on the server.
  for (const queue of [taskQueue, noopQueue]) await terminateRunsOnTaskQueue(client, queue, 'the orchestration overhead benchmark was interrupted');
  standIns.kill('SIGTERM');
});

async function figureOf(label: string, handle: WorkflowHandle): Promise<WorkflowFigure> {
  const fetched = await handle.fetchHistory();
  const events = fetched.events ?? [];
  const started = events.find((e) => e.workflowExecutionStartedEventAttributes);
  const completed = events.find((e) => e.workflowExecutionCompletedEventAttributes);
  if (!started || !completed) throw new Error(`${label}: the history has no start or completion`);
  const from = timestampMs(started.eventTime);
  const to = timestampMs(completed.eventTime);
  const at = new Map<string, number>();
  const timeOf = (id: unknown): number | undefined => at.get(String(id));
  const startedAt = new Map<string, number>();
  const history: Interval[] = [];
  const split = { workflowTaskDispatchMs: 0, workflowTaskMs: 0, activityDispatchMs: 0 };
  let retries = 0;
  for (const e of events) {
    const time = timestampMs(e.eventTime);
    at.set(String(e.eventId), time);
    const wtStarted = e.workflowTaskStartedEventAttributes;
    if (wtStarted) split.workflowTaskDispatchMs += time - (timeOf(wtStarted.scheduledEventId) ?? time);
    const wtCompleted = e.workflowTaskCompletedEventAttributes;
    if (wtCompleted) split.workflowTaskMs += time - (timeOf(wtCompleted.startedEventId) ?? time);
    const start = e.activityTaskStartedEventAttributes;
    if (start) {
      startedAt.set(String(start.scheduledEventId), time);
      split.activityDispatchMs += time - (timeOf(start.scheduledEventId) ?? time);
      retries += (start.attempt ?? 1) - 1;
    }
    const end = e.activityTaskCompletedEventAttributes ?? e.activityTaskFailedEventAttributes ?? e.activityTaskTimedOutEventAttributes;
    if (end) {
      const s = startedAt.get(String(end.scheduledEventId));
      if (s !== undefined) history.push([s, timestampMs(e.eventTime)]);
    }
  }
  const { runId } = await handle.describe();
  const calls = succeeded.get(runId) ?? [];
  return {
    label,
    wallMs: to - from,
    steps: calls.length,
    retries,
    insideWorkerMs: unionMs(inside.get(runId) ?? [], from, to),
    insideHistoryMs: unionMs(history, from, to),
    split,
    calls,
    times: stepTimes(events),
    // Local activities leave one marker in the workflow task that ran them: their time is measured in the worker.
    lockMs: lockRoundTrips(events, inside.get(runId) ?? []) + unionMs(insideLock.get(runId) ?? [], from, to),
    history: fetched,
  };
}

let sequence = 0;
async function runWorkflow(type: string, input: object, label: string): Promise<WorkflowFigure> {
  const handle = await client.workflow.start(type, { taskQueue, workflowId: `bench-overhead-${estate.prefix}${++sequence}`, args: [input] });
  await handle.result();
  return figureOf(label, handle);
}

/** Milliseconds per step of a workflow of `steps` no-op activities (history start → completion), its step times and history. */
async function noopFloor(steps: number): Promise<{ perStepMs: number; times: StepTimes; history: temporal.api.history.v1.IHistory }> {
  const handle = await client.workflow.start('noopSteps', { taskQueue: noopQueue, workflowId: `bench-overhead-noop-${estate.prefix}${++sequence}`, args: [steps] });
  await handle.result();
  const history = await handle.fetchHistory();
  const events = history.events ?? [];
  const first = events[0];
  const last = events.at(-1);
  if (!first || !last) throw new Error('no-op workflow without history');
  return { perStepMs: (timestampMs(last.eventTime) - timestampMs(first.eventTime)) / steps, times: stepTimes(events), history };
}

const workflowTasksOf = (history: temporal.api.history.v1.IHistory): number =>
  (history.events ?? []).filter((e) => e.workflowTaskCompletedEventAttributes).length;

/**
 * Replays each of `histories` `REPLAYS` times in one replay worker of this process (no server) and returns the
 * milliseconds per workflow task. The first history of the batch is not counted: it pays the replay worker's
 * start and the bundle's first evaluation.
 */
async function replayMsPerWorkflowTask(code: string, histories: readonly temporal.api.history.v1.IHistory[]): Promise<number> {
  const batch = [histories[0], ...Array.from({ length: REPLAYS }, () => histories).flat()].map((history, i) => ({ workflowId: `replay-${i}`, history }));
  let tasks = 0;
  let ms = 0;
  let last = performance.now();
  let index = 0;
  for await (const result of Worker.runReplayHistories({ workflowBundle: { code }, replayName: 'bench-overhead-replay' }, batch)) {
    if (result.error) throw result.error;
    const now = performance.now();
    if (index > 0) {
      ms += now - last;
      tasks += workflowTasksOf(batch[index]?.history ?? {});
    }
    last = now;
    index++;
  }
  return ms / tasks;
}

/** The same calls, in the same order, with the same inputs — directly, without Temporal. */
async function replay(all: readonly Call[]): Promise<ScriptFigure> {
  let insideMs = 0;
  const calls = all.filter((c) => !ORCHESTRATION_ONLY.has(c.type));
  const started = performance.now();
  for (const call of calls) {
    const fn = byName[call.type];
    if (!fn) throw new Error(`no activity ${call.type}`);
    const s = performance.now();
    await fn(...call.args);
    insideMs += performance.now() - s;
  }
  return { wallMs: performance.now() - started, insideMs, steps: calls.length };
}

/**
 * Wall time a run spends on the environment lock alone, which a run without a lock (the no-op floor) does not
 * pay, as far as the history shows it (histories from before the lock's messages became local activities, whose
 * time the worker measures instead): each `acquireLock` from its scheduling to the end of the workflow task that takes its answer, and each
 * release signal from its initiation to the end of the workflow task that follows its delivery (the task that
 * would otherwise have completed the run) — less the time the run's own steps spent inside activities in that window
 * (a local step in the workflow task that takes the answer, such as the deployed-state read under the lock, is a step).
 */
function lockRoundTrips(events: readonly temporal.api.history.v1.IHistoryEvent[], steps: readonly Interval[]): number {
  const scheduledAt = new Map<string, number>();
  let from: number | undefined;
  let answered = false;
  let total = 0;
  for (const e of events) {
    const time = timestampMs(e.eventTime);
    const scheduled = e.activityTaskScheduledEventAttributes;
    if (scheduled?.activityType?.name === 'acquireLock') scheduledAt.set(String(e.eventId), time);
    const completed = e.activityTaskCompletedEventAttributes;
    if (completed && scheduledAt.has(String(completed.scheduledEventId))) {
      from = scheduledAt.get(String(completed.scheduledEventId));
      answered = true;
    }
    if (e.signalExternalWorkflowExecutionInitiatedEventAttributes) from = time;
    if (e.externalWorkflowExecutionSignaledEventAttributes && from !== undefined) answered = true;
    if (e.workflowTaskCompletedEventAttributes && answered && from !== undefined) {
      total += time - from - unionMs(steps, from, time);
      from = undefined;
      answered = false;
    }
  }
  return total;
}

const ms = (n: number): string => `${n.toFixed(1)} ms`;
function describe(w: WorkflowFigure, script?: ScriptFigure): string {
  const retries = w.retries > 0 ? ` (${w.retries} retries)` : '';
  const line =
    `${w.label}: wall ${ms(w.wallMs)}, ${w.steps} steps${retries}; inside activities ${ms(w.insideWorkerMs)} → ` +
    `${ms((w.wallMs - w.insideWorkerMs) / w.steps)}/step (history ActivityTaskStarted→Completed ${ms(w.insideHistoryMs)} → ${ms((w.wallMs - w.insideHistoryMs) / w.steps)}/step; ` +
    `outside activities: workflow-task dispatch ${ms(w.split.workflowTaskDispatchMs)}, workflow-task processing ${ms(w.split.workflowTaskMs)}, activity dispatch ${ms(w.split.activityDispatchMs)}; ` +
    `the environment lock ${ms(w.lockMs)})`;
  return script ? `${line}; script replay: wall ${ms(script.wallMs)}, inside calls ${ms(script.insideMs)} → ${ms((script.wallMs - script.insideMs) / script.steps)}/step\n` : `${line}\n`;
}

try {
  const revision = estate.commit;
  const cold = await runWorkflow(WorkflowTypes.bootstrapEnvironment, { environment: env.name, revision }, 'bootstrapEnvironment (first: creates everything; not counted)');
  process.stderr.write(describe(cold));
  const ours = { overheadMs: 0, steps: 0, lockMs: 0 };
  const baseline = { overheadMs: 0, steps: 0 };
  const floor = { ms: 0, steps: 0 };
  const ourTimes: StepTimes = { scheduleToStartMs: [], startToCloseMs: [], workflowTaskMs: [] };
  const floorTimes: StepTimes = { scheduleToStartMs: [], startToCloseMs: [], workflowTaskMs: [] };
  let lastOurs: temporal.api.history.v1.IHistory[] = [];
  let lastNoop: temporal.api.history.v1.IHistory[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    lastOurs = [];
    lastNoop = [];
    for (const [type, input] of [
      [WorkflowTypes.bootstrapEnvironment, { environment: env.name, revision }],
      [WorkflowTypes.rolloutEnvironment, { environment: env.name, revision, reason: 'orchestration overhead benchmark' }],
    ] as const) {
      const w = await runWorkflow(type, input, `${type} round ${round}`);
      const s = await replay(w.calls);
      const { perStepMs: noop, times, history: noopHistory } = await noopFloor(w.steps);
      lastOurs.push(w.history);
      lastNoop.push(noopHistory);
      process.stderr.write(`${describe(w, s).trimEnd()}; floor: ${w.steps} no-op activities ${ms(noop)}/step\n`);
      addTimes(ourTimes, w.times);
      addTimes(floorTimes, times);
      floor.ms += noop * w.steps;
      floor.steps += w.steps;
      ours.overheadMs += w.wallMs - w.insideWorkerMs;
      ours.lockMs += w.lockMs;
      ours.steps += w.steps;
      baseline.overheadMs += s.wallMs - s.insideMs;
      baseline.steps += s.steps;
    }
  }
  process.stderr.write(`floor of this server and machine: ${ms(floor.ms / floor.steps)}/step; load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}\n`);
  for (const [what, key] of [
    ['activity schedule-to-start', 'scheduleToStartMs'],
    ['workflow task round trip (scheduled → completed)', 'workflowTaskMs'],
    ['activity start-to-close', 'startToCloseMs'],
  ] as const) {
    process.stderr.write(`${what}: ours ${histogram(ourTimes[key])}; no-op floor ${histogram(floorTimes[key])}\n`);
  }
  const perStep = ours.overheadMs / ours.steps;
  const withoutLock = (ours.overheadMs - ours.lockMs) / ours.steps;
  const floorPerStep = floor.ms / floor.steps;
  process.stderr.write(
    `ours ${ms(perStep)}/step = ${(perStep / floorPerStep).toFixed(2)} × the floor; of it the environment lock ${ms(ours.lockMs / ours.steps)}/step; ` +
      `without the lock ${ms(withoutLock)}/step = ${(withoutLock / floorPerStep).toFixed(2)} × the floor\n`,
  );
  report('orchestration_overhead_per_step_ms', perStep, 'ms', baseline.overheadMs / baseline.steps);
  // The same figure against the no-op floor of this server and machine, measured in the same rounds:
  // ratio = floor / ours (1 would be the server's own cost; the goal is ≥ 0.8, i.e. ours ≤ 1.25 × the floor).
  report('orchestration_overhead_vs_noop_floor_ms', perStep, 'ms', floorPerStep);
  // What is left once the lock's own round trips are taken out (a figure to explain the one above, not a goal).
  report('orchestration_overhead_without_lock_vs_noop_floor_ms', withoutLock, 'ms', floorPerStep);

  // The worker's own share of a workflow task, without the server: the last round's histories replayed here.
  const ourCode = await bundleWorkflows(false, new DefaultLogger('WARN'));
  const noopCode = (await bundleWorkflowCode({ workflowsPath: NOOP_WORKFLOWS_PATH, logger: new DefaultLogger('WARN') })).code;
  const ourReplay = await replayMsPerWorkflowTask(ourCode, lastOurs);
  const noopReplay = await replayMsPerWorkflowTask(noopCode, lastNoop);
  process.stderr.write(
    `workflow code per workflow task (the last round's histories replayed ${REPLAYS} × in this process, no server): ours ${ourReplay.toFixed(2)} ms, ` +
      `the no-op workflow ${noopReplay.toFixed(2)} ms\n`,
  );
  report('workflow_code_per_workflow_task_ms', ourReplay, 'ms', noopReplay);
} finally {
  await endLocksOnTaskQueue(client, [env.name], taskQueue, 'end of the orchestration overhead benchmark').catch(() => []);
  standIns.kill('SIGTERM');
  worker.shutdown();
  noopWorker.shutdown();
  await running.catch(() => undefined);
  await noopRunning.catch(() => undefined);
  await nativeConnection.close();
  await connection.close();
  await estate.cleanup();
  interrupt.release();
}
