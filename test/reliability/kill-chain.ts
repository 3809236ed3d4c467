/**
 * Runs one workflow through a chain of kill-matrix workers (`kill-worker.ts`): each worker process has one kill
 * point and must die by SIGKILL exactly there; the next worker, on the same task queue, picks the killed
 * activity up once Temporal's heartbeat timeout has expired and runs until its own kill point; a last worker
 * without a kill point takes the workflow to its result. The history then says, for every kill, which attempt
 * of the killed activity completed, on which worker, and when.
 *
 * Each next worker is started ahead, held before polling (`LOGSTACK_KILL_HOLD`), and released the moment the
 * previous one died, so a worker's start-up time never adds to the recovery being measured.
 */
import { defaultPayloadConverter } from '@temporalio/common';
import type { Client, WorkflowHandle } from '@temporalio/client';
import proto, { type temporal } from '@temporalio/proto';
import { startWorkerProcess, stopWorker, type WorkerExit, type WorkerProcess, type WorkerRuntime } from '../support/processes.ts';
import { formatKillPoint, HELD_LINE, readKillLog, type KillPhase, type KillPoint } from './kill-worker.ts';

/** The kill-matrix worker entry, relative to the repository root. */
export const KILL_WORKER_ENTRY = 'test/reliability/kill-worker.ts';

/** How long one link of the chain may take to reach its kill point (a heartbeat timeout plus a workflow's work). */
const LINK_DEADLINE_MS = 240_000;
/** How long the last worker may take to finish the workflow. */
const RESULT_DEADLINE_MS = 300_000;
/** How long a worker may take to start (up to held, or from released to polling). */
const START_DEADLINE_MS = 180_000;
/** How long a stopping worker may take before it is killed. */

const STARTED = proto.temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

/** One activity of a clean run, in the order the workflow scheduled it. */
export interface PlannedActivity {
  readonly activityId: string;
  readonly activityType: string;
  /** The Web UI summary of the call, e.g. "apply gitops/overlays/dev at 3f2c1a9 to dev". */
  readonly summary: string;
  /** It heartbeated that it was waiting (details with `waitingFor`): a wait, also killed in its middle. */
  readonly wait: boolean;
}

/** What happened at one kill point. */
export interface KillOutcome {
  readonly point: string;
  readonly phase: KillPhase;
  readonly activityId: string;
  readonly activityType: string;
  readonly summary: string;
  /** The worker logged the kill at this point (on attempt 1, or the first attempt that reached it) and exited by SIGKILL. */
  readonly hit: boolean;
  readonly exit: { readonly code: number | null; readonly signal: string | null } | null;
  /** Right after the kill, Temporal still had the activity started (the killed attempt) on the killed worker. */
  readonly startedOnKilledWorker: boolean;
  /** Heartbeat kills: what the heartbeat Temporal recorded before the kill says the activity was waiting for. */
  readonly recordedHeartbeat: string | null;
  /** The attempt that completed the activity, and on which worker. */
  readonly completedAttempt: number | null;
  readonly completedBy: string | null;
  /** Milliseconds from the kill to the completion of the retried activity. */
  readonly recoveredMs: number | null;
  /** The worker killed here, `<pid>@<host>`. */
  readonly killedWorker: string | null;
  /** Everything that went wrong at this point; empty when it held. */
  readonly problems: string[];
}

/** A workflow's result after a chain, the kill outcomes and the history, and the last (still running) worker. */
export interface ChainResult {
  readonly workflowId: string;
  readonly outcomes: KillOutcome[];
  readonly result: unknown;
  readonly failure: string | null;
  readonly lastWorker: WorkerProcess;
  readonly history: HistoryEvent[];
  readonly seconds: number;
}

/** Every worker process started here and not yet known to have exited. */
const spawned = new Set<WorkerProcess>();

/** Kills every worker process this module started that still runs (after a failure). Returns how many. */
export async function killLeftoverWorkers(): Promise<number> {
  const alive = [...spawned].filter((w) => w.child.exitCode === null && w.child.signalCode === null);
  for (const w of alive) w.child.kill('SIGKILL');
  await Promise.all(alive.map((w) => w.exited));
  spawned.clear();
  return alive.length;
}

/** A worker process started ahead, waiting for {@link HeldWorker.release} to poll. */
export interface HeldWorker {
  readonly process: WorkerProcess;
  /** Lets it poll; resolves once it runs. */
  release(): Promise<void>;
}

