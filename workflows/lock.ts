/**
 * One mutation per environment at a time, whatever the workflow IDs.
 *
 * Each environment has a long-lived lock workflow, `lock-<env>` ({@link environmentLock}). A mutating
 * workflow signals `lockAcquire` to it (starting it as an abandoned child when it is not running), waits for
 * `lockGranted`, does its work, and signals `lockRelease` from a non-cancellable scope whatever happens.
 * The lock grants leases one at a time in FIFO order. Requests with `failIfLocked` are answered with
 * `lockRefused` when anyone holds or waits. While others wait, the lock checks the holder is still alive by
 * signalling it; a holder that is gone (terminated, reset) loses its lease. The lock ignores cancellation and
 * never ends on its own: it continues as new when its history grows and every {@link RENEW_AFTER} while nobody
 * waits, carrying holder and queue. Terminating `lock-<env>` by hand forgets the holder: do it only when
 * the holder is gone. Waiters re-send their request every {@link RESEND_INTERVAL}, which starts it again.
 */
import {
  allHandlersFinished,
  CancellationScope,
  ChildWorkflowCancellationType,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  getExternalWorkflowHandle,
  log,
  ParentClosePolicy,
  setHandler,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import { FailureType, workflowIds } from '../domain/index.ts';
import { failureMessage, failureType, typedFailure } from './failures.ts';
import { Phase, type ProgressTracker } from './progress.ts';
import { markWorkflow } from './search-attributes.ts';
import { declareVersioning, LOCK_WORKFLOW_TYPE } from './versioning.ts';

/** Identifies one workflow run. */
export interface LockHolderRef {
  readonly workflowId: string;
  readonly runId: string;
}

/** What a workflow asks the lock for. */
export interface LockRequest extends LockHolderRef {
  readonly workflowType: string;
  readonly environment: string;
  /** Refuse at once (`lockRefused`) instead of queueing when anyone holds or waits. */
  readonly failIfLocked: boolean;
  readonly requestedAt: string;
}

/** A granted request. */
export interface LockLease extends LockRequest {
  readonly grantedAt: string;
}

/** What `lockState` returns: the holder and the queue, in order. */
export interface LockState {
  readonly environment: string;
  readonly holder: LockLease | null;
  readonly queue: readonly LockRequest[];
  /** Leases granted over the lock's whole life (across continue-as-new). */
  readonly grants: number;
}

/** Input of {@link environmentLock}; everything but `environment` is carried over by continue-as-new. */
export interface EnvironmentLockInput {
  readonly environment: string;
  readonly holder?: LockLease | null;
  readonly queue?: readonly LockRequest[];
  readonly grants?: number;
  /** Continue as new once the history has this many events (default 2,000; the server also suggests it). */
  readonly continueAsNewAfterEvents?: number;
}

/** Lock → requester: you hold the lock for `environment`. */
export const lockGrantedSignal = defineSignal<[{ environment: string; grantedAt: string }]>('lockGranted');
/** Lock → requester (`failIfLocked`): someone holds or waits for the lock. */
export const lockRefusedSignal = defineSignal<[{ environment: string; heldBy: LockRequest }]>('lockRefused');
/** Lock → requester: you are queued at `position` (1 = next). */
export const lockQueuedSignal =
  defineSignal<[{ environment: string; heldBy: LockRequest | null; position: number }]>('lockQueued');
/** Lock → holder: liveness check while others wait; delivery failing means the holder is gone. */
export const lockLeaseCheckSignal = defineSignal<[{ environment: string }]>('lockLeaseCheck');
/** Requester → lock: enqueue me (idempotent per run). */
export const lockAcquireSignal = defineSignal<[LockRequest]>('lockAcquire');
/** Requester → lock: release my lease, or withdraw my request (idempotent). */
export const lockReleaseSignal = defineSignal<[LockHolderRef]>('lockRelease');
/** The lock's holder and queue. */
export const lockStateQuery = defineQuery<LockState>('lockState');

/** How often the lock checks a holder is alive while someone waits. */
export const LEASE_CHECK_INTERVAL = '5 minutes';
/** How often a waiting workflow repeats its request (restarts a lock that was terminated). */
export const RESEND_INTERVAL = '30 minutes';
/** A lock nobody waits for continues as new this often, so every run stays short and has a timer pending. */
export const RENEW_AFTER = '24 hours';
const DEFAULT_CONTINUE_AS_NEW_AFTER = 2000;

type Outgoing =
  | { readonly kind: 'granted'; readonly to: LockLease }
  | { readonly kind: 'lease-check'; readonly to: LockLease }
  | { readonly kind: 'refused'; readonly to: LockRequest; readonly heldBy: LockRequest }
  | {
      readonly kind: 'queued';
      readonly to: LockRequest;
      readonly heldBy: LockRequest | null;
      readonly position: number;
    };

const sameRun = (a: LockHolderRef, b: LockHolderRef): boolean => a.workflowId === b.workflowId && a.runId === b.runId;
const now = (): string => new Date().toISOString();

/**
 * The lock workflow of one environment (workflow ID `lock-<env>`). Grants leases in FIFO order by signal,
 * never two at once; survives its own cancellation; continues as new with its holder and queue.
 * `AUTO_UPGRADE` on versioned workers: it never ends, so pinned it would keep its first build alive for ever
 * (`versioning.ts`).
 */
export async function environmentLock(input: EnvironmentLockInput): Promise<void> {
  const { environment } = input;
  let holder: LockLease | null = input.holder ?? null;
  const queue: LockRequest[] = [...(input.queue ?? [])];
  let grants = input.grants ?? 0;
  const outbox: Outgoing[] = [];
  let changes = 0;
  markWorkflow({ environment });

  setHandler(lockAcquireSignal, (request) => {
    changes++;
    if (holder && sameRun(holder, request)) {
      outbox.push({ kind: 'granted', to: holder });
      return;
    }
    if (queue.some((q) => sameRun(q, request))) return;
    const busy = holder ?? queue[0] ?? null;
    if (busy && request.failIfLocked) {
      outbox.push({ kind: 'refused', to: request, heldBy: busy });
      return;
    }
    queue.push(request);
    // Ahead of it is the holder, or — between a release and the next grant — the first in line.
    if (busy) outbox.push({ kind: 'queued', to: request, heldBy: busy, position: queue.length });
  });
  setHandler(lockReleaseSignal, (ref) => {
    changes++;
    if (holder && sameRun(holder, ref)) {
      holder = null;
      return;
    }
    const i = queue.findIndex((q) => sameRun(q, ref));
    if (i >= 0) queue.splice(i, 1);
  });
  setHandler(lockStateQuery, () => ({ environment, holder, queue: [...queue], grants }));

  const send = async (m: Outgoing): Promise<void> => {
    const target = getExternalWorkflowHandle(m.to.workflowId, m.to.runId);
    try {
      if (m.kind === 'granted') await target.signal(lockGrantedSignal, { environment, grantedAt: m.to.grantedAt });
      else if (m.kind === 'lease-check') await target.signal(lockLeaseCheckSignal, { environment });
      else if (m.kind === 'refused') await target.signal(lockRefusedSignal, { environment, heldBy: m.heldBy });
      else await target.signal(lockQueuedSignal, { environment, heldBy: m.heldBy, position: m.position });
    } catch (err) {
      // The run is gone (completed, terminated, reset). A lease it held is void.
      log.warn('lock: could not signal workflow', { to: m.to.workflowId, kind: m.kind, error: failureMessage(err) });
      if ((m.kind === 'granted' || m.kind === 'lease-check') && holder && sameRun(holder, m.to)) {
        holder = null;
        changes++;
      }
    }
  };

  const limit = input.continueAsNewAfterEvents ?? DEFAULT_CONTINUE_AS_NEW_AFTER;
  const historyIsLong = (): boolean => workflowInfo().continueAsNewSuggested || workflowInfo().historyLength >= limit;

  // Cancelling the lock must not break mutual exclusion: it only ends by continue-as-new or termination.
  await CancellationScope.nonCancellable(async () => {
    let renewDue = false;
    for (;;) {
      const seen = changes;
      for (let m = outbox.shift(); m; m = outbox.shift()) await send(m);
      const next = holder ? undefined : queue.shift();
      if (next) {
        holder = { ...next, grantedAt: now() };
        grants++;
        outbox.push({ kind: 'granted', to: holder });
        continue;
      }
      if (renewDue || historyIsLong()) {
        await condition(allHandlersFinished);
        if (outbox.length === 0 && changes === seen) {
          await continueAsNew<typeof environmentLock>({ ...input, holder, queue, grants });
        }
        continue;
      }
      const current = holder;
      const waiting = current !== null && queue.length > 0;
      const woke = await condition(
        () => changes !== seen || outbox.length > 0,
        waiting ? LEASE_CHECK_INTERVAL : RENEW_AFTER,
        {
          summary: waiting ? `check ${current.workflowId} still holds ${environment}` : `renew lock of ${environment}`,
        },
      );
      if (woke) continue;
      if (waiting && holder === current) outbox.push({ kind: 'lease-check', to: current });
      else renewDue = true;
    }
  });
}

declareVersioning(environmentLock, LOCK_WORKFLOW_TYPE);

/** Options of {@link EnvironmentLocks.withLock}. */
export interface LockOptions {
  /** Fail at once with `EnvironmentLocked` instead of waiting in line. */
  readonly failIfLocked?: boolean;
}

/**
 * The requester side of the lock, one per workflow run. Construct it at the start of the workflow (it
 * registers the signal handlers the lock answers on).
 */
export class EnvironmentLocks {
  readonly #tracker: ProgressTracker;
  readonly #granted = new Set<string>();
  readonly #refused = new Map<string, LockRequest>();
  readonly #waitingStep = new Map<string, number>();
  readonly #queuedBehind = new Map<string, string>();

  constructor(tracker: ProgressTracker) {
    this.#tracker = tracker;
    setHandler(lockGrantedSignal, ({ environment }) => {
      this.#granted.add(environment);
    });
    setHandler(lockRefusedSignal, ({ environment, heldBy }) => {
      this.#refused.set(environment, heldBy);
    });
    setHandler(lockQueuedSignal, ({ environment, heldBy, position }) => {
      const step = this.#waitingStep.get(environment);
      const who = heldBy ? `${heldBy.workflowType} ${heldBy.workflowId}` : 'a workflow that is finishing';
      this.#queuedBehind.set(environment, who);
      if (step !== undefined) this.#tracker.note(step, `waiting behind ${who} (position ${position})`);
    });
    setHandler(lockLeaseCheckSignal, () => undefined);
  }

  /**
   * Runs `fn` holding the lock of `environment`, releasing it on completion, failure and cancellation.
   * @throws ApplicationFailure `EnvironmentLocked` when `failIfLocked` and anyone holds or waits for the lock.
   */
  async withLock<T>(environment: string, options: LockOptions, fn: () => Promise<T>): Promise<T> {
    let mustRelease = false;
    try {
      mustRelease = true;
      await this.#acquire(environment, options.failIfLocked ?? false);
      return await fn();
    } catch (err) {
      if (failureType(err) === FailureType.EnvironmentLocked && this.#refused.has(environment)) mustRelease = false;
      throw err;
    } finally {
      if (mustRelease) await CancellationScope.nonCancellable(() => this.#release(environment));
    }
  }

  async #acquire(environment: string, failIfLocked: boolean): Promise<void> {
    const info = workflowInfo();
    const lockId = workflowIds.lock(environment);
    const request: LockRequest = {
      workflowId: info.workflowId,
      runId: info.runId,
      workflowType: info.workflowType,
      environment,
      failIfLocked,
      requestedAt: now(),
    };
    const phase = this.#tracker.phase;
    this.#tracker.setPhase(Phase.waitingForLock);
    const step = this.#tracker.start('acquire-lock', `acquire lock ${lockId}`);
    this.#waitingStep.set(environment, step);
    this.#granted.delete(environment);
    this.#refused.delete(environment);
    this.#queuedBehind.delete(environment);
    await this.#request(lockId, request);
    const answered = (): boolean => this.#granted.has(environment) || this.#refused.has(environment);
    while (!(await condition(answered, RESEND_INTERVAL, { summary: `wait for ${lockId}` }))) {
      await this.#request(lockId, request);
    }
    this.#waitingStep.delete(environment);
    const heldBy = this.#refused.get(environment);
    if (heldBy) {
      const message = `${environment} is locked by ${heldBy.workflowType} ${heldBy.workflowId} (requested ${heldBy.requestedAt}); retry when it ends, or start without failIfLocked to wait in line`;
      this.#tracker.end(step, 'failed', message);
      throw typedFailure(FailureType.EnvironmentLocked, message, {
        environment,
        heldBy: { workflowId: heldBy.workflowId, workflowType: heldBy.workflowType },
      });
    }
    const behind = this.#queuedBehind.get(environment);
    this.#tracker.end(step, 'succeeded', behind ? `granted after waiting behind ${behind}` : 'granted');
    this.#tracker.setPhase(phase);
  }

  async #request(lockId: string, request: LockRequest): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await getExternalWorkflowHandle(lockId).signal(lockAcquireSignal, request);
        return;
      } catch (err) {
        if (failureType(err) !== 'ExternalWorkflowExecutionNotFound' || attempt >= 3) throw err;
      }
      await this.#startLock(lockId, request.environment);
    }
  }

  async #startLock(lockId: string, environment: string): Promise<void> {
    try {
      await CancellationScope.nonCancellable(() =>
        startChild(environmentLock, {
          workflowId: lockId,
          args: [{ environment }],
          parentClosePolicy: ParentClosePolicy.ABANDON,
          cancellationType: ChildWorkflowCancellationType.ABANDON,
          workflowIdReusePolicy: 'ALLOW_DUPLICATE',
        }),
      );
    } catch (err) {
      // Someone else started it in the meantime: fine, signal that one.
      if ((err as { name?: unknown }).name !== 'WorkflowExecutionAlreadyStartedError') throw err;
    }
  }

  async #release(environment: string): Promise<void> {
    const info = workflowInfo();
    this.#granted.delete(environment);
    try {
      await getExternalWorkflowHandle(workflowIds.lock(environment)).signal(lockReleaseSignal, {
        workflowId: info.workflowId,
        runId: info.runId,
      });
    } catch (err) {
      // The lock workflow is gone, and with it any lease: nothing to release.
      log.warn('lock: release not delivered', { environment, error: failureMessage(err) });
    }
  }
}
