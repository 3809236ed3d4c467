/**
 * The contract of the per-environment lock (docs/architecture.md#the-environment-lock): the message names,
 * the shapes of what requesters and the lock exchange, and the schemas every message is checked against
 * before it changes anything. Shared by the lock workflow, its requesters (workflows), the activities that
 * reach the lock through the Temporal client, and the CLI that shows its state.
 */
import { z } from 'zod';
import { once } from './once.ts';

/** The lock workflow's type name. */
export const LOCK_WORKFLOW_TYPE = 'environmentLock';

/** The names of the lock's messages. */
export const LockMessages = {
  /** Update requester → lock: queue me, or grant me at once; answers {@link AcquireAnswer}. */
  acquire: 'lockAcquire',
  /** Signal requester → lock: release my lease, or withdraw my request. */
  release: 'lockRelease',
  /** Signal lock → requester: your request is granted; carries the lease token. */
  granted: 'lockGranted',
  /** Signal lock → requester: a newer request of the same kind replaced yours in the queue. */
  superseded: 'lockSuperseded',
  /** Query: the holder, the queue and what was superseded, without any secret. */
  state: 'lockState',
} as const;

/** Workflow and run IDs are at most this long (the server's own limit). */
const MAX_ID = 1000;

/*
 * Every schema here is built on first use ({@link once}): the workflow worker evaluates this module again for every
 * workflow it caches, while a requester parses only the lock's answers and the lock only its requests.
 */
const id = once(() => z.string().min(1).max(MAX_ID));
/** A random v4 UUID: request IDs and lease tokens. */
const uuid = once(() =>
  z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, 'a random UUID'),
);
const timestamp = once(() => z.iso.datetime());
const environmentName = once(() => z.string().min(1).max(63));
const workflowType = once(() => z.string().min(1).max(200));
const purpose = once(() => z.string().max(200).optional());

/** Identifies one workflow run. */
export const lockRunSchema = once(() => z.strictObject({ workflowId: id(), runId: id() }));
export type LockRun = z.infer<ReturnType<typeof lockRunSchema>>;

/**
 * What a mutating workflow asks the lock for. `requestId` is a random UUID only the requester and the lock
 * know: it must accompany a withdrawal, and a grant that does not name it is not the requester's.
 */
export const lockRequestSchema = once(() =>
  z.strictObject({
    ...lockRunSchema().shape,
    workflowType: workflowType(),
    environment: environmentName(),
    requestId: uuid(),
    /** Refuse at once instead of queueing when anyone holds or waits. */
    failIfLocked: z.boolean(),
    /** A newer request of the same workflow type replaces this one while it is queued (default true). */
    supersede: z.boolean(),
    requestedAt: timestamp(),
    /** What the request is for, shown to whoever waits behind it (e.g. the revision). */
    purpose: purpose(),
  }),
);
export type LockRequest = z.infer<ReturnType<typeof lockRequestSchema>>;

/** Requester → lock, release or withdrawal: the lease token, or (for a request not granted yet) the request ID. */
export const lockReleaseSchema = once(() =>
  z.strictObject({
    ...lockRunSchema().shape,
    requestId: uuid(),
    token: uuid().optional(),
  }),
);
export type LockRelease = z.infer<ReturnType<typeof lockReleaseSchema>>;

/** The `releaseLock` activity's input: the environment (as a request names it) and the release the lock checks. */
export const releaseLockInputSchema = once(() =>
  z.strictObject({ environment: environmentName(), release: lockReleaseSchema() }),
);

/** Lock → requester: the request `requestId` holds the lease `token`. */
export const lockGrantSchema = once(() =>
  z.strictObject({ environment: environmentName(), requestId: uuid(), token: uuid() }),
);
export type LockGrant = z.infer<ReturnType<typeof lockGrantSchema>>;

/** A request as others may see it: who, what for, since when — never its request ID or token. */
export interface LockEntry {
  readonly workflowId: string;
  readonly runId: string;
  readonly workflowType: string;
  readonly requestedAt: string;
  readonly purpose?: string;
}

/** Lock → requester: `requestId` was replaced in the queue by `by`. */
export const lockSupersededSchema = once(() =>
  z.strictObject({
    environment: environmentName(),
    requestId: uuid(),
    by: z.strictObject({
      ...lockRunSchema().shape,
      workflowType: workflowType(),
      requestedAt: timestamp(),
      purpose: purpose(),
    }),
  }),
);
export type LockSuperseded = z.infer<ReturnType<typeof lockSupersededSchema>>;

/** The lock's answer to an acquire. */
export type AcquireAnswer =
  | { readonly status: 'granted'; readonly token: string }
  | { readonly status: 'queued'; readonly position: number; readonly heldBy: LockEntry | null }
  | { readonly status: 'refused'; readonly heldBy: LockEntry };

/** A replaced request and what replaced it. */
export interface SupersededEntry {
  readonly workflowId: string;
  readonly workflowType: string;
  readonly by: string;
  readonly at: string;
}

/** What the `lockState` query returns. */
export interface LockState {
  readonly environment: string;
  readonly holder: (LockEntry & { readonly grantedAt: string }) | null;
  readonly queue: readonly LockEntry[];
  /** Leases granted over the lock's whole life (across continue-as-new). */
  readonly grants: number;
  /** The most recent supersessions, newest last. */
  readonly superseded: readonly SupersededEntry[];
}

/** The request as others may see it. */
export function lockEntry(request: LockRequest): LockEntry {
  return {
    workflowId: request.workflowId,
    runId: request.runId,
    workflowType: request.workflowType,
    requestedAt: request.requestedAt,
    ...(request.purpose !== undefined ? { purpose: request.purpose } : {}),
  };
}

/** How a lock holder's run ended, as the lock's watch sees it. */
export type HolderWatchOutcome = 'closed' | 'not-found' | 'not-a-requester' | 'released';

/**
 * What sending a release came to: `sent` once the server took the signal (the lock checks its token when it
 * handles it), `no-lock` when `lock-<env>` is not running — with the lock gone, so is any lease.
 */
export type ReleaseOutcome = 'sent' | 'no-lock';
