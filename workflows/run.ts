/**
 * What every mutating workflow sets up first: the progress tracker behind the `progress` query, the
 * approval gate behind `approve`/`reject`, and the per-environment lock client — then validation helpers
 * that turn bad input into a typed failure before any side effect.
 */
import { isCancellation, setHandler } from '@temporalio/workflow';
import type { z } from 'zod';
import { lockOptionSchema, parseInput, type Catalog } from '../domain/index.ts';
import { ApprovalGate } from './approval.ts';
import { liftFailure, validate } from './failures.ts';
import { EnvironmentLocks } from './lock.ts';
import { progressQuery } from './messages.ts';
import { Phase, ProgressTracker } from './progress.ts';
import { runStep } from './steps/index.ts';

/** The per-run helpers of one workflow execution. */
export interface WorkflowRun {
  readonly tracker: ProgressTracker;
  readonly approval: ApprovalGate;
  readonly locks: EnvironmentLocks;
}

/** Registers the `progress` query, the approval updates and the lock signals. Call first thing. */
export function beginRun(workflowType: string): WorkflowRun {
  const tracker = new ProgressTracker();
  setHandler(progressQuery, () => tracker.snapshot());
  return { tracker, approval: new ApprovalGate(tracker, workflowType), locks: new EnvironmentLocks(tracker) };
}

/**
 * Runs the body of a workflow: on success the phase ends `succeeded` (unless the body already finished the
 * tracker, e.g. `rolled-back`); on failure `failed` or `cancelled`, and failures carrying a project type are
 * lifted to a top-level, non-retryable `ApplicationFailure` of that type.
 */
export async function execute<T>(run: WorkflowRun, body: () => Promise<T>): Promise<T> {
  try {
    const result = await body();
    if (!run.tracker.finished) run.tracker.finish(Phase.succeeded);
    return result;
  } catch (err) {
    if ((err as { name?: unknown }).name === 'ContinueAsNew') throw err;
    if (!run.tracker.finished) run.tracker.finish(isCancellation(err) ? Phase.cancelled : Phase.failed);
    throw liftFailure(err);
  }
}

/**
 * Validates a workflow input against its schema plus the shared `failIfLocked` option.
 * @throws ApplicationFailure `InvalidInput` listing each wrong field.
 */
export function parseWithLockOption<S extends z.ZodObject>(
  schema: S,
  input: unknown,
  what: string,
): { input: z.output<S>; failIfLocked: boolean } {
  const { failIfLocked, ...rest } = validate(() => parseInput(schema.extend(lockOptionSchema.shape), input, what)) as z.output<S> & {
    failIfLocked?: boolean;
  };
  return { input: rest as z.output<S>, failIfLocked: failIfLocked ?? false };
}

/** Loads the catalog: read-only, and the only activity a workflow calls before its input is validated. */
export function loadCatalog(run: WorkflowRun): Promise<Catalog> {
  return runStep(run.tracker, 'load-catalog', {});
}
