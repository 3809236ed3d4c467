/**
 * One mutation per environment at a time, whatever the workflow IDs (docs/architecture.md#the-environment-lock).
 *
 * Each environment has a long-lived lock workflow, `lock-<env>` ({@link environmentLock}), on the lock task
 * queue the worker configuration names. A mutating workflow asks for the lease through the `acquireLock`
 * activity (see {@link askForLease}): one update-with-start that starts the lock when it is not running and answers at once — granted
 * (with a lease token), queued (with the position and who holds it) or refused (`failIfLocked`). A queued
 * request waits for `lockGranted`, which only counts when it names the request's own random ID. The holder
 * releases with its token (the `releaseLock` local activity, which runs inside the workflow task that reaches it,
 * patch `lock-local-activities`) from a non-cancellable scope whatever happens. While it holds, the lock runs
 * `awaitLockHolderClose`, so a holder that ends in any other way (terminated, reset, timed out) frees the
 * lease the moment it closes. A newer queued request of the same workflow type supersedes older queued ones
 * (each may opt out with `supersede: false`); they end with `Superseded`.
 *
 * Every message is checked before it changes anything: the acquire Update by its validator (schema, sizes,
 * environment), the signals by their schema and their request ID or token — anything else is dropped with a
 * log line. The lock ignores cancellation and never ends on its own: it continues as new when its history
 * grows, carrying holder, queue and grants. Terminating `lock-<env>` by hand forgets holder and queue: end
 * the holder instead, and the lock grants the next in line.
 */
import {
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  defineUpdate,
  getExternalWorkflowHandle,
  log,
  patched,
  setHandler,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import {
  FailureType,
  lockEntry,
  lockGrantSchema,
  LockMessages,
  lockReleaseSchema,
  lockRequestSchema,
  lockSupersededSchema,
  workflowIds,
  type AcquireAnswer,
  type LockEntry,
  type LockRequest,
  type LockRun,
  type LockState,
  type LockSuperseded,
  type SupersededEntry,
} from '../domain/index.ts';
import { localProfiles, profiles } from './activities.ts';
import { lockAcquiredByActivity, lockLocalActivities } from './patches.ts';
import { failureMessage, typedFailure } from './failures.ts';
import { Phase, type ProgressTracker } from './progress.ts';
import { markWorkflow } from './search-attributes.ts';
import { declareVersioning, LOCK_WORKFLOW_TYPE } from './versioning.ts';

/** A granted request: the lease. The token is known only to the lock and the holder. */
interface Lease extends LockRequest {
  readonly token: string;
  readonly grantedAt: string;
}

/** Input of {@link environmentLock}; everything but `environment` is carried over by continue-as-new. */
export interface EnvironmentLockInput {
  readonly environment: string;
  readonly holder?: Lease | null;
  readonly queue?: readonly LockRequest[];
  readonly grants?: number;
  readonly superseded?: readonly SupersededEntry[];
  /** Continue as new once the history has this many events (default 2,000; the server also suggests it). */
  readonly continueAsNewAfterEvents?: number;
}

/** Requester → lock: queue me or grant me; validated before it reaches history. */
export const lockAcquireUpdate = defineUpdate<AcquireAnswer, [LockRequest]>(LockMessages.acquire);
/** Requester → lock: release my lease (with its token) or withdraw my request (with its request ID). */
export const lockReleaseSignal = defineSignal<[unknown]>(LockMessages.release);
/** Lock → requester: the lease, for the request it names. */
export const lockGrantedSignal = defineSignal<[unknown]>(LockMessages.granted);
/** Lock → requester: the queued request it names was replaced by a newer one. */
export const lockSupersededSignal = defineSignal<[unknown]>(LockMessages.superseded);
/** The holder, the queue and the recent supersessions; no request IDs or tokens. */
export const lockStateQuery = defineQuery<LockState>(LockMessages.state);

const DEFAULT_CONTINUE_AS_NEW_AFTER = 2000;
/** How many supersessions `lockState` remembers. */
const SUPERSEDED_SHOWN = 10;

type Outgoing =
  | { readonly kind: 'granted'; readonly to: Lease }
  | { readonly kind: 'superseded'; readonly to: LockRequest; readonly by: LockRequest };

const sameRun = (a: LockRun, b: LockRun): boolean => a.workflowId === b.workflowId && a.runId === b.runId;
const now = (): string => new Date().toISOString();
const issues = (error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] }): string =>
  error.issues.map((i) => `${i.path.map(String).join('.') || 'request'}: ${i.message}`).join('; ');