async function outputMatches(worker: WorkerProcess, pattern: RegExp, what: string): Promise<void> {
  const deadline = performance.now() + START_DEADLINE_MS;
  while (!pattern.test(worker.output())) {
    if (worker.child.exitCode !== null || worker.child.signalCode !== null) {
      throw new Error(
        `worker exited with ${worker.child.exitCode ?? worker.child.signalCode} before ${what}:\n${worker.output().slice(-3000)}`,
      );
    }
    if (performance.now() > deadline)
      throw new Error(`worker not ${what} after ${START_DEADLINE_MS / 1000} s:\n${worker.output().slice(-3000)}`);
    await sleep(50);
  }
}

/**
 * Starts a kill-matrix worker on `taskQueue` (without a point it never kills) and waits until it is held:
 * connected and bundled, not polling. `runtime`: Node (default) or Deno.
 */
export async function startHeldWorker(
  taskQueue: string,
  options: { point?: KillPoint; workflowId?: string; logFile: string; runtime?: WorkerRuntime; env?: Readonly<Record<string, string>> },
): Promise<HeldWorker> {
  const worker = startWorkerProcess({
    taskQueue,
    entry: KILL_WORKER_ENTRY,
    ...(options.runtime ? { runtime: options.runtime } : {}),
    env: {
      LOGSTACK_KILL_AT: options.point ? formatKillPoint(options.point) : '',
      LOGSTACK_KILL_WORKFLOW: options.workflowId ?? '',
      LOGSTACK_KILL_LOG: options.logFile,
      LOGSTACK_KILL_HOLD: '1',
      LOGSTACK_SHUTDOWN_GRACE_SECONDS: '5',
      ...options.env,
    },
  });
  spawned.add(worker);
  void worker.exited.then(() => spawned.delete(worker));
  const held = HELD_LINE.replace(/[{}"]/g, (c) => `\\${c}`);
  await outputMatches(worker, new RegExp(held), 'held');
  return {
    process: worker,
    async release() {
      worker.child.kill('SIGUSR2');
      await outputMatches(worker, /"state":"RUNNING"/, 'RUNNING');
    },
  };
}

/** Starts a worker without kill point and lets it poll. */
export async function startPlainWorker(taskQueue: string, logFile: string): Promise<WorkerProcess> {
  const held = await startHeldWorker(taskQueue, { logFile });
  await held.release();
  return held.process;
}


const millis = (ts: { seconds?: unknown; nanos?: number | null } | null | undefined): number | null => {
  if (!ts) return null;
  const s = ts.seconds as { toNumber?: () => number } | number | string | null | undefined;
  const seconds = typeof s === 'object' && s?.toNumber ? s.toNumber() : Number(s ?? 0);
  return seconds * 1000 + Math.floor((ts.nanos ?? 0) / 1e6);
};

/** The activities of a history in scheduling order, with their summaries and inputs. */
export function scheduledActivities(
  history: readonly HistoryEvent[],
): (Omit<PlannedActivity, 'wait'> & { readonly input: unknown })[] {
  const planned: (Omit<PlannedActivity, 'wait'> & { input: unknown })[] = [];
  for (const e of history) {
    const a = e.activityTaskScheduledEventAttributes;
    if (!a?.activityId || !a.activityType?.name) continue;
    const summaryPayload = e.userMetadata?.summary;
    const inputPayload = a.input?.payloads?.[0];
    planned.push({
      activityId: a.activityId,
      activityType: a.activityType.name,
      summary: summaryPayload ? String(defaultPayloadConverter.fromPayload(summaryPayload)) : '',
      input: inputPayload ? defaultPayloadConverter.fromPayload(inputPayload) : undefined,
    });
  }
  return planned;
}

/** The result of each completed activity of a history, by activity id. */
export function activityResults(history: readonly HistoryEvent[]): Map<string, unknown> {
  const byScheduled = new Map<string, string>();
  const results = new Map<string, unknown>();
  for (const e of history) {
    const scheduled = e.activityTaskScheduledEventAttributes;
    if (scheduled?.activityId) byScheduled.set(String(e.eventId), scheduled.activityId);
    const completed = e.activityTaskCompletedEventAttributes;
    const id = completed ? byScheduled.get(String(completed.scheduledEventId)) : undefined;
    const payload = completed?.result?.payloads?.[0];
    if (id) results.set(id, payload ? defaultPayloadConverter.fromPayload(payload) : undefined);
  }
  return results;
}

/** The plan of a clean run: its activities, each marked as a wait when it logged a waiting heartbeat. */
export function planFromCleanRun(
  history: readonly HistoryEvent[],
  logFile: string,
  workflowId: string,
): PlannedActivity[] {
  const waits = new Set(
    readKillLog(logFile)
      .filter((r) => r.workflowId === workflowId && r.event === 'waiting')
      .map((r) => r.activityId),
  );
  return scheduledActivities(history).map(({ activityId, activityType, summary }) => ({
    activityId,
    activityType,
    summary,
    wait: waits.has(activityId),
  }));
}

/** Where a run's activities differ from the plan (id and type, in order); empty when they are the same. */
export function planDifference(plan: readonly PlannedActivity[], history: readonly HistoryEvent[]): string | null {
  const expected = plan.map((a) => `${a.activityId}:${a.activityType}`).join(' ');
  const actual = scheduledActivities(history)
    .map((a) => `${a.activityId}:${a.activityType}`)
    .join(' ');
  return expected === actual ? null : `the run scheduled [${actual}], the clean run [${expected}]`;
}

/** How each activity of a history ended: the attempt and worker of its final start, and the completion time. */
function activityEnds(
  history: readonly HistoryEvent[],
): Map<string, { attempt: number; identity: string; completedAt: number | null }> {
  const byScheduled = new Map<string, string>();
  const ends = new Map<string, { attempt: number; identity: string; completedAt: number | null }>();
  for (const e of history) {
    const scheduled = e.activityTaskScheduledEventAttributes;
    if (scheduled?.activityId) byScheduled.set(String(e.eventId), scheduled.activityId);
    const started = e.activityTaskStartedEventAttributes;
    const startedId = started ? byScheduled.get(String(started.scheduledEventId)) : undefined;
    if (started && startedId)
      ends.set(startedId, { attempt: started.attempt ?? 0, identity: started.identity ?? '', completedAt: null });
    const completed = e.activityTaskCompletedEventAttributes;
    const completedId = completed ? byScheduled.get(String(completed.scheduledEventId)) : undefined;
    const end = completedId ? ends.get(completedId) : undefined;
    if (completedId && end) ends.set(completedId, { ...end, completedAt: millis(e.eventTime) });
  }
  return ends;
}

/** Resolves once the activity `activityId` of the workflow has completed (polls the history). */
export async function activityCompleted(
  handle: WorkflowHandle,
  activityId: string,
  signal: AbortSignal,
): Promise<boolean> {
  while (!signal.aborted) {
    const history = (await handle.fetchHistory()).events ?? [];
    const end = activityEnds(history).get(activityId);
    if (end?.completedAt != null) return true;
    if (
      history.some(
        (e) =>
          e.workflowExecutionCompletedEventAttributes ||
          e.workflowExecutionFailedEventAttributes ||
          e.workflowExecutionTerminatedEventAttributes,
      )
    )
      return false;
    await sleep(500);
  }
  return false;
}

async function pendingActivity(
  handle: WorkflowHandle,
  activityId: string,
): Promise<temporal.api.workflow.v1.IPendingActivityInfo | undefined> {
  const description = await handle.describe();
  return (description.raw.pendingActivities ?? []).find((a) => a.activityId === activityId);
}

function waitingForOf(pending: temporal.api.workflow.v1.IPendingActivityInfo | undefined): string | null {
  const payload = pending?.heartbeatDetails?.payloads?.[0];
  if (!payload) return null;
  const details = defaultPayloadConverter.fromPayload<{ waitingFor?: unknown } | null>(payload);
  return typeof details?.waitingFor === 'string' ? details.waitingFor : null;
}

type LinkEnd = { kind: 'exit'; exit: WorkerExit } | { kind: 'closed' } | { kind: 'deadline' };

/** Options of {@link runChain}. */
export interface ChainOptions {
  readonly client: Client;
  readonly taskQueue: string;
  readonly workflowType: string;
  readonly workflowId: string;
  readonly args: unknown[];
  readonly plan: readonly PlannedActivity[];
  readonly phase: KillPhase;
  readonly logFile: string;
  /** Awaited before a worker is let poll; `point` is undefined for the last worker. */
  readonly beforeRelease?: (point: KillPoint | undefined) => Promise<void>;
  /** Called once the workflow has started. */
  readonly onStarted?: (handle: WorkflowHandle) => void;
  /** Called after each kill. */
  readonly onKill?: (outcome: KillOutcome) => void;
}

/**
 * Kills at `phase` of every planned activity (of every wait for `heartbeat`) in order, one worker per kill
 * point, starting the workflow once the first worker polls; then lets a last worker finish it and judges each
 * kill from the history. The last worker is left running.
 */
export async function runChain(options: ChainOptions): Promise<ChainResult> {
  const { client, taskQueue, workflowId, phase, logFile } = options;
  const started = performance.now();
  const points: KillPoint[] = options.plan
    .filter((a) => phase !== 'heartbeat' || a.wait)
    .map((a) => ({ activityType: a.activityType, phase, activityId: a.activityId }));
  const summaries = new Map(options.plan.map((a) => [a.activityId, a.summary]));
  const held = (i: number): Promise<HeldWorker> => {
    const point = points[i];
    return startHeldWorker(taskQueue, { ...(point ? { point } : {}), workflowId, logFile });
  };
  const outcomes: KillOutcome[] = [];
  let handle: WorkflowHandle | undefined;
  let closed = false;
  let settled: Promise<LinkEnd> | undefined;
  let next = held(0);
  let nextIndex = 0;

  for (let i = 0; i < points.length; i++) {
    const point = points[i] as KillPoint;
    const activityId = point.activityId ?? '';
    const base = {
      point: formatKillPoint(point),
      phase,
      activityId,
      activityType: point.activityType,
      summary: summaries.get(activityId) ?? '',
    };
    const blank = {
      exit: null,
      startedOnKilledWorker: false,
      recordedHeartbeat: null,
      completedAttempt: null,
      completedBy: null,
      recoveredMs: null,
      killedWorker: null,
    };
    if (closed) {
      outcomes.push({ ...base, ...blank, hit: false, problems: ['not reached: the workflow had already closed'] });
      continue;
    }
    const current = await next;
    next = held(i + 1);
    nextIndex = i + 1;
    await options.beforeRelease?.(point);
    await current.release();
    const worker = current.process;
    if (!handle) {
      handle = await client.workflow.start(options.workflowType, { taskQueue, workflowId, args: options.args });
      options.onStarted?.(handle);
      settled = handle.result().then(
        (): LinkEnd => ((closed = true), { kind: 'closed' }),
        (): LinkEnd => ((closed = true), { kind: 'closed' }),
      );
    }
    let timer: NodeJS.Timeout | undefined;
    const end: LinkEnd = await Promise.race([
      worker.exited.then((exit): LinkEnd => ({ kind: 'exit', exit })),
      settled as Promise<LinkEnd>,
      new Promise<LinkEnd>((resolve) => (timer = setTimeout(() => resolve({ kind: 'deadline' }), LINK_DEADLINE_MS))),
    ]);
    clearTimeout(timer);
    const problems: string[] = [];
    if (end.kind !== 'exit') {
      problems.push(
        end.kind === 'closed'
          ? 'never hit: the workflow closed first'
          : `never hit within ${LINK_DEADLINE_MS / 1000} s`,
      );
      await stopWorker(worker);
      const outcome: KillOutcome = { ...base, ...blank, hit: false, problems };
      outcomes.push(outcome);
      options.onKill?.(outcome);
      continue;
    }
    const exit = { code: end.exit.code, signal: end.exit.signal };
    const killed = readKillLog(logFile).find((r) => r.event === 'kill' && r.pid === worker.child.pid);
    if (end.exit.signal !== 'SIGKILL')
      problems.push(
        `the worker exited with ${end.exit.code ?? end.exit.signal}, not by SIGKILL:\n${worker.output().slice(-1500)}`,
      );
    if (!killed) problems.push('the worker logged no kill');
    else if (killed.point !== base.point || killed.workflowId !== workflowId)
      problems.push(`the worker killed at ${killed.point} of ${killed.workflowId}, not here`);
    const killedAttempt = killed?.attempt ?? 1;
    const hit = problems.length === 0;
    const pending = await pendingActivity(handle, activityId);
    const startedOnKilledWorker =
      pending?.state === STARTED && pending.attempt === killedAttempt && pending.lastWorkerIdentity === worker.identity;
    if (!startedOnKilledWorker) {
      problems.push(
        `right after the kill Temporal did not have ${point.activityType} started on attempt ${killedAttempt} on the killed worker ` +
          `(state ${pending?.state ?? 'not pending'}, attempt ${pending?.attempt ?? '-'}, worker ${pending?.lastWorkerIdentity ?? '-'})`,
      );
    }
    let recordedHeartbeat: string | null = null;
    if (phase === 'heartbeat') {
      recordedHeartbeat = waitingForOf(pending);
      if (recordedHeartbeat === null) problems.push('Temporal recorded no waiting heartbeat before the kill');
      else if (killed?.waitingFor !== recordedHeartbeat)
        problems.push(`Temporal recorded "${recordedHeartbeat}", the worker died after "${killed?.waitingFor ?? '-'}"`);
    }
    const outcome: KillOutcome = {
      ...base,
      ...blank,
      hit,
      exit,
      startedOnKilledWorker,
      recordedHeartbeat,
      killedWorker: hit ? worker.identity : null,
      problems,
    };
    outcomes.push(outcome);
    options.onKill?.(outcome);
  }

  let last = await next;
  if (nextIndex !== points.length) {
    // The workflow closed before the last kill points: the worker held for the next one is not the last worker.
    await stopWorker(last.process);
    last = await held(points.length);
  }
  await options.beforeRelease?.(undefined);
  await last.release();
  if (!handle) throw new Error('a chain needs at least one kill point');
  let result: unknown = null;
  let failure: string | null = null;
  let timer: NodeJS.Timeout | undefined;
  try {
    result = await Promise.race([
      handle.result(),
      new Promise(
        (_, reject) =>
          (timer = setTimeout(
            () => reject(new Error(`no result within ${RESULT_DEADLINE_MS / 1000} s`)),
            RESULT_DEADLINE_MS,
          )),
      ),
    ]);
  } catch (error) {
    failure =
      error instanceof Error
        ? `${error.message}${error.cause instanceof Error ? `: ${error.cause.message}` : ''}`
        : String(error);
  } finally {
    clearTimeout(timer);
  }
  const history = (await handle.fetchHistory()).events ?? [];
  const ends = activityEnds(history);
  const kills = new Map(
    readKillLog(logFile)
      .filter((r) => r.event === 'kill' && r.workflowId === workflowId)
      .map((r) => [r.activityId, { at: r.at, attempt: r.attempt }]),
  );
  const judged = outcomes.map((o): KillOutcome => {
    if (!o.hit) return o;
    const end = ends.get(o.activityId);
    const problems = [...o.problems];
    if (failure !== null) problems.push(`the workflow did not complete: ${failure}`);
    if (!end || end.completedAt === null) problems.push('the killed activity never completed');
    else {
      const killedAttempt = kills.get(o.activityId)?.attempt ?? 1;
      if (end.attempt <= killedAttempt) problems.push(`completed on attempt ${end.attempt}: the killed attempt ${killedAttempt} was not retried`);
      if (end.identity === o.killedWorker) problems.push('completed by the killed worker');
    }
    const killedAt = kills.get(o.activityId)?.at;
    return {
      ...o,
      completedAttempt: end?.attempt ?? null,
      completedBy: end?.identity ?? null,
      recoveredMs: end?.completedAt != null && killedAt !== undefined ? end.completedAt - killedAt : null,
      problems,
    };
  });
  return {
    workflowId,
    outcomes: judged,
    result,
    failure,
    lastWorker: last.process,
    history,
    seconds: (performance.now() - started) / 1000,
  };
}

/** Runs a workflow to its result on `worker` (which must poll `taskQueue`), without kills. */
export async function runClean(options: {
  client: Client;
  taskQueue: string;
  workflowType: string;
  workflowId: string;
  args: unknown[];
}): Promise<{ result: unknown; history: HistoryEvent[]; seconds: number }> {
  const started = performance.now();
  const handle = await options.client.workflow.start(options.workflowType, {
    taskQueue: options.taskQueue,
    workflowId: options.workflowId,
    args: options.args,
  });
  let timer: NodeJS.Timeout | undefined;
  const result = await Promise.race([
    handle.result(),
    new Promise(
      (_, reject) =>
        (timer = setTimeout(
          () => reject(new Error(`${options.workflowId}: no result within ${RESULT_DEADLINE_MS / 1000} s`)),
          RESULT_DEADLINE_MS,
        )),
    ),
  ]).finally(() => clearTimeout(timer));
  const history = (await handle.fetchHistory()).events ?? [];
  return { result, history, seconds: (performance.now() - started) / 1000 };
}
