/**
 * Following a workflow until it ends: polls the `progress` query and prints each phase change and step
 * transition as one line (or one JSON event per line with `--output json`, one YAML document each with
 * `--output yaml`), shows what approval is awaited (diff, digest, "changed since approval") and, while the
 * workflow waits for its environment's lock, who holds it and who is in line; maps the outcome to the CLI
 * exit code.
 */
import type { WorkflowHandle } from '@temporalio/client';
import { samePerson, type AwsChangeAction, type DiffSummary, type Progress, type StepProgress } from '../domain/index.ts';
import { progressQuery } from '../workflows/messages.ts';
import type { CommandContext } from './context.ts';
import { ExitCode, exitCodeForFailure, failureInfo, type FailureInfo } from './errors.ts';
import { holderLine, queueLines, readLock, supersededLine, type LockView } from './lock.ts';
import { printable } from './printable.ts';

type AwaitingApproval = NonNullable<Progress['awaitingApproval']>;

/** Outcome of one `progress` query. */
export type ProgressReading = { readonly ok: true; readonly progress: Progress } | { readonly ok: false; readonly reason: string };

/**
 * Queries `progress` with a deadline, so a missing worker shows as a reason instead of a hang.
 * Never throws.
 */
export async function readProgress(ctx: CommandContext, handle: WorkflowHandle, timeoutMs = 5000): Promise<ProgressReading> {
  const { connection } = await ctx.temporal();
  try {
    const progress = await connection.withDeadline(Date.now() + timeoutMs, () => handle.query(progressQuery));
    return { ok: true, progress };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const reason = /deadline|poller|worker/i.test(message)
      ? `no worker answered the progress query within ${timeoutMs / 1000} s — is a worker polling task queue ${ctx.settings.taskQueue}? (\`npm run worker\`)`
      : `progress query failed: ${printable(message)}`;
    return { ok: false, reason };
  }
}

const ICON: Record<string, string> = { pending: '·', running: '▸', succeeded: '✓', failed: '✗', skipped: '↷', compensated: '↺' };

function clock(iso: string | undefined): string {
  const d = iso ? new Date(iso) : new Date();
  return Number.isNaN(d.getTime()) ? '--:--:--' : d.toISOString().slice(11, 19);
}

/** One step line, e.g. `12:00:03 ✓ apply overlay — succeeded: 14 objects`. */
export function formatStep(step: StepProgress): string {
  const at = step.status === 'running' || step.status === 'pending' ? step.startedAt : (step.endedAt ?? step.startedAt);
  // Names and details come from history: one line each, whatever they hold.
  return `${clock(at)} ${ICON[step.status] ?? '?'} ${printable(step.name)} — ${printable(step.status)}${step.detail ? `: ${printable(step.detail)}` : ''}`;
}

/** A one-line count summary of a dry-run diff. */
export function diffSummaryLine(diff: DiffSummary): string {
  return `${diff.created.length} created, ${diff.changed.length} changed, ${diff.unchanged} unchanged, ${diff.toBeDeleted.length} to delete, ${diff.destructive.length} destructive`;
}

/** The digest an approval of `approval` names: `digest`, else the diff's own. */
export function approvalDigest(approval: AwaitingApproval): string | undefined {
  return approval.digest ?? approval.diff?.digest;
}

const AWS_MARK: Record<AwsChangeAction, string> = { create: '+', change: '~', remove: '-', conflict: '✗' };

/**
 * The lines describing the AWS plan shown with an approval request (`awaitingApproval.aws`): counts, each change
 * (`+` create, `~` change, `-` remove, `✗` conflict) and the destructive ones (`!`); or why there is no plan. Empty
 * for runs that show none. Everything printed comes from history, so it is escaped.
 */
export function awsPlanLines(aws: AwaitingApproval['aws']): string[] {
  if (aws === undefined) return [];
  if ('unavailable' in aws) return [`  aws: plan not available — ${printable(aws.unavailable)}`];
  const count = (a: AwsChangeAction) => aws.changes.filter((c) => c.action === a).length;
  const lines = [
    `  aws: ${count('create')} to create, ${count('change')} to change, ${count('remove')} to remove${count('conflict') ? `, ${count('conflict')} in conflict` : ''}, ${aws.unchanged} unchanged, ${aws.destructive.length} destructive (shown, not part of the digest)`,
  ];
  for (const c of aws.changes.slice(0, 30)) lines.push(`    ${AWS_MARK[c.action]} ${printable(c.resource)} ${printable(c.item)}: ${printable(c.detail)}`);
  if (aws.changes.length > 30) lines.push(`    … ${aws.changes.length - 30} more`);
  for (const d of aws.destructive) lines.push(`    ! ${printable(d)}`);
  return lines;
}

/**
 * The lines describing an awaited approval — requester, approvers, deadline, diff and its digest, whether it
 * changed since an earlier approval — and the exact commands to answer it (approve names the digest shown).
 */
