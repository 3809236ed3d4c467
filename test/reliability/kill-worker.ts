/**
 * The kill-matrix worker: the real logstack worker, started by the worker's own `runWorker` (configuration,
 * runtime, connection, codec, worker options), plus one activity inbound interceptor, outermost, that
 * SIGKILLs its own process at one exact point of one activity execution. Test-only; never part of the image.
 *
 * Environment:
 * - `LOGSTACK_KILL_AT=<activityType>:<start|end|heartbeat>[@<activityId>]` — where to die, on the first attempt of
 *   the activity that reaches the point (attempt 1, or a later one when an earlier attempt failed by itself), once
 *   (so the next worker completes it):
 *   - `start`: the task was accepted, the activity function has not run (no side effect yet);
 *   - `end`: the activity function returned (its side effect happened), the result was not reported to Temporal;
 *   - `heartbeat`: the activity's first heartbeat that says it is waiting (details with `waitingFor`) was handed to
 *     the SDK; the process lets the SDK deliver it, freezes (nothing else of the activity runs) and dies.
 *   Unset: the worker never kills (the clean run and the last worker of a chain).
 * - `LOGSTACK_KILL_WORKFLOW=<workflowId>` — only activities of that workflow are considered.
 * - `LOGSTACK_KILL_LOG=<file>` — JSON lines, written synchronously: one per activity start, end and first waiting
 *   heartbeat, and a `kill` record written right before the signal (so it survives the kill).
 * - `LOGSTACK_KILL_HOLD=1` — start up to the point of polling (connected, workflows bundled), print
 *   {@link HELD_LINE}, and poll only after SIGUSR2: the next worker of a chain is ready before the previous one dies.
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Context } from '@temporalio/activity';
import { Runtime, type ActivityInboundCallsInterceptor, type ActivityInterceptorsFactory } from '@temporalio/worker';
import { loadWorkerConfig } from '../../config/index.ts';
import { runWorker } from '../../worker/run.ts';

/** Where in an activity execution a kill point sits. */
export const KillPhases = { start: 'start', end: 'end', heartbeat: 'heartbeat' } as const;
/** A kill phase. */
export type KillPhase = (typeof KillPhases)[keyof typeof KillPhases];

/** One kill point: an activity type, a phase and, to tell several calls of one type apart, the activity id. */
export interface KillPoint {
  readonly activityType: string;
  readonly phase: KillPhase;
  readonly activityId?: string;
}

/** `applyOverlay:end@8`: the text form used by `LOGSTACK_KILL_AT` and in reports. */
export function formatKillPoint(point: KillPoint): string {
  return `${point.activityType}:${point.phase}${point.activityId !== undefined ? `@${point.activityId}` : ''}`;
}

/**
 * Parses the text form of a kill point.
 * @throws Error naming the expected form when `text` is not one.
 */
export function parseKillPoint(text: string): KillPoint {
  const match = /^([A-Za-z][\w]*):(start|end|heartbeat)(?:@([\w-]+))?$/.exec(text.trim());
  if (!match?.[1] || !match[2]) {
    throw new Error(
      `LOGSTACK_KILL_AT="${text}": expected <activityType>:<start|end|heartbeat>[@<activityId>], e.g. applyOverlay:end@8`,
    );
  }
  return {
    activityType: match[1],
    phase: match[2] as KillPhase,
    ...(match[3] !== undefined ? { activityId: match[3] } : {}),
  };
}

/** One line of the kill log. */
export interface KillLogRecord {
  readonly event: 'started' | 'completed' | 'failed' | 'waiting' | 'kill';
  readonly pid: number;
  readonly workflowId: string;
  readonly runId: string;
  readonly activityId: string;
  readonly activityType: string;
  readonly attempt: number;
  /** Epoch milliseconds. */
  readonly at: number;
  /** The kill point, on `kill` records. */
  readonly point?: string;
  /** The waiting heartbeat's `waitingFor`, on `waiting` records and heartbeat kills. */
  readonly waitingFor?: string;
}

/** Reads a kill log (missing file: no records). */
export function readKillLog(file: string): KillLogRecord[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as KillLogRecord);
}

/** Printed on stdout by a held worker once it only waits for SIGUSR2 to poll. */
export const HELD_LINE = '{"killMatrix":"held"}';

/** How long a heartbeat kill freezes the process before dying, so the SDK's own threads deliver the heartbeat. */
export const HEARTBEAT_DELIVERY_MS = 750;

/** What the interceptor does besides killing. */
export interface KillInterceptorOptions {
  readonly point?: KillPoint;
  readonly workflowId?: string;
  readonly logFile?: string;
}

function waitingForOf(details: unknown): string | undefined {
  const value = (details as { waitingFor?: unknown } | null | undefined)?.waitingFor;
  return typeof value === 'string' ? value : undefined;
}

