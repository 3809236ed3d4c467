import type { Command } from 'commander';
import type { Client } from '@temporalio/client';
import { FailureType, isCommitSha, shortSha, type GateResult } from '../../domain/index.ts';
import { workflowUrl } from '../connection.ts';
import type { CommandContext } from '../context.ts';
import { ExitCode, failureInfo } from '../errors.ts';
import { readProgress, type ProgressReading } from '../follow.ts';
import { approvalWaitLine, holderLine, queueLines, readLock, supersededLine, type ApprovalWaitView, type LockView } from '../lock.ts';
import { printable } from '../printable.ts';
import { environmentQuery, listRuns, type RunSummary } from '../visibility.ts';
import { environmentName } from './arguments.ts';
import type { Runner } from './runner.ts';

/** One row of `logstack status`. */
export interface EnvironmentStatus {
  readonly environment: string;
  /** The revision the environment is being moved to, or else the one it is at. */
  readonly pinnedRevision: string | null;
  /** The revision the last completed workflow delivered and verified (after any rollback). */
  readonly verifiedRevision: string | null;
  readonly health: string;
  readonly running: { workflowId: string; type: string; phase: string | null; awaitingApproval: boolean; url: string } | null;
  readonly latest: { workflowId: string; runId: string; type: string; status: string; url: string } | null;
  /** The `lock-<env>` lease: holder (type, ID, purpose, since when), the queue in order, recent supersessions. */
  readonly lock: LockView;
  /** Workflows waiting for approval of this environment outside the lock (promotions), newest first. */
  readonly awaitingApproval: readonly ApprovalWaitView[];
}

/** Failures that end a workflow before it changes the environment: they say nothing about its health. */
const NO_CHANGE_FAILURES = new Set<string>([
  FailureType.ApprovalRejected,
  FailureType.ApprovalTimedOut,
  FailureType.EnvironmentLocked,
  FailureType.InvalidInput,
  FailureType.UnknownEnvironment,
  FailureType.PromotionOrderViolation,
  FailureType.RevisionNotVerified,
  FailureType.ChangeFreeze,
  FailureType.NotAuthorized,
]);

const STAGE_ORDER = ['dev', 'staging', 'production'];
const MAX_CLOSED_SCANNED = 10;
/** Running runs of one environment whose progress is read (the newest; more only queue for the lock). */
const MAX_RUNNING_READ = 20;

function show(revision: string | null): string {
  if (!revision) return '—';
  return isCommitSha(revision) ? shortSha(revision) : revision;
}

type Outcome = { ok: true; result: Record<string, unknown> } | { ok: false; type: string | undefined; message: string };

async function outcomeOf(client: Client, run: RunSummary): Promise<Outcome> {
  try {
    const result: unknown = await client.workflow.getHandle(run.workflowId, run.runId, { followRuns: false }).result();
    return { ok: true, result: result && typeof result === 'object' ? (result as Record<string, unknown>) : {} };
  } catch (error) {
    const info = failureInfo(error);
    return { ok: false, type: info.type, message: info.message };
  }
}

function healthOf(run: RunSummary, outcome: Outcome): string {
  if (outcome.ok) {
    if (outcome.result['rolledBack'] === true) return 'rolled back';
    const gates = outcome.result['gates'];
    if (Array.isArray(gates) && gates.length > 0) {
      const failing = (gates as GateResult[]).filter((g) => !g.ok).map((g) => g.gate);
      return failing.length === 0 ? `healthy (${gates.length}/${gates.length} gates)` : `failing: ${failing.join(', ')}`;
    }
    return 'healthy';
  }
  if (run.status === 'FAILED') return `failed${outcome.type ? ` (${outcome.type})` : ''}`;
  return run.status.toLowerCase().replace(/_/g, ' ');
}