export function approvalLines(workflowId: string, approval: AwaitingApproval, target: string, extraFlags = ''): string[] {
  const lines = [
    `⏸ ${workflowId} is waiting for approval to change ${printable(approval.environment)}` +
      `${approval.requestedBy ? ` (requested by ${printable(approval.requestedBy)})` : ''}` +
      `${approval.approvers.length ? `; approvers: ${approval.approvers.map(printable).join(', ')}` : ''}` +
      `${approval.deadline ? `; deadline ${printable(approval.deadline)}` : ''}`,
  ];
  const diff = approval.diff;
  if (diff) {
    lines.push(`  diff: ${diffSummaryLine(diff)}`);
    const list = (mark: string, names: readonly string[]): void => {
      for (const n of names.slice(0, 20)) lines.push(`    ${mark} ${printable(n)}`);
      if (names.length > 20) lines.push(`    ${mark} … ${names.length - 20} more`);
    };
    list('+', diff.created);
    list('~', diff.changed);
    list('-', diff.toBeDeleted);
    list('!', diff.destructive);
  } else {
    lines.push('  diff: not available');
  }
  const digest = approvalDigest(approval);
  if (digest) lines.push(`  digest: ${printable(digest)}`);
  lines.push(...awsPlanLines(approval.aws));
  if (approval.changedSinceApproval) lines.push('  changed since approval: the change approved earlier is no longer what would be applied; decide again on this diff');
  const requester = approval.requestedBy;
  const approver = printable(approval.approvers.find((a) => requester === undefined || !samePerson(a, requester)) ?? '<NAME>');
  if (approval.approvals === 'signed') {
    lines.push('  approvals: signed — the decision must carry the approver’s SSH signature over this request’s statement');
    lines.push(`  approve: logstack approve ${target} --by ${approver} --key ~/.ssh/id_ed25519${digest ? ` --digest ${printable(digest)}` : ''}${extraFlags}`);
    lines.push(`  reject:  logstack reject ${target} --by ${approver} --reason "<why>" --key ~/.ssh/id_ed25519${extraFlags}`);
    lines.push(`  statement to sign elsewhere: logstack approval statement ${target} --by ${approver}${extraFlags}`);
    return lines;
  }
  if (approval.approvals === 'named') {
    lines.push('  approvals: named — names only: whoever may send updates to this Temporal namespace can decide as any approver');
  }
  lines.push(`  approve: logstack approve ${target} --by ${approver}${digest ? ` --digest ${printable(digest)}` : ''}${extraFlags}`);
  lines.push(`  reject:  logstack reject ${target} --by ${approver} --reason "<why>"${extraFlags}`);
  return lines;
}

/** Tracks what was already shown, so only changes are printed. */
export class ProgressPrinter {
  readonly #seen = new Map<string, string>();
  #phase: string | undefined;
  /** The digest (or `''`) of the approval last shown; undefined while none is awaited. */
  #approvalShown: string | undefined;

