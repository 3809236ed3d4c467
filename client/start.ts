/**
 * Starting a workflow from the CLI: the default workflow ID, the input already validated against the
 * contract, the environment search attribute set at start (so `status` sees the run before a worker
 * picks it up), and optionally following it like `watch`.
 */
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import type { GateResult, WorkflowType } from '../domain/index.ts';
import { workflowUrl } from './connection.ts';
import type { CommandContext } from './context.ts';
import { CliError, ExitCode } from './errors.ts';
import { follow } from './follow.ts';
import { environmentKey } from './visibility.ts';

/** What to start. */
export interface StartSpec {
  readonly type: WorkflowType;
  readonly workflowId: string;
  /** The single JSON input object, validated by the caller with the domain schema. */
  readonly input: unknown;
  readonly environment?: string;
  readonly wait: boolean;
  /** How `approve` should name this workflow in printed hints (default: its workflow ID). */
  readonly approvalTarget?: string;
  /** Table-mode rendering of the result when waiting. */
  readonly printResult?: (ctx: CommandContext, result: unknown) => void;
}

/** Prints a result object as a two-column table: scalars as is, gate lists as ✓/✗ lines, arrays joined. */
export function printResultTable(ctx: CommandContext, result: unknown): void {
  if (result === null || typeof result !== 'object') {
    ctx.line(`result: ${JSON.stringify(result)}`);
    return;
  }
  const rows: string[][] = [];
  for (const [key, value] of Object.entries(result as Record<string, unknown>)) {
    if (key === 'gates' && Array.isArray(value)) {
      const gates = value as GateResult[];
      rows.push([key, gates.map((g) => `${g.ok ? '✓' : '✗'} ${g.gate}${g.detail ? ` (${g.detail})` : ''}`).join('\n') || '—']);
    } else if (Array.isArray(value)) {
      rows.push([key, value.length === 0 ? '—' : value.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join('\n')]);
    } else {
      rows.push([key, value === null || value === undefined ? '—' : typeof value === 'string' ? value : JSON.stringify(value)]);
    }
  }
  ctx.printTable(['field', 'value'], rows);
}

/**
 * Starts the workflow and, with `wait`, follows it to the end.
 * @returns the exit code: 0 when started (or completed), 1 failed, 3 rejected / timed out.
 * @throws CliError when a run with the same workflow ID is already running.
 */
export async function startWorkflow(ctx: CommandContext, spec: StartSpec): Promise<ExitCode> {
  const { client } = await ctx.temporal();
  const settings = ctx.settings;
  let handle;
  try {
    handle = await client.workflow.start(spec.type, {
      taskQueue: settings.taskQueue,
      workflowId: spec.workflowId,
      args: [spec.input],
      ...(spec.environment ? { typedSearchAttributes: [{ key: environmentKey, value: spec.environment }] } : {}),
    });
  } catch (error) {
    if (error instanceof WorkflowExecutionAlreadyStartedError) {
      throw new CliError(`${spec.workflowId} is already running; follow it with \`logstack watch ${spec.workflowId}\` and start again when it has ended`, ExitCode.failed);
    }
    throw error;
  }
  const url = workflowUrl(settings, spec.workflowId);
  if (ctx.json) {
    const started = { event: 'started', workflowId: spec.workflowId, runId: handle.firstExecutionRunId, type: spec.type, taskQueue: settings.taskQueue, url };
    if (spec.wait) ctx.printJsonLine(started);
    else ctx.printJson(started);
  } else {
    ctx.line(`started ${spec.type} ${spec.workflowId} on task queue ${settings.taskQueue}`);
    ctx.line(`  web UI: ${url}`);
    if (!spec.wait) ctx.line(`  follow: logstack watch ${spec.workflowId}`);
  }
  if (!spec.wait) return ExitCode.ok;
  const outcome = await follow(ctx, handle, {
    approvalTarget: spec.approvalTarget ?? spec.workflowId,
    ...(spec.environment ? { environment: spec.environment } : {}),
    printResult: (result) => (spec.printResult ?? printResultTable)(ctx, result),
  });
  return outcome.exitCode;
}
