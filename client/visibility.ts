/**
 * Finding logstack workflows through Temporal visibility: by environment (the `LogstackEnvironment`
 * search attribute), task queue and workflow type. The lock workflows carry the attribute too, so
 * every query names the mutating workflow types explicitly.
 */
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { SearchAttributeNames, WorkflowTypes } from '../domain/index.ts';
import { CliError, ExitCode } from './errors.ts';

/** `LogstackEnvironment` (Keyword). */
export const environmentKey = defineSearchAttributeKey(SearchAttributeNames.environment, SearchAttributeType.KEYWORD);
/** `LogstackRevision` (Keyword). */
export const revisionKey = defineSearchAttributeKey(SearchAttributeNames.revision, SearchAttributeType.KEYWORD);

/** Workflow types that change one environment (what `status` reports on). */
export const ENVIRONMENT_WORKFLOW_TYPES = [
  WorkflowTypes.bootstrapEnvironment,
  WorkflowTypes.rolloutEnvironment,
  WorkflowTypes.promoteEnvironment,
  WorkflowTypes.migrateProduction,
] as const;

/** The visibility facts `status` and `approve` use about one run. */
export interface RunSummary {
  readonly workflowId: string;
  readonly runId: string;
  readonly type: string;
  /** `RUNNING`, `COMPLETED`, `FAILED`, `CANCELLED`, `TERMINATED`, `CONTINUED_AS_NEW`, `TIMED_OUT`. */
  readonly status: string;
  readonly startTime: Date;
  readonly closeTime: Date | undefined;
  readonly environment: string | undefined;
  readonly revision: string | undefined;
  readonly taskQueue: string;
}

const SAFE_VALUE = /^[A-Za-z0-9._:@^~/-]{1,255}$/;

/**
 * Quotes a value for a visibility query. Values are names the CLI accepts anyway, so anything outside
 * that alphabet is refused rather than escaped.
 * @throws CliError (usage) for a value with other characters.
 */
export function quote(value: string, what = 'value'): string {
  if (!SAFE_VALUE.test(value)) throw new CliError(`${what} "${value}" may hold only letters, digits and . _ : @ ^ ~ / -`, ExitCode.usage);
  return `'${value}'`;
}

/** The query for environment workflows on a task queue, optionally one environment and status. */
export function environmentQuery(taskQueue: string, options: { environment?: string; running?: boolean } = {}): string {
  const parts = [`TaskQueue = ${quote(taskQueue, 'task queue')}`, `WorkflowType IN (${ENVIRONMENT_WORKFLOW_TYPES.map((t) => `'${t}'`).join(', ')})`];
  if (options.environment !== undefined) parts.push(`${SearchAttributeNames.environment} = ${quote(options.environment, 'environment')}`);
  if (options.running) parts.push(`ExecutionStatus = 'Running'`);
  return parts.join(' AND ');
}

function summarize(info: WorkflowExecutionInfo): RunSummary {
  return {
    workflowId: info.workflowId,
    runId: info.runId,
    type: info.type,
    status: info.status.name,
    startTime: info.startTime,
    closeTime: info.closeTime,
    environment: info.typedSearchAttributes.get(environmentKey),
    revision: info.typedSearchAttributes.get(revisionKey),
    taskQueue: info.taskQueue,
  };
}

/** Lists up to `limit` runs matching `query`, newest start first. */
export async function listRuns(client: Client, query: string, limit = 500): Promise<RunSummary[]> {
  const runs: RunSummary[] = [];
  for await (const info of client.workflow.list({ query, pageSize: Math.min(limit, 200) })) {
    runs.push(summarize(info));
    if (runs.length >= limit) break;
  }
  return runs.sort((a, b) => b.startTime.getTime() - a.startTime.getTime());
}
