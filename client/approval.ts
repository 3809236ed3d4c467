/**
 * Finding the workflow an `approve` or `reject` is meant for: a workflow ID as given, or an
 * environment name resolved to the one running workflow on the task queue that waits for approval.
 */
import { readFileSync } from 'node:fs';
import { WorkflowNotFoundError, type WorkflowHandle } from '@temporalio/client';
import { approvalStatement, hasUnsafeCharacters, type ApprovalStatementFields, type Progress } from '../domain/index.ts';
import type { CommandContext } from './context.ts';
import { CliError, ExitCode } from './errors.ts';
import { readProgress } from './follow.ts';
import { signStatement } from './local/ssh-sign.ts';
import { printable } from './printable.ts';
import { environmentQuery, listRuns } from './visibility.ts';

/** What a workflow shows while it waits for a decision. */
export type AwaitingApproval = NonNullable<Progress['awaitingApproval']>;

/** The decision a statement is built for: by whom, approve (with its comment) or reject (with its reason), and on which digest. */
export interface DecisionToSign {
  readonly decision: 'approve' | 'reject';
  readonly by: string;
  readonly comment?: string | undefined;
  readonly reason?: string | undefined;
  /** The diff digest decided on; default: the one the workflow shows. */
  readonly digest?: string | undefined;
}

/** A time for a statement: now, to the second, ISO-8601 UTC. */
export function statementTime(now = new Date()): string {
  return now.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * The statement fields of the request `waiting` shows (workflow and run IDs, revision, digest) for `decision` at `time`.
 * @throws CliError when the workflow does not show what a signed statement binds (a worker older than signed approvals).
 */
export function statementFields(waiting: AwaitingApproval, decision: DecisionToSign, time: string): ApprovalStatementFields {
  const digest = decision.digest ?? waiting.digest ?? waiting.diff?.digest;
  const { workflowId, runId, revision } = waiting;
  if (workflowId === undefined || runId === undefined || revision === undefined || digest === undefined) {
    throw new CliError(
      `the workflow does not show what an approval statement binds (workflowId, runId, revision, digest in progress.awaitingApproval); its worker predates signed approvals`,
      ExitCode.failed,
    );
  }
  return {
    workflowId,
    runId,
    environment: waiting.environment,
    revision,
    digest,
    decision: decision.decision,
    by: decision.by,
    time,
    ...(decision.comment !== undefined ? { comment: decision.comment } : {}),
    ...(decision.reason !== undefined ? { reason: decision.reason } : {}),
  };
}

/**
 * The exact statement to sign (`approvalStatement`), refused when any value holds a control or bidirectional
 * character: it is printed and signed byte for byte, so it cannot be escaped.
 * @throws CliError as {@link statementFields}, or for such a value.
 */
export function statementToSign(waiting: AwaitingApproval, decision: DecisionToSign, time: string): string {
  const statement = approvalStatement(statementFields(waiting, decision, time));
  if (hasUnsafeCharacters(statement.replace(/\n/g, ''))) {
    throw new CliError(`the statement of ${printable(waiting.workflowId ?? '')} holds control or bidirectional characters; refusing to print or sign it`, ExitCode.failed);
  }
  return statement;
}

/** How the CLI gets a signature: made here with a key (`--key`), or made elsewhere (`--signature-file` with its `--time`). */
export interface SigningOptions {
  readonly key?: string | undefined;
  readonly signatureFile?: string | undefined;
  readonly time?: string | undefined;
}

/**
 * The `signature` and `time` of a decision, when the options ask for one: signs the statement of `waiting` with
 * `--key` (ssh-keygen; a `.pub` file signs through the SSH agent), or reads `--signature-file` made over the
 * statement with `--time`. Undefined without either option.
 * @throws CliError for a missing `--time` with `--signature-file`, both options at once, an unreadable file or a failed signing.
 */
export async function signDecision(
  ctx: CommandContext,
  waiting: AwaitingApproval | undefined,
  decision: DecisionToSign,
  opts: SigningOptions,
): Promise<{ signature: string; time: string } | undefined> {
  if (opts.key === undefined && opts.signatureFile === undefined) return undefined;
  if (opts.key !== undefined && opts.signatureFile !== undefined) throw new CliError('give --key or --signature-file, not both', ExitCode.usage);
  if (opts.signatureFile !== undefined) {
    if (opts.time === undefined) throw new CliError('--signature-file needs --time: the time written in the statement that was signed', ExitCode.usage);
    let signature: string;
    try {
      signature = readFileSync(opts.signatureFile, 'utf8');
    } catch (error) {
      throw new CliError(`cannot read the signature file ${opts.signatureFile}: ${(error as Error).message}`, ExitCode.usage);
    }
    return { signature, time: opts.time };
  }
  if (!waiting) throw new CliError('cannot read what the workflow waits for, so there is no statement to sign', ExitCode.failed);
  const time = opts.time ?? statementTime();
  const statement = statementToSign(waiting, decision, time);
  const signature = await signStatement(statement, opts.key ?? '', ctx.io.env);
  return { signature, time };
}

/**
 * Resolves `target` (workflow ID or environment) to a running workflow handle.
 * @throws CliError when the workflow has ended, nothing waits for approval on the environment, or
 * several workflows do (then the message lists their IDs).
 */
export async function resolveApprovalTarget(ctx: CommandContext, target: string): Promise<WorkflowHandle> {
  const { client } = await ctx.temporal();
  const direct = client.workflow.getHandle(target);
  try {
    const description = await direct.describe();
    if (description.status.name !== 'RUNNING') {
      throw new CliError(`${target} has already ended (${description.status.name.toLowerCase()}); there is nothing to approve`, ExitCode.failed);
    }
    return direct;
  } catch (error) {
    if (!(error instanceof WorkflowNotFoundError)) throw error;
  }
  const running = await listRuns(client, environmentQuery(ctx.settings.taskQueue, { environment: target, running: true }), 20);
  if (running.length === 0) {
    throw new CliError(
      `no workflow "${target}", and no running workflow for environment "${target}" on task queue ${ctx.settings.taskQueue}; see \`logstack status\``,
      ExitCode.failed,
    );
  }
  const waiting: WorkflowHandle[] = [];
  for (const run of running) {
    const handle = client.workflow.getHandle(run.workflowId, run.runId);
    const reading = await readProgress(ctx, handle, 3000);
    if (reading.ok && reading.progress.awaitingApproval) waiting.push(client.workflow.getHandle(run.workflowId));
  }
  const only = waiting[0];
  if (waiting.length === 1 && only) return only;
  if (waiting.length > 1) {
    throw new CliError(`several workflows on ${target} wait for approval (${waiting.map((h) => h.workflowId).join(', ')}); name one by its workflow ID`, ExitCode.usage);
  }
  throw new CliError(
    `nothing on ${target} is waiting for approval (running: ${running.map((r) => r.workflowId).join(', ')}); follow it with \`logstack watch <workflowId>\``,
    ExitCode.failed,
  );
}