/** Builds the status of one environment from its runs (newest first). */
async function environmentStatus(ctx: CommandContext, client: Client, environment: string, runs: readonly RunSummary[]): Promise<EnvironmentStatus> {
  const settings = ctx.settings;
  const running = runs.find((r) => r.status === 'RUNNING');
  const closed = runs.filter((r) => r.status !== 'RUNNING' && r.status !== 'CONTINUED_AS_NEW').slice(0, MAX_CLOSED_SCANNED);
  let health: string | undefined;
  let verified: string | null = null;
  for (const run of closed) {
    const outcome = await outcomeOf(client, run);
    if (!outcome.ok && outcome.type !== undefined && NO_CHANGE_FAILURES.has(outcome.type)) continue;
    health ??= healthOf(run, outcome);
    if (outcome.ok) {
      const { revision, previousRevision, rolledBack } = outcome.result;
      const delivered = rolledBack === true ? previousRevision : revision;
      if (typeof delivered === 'string') {
        verified = delivered;
        break;
      }
    }
  }
  // Every running run: the newest is "the running workflow"; any of them may wait for approval outside the lock.
  const runningRuns = runs.filter((r) => r.status === 'RUNNING').slice(0, MAX_RUNNING_READ);
  const [readings, lock] = await Promise.all([
    Promise.all(runningRuns.map(async (run) => ({ run, reading: await readProgress(ctx, client.workflow.getHandle(run.workflowId, run.runId), 3000) }))),
    readLock(ctx, environment),
  ]);
  let runningInfo: EnvironmentStatus['running'] = null;
  const newest = readings[0];
  if (running && newest) {
    const { reading } = newest;
    runningInfo = {
      workflowId: running.workflowId,
      type: running.type,
      phase: reading.ok ? reading.progress.phase : null,
      awaitingApproval: reading.ok && reading.progress.awaitingApproval !== undefined,
      url: workflowUrl(settings, running.workflowId),
    };
  }
  const latest = runs[0];
  return {
    environment,
    pinnedRevision: running?.revision ?? verified,
    verifiedRevision: verified,
    health: health ?? (running ? 'in progress' : 'unknown'),
    running: runningInfo,
    latest: latest ? { workflowId: latest.workflowId, runId: latest.runId, type: latest.type, status: latest.status, url: workflowUrl(settings, latest.workflowId) } : null,
    lock,
    awaitingApproval: approvalWaits(readings),
  };
}

/** The runs whose `progress` shows them waiting for approval, in the order given (newest first). */
function approvalWaits(readings: readonly { run: RunSummary; reading: ProgressReading }[]): ApprovalWaitView[] {
  const waits: ApprovalWaitView[] = [];
  for (const { run, reading } of readings) {
    const approval = reading.ok ? reading.progress.awaitingApproval : undefined;
    if (!approval) continue;
    waits.push({
      workflowId: run.workflowId,
      runId: run.runId,
      type: run.type,
      requestedBy: approval.requestedBy ?? null,
      approvers: approval.approvers,
      approvals: approval.approvals === 'signed' ? 'signed' : 'named',
      deadline: approval.deadline ?? null,
      digest: approval.digest ?? approval.diff?.digest ?? null,
      changedSinceApproval: approval.changedSinceApproval === true,
    });
  }
  return waits;
}

/**
 * The lines under the status table for one environment: the lock's holder and queue, the approvals awaited
 * outside it, the recent supersessions; only what is there (a free lock with nothing around it prints nothing).
 */
export function lockDetailLines(row: EnvironmentStatus, now = Date.now()): string[] {
  const { lock } = row;
  const lines: string[] = [];
  if (lock.state === 'unknown') lines.push(`  lock: unknown — ${printable(lock.note ?? '')}`);
  else if (lock.holder) lines.push(`  lock: ${holderLine(lock, now)}`);
  else if (lock.queue.length > 0) lines.push('  lock: free (granting the next in line)');
  if (lock.queue.length > 0) {
    lines.push('  queue:');
    for (const l of queueLines(lock, now)) lines.push(`    ${l}`);
  }
  if (row.awaitingApproval.length > 0) {
    lines.push('  awaiting approval (outside the lock):');
    for (const w of row.awaitingApproval) lines.push(`    ${approvalWaitLine(w, now)}`);
  }
  if (lock.superseded.length > 0) {
    lines.push('  superseded recently:');
    for (const e of lock.superseded) lines.push(`    ${supersededLine(e, now)}`);
  }
  return lines.length > 0 ? [`${row.environment}:`, ...lines] : [];
}

