/**
 * The activities through which workflows reach the per-environment lock (docs/architecture.md#the-environment-lock).
 * A workflow cannot send an Update, so `acquireLock` sends it for the requester, with update-with-start: the
 * lock workflow `lock-<env>` is started on the configured lock task queue when it is not running (never on
 * the caller's queue), and the answer — granted, queued or refused — comes back in the same round trip.
 * `releaseLock` sends the holder's release signal for it, so the requester learns it was delivered in the
 * same workflow task instead of waiting for another one. `awaitLockHolderClose` runs in the lock workflow itself: it returns when the holder's run closes for any
 * reason, so the lock grants the next in line at once.
 */
import { Context } from '@temporalio/activity';
import { WithStartWorkflowOperation, type Client } from '@temporalio/client';
import type { Workflow } from '@temporalio/common';
import {
  FailureType,
  LOCK_WORKFLOW_TYPE,
  LockMessages,
  releaseLockInputSchema,
  lockRequestSchema,
  workflowIds,
  WorkflowTypes,
  type AcquireAnswer,
  type HolderWatchOutcome,
  type LockRelease,
  type LockRequest,
  type LockRun,
  type LockState,
  type ReleaseOutcome,
} from '../../domain/index.ts';
import { nonRetryable } from '../errors.ts';
import { activityScope, cancellationError } from '../kubernetes/activity-scope.ts';

/** What the lock activities need: where lock workflows live. */
export interface LockActivityDeps {
  /** The task queue lock workflows are started on; default: the queue this activity runs on (the worker's). */
  readonly lockTaskQueue?: string;
}

/** The workflow types that take the lock; a holder of any other type is not a requester. */
const REQUESTER_TYPES: ReadonlySet<string> = new Set(Object.values(WorkflowTypes));

function workerClient(): Client {
  return Context.current().client;
}

/**
 * When the watch asks the lock whether the lease it watches still stands: first after 5 s, then each wait twice the
 * last, at most a minute apart. A holder almost always closes right after its release, which ends the watch
 * through the close; the asking is only for a holder that releases and runs on, whose watch would otherwise wait
 * for its close. Each ask is a query the lock's worker answers, so a lease held for a day costs about 1,440, not
 * 43,200 at a fixed 2 s.
 */
const RELEASE_POLL_FIRST_MS = 5_000;
const RELEASE_POLL_MAX_MS = 60_000;

/** Resolves after `ms`, or rejects when `signal` aborts first. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(new Error('watch ended'));
    }, { once: true });
  });
}

/** Error names of the client that mean the run is closed or gone, not that the call failed. */
const CLOSED_ERRORS = new Set(['WorkflowFailedError', 'WorkflowContinuedAsNewError']);
const NOT_FOUND_ERRORS = new Set(['WorkflowNotFoundError', 'NamespaceNotFoundError']);