/** Validates an acquire request for `environment`; throws (refusing the Update) when it is malformed. */
function checkedRequest(environment: string, input: unknown): LockRequest {
  const parsed = lockRequestSchema().safeParse(input);
  if (!parsed.success) throw ApplicationFailure.nonRetryable(`malformed lock request: ${issues(parsed.error)}`, FailureType.InvalidInput);
  if (parsed.data.environment !== environment) {
    throw ApplicationFailure.nonRetryable(`this is the lock of ${environment}, not of ${parsed.data.environment}`, FailureType.InvalidInput);
  }
  return parsed.data;
}

/**
 * The lock workflow of one environment (workflow ID `lock-<env>`). Grants leases in FIFO order, never two at
 * once; a holder's close frees its lease at once; survives its own cancellation; continues as new with its
 * holder and queue. `AUTO_UPGRADE` on versioned workers: it never ends, so pinned it would keep its first
 * build alive for ever (`versioning.ts`).
 */
export async function environmentLock(input: EnvironmentLockInput): Promise<void> {
  const { environment } = input;
  let holder: Lease | null = input.holder ?? null;
  const queue: LockRequest[] = [...(input.queue ?? [])];
  let grants = input.grants ?? 0;
  const superseded: SupersededEntry[] = [...(input.superseded ?? [])];
  const outbox: Outgoing[] = [];
  let changes = 0;
  markWorkflow({ environment });

  const grant = (request: LockRequest): Lease => {
    const lease: Lease = { ...request, token: uuid4(), grantedAt: now() };
    holder = lease;
    grants++;
    changes++;
    return lease;
  };
  const heldBy = (): LockEntry | null => (holder ? lockEntry(holder) : null);

  /** Takes queued requests of the same kind out of the line; both sides must allow it. */
  const supersedeQueued = (newer: LockRequest): void => {
    if (!newer.supersede) return;
    for (let i = queue.length - 1; i >= 0; i--) {
      const older = queue[i];
      if (!older || !older.supersede || older.workflowType !== newer.workflowType || sameRun(older, newer)) continue;
      queue.splice(i, 1);
      outbox.push({ kind: 'superseded', to: older, by: newer });
      superseded.push({ workflowId: older.workflowId, workflowType: older.workflowType, by: newer.workflowId, at: now() });
      changes++;
    }
    superseded.splice(0, Math.max(0, superseded.length - SUPERSEDED_SHOWN));
  };

  setHandler(
    lockAcquireUpdate,
    (input) => {
      const request = checkedRequest(environment, input);
      if (holder && sameRun(holder, request)) {
        if (holder.requestId === request.requestId) return { status: 'granted', token: holder.token };
        throw ApplicationFailure.nonRetryable(`${request.workflowId} already holds ${environment} under another request`, FailureType.InvalidInput);
      }
      const position = queue.findIndex((q) => sameRun(q, request));
      if (position >= 0) {
        if (queue[position]?.requestId !== request.requestId) {
          throw ApplicationFailure.nonRetryable(`${request.workflowId} already waits for ${environment} under another request`, FailureType.InvalidInput);
        }
        return { status: 'queued', position: position + 1, heldBy: heldBy() };
      }
      const busy = holder ?? queue[0] ?? null;
      if (busy && request.failIfLocked) return { status: 'refused', heldBy: lockEntry(busy) };
      supersedeQueued(request);
      // Free, and nobody in line (between a release and the next grant the first in line is next).
      if (!holder && queue.length === 0) return { status: 'granted', token: grant(request).token };
      queue.push(request);
      changes++;
      return { status: 'queued', position: queue.length, heldBy: heldBy() };
    },
    { validator: (input) => void checkedRequest(environment, input) },
  );

  setHandler(lockReleaseSignal, (input) => {
    const parsed = lockReleaseSchema().safeParse(input);
    if (!parsed.success) {
      log.warn('lock: dropped a malformed release', { environment, problems: issues(parsed.error) });
      return;
    }
    const release = parsed.data;
    // The holder releases with its token; a request whose grant it never saw is withdrawn with its request ID.
    const current = holder;
    if (current && sameRun(current, release) && (release.token === current.token || (release.token === undefined && release.requestId === current.requestId))) {
      holder = null;
      changes++;
      return;
    }
    const i = queue.findIndex((q) => sameRun(q, release) && q.requestId === release.requestId);
    if (i >= 0) {
      queue.splice(i, 1);
      changes++;
      return;
    }
    log.warn('lock: dropped a release that matches no lease or request', { environment, workflowId: release.workflowId });
  });
  setHandler(lockStateQuery, () => ({
    environment,
    holder: holder ? { ...lockEntry(holder), grantedAt: holder.grantedAt } : null,
    queue: queue.map(lockEntry),
    grants,
    superseded: [...superseded],
  }));

  const send = async (m: Outgoing): Promise<void> => {
    const target = getExternalWorkflowHandle(m.to.workflowId, m.to.runId);
    try {
      if (m.kind === 'granted') await target.signal(lockGrantedSignal, { environment, requestId: m.to.requestId, token: m.to.token });
      else await target.signal(lockSupersededSignal, { environment, requestId: m.to.requestId, by: lockEntry(m.by) } satisfies LockSuperseded);
    } catch (err) {
      // The run is gone (completed, terminated, reset): a lease it was just granted is void.
      log.warn('lock: could not signal workflow', { to: m.to.workflowId, kind: m.kind, error: failureMessage(err) });
      if (m.kind === 'granted' && holder?.token === m.to.token) {
        holder = null;
        changes++;
      }
    }
  };

  /**
   * The watch of the current holder's run. It is abandoned, never cancelled, when the lease ends otherwise: it
   * ends by itself within seconds once the lock no longer shows the lease (and the lock ignores what it says).
   */
  let watchedToken: string | undefined;
  const watch = (lease: Lease): void => {
    watchedToken = lease.token;
    const holderRun = { workflowId: lease.workflowId, runId: lease.runId, workflowType: lease.workflowType, grantedAt: lease.grantedAt };
    profiles.watch.awaitLockHolderClose
      .executeWithOptions({ summary: `watch ${lease.workflowType} ${lease.workflowId}, the holder of ${environment}` }, [{ environment, holder: holderRun }])
      .then((outcome) => {
        if (holder?.token !== lease.token || outcome === 'released') return;
        log.info('lock: holder ended without releasing; its lease is void', { environment, holder: lease.workflowId, outcome });
        holder = null;
        changes++;
      })
      .catch((err: unknown) => {
        log.warn('lock: holder watch failed; watching again', { environment, error: failureMessage(err) });
        if (watchedToken === lease.token) {
          watchedToken = undefined;
          changes++;
        }
      });
  };

  const limit = input.continueAsNewAfterEvents ?? DEFAULT_CONTINUE_AS_NEW_AFTER;
  const historyIsLong = (): boolean => workflowInfo().continueAsNewSuggested || workflowInfo().historyLength >= limit;

  // Cancelling the lock must not break mutual exclusion: it only ends by continue-as-new or termination.
  await CancellationScope.nonCancellable(async () => {
    for (;;) {
      const seen = changes;
      for (let m = outbox.shift(); m; m = outbox.shift()) await send(m);
      const next = holder ? undefined : queue.shift();
      if (next) {
        outbox.push({ kind: 'granted', to: grant(next) });
        continue;
      }
      if (holder && watchedToken !== holder.token) watch(holder);
      if (historyIsLong()) {
        await condition(allHandlersFinished);
        if (outbox.length === 0 && changes === seen) {
          await continueAsNew<typeof environmentLock>({ ...input, holder, queue, grants, superseded });
        }
        continue;
      }
      await condition(() => changes !== seen || outbox.length > 0);
    }
  });
}