/** The lock column: who holds it (ID only; the details follow the table), how many wait, or free/unknown. */
function lockCell(row: EnvironmentStatus): string {
  const { lock } = row;
  const waiting = lock.queue.length > 0 ? ` +${lock.queue.length} queued` : '';
  if (lock.state === 'unknown') return 'unknown';
  return `${lock.holder ? `held by ${printable(lock.holder.workflowId)}` : 'free'}${waiting}`;
}

function stageRank(env: string): number {
  const i = STAGE_ORDER.indexOf(env);
  return i < 0 ? STAGE_ORDER.length : i;
}

/**
 * Computes `status` rows from Temporal alone: visibility lists of the environment workflows on the
 * task queue, the result of recent closed runs, and the `progress` query of running ones.
 */
export async function collectStatus(ctx: CommandContext, environment?: string): Promise<EnvironmentStatus[]> {
  const { client } = await ctx.temporal();
  const query = environmentQuery(ctx.settings.taskQueue, environment === undefined ? {} : { environment });
  const runs = await listRuns(client, query, environment === undefined ? 1000 : 100);
  const byEnv = new Map<string, RunSummary[]>();
  for (const run of runs) {
    if (!run.environment) continue;
    const list = byEnv.get(run.environment) ?? [];
    list.push(run);
    byEnv.set(run.environment, list);
  }
  if (environment !== undefined && !byEnv.has(environment)) byEnv.set(environment, []);
  const names = [...byEnv.keys()].sort((a, b) => stageRank(a) - stageRank(b) || a.localeCompare(b));
  // Environments are independent: read them in parallel, so one unanswered progress query costs its
  // deadline once, not once per environment.
  return Promise.all(names.map((name) => environmentStatus(ctx, client, name, byEnv.get(name) ?? [])));
}

/**
 * `logstack status [env]`: a table of environments (pinned and verified revision, gate health, lock, running
 * workflow, Web UI link), then per environment the lock's holder and queue, the approvals awaited outside
 * the lock and the recent supersessions; from Temporal only. `--output json|yaml` prints the rows.
 */
export function registerStatus(program: Command, runner: Runner): void {
  program
    .command('status')
    .description('environments: pinned and verified revision, health, lock holder and queue, approvals awaited, running workflow, Web UI link')
    .argument('[env]', 'one environment (default: every environment with a workflow on the task queue)', environmentName)
    .addHelpText('after', '\nExample:\n  logstack status\n  logstack status production --output json\n  logstack status --output yaml')
    .action((env: string | undefined, _opts: unknown, command: Command) =>
      runner.run(command, async (ctx) => {
        const rows = await collectStatus(ctx, env);
        if (ctx.json) {
          ctx.printJson(rows);
          return ExitCode.ok;
        }
        if (rows.length === 0) {
          ctx.line(`no logstack workflows on task queue ${ctx.settings.taskQueue} in namespace ${ctx.settings.namespace} yet; start one with \`logstack bootstrap <env>\``);
          return ExitCode.ok;
        }
        ctx.printTable(
          ['environment', 'pinned', 'verified', 'health', 'lock', 'running workflow', 'web UI'],
          rows.map((r) => [
            r.environment,
            show(r.pinnedRevision),
            show(r.verifiedRevision),
            r.health,
            lockCell(r),
            r.running ? `${r.running.workflowId} (${r.running.awaitingApproval ? 'awaiting approval' : (r.running.phase ?? 'no progress answer')})` : '—',
            r.running?.url ?? r.latest?.url ?? '—',
          ]),
        );
        const now = Date.now();
        for (const r of rows) for (const l of lockDetailLines(r, now)) ctx.line(l);
        return ExitCode.ok;
      }),
    );
}
