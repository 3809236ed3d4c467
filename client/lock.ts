/**
 * What the CLI shows about an environment's lock (docs/architecture.md#the-environment-lock): the `lockState`
 * query of `lock-<env>` — holder, queue, recent supersessions — read with a deadline, and the promotions that
 * wait for approval outside the lock. A lock workflow that does not exist (or no longer runs) means "free":
 * the next request starts it.
 */
import { WorkflowNotFoundError } from '@temporalio/client';
import { LockMessages, workflowIds, type LockEntry, type LockState, type SupersededEntry } from '../domain/index.ts';
import type { CommandContext } from './context.ts';
import { printable } from './printable.ts';

/** The lock of one environment as the CLI reports it. */
export interface LockView {
  /** `free` (nobody holds it, or `lock-<env>` does not run), `held`, or `unknown` (the query was not answered). */
  readonly state: 'free' | 'held' | 'unknown';
  /** The lock workflow's ID, `lock-<env>`. */
  readonly workflowId: string;
  readonly holder: (LockEntry & { readonly grantedAt: string }) | null;
  /** Requests waiting in line, first to be granted first. */
  readonly queue: readonly LockEntry[];
  /** The most recent supersessions, newest last. */
  readonly superseded: readonly SupersededEntry[];
  /** Leases granted over the lock's life (0 when it never ran). */
  readonly grants: number;
  /** Why the state is `unknown`, or a note about a `free` lock (e.g. `lock-dev` does not exist yet). */
  readonly note?: string;
}

/** A promotion waiting for approval of one environment, outside the lock (found by `status`). */
export interface ApprovalWaitView {
  readonly workflowId: string;
  readonly runId: string;
  readonly type: string;
  readonly requestedBy: string | null;
  readonly approvers: readonly string[];
  /** `signed` when a decision must carry the approver's SSH signature; `named` (also for runs from before signed approvals) when names alone decide. */
  readonly approvals: 'signed' | 'named';
  readonly deadline: string | null;
  /** The diff digest an approval names (`sha256:…`), or null when the workflow does not show one. */
  readonly digest: string | null;
  /** True when an earlier approval was for a change that is no longer the one to apply. */
  readonly changedSinceApproval: boolean;
}

const freeLock = (workflowId: string, note: string): LockView => ({ state: 'free', workflowId, holder: null, queue: [], superseded: [], grants: 0, note });

/**
 * Reads the lock of `environment`: describes `lock-<env>`, then queries `lockState` within `timeoutMs`.
 * Never throws: a missing or closed lock is `free`, an unanswered query `unknown` with the reason.
 */
export async function readLock(ctx: CommandContext, environment: string, timeoutMs = 3000): Promise<LockView> {
  const { client, connection } = await ctx.temporal();
  const workflowId = workflowIds.lock(environment);
  const handle = client.workflow.getHandle(workflowId);
  try {
    const description = await connection.withDeadline(Date.now() + timeoutMs, () => handle.describe());
    if (description.status.name !== 'RUNNING') return freeLock(workflowId, `${workflowId} is not running (${description.status.name.toLowerCase()})`);
    const state = await connection.withDeadline(Date.now() + timeoutMs, () => handle.query<LockState>(LockMessages.state));
    return {
      state: state.holder ? 'held' : 'free',
      workflowId,
      holder: state.holder,
      queue: state.queue,
      superseded: state.superseded,
      grants: state.grants,
    };
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) return freeLock(workflowId, `${workflowId} does not exist yet`);
    const message = error instanceof Error ? error.message : String(error);
    const reason = /deadline|poller|worker/i.test(message)
      ? `no worker answered the lockState query of ${workflowId} within ${timeoutMs / 1000} s — is a worker polling the lock task queue?`
      : `lockState query of ${workflowId} failed: ${message}`;
    return { state: 'unknown', workflowId, holder: null, queue: [], superseded: [], grants: 0, note: reason };
  }
}

/** `sha256:` and the first 12 hex digits of a digest; the full digest is in JSON/YAML and on `approve`. */
export function shortDigest(digest: string | null | undefined): string {
  if (!digest) return '—';
  const m = /^sha256:([0-9a-f]{12})[0-9a-f]*$/.exec(digest);
  return m ? `sha256:${m[1] ?? ''}…` : printable(digest);
}

/** An ISO time as `YYYY-MM-DD hh:mm:ssZ (5m ago)` or `(in 3h)`; text that is not a time is shown escaped. */
export function since(iso: string, now = Date.now()): string {
  const t = new Date(iso).getTime();
  if (Number.isNaN(t)) return printable(iso);
  const delta = Math.round((now - t) / 1000);
  const seconds = Math.abs(delta);
  const span = seconds < 120 ? `${seconds}s` : seconds < 7200 ? `${Math.round(seconds / 60)}m` : seconds < 172_800 ? `${Math.round(seconds / 3600)}h` : `${Math.round(seconds / 86_400)}d`;
  return `${new Date(t).toISOString().slice(0, 19).replace('T', ' ')}Z (${delta >= 0 ? `${span} ago` : `in ${span}`})`;
}

/** One lock entry on one line: `promoteEnvironment promote-production (promotion of 3f2c1a9)`. */
export function entryLine(entry: LockEntry): string {
  return `${printable(entry.workflowType)} ${printable(entry.workflowId)}${entry.purpose ? ` (${printable(entry.purpose)})` : ''}`;
}

/** The holder cell: who and since when, `free`, or `unknown`. */
export function holderLine(lock: LockView, now = Date.now()): string {
  if (lock.state === 'unknown') return 'unknown';
  if (!lock.holder) return 'free';
  return `${entryLine(lock.holder)}, held since ${since(lock.holder.grantedAt, now)}`;
}

/** The queue, one numbered line per request, first in line first. */
export function queueLines(lock: LockView, now = Date.now()): string[] {
  return lock.queue.map((e, i) => `${i + 1}. ${entryLine(e)}, waiting since ${since(e.requestedAt, now)}`);
}

/** One supersession: `promoteEnvironment promote-x replaced by promote-y at …`. */
export function supersededLine(entry: SupersededEntry, now = Date.now()): string {
  return `${printable(entry.workflowType)} ${printable(entry.workflowId)} replaced by ${printable(entry.by)} at ${since(entry.at, now)}`;
}

/** One approval wait on one line: who asked, who may approve, until when, which diff. */
export function approvalWaitLine(wait: ApprovalWaitView, now = Date.now()): string {
  return (
    `${printable(wait.workflowId)}` +
    `${wait.requestedBy ? ` requested by ${printable(wait.requestedBy)}` : ''}` +
    `; approvers ${wait.approvers.map(printable).join(', ') || '—'}${wait.approvals === 'signed' ? ' (signed approvals)' : ''}` +
    `${wait.deadline ? `; deadline ${since(wait.deadline, now)}` : ''}` +
    `; diff ${shortDigest(wait.digest)}` +
    `${wait.changedSinceApproval ? '; changed since approval' : ''}`
  );
}