declareVersioning(environmentLock, LOCK_WORKFLOW_TYPE);

/** Options of {@link EnvironmentLocks.withLock}. */
export interface LockOptions {
  /** Fail at once with `EnvironmentLocked` instead of waiting in line. */
  readonly failIfLocked?: boolean;
  /** Let a newer request of the same kind replace this one while it waits in line (default true). */
  readonly supersede?: boolean;
  /** What the lease is for, shown to those who wait behind it (e.g. `rollout of 3f2c1a9`). */
  readonly purpose?: string;
}

/** A request of this run: its ID, and what the lock answered. */
interface Pending {
  readonly requestId: string;
  token?: string;
  supersededBy?: LockSuperseded['by'];
  refused?: boolean;
}

/**
 * Asks `lock-<env>` for the lease with the `acquireLock` activity (patch `lock-acquired-by-activity`), which waits for
 * the answer outside any workflow task. Not a local activity: its workflow task would hold a workflow task slot of the
 * worker while the lock's answer needs a workflow task of the lock, by default on the same worker — runs asking at once
 * in their first workflow task stalled that way. Executions recorded between the patches `lock-local-activities` and
 * this one asked with a local activity, the ones before with this activity.
 */
function askForLease(ask: { readonly summary: string }, request: LockRequest): Promise<AcquireAnswer> {
  const askedLocally = !patched(lockAcquiredByActivity.id) && patched(lockLocalActivities.id);
  return askedLocally
    ? localProfiles.lock.acquireLock.executeWithOptions(ask, [{ request }])
    : profiles.short.acquireLock.executeWithOptions(ask, [{ request }]);
}

