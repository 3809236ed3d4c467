/**
 * Finding the workflow an `approve` or `reject` is meant for: a workflow ID as given, or an
 * environment name resolved to the one running workflow on the task queue that waits for approval.
 */
import { WorkflowNotFoundError, type WorkflowHandle } from '@temporalio/client';
import type { CommandContext } from './context.ts';
import { CliError, ExitCode } from './errors.ts';
import { readProgress } from './follow.ts';
import { environmentQuery, listRuns } from './visibility.ts';

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