/** Creates `acquireLock`, `releaseLock` and `awaitLockHolderClose`. */
export function createLockActivities(deps: LockActivityDeps = {}) {
  return {
    /**
     * Asks `lock-<environment>` for the lease with update-with-start (`USE_EXISTING`), starting the lock on the
     * lock task queue when it does not run. Idempotent: a retry with the same request ID gets the same answer
     * (granted with the same token, or its current place in the queue).
     * @throws ApplicationFailure `InvalidInput` for a malformed request (and when the lock's validator refuses it).
     */
    acquireLock: async (input: { request: LockRequest }): Promise<AcquireAnswer> => {
      const parsed = lockRequestSchema().safeParse(input.request);
      if (!parsed.success) throw nonRetryable(FailureType.InvalidInput, `malformed lock request: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
      const request = parsed.data;
      const taskQueue = deps.lockTaskQueue ?? Context.current().info.taskQueue;
      const start = new WithStartWorkflowOperation(LOCK_WORKFLOW_TYPE, {
        workflowId: workflowIds.lock(request.environment),
        taskQueue,
        args: [{ environment: request.environment }],
        workflowIdConflictPolicy: 'USE_EXISTING',
        staticSummary: `lock of ${request.environment}: one mutation at a time`,
      });
      try {
        return await workerClient().workflow.executeUpdateWithStart<Workflow, AcquireAnswer, [LockRequest]>(LockMessages.acquire, {
          args: [request],
          startWorkflowOperation: start,
        });
      } catch (error) {
        // The lock's validator refused it: the request itself is wrong, retrying cannot help.
        if (error instanceof Error && error.name === 'WorkflowUpdateFailedError') {
          const cause = error.cause instanceof Error ? error.cause.message : error.message;
          throw nonRetryable(FailureType.InvalidInput, `lock-${request.environment} refused the request: ${cause}`);
        }
        throw error;
      }
    },

    /**
     * Signals `lockRelease` to `lock-<environment>`: the holder's lease with its token, or a waiting request's
     * withdrawal with its request ID. The lock frees nothing unless the token (or request ID) is the one it
     * holds, so a retry that sends the release again changes nothing. Run as a local activity by the holder.
     * @returns `sent` once the server accepted the signal; `no-lock` when the lock workflow is not running.
     * @throws ApplicationFailure `InvalidInput` for a malformed release or environment.
     */
    releaseLock: async (input: { environment: string; release: LockRelease }): Promise<ReleaseOutcome> => {
      const parsed = releaseLockInputSchema().safeParse(input);
      if (!parsed.success) throw nonRetryable(FailureType.InvalidInput, `malformed lock release: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
      const { environment, release } = parsed.data;
      try {
        await workerClient().workflow.getHandle(workflowIds.lock(environment)).signal<[LockRelease]>(LockMessages.release, release);
        return 'sent';
      } catch (error) {
        if (error instanceof Error && NOT_FOUND_ERRORS.has(error.name)) return 'no-lock';
        throw error;
      }
    },

    /**
     * Returns when the run `holder` closes — completed, failed, cancelled, terminated, timed out, continued as
     * new or reset — or at once when it does not exist or is not a workflow type that takes the lock (a request
     * naming someone else's run); returns `released` once `lock-<environment>` no longer shows this lease (it was
     * released, so the lock stopped caring; asked after 5 s, then at most a minute apart). Long-polls the server for the close; heartbeats while it waits;
     * stops on cancellation.
     */
    awaitLockHolderClose: async (input: { environment: string; holder: LockRun & { workflowType: string; grantedAt: string } }): Promise<HolderWatchOutcome> => {
      const { holder } = input;
      const client = workerClient();
      const scope = activityScope();
      const done = new AbortController();
      const stop = (): void => done.abort();
      scope.signal.addEventListener('abort', stop, { once: true });
      const handle = client.workflow.getHandle(holder.workflowId, holder.runId, { followRuns: false });
      const lock = client.workflow.getHandle(workflowIds.lock(input.environment));
      const beat = setInterval(() => scope.heartbeat({ watching: holder.workflowId }), scope.heartbeatEveryMs);
      scope.heartbeat({ watching: holder.workflowId });
      const closed = async (): Promise<HolderWatchOutcome> => {
        try {
          const described = await handle.describe();
          if (described.type !== holder.workflowType || !REQUESTER_TYPES.has(described.type)) return 'not-a-requester';
          if (described.status.name !== 'RUNNING') return 'closed';
          await handle.result();
          return 'closed';
        } catch (error) {
          const name = error instanceof Error ? error.name : '';
          if (CLOSED_ERRORS.has(name)) return 'closed';
          if (NOT_FOUND_ERRORS.has(name)) return 'not-found';
          throw error;
        }
      };
      const released = async (): Promise<HolderWatchOutcome> => {
        for (let wait = RELEASE_POLL_FIRST_MS; ; wait = Math.min(wait * 2, RELEASE_POLL_MAX_MS)) {
          await sleep(wait, done.signal);
          const state = await lock.query<LockState>(LockMessages.state);
          const current = state.holder;
          if (!current || current.runId !== holder.runId || current.grantedAt !== holder.grantedAt) return 'released';
        }
      };
      // The server holds a long poll for up to about 20 s and an abort does not always cut it short: on
      // cancellation (a worker's shutdown included) the activity ends at once, whatever the poll is doing.
      const stopped = new Promise<never>((_, reject) => {
        done.signal.addEventListener('abort', () => reject(new Error('holder watch stopped')), { once: true });
      });
      stopped.catch(() => undefined);
      try {
        return await Promise.race([client.withAbortSignal(done.signal, () => Promise.race([closed(), released()])), stopped]);
      } catch (error) {
        if (scope.signal.aborted) throw cancellationError(scope.signal);
        throw error;
      } finally {
        done.abort();
        scope.signal.removeEventListener('abort', stop);
        clearInterval(beat);
      }
    },
  };
}