/**
 * The requester side of the lock, one per workflow run. Construct it at the start of the workflow (it
 * registers the signal handlers the lock answers on).
 */
export class EnvironmentLocks {
  readonly #tracker: ProgressTracker;
  readonly #pending = new Map<string, Pending>();

  constructor(tracker: ProgressTracker) {
    this.#tracker = tracker;
    setHandler(lockGrantedSignal, async (input) => {
      const parsed = lockGrantSchema().safeParse(input);
      if (!parsed.success) {
        log.warn('lock: dropped a malformed grant', { problems: issues(parsed.error) });
        return;
      }
      const grant = parsed.data;
      const pending = this.#pending.get(grant.environment);
      if (pending?.requestId === grant.requestId && pending.token === undefined) {
        pending.token = grant.token;
        return;
      }
      // Not for a request of this run that waits: hand it straight back (a forged grant's token matches
      // nothing and changes nothing), so an environment is never held by a run that does not know it.
      log.warn('lock: returned a grant this run did not wait for', { environment: grant.environment });
      await this.#sendRelease(grant.environment, { requestId: grant.requestId, token: grant.token });
    });
    setHandler(lockSupersededSignal, (input) => {
      const parsed = lockSupersededSchema().safeParse(input);
      const pending = parsed.success ? this.#pending.get(parsed.data.environment) : undefined;
      if (!parsed.success || pending?.requestId !== parsed.data.requestId || pending.token !== undefined) {
        log.warn('lock: dropped a supersession that names no waiting request of this run', {});
        return;
      }
      pending.supersededBy = parsed.data.by;
    });
  }

  /**
   * Runs `fn` holding the lock of `environment`, releasing it on completion, failure and cancellation.
   * @throws ApplicationFailure `EnvironmentLocked` when `failIfLocked` and anyone holds or waits for the lock;
   *   `Superseded` when a newer request of the same kind replaced this one while it waited.
   */
  async withLock<T>(environment: string, options: LockOptions, fn: () => Promise<T>): Promise<T> {
    try {
      await this.#acquire(environment, options);
      return await fn();
    } finally {
      const pending = this.#pending.get(environment);
      this.#pending.delete(environment);
      if (pending && !pending.refused && !pending.supersededBy) {
        await CancellationScope.nonCancellable(() =>
          this.#sendRelease(environment, { requestId: pending.requestId, ...(pending.token !== undefined ? { token: pending.token } : {}) }),
        );
      }
    }
  }

