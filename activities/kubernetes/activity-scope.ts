/**
 * The bridge between long-running I/O and the Temporal activity that runs it: the cancellation
 * signal to tie watches and requests to, and a throttled heartbeat. Outside an activity (scripts,
 * benchmarks) it degrades to a signal that never aborts and a heartbeat that does nothing.
 */
import { Context } from '@temporalio/activity';

/** What a waiting activity needs from its Temporal context. */
export interface ActivityScope {
  /** Aborts when the activity is cancelled (after a heartbeat delivered the cancellation). */
  readonly signal: AbortSignal;
  /** Records progress; details must be names and reasons only, never manifests or secrets. */
  heartbeat(details?: unknown): void;
  /** How often to heartbeat while nothing happens, derived from the activity's heartbeat timeout. */
  readonly heartbeatEveryMs: number;
}

const DEFAULT_HEARTBEAT_EVERY_MS = 5_000;
const NEVER = new AbortController().signal;
/** When each running activity last heartbeated through its scope (its own progress heartbeats). */
const ownHeartbeats = new WeakMap<Context, number>();

function currentContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}

/**
 * The scope of the activity running now, or an inert scope when called outside one.
 * Heartbeats at a third of the heartbeat timeout (at most every 5 s) so a dead worker is noticed
 * quickly and cancellation reaches the activity promptly.
 */
export function activityScope(): ActivityScope {
  const ctx = currentContext();
  if (!ctx) return { signal: NEVER, heartbeat: () => undefined, heartbeatEveryMs: DEFAULT_HEARTBEAT_EVERY_MS };
  const heartbeat = (details?: unknown): void => {
    ownHeartbeats.set(ctx, performance.now());
    ctx.heartbeat(details);
  };
  return { signal: ctx.cancellationSignal, heartbeat, heartbeatEveryMs: heartbeatEveryMs(ctx) };
}

function heartbeatEveryMs(ctx: Context): number {
  const timeout = ctx.info.heartbeatTimeoutMs;
  return timeout ? Math.max(200, Math.min(DEFAULT_HEARTBEAT_EVERY_MS, Math.floor(timeout / 3))) : DEFAULT_HEARTBEAT_EVERY_MS;
}

/**
 * Runs `fn` and, while it runs inside an activity that has a heartbeat timeout, heartbeats (without details)
 * whenever the activity itself has not for a third of that timeout — so Temporal notices a lost worker within the
 * heartbeat timeout for every activity, not only the waiting ones, and a retry starts then rather than after the
 * start-to-close timeout. Progress heartbeats of the activity (through {@link activityScope}) are never overwritten
 * while they keep coming, and the first beat waits a third of the timeout (Temporal counts the timeout from the
 * start), so a waiting activity's first progress heartbeat is the one the SDK sends at once — it throttles later
 * ones. Outside an activity, or without a heartbeat timeout, it only runs `fn`.
 */
export async function withLivenessHeartbeat<R>(fn: () => Promise<R>): Promise<R> {
  const ctx = currentContext();
  if (!ctx?.info.heartbeatTimeoutMs) return fn();
  const every = heartbeatEveryMs(ctx);
  const started = performance.now();
  const beat = (): void => {
    const last = ownHeartbeats.get(ctx) ?? started;
    // Timers may fire a hair before the clock says `every` passed; a tenth of slack keeps every tick a beat.
    if (performance.now() - last >= every * 0.9) ctx.heartbeat();
  };
  const timer = setInterval(beat, every);
  try {
    return await fn();
  } finally {
    clearInterval(timer);
  }
}

/** The error an aborted activity should end with (the SDK's `CancelledFailure` when present). */
export function cancellationError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new Error(`cancelled: ${String(reason)}`);
}

/**
 * A key that is the same for every attempt of one activity execution and differs between
 * executions (workflow run + activity id); undefined outside an activity. Lets an activity recognise
 * its own earlier side effect on a retry.
 */
export function activityExecutionKey(): string | undefined {
  const ctx = currentContext();
  if (!ctx) return undefined;
  const { workflowExecution, activityId } = ctx.info;
  return `${workflowExecution?.workflowId ?? '-'}/${workflowExecution?.runId ?? '-'}/${activityId}`;
}