  /** Changes since the last call: phase, steps (by position and name), approval appearing or its digest changing. */
  changes(progress: Progress): { phase?: string; steps: StepProgress[]; approval?: AwaitingApproval } {
    const out: { phase?: string; steps: StepProgress[]; approval?: AwaitingApproval } = { steps: [] };
    if (progress.phase !== this.#phase) {
      this.#phase = progress.phase;
      out.phase = progress.phase;
    }
    progress.steps.forEach((step, i) => {
      const key = `${i}:${step.name}`;
      const state = `${step.status}|${step.detail ?? ''}`;
      if (this.#seen.get(key) !== state && step.status !== 'pending') out.steps.push(step);
      this.#seen.set(key, state);
    });
    const approval = progress.awaitingApproval;
    if (approval) {
      const key = `${approvalDigest(approval) ?? ''}|${approval.changedSinceApproval === true}`;
      if (this.#approvalShown !== key) out.approval = approval;
      this.#approvalShown = key;
    } else {
      this.#approvalShown = undefined;
    }
    return out;
  }
}

/** Waiting for the lock: phase `waiting-for-lock` of `progress` (workflows/progress.ts). */
const WAITING_FOR_LOCK = 'waiting-for-lock';

/**
 * The lines describing the lock `workflowId` waits for: who holds it since when, the queue (this run marked),
 * and supersessions that happened while it was followed.
 */
export function lockLines(environment: string, lock: LockView, workflowId: string, since: number, now = Date.now()): string[] {
  const lines = [`${clock(undefined)} lock of ${printable(environment)}: ${lock.state === 'unknown' ? `unknown — ${printable(lock.note ?? '')}` : holderLine(lock, now)}`];
  const queue = queueLines(lock, now);
  lock.queue.forEach((entry, i) => lines.push(`  queue ${queue[i] ?? ''}${entry.workflowId === workflowId ? '  ← this workflow' : ''}`));
  for (const e of lock.superseded) if (new Date(e.at).getTime() >= since) lines.push(`  superseded: ${supersededLine(e, now)}`);
  return lines;
}

/** What of a lock reading is worth printing again when it changes (not the ages). */
function lockKey(lock: LockView): string {
  return JSON.stringify([lock.state, lock.holder?.workflowId, lock.holder?.runId, lock.queue.map((q) => q.runId), lock.superseded.map((e) => `${e.workflowId}@${e.at}`)]);
}

/** How a followed workflow ended. */
export type FollowOutcome =
  | { readonly status: 'completed'; readonly exitCode: ExitCode; readonly result: unknown }
  | { readonly status: 'failed'; readonly exitCode: ExitCode; readonly failure: FailureInfo };

/** Options of {@link follow}. */
export interface FollowOptions {
  /** How `approve`/`reject` should name the workflow in the printed commands (environment or workflow ID). */
  readonly approvalTarget?: string;
  /** The environment the workflow changes: while it waits for that lock, the holder and queue are shown. */
  readonly environment?: string;
  readonly pollMs?: number;
  /** Prints the result in table mode; JSON mode always prints it as the final event. */
  readonly printResult?: (result: unknown) => void;
}

/** Follows `handle` until its run chain ends; prints transitions; returns the outcome and exit code. */
export async function follow(ctx: CommandContext, handle: WorkflowHandle, options: FollowOptions = {}): Promise<FollowOutcome> {
  const printer = new ProgressPrinter();
  const started = Date.now();
  const pollMs = options.pollMs ?? 1000;
  let warned = false;
  const outcome: Promise<FollowOutcome> = handle.result().then(
    (result: unknown): FollowOutcome => ({ status: 'completed', exitCode: ExitCode.ok, result }),
    (error: unknown): FollowOutcome => {
      // Only the workflow's own failure is an outcome; not being able to read the result (no codec
      // keys, lost connection) is an error of this command.
      if ((error as { name?: unknown } | null)?.name !== 'WorkflowFailedError') throw error;
      const failure = failureInfo(error);
      return { status: 'failed', exitCode: exitCodeForFailure(failure.type), failure };
    },
  );
  const flags = ctx.settings.taskQueue === 'logstack' ? '' : ` --task-queue ${ctx.settings.taskQueue}`;
  let lockShown: string | undefined;

  /** While the workflow waits for its environment's lock: the lock's holder and queue, each time they change. */
  const showLock = async (reading: ProgressReading): Promise<void> => {
    const environment = options.environment;
    if (!environment || !reading.ok || reading.progress.phase !== WAITING_FOR_LOCK) {
      lockShown = undefined;
      return;
    }
    const lock = await readLock(ctx, environment);
    const key = lockKey(lock);
    if (key === lockShown) return;
    lockShown = key;
    if (ctx.json) ctx.printJsonLine({ event: 'lock', workflowId: handle.workflowId, environment, lock });
    else for (const l of lockLines(environment, lock, handle.workflowId, started)) ctx.line(l);
  };

  const show = (reading: ProgressReading): void => {
    if (!reading.ok) {
      if (!warned) {
        warned = true;
        if (ctx.json) ctx.printJsonLine({ event: 'warning', workflowId: handle.workflowId, message: reading.reason });
        else ctx.io.err(`${printable(reading.reason)}\n`);
      }
      return;
    }
    const change = printer.changes(reading.progress);
    if (ctx.json) {
      if (change.phase !== undefined) ctx.printJsonLine({ event: 'phase', workflowId: handle.workflowId, phase: change.phase });
      for (const step of change.steps) ctx.printJsonLine({ event: 'step', workflowId: handle.workflowId, ...step });
      if (change.approval) ctx.printJsonLine({ event: 'awaiting-approval', workflowId: handle.workflowId, ...change.approval });
      return;
    }
    if (change.phase !== undefined) ctx.line(`${clock(undefined)} phase: ${printable(change.phase)}`);
    for (const step of change.steps) ctx.line(formatStep(step));
    if (change.approval) for (const l of approvalLines(handle.workflowId, change.approval, options.approvalTarget ?? handle.workflowId, flags)) ctx.line(l);
  };

  for (;;) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const done = await Promise.race([outcome, new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), pollMs)))]);
    clearTimeout(timer);
    const reading = await readProgress(ctx, handle, done ? 2000 : 5000);
    show(reading);
    if (!done) await showLock(reading);
    if (done) {
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      if (ctx.json) {
        ctx.printJsonLine(
          done.status === 'completed'
            ? { event: 'completed', workflowId: handle.workflowId, result: done.result }
            : { event: 'failed', workflowId: handle.workflowId, failureType: done.failure.type ?? null, message: done.failure.message },
        );
      } else if (done.status === 'completed') {
        ctx.line(`✓ ${handle.workflowId} completed (${seconds} s)`);
        options.printResult?.(done.result);
      } else {
        const type = done.failure.type ? ` (${printable(done.failure.type)})` : '';
        ctx.line(`✗ ${handle.workflowId} ${done.exitCode === ExitCode.rejected ? 'was not approved' : 'failed'}${type}: ${printable(done.failure.message)}`);
      }
      return done;
    }
  }
}