/** Blocks this thread (timers, I/O and promises included) for `ms`; other threads of the process go on. */
function freeze(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * The activity interceptor: logs every activity execution of the chosen workflow and kills the process at the
 * kill point, once per activity (the kill log remembers).
 */
export function killInterceptor(options: KillInterceptorOptions): ActivityInterceptorsFactory {
  const { point, workflowId, logFile } = options;
  return (ctx: Context) => {
    const info = ctx.info;
    const execution = {
      workflowId: info.workflowExecution?.workflowId ?? '',
      runId: info.workflowExecution?.runId ?? '',
    };
    const ours = workflowId === undefined || execution.workflowId === workflowId;
    if (!ours) return {};
    const record = (event: KillLogRecord['event'], extra: Partial<KillLogRecord> = {}): void => {
      if (!logFile) return;
      const line: KillLogRecord = {
        event,
        pid: process.pid,
        workflowId: execution.workflowId,
        runId: execution.runId,
        activityId: info.activityId,
        activityType: info.activityType,
        attempt: info.attempt,
        at: Date.now(),
        ...extra,
      };
      appendFileSync(logFile, `${JSON.stringify(line)}\n`);
    };
    // Armed on the first attempt that reaches the point: attempt 1, unless an earlier attempt failed by itself (a
    // transient answer, retried by Temporal) — the kill log says whether this activity was already killed.
    const killedBefore = (): boolean =>
      logFile !== undefined
        ? readKillLog(logFile).some((r) => r.event === 'kill' && r.workflowId === execution.workflowId && r.activityId === info.activityId)
        : info.attempt > 1;
    const armed =
      point !== undefined &&
      point.activityType === info.activityType &&
      (point.activityId === undefined || point.activityId === info.activityId) &&
      !killedBefore();
    const die = (extra: Partial<KillLogRecord> = {}): never => {
      record('kill', { point: formatKillPoint(point as KillPoint), ...extra });
      process.kill(process.pid, 'SIGKILL');
      // SIGKILL cannot be caught; nothing after this line runs.
      throw new Error('unreachable');
    };

    // Every heartbeat of the activity goes through this wrapper (activities heartbeat via Context.current()).
    let waiting = false;
    const heartbeat = ctx.heartbeat;
    const heartbeatKill = armed && point.phase === KillPhases.heartbeat;
    (ctx as { heartbeat: Context['heartbeat'] }).heartbeat = (details?: unknown) => {
      const waitingFor = waitingForOf(details);
      // Armed for the waiting heartbeat, hold back the liveness beats before it (Temporal counts the heartbeat
      // timeout from the start anyway): the SDK sends a first heartbeat at once and throttles the next ones, so the
      // waiting heartbeat reaches Temporal before the kill only when it is the first.
      if (heartbeatKill && !waiting && waitingFor === undefined) return;
      heartbeat(details);
      if (waitingFor === undefined || waiting) return;
      waiting = true;
      record('waiting', { waitingFor });
      if (heartbeatKill) {
        // The SDK encodes and hands the heartbeat to its core in promise jobs; they run before this callback.
        // Freezing then keeps the activity from observing anything while the core's threads deliver it.
        setImmediate(() => {
          freeze(HEARTBEAT_DELIVERY_MS);
          die({ waitingFor });
        });
      }
    };

    const inbound: ActivityInboundCallsInterceptor = {
      async execute(input, next) {
        record('started');
        if (armed && point.phase === KillPhases.start) die();
        let result: unknown;
        try {
          result = await next(input);
        } catch (error) {
          record('failed');
          throw error;
        }
        if (armed && point.phase === KillPhases.end) die();
        record('completed');
        return result;
      },
    };
    return { inbound };
  };
}

/** Runs the worker with the kill interceptor until a shutdown signal (or the kill). */
export async function runKillWorker(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const killAt = env['LOGSTACK_KILL_AT'];
  const point = killAt ? parseKillPoint(killAt) : undefined;
  const workflowId = env['LOGSTACK_KILL_WORKFLOW'] || undefined;
  const logFile = env['LOGSTACK_KILL_LOG'] || undefined;
  await runWorker(loadWorkerConfig(env), {
    // Outermost: the kill happens before and after everything the product wraps around an activity.
    activityInterceptors: [
      killInterceptor({
        ...(point ? { point } : {}),
        ...(workflowId ? { workflowId } : {}),
        ...(logFile ? { logFile } : {}),
      }),
    ],
    async beforePoll(activities) {
      // Load the activity modules before polling: a first task must not spend its heartbeat timeout loading them.
      await activities.preload();
      if (env['LOGSTACK_KILL_HOLD'] === '1') {
        await new Promise<void>((release) => {
          process.once('SIGUSR2', () => release());
          process.stdout.write(`${HELD_LINE}\n`);
        });
      }
      Runtime.instance().logger.info('logstack kill-matrix worker started', {
        killAt: point ? formatKillPoint(point) : 'none',
        workflowId: workflowId ?? 'any',
      });
    },
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    await runKillWorker();
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  }
}