  async #acquire(environment: string, options: LockOptions): Promise<void> {
    const info = workflowInfo();
    const lockId = workflowIds.lock(environment);
    const request: LockRequest = {
      workflowId: info.workflowId,
      runId: info.runId,
      workflowType: info.workflowType,
      environment,
      requestId: uuid4(),
      failIfLocked: options.failIfLocked ?? false,
      supersede: options.supersede ?? true,
      requestedAt: now(),
      ...(options.purpose !== undefined ? { purpose: options.purpose.slice(0, 200) } : {}),
    };
    const phase = this.#tracker.phase;
    this.#tracker.setPhase(Phase.waitingForLock);
    const step = this.#tracker.start('acquire-lock', `acquire lock ${lockId}`);
    const pending: Pending = { requestId: request.requestId };
    this.#pending.set(environment, pending);
    const ask = { summary: `ask ${lockId} for the lease` };
    const answer = await askForLease(ask, request);
    if (answer.status === 'refused') {
      pending.refused = true;
      const { heldBy } = answer;
      const message = `${environment} is locked by ${heldBy.workflowType} ${heldBy.workflowId} (requested ${heldBy.requestedAt}); retry when it ends, or start without failIfLocked to wait in line`;
      this.#tracker.end(step, 'failed', message);
      throw typedFailure(FailureType.EnvironmentLocked, message, { environment, heldBy: { workflowId: heldBy.workflowId, workflowType: heldBy.workflowType } });
    }
    let behind: string | undefined;
    if (answer.status === 'granted') {
      if (pending.token === undefined) pending.token = answer.token;
    } else {
      behind = answer.heldBy ? `${answer.heldBy.workflowType} ${answer.heldBy.workflowId}` : 'a workflow that is finishing';
      this.#tracker.note(step, `waiting behind ${behind} (position ${answer.position})`);
      await condition(() => pending.token !== undefined || pending.supersededBy !== undefined);
    }
    const by = pending.supersededBy;
    if (by) {
      const message = `superseded while waiting for ${environment}: ${by.workflowType} ${by.workflowId}${by.purpose ? ` (${by.purpose})` : ''}, requested ${by.requestedAt}, replaced this request; start with supersede: false to keep a request in line`;
      this.#tracker.end(step, 'failed', message);
      throw typedFailure(FailureType.Superseded, message, { environment, supersededBy: { workflowId: by.workflowId, runId: by.runId, workflowType: by.workflowType } });
    }
    this.#tracker.end(step, 'succeeded', behind ? `granted after waiting behind ${behind}` : 'granted');
    this.#tracker.setPhase(phase);
  }

  /**
   * Sends `lockRelease` for `lease`: with a local activity on current code (its delivery is known within the same
   * workflow task), as a signal from this workflow when replaying a history that did so.
   */
  async #sendRelease(environment: string, lease: { requestId: string; token?: string }): Promise<void> {
    const info = workflowInfo();
    const release = { workflowId: info.workflowId, runId: info.runId, ...lease };
    try {
      if (patched(lockLocalActivities.id)) {
        const outcome = await localProfiles.lock.releaseLock.executeWithOptions({ summary: `release ${workflowIds.lock(environment)}` }, [{ environment, release }]);
        if (outcome === 'no-lock') log.warn('lock: release not delivered', { environment, error: `${workflowIds.lock(environment)} is not running` });
        return;
      }
      await getExternalWorkflowHandle(workflowIds.lock(environment)).signal(lockReleaseSignal, release);
    } catch (err) {
      // The lock workflow is gone (and with it any lease), or the server stayed unreachable through every retry:
      // the lock's watch of this run frees the lease once the run closes.
      log.warn('lock: release not delivered', { environment, error: failureMessage(err) });
    }
  }
}
