/**
 * The activity profiles, declared once. Workflows never call `proxyActivities` or `proxyLocalActivities` anywhere
 * else; steps pick a profile by name and add a per-call `summary` (and, for gates, a timeout sized to the wait budget).
 */
import {
  ActivityCancellationType,
  proxyActivities,
  proxyLocalActivities,
  type ActivityInterfaceFor,
  type ActivityOptions,
  type LocalActivityInterfaceFor,
  type LocalActivityOptions,
} from '@temporalio/workflow';
import { NON_RETRYABLE_FAILURES } from '../domain/index.ts';
import type { LogstackActivities } from '../domain/activity-contract.ts';

/** Every project failure type is the input's (or the world's) fault: retrying cannot help. */
const nonRetryableErrorTypes = [...NON_RETRYABLE_FAILURES];

/**
 * How soon Temporal notices that the worker running an activity is gone (crash, SIGKILL, lost node) and retries
 * the activity elsewhere. Every activity heartbeats while it runs (at a third of this), so it holds for all
 * profiles — without it, a killed apply would be retried only after its start-to-close timeout (minutes).
 */
const heartbeatTimeout = '10 seconds';

/** Options of each profile; exported so tests and docs can read the numbers. */
export const profileOptions = {
  /** Quick, idempotent calls: AWS, Git, state reads and writes. Retried with backoff for about five minutes. */
  short: {
    startToCloseTimeout: '2 minutes',
    heartbeatTimeout,
    retry: {
      initialInterval: '1 second',
      backoffCoefficient: 2,
      maximumInterval: '30 seconds',
      maximumAttempts: 10,
      nonRetryableErrorTypes,
    },
  },
  /** Render + server-side apply of a whole overlay: slower, fewer attempts. */
  apply: {
    startToCloseTimeout: '10 minutes',
    heartbeatTimeout,
    retry: {
      initialInterval: '5 seconds',
      backoffCoefficient: 2,
      maximumInterval: '1 minute',
      maximumAttempts: 5,
      nonRetryableErrorTypes,
    },
  },
  /**
   * Watch-driven gates. They heartbeat while they wait, so a lost worker is noticed within the heartbeat
   * timeout; each call's start-to-close timeout is its wait budget plus a margin (set per call).
   */
  gate: {
    startToCloseTimeout: '20 minutes',
    heartbeatTimeout,
    retry: {
      initialInterval: '5 seconds',
      backoffCoefficient: 2,
      maximumInterval: '1 minute',
      maximumAttempts: 3,
      nonRetryableErrorTypes,
    },
  },
  /**
   * The lock's watch of its holder (`awaitLockHolderClose`): it lasts as long as the holder runs, long-polling the
   * server, so its start-to-close timeout is long, a lost worker is noticed by the heartbeat timeout, and it is
   * retried for as long as the lease lasts.
   */
  watch: {
    // Abandoned when the lease ends: the activity notices by itself (it asks the lock) and ends.
    cancellationType: ActivityCancellationType.ABANDON,
    startToCloseTimeout: '7 days',
    heartbeatTimeout,
    retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '10 seconds', nonRetryableErrorTypes },
  },
  /**
   * Notifications (`notify`): one POST with a 10-second timeout per attempt, at most 4 attempts (a 4xx other than
   * 429 is not retried), all of it within a minute, so a dead receiver costs a run at most that long and never
   * its outcome (`workflows/notify.ts`).
   */
  notify: {
    startToCloseTimeout: '15 seconds',
    scheduleToCloseTimeout: '60 seconds',
    heartbeatTimeout,
    retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '8 seconds', maximumAttempts: 4, nonRetryableErrorTypes },
  },
} as const satisfies Record<string, ActivityOptions>;

/** The name of an activity profile. */
export type ActivityProfile = keyof typeof profileOptions;

/** One typed activity proxy per profile. */
export const profiles: Readonly<Record<ActivityProfile, ActivityInterfaceFor<LogstackActivities>>> = {
  short: proxyActivities<LogstackActivities>(profileOptions.short),
  apply: proxyActivities<LogstackActivities>(profileOptions.apply),
  gate: proxyActivities<LogstackActivities>(profileOptions.gate),
  watch: proxyActivities<LogstackActivities>(profileOptions.watch),
  notify: proxyActivities<LogstackActivities>(profileOptions.notify),
};

/**
 * Options of the local profiles: activities the worker runs inside the workflow task that reaches them, with no
 * task round trip of their own. Only short calls whose retries may hold that workflow task (the SDK keeps it
 * alive while they retry) and whose effect is safe to repeat after a worker crash (the task is then run again).
 */
export const localProfileOptions = {
  /**
   * The environment lock's messages (`acquireLock`, `releaseLock`): one call to the Temporal frontend each,
   * idempotent per request ID and token. Each attempt is cut off after 10 seconds; retried like `short`
   * (about five minutes in all), backing off within the worker.
   */
  lock: {
    startToCloseTimeout: '10 seconds',
    retry: profileOptions.short.retry,
  },
} as const satisfies Record<string, LocalActivityOptions>;

/** The name of a local activity profile. */
export type LocalActivityProfile = keyof typeof localProfileOptions;

/** One typed local activity proxy per local profile. */
export const localProfiles: Readonly<Record<LocalActivityProfile, LocalActivityInterfaceFor<LogstackActivities>>> = {
  lock: proxyLocalActivities<LogstackActivities>(localProfileOptions.lock),
};

/** The activity profiles whose steps may run as local activities: calls that end on their own (no gates, no watches). */
export type LocalStepProfile = 'short' | 'apply';

/**
 * The `short` and `apply` profiles as local activities, for the steps that declare `local` (read-only, short, safe
 * to run again): the profile's start-to-close timeout and retry policy, without a heartbeat timeout — a local
 * activity runs in the worker that holds the workflow task, so a lost worker is noticed by the workflow task's
 * timeout, and the task runs again elsewhere, the activity with it. Each call sets its own start-to-close timeout
 * (the step's) and summary, as remote steps do.
 */
export const localStepProfiles: Readonly<Record<LocalStepProfile, LocalActivityInterfaceFor<LogstackActivities>>> = {
  short: proxyLocalActivities<LogstackActivities>({ startToCloseTimeout: profileOptions.short.startToCloseTimeout, retry: profileOptions.short.retry }),
  apply: proxyLocalActivities<LogstackActivities>({ startToCloseTimeout: profileOptions.apply.startToCloseTimeout, retry: profileOptions.apply.retry }),
};
