/**
 * What every workflow sets up first — the progress tracker behind the `progress` query, the approval gate
 * behind `approve`/`reject`, the per-environment lock client — and the opening every mutating workflow
 * shares: validate the input, load the catalog, find the environment, refuse a freeze, mark the search
 * attributes and resolve the commit, in that order and before any side effect.
 */
import { isCancellation, patched, setHandler } from '@temporalio/workflow';
import type { z } from 'zod';
import {
  assertNotFrozen,
  DomainError,
  FailureType,
  findEnvironment,
  lockOptionSchema,
  parseInput,
  type Catalog,
  type Environment,
  type WorkflowType,
} from '../domain/index.ts';
import type { DeployedState } from '../domain/activity-contract.ts';
import { ApprovalGate } from './approval.ts';
import { failureType, liftFailure, validate } from './failures.ts';
import { EnvironmentLocks } from './lock.ts';
import { progressQuery } from './messages.ts';
import { Notifier } from './notify.ts';
import { Phase, ProgressTracker } from './progress.ts';
import { protectedChangeNeedsRequester, stateReadUnderLockRunsLocally } from './patches.ts';
import { markWorkflow } from './search-attributes.ts';
import { planSteps, runStep, type PlannedStep } from './steps/index.ts';

/** The per-run helpers of one workflow execution. */
export interface WorkflowRun {
  readonly workflowType: WorkflowType;
  readonly tracker: ProgressTracker;
  readonly approval: ApprovalGate;
  readonly locks: EnvironmentLocks;
  /** The run's notifications (`notify.ts`), drained before the run closes or continues as new. */
  readonly notifier: Notifier;
}

/**
 * Runs one workflow execution: registers the `progress` query, the approval updates and the lock signals
 * before anything else, then runs `body`. On success the phase ends `succeeded` (unless the body already
 * finished the tracker, e.g. `rolled-back`); on failure `failed` or `cancelled`, and failures carrying a
 * project type are lifted to a top-level, non-retryable `ApplicationFailure` of that type. Continue-as-new
 * passes through untouched.
 */
export async function runWorkflow<T>(workflowType: WorkflowType, body: (run: WorkflowRun) => Promise<T>): Promise<T> {
  const tracker = new ProgressTracker();
  setHandler(progressQuery, () => tracker.snapshot());
  const notifier = new Notifier(tracker);
  const run: WorkflowRun = {
    workflowType,
    tracker,
    approval: new ApprovalGate(tracker, workflowType, notifier),
    locks: new EnvironmentLocks(tracker),
    notifier,
  };
  try {
    const result = await body(run);
    // Notifications still on their way are delivered (or fail) before the run closes: at most the notify profile's minute.
    await notifier.drain();
    if (!tracker.finished) tracker.finish(Phase.succeeded);
    return result;
  } catch (err) {
    await notifier.drain();
    if ((err as { name?: unknown }).name === 'ContinueAsNew') throw err;
    if (!tracker.finished) tracker.finish(isCancellation(err) ? Phase.cancelled : Phase.failed);
    throw liftFailure(err);
  }
}

/** Loads the catalog: read-only, and the only activity a workflow calls before its input is validated. */
export function loadCatalog(run: WorkflowRun): Promise<Catalog> {
  return runStep(run.tracker, 'load-catalog', {});
}

/** What the opening of a mutating workflow has validated, for its resolver. */
export interface OpeningContext<A> {
  readonly run: WorkflowRun;
  readonly args: A;
  readonly catalog: Catalog;
  /** The environment the workflow changes: known, and not frozen unless the run changes nothing. */
  readonly environment: Environment;
}

/** How one mutating workflow opens. Every callback but `resolve` is pure and runs no activity. */
export interface OpeningSpec<S extends z.ZodObject, R extends { readonly revision: string }> {
  /** The input schema; the shared `failIfLocked` option is added to it. */
  readonly schema: S;
  /** Whole-catalog checks that come before the environment is looked up (e.g. the promotion order). */
  readonly check?: (args: z.output<S>, catalog: Catalog) => void;
  /** The name of the environment the workflow changes. */
  readonly environment: (args: z.output<S>) => string;
  /** False for a run that changes nothing (a dry run), which may proceed inside a freeze window. */
  readonly changes?: (args: z.output<S>) => boolean;
  /**
   * Who asked for the change (`requestedBy`), for workflows that must name one when the environment is
   * protected: without it a run that changes a protected environment fails `InvalidInput` before any side effect.
   */
  readonly requester?: (args: z.output<S>) => string | undefined;
  /**
   * The commit to deliver and anything read on the way to it. Its activities are the first after the
   * environment is marked; the revision is marked after it returns.
   */
  readonly resolve: (context: OpeningContext<z.output<S>>) => Promise<R>;
}

/** How a run asks for the lock: the shared options of every mutating workflow's input. */
export interface LockChoice {
  /** Fail at once with `EnvironmentLocked` instead of waiting in line. */
  readonly failIfLocked: boolean;
  /** Let a newer request of the same kind replace this one while it waits in line. */
  readonly supersede: boolean;
}

/** What {@link prepare} returns: the validated input, the catalog, the environment, the resolved commit and the lock options. */
export type Opening<S extends z.ZodObject, R> = OpeningContext<z.output<S>> & R & LockChoice;

/**
 * The opening of a mutating workflow, in an order recorded histories depend on: validate the input (with
 * `failIfLocked`) → `load-catalog` → `check` → find the environment → require a requester for a change
 * to a protected environment (when `requester` is given; patch `protected-change-needs-requester`) →
 * refuse a freeze (when the run changes something) → mark `LogstackEnvironment` → `resolve` → mark `LogstackRevision`. Nothing it does
 * has a side effect.
 * @throws ApplicationFailure `InvalidInput` (naming each wrong field, or a missing requester), `UnknownEnvironment`, `ChangeFreeze`,
 *   and whatever `check` or `resolve` throws.
 */
export async function prepare<S extends z.ZodObject, R extends { readonly revision: string }>(
  run: WorkflowRun,
  spec: OpeningSpec<S, R>,
  input: unknown,
): Promise<Opening<S, R>> {
  const { failIfLocked, supersede, ...rest } = validate(() =>
    parseInput(spec.schema.extend(lockOptionSchema().shape), input, run.workflowType),
  ) as z.output<S> & { failIfLocked?: boolean; supersede?: boolean };
  const args = rest as z.output<S>;
  const catalog = await loadCatalog(run);
  validate(() => spec.check?.(args, catalog));
  const environment = validate(() => findEnvironment(catalog, spec.environment(args)));
  const changes = spec.changes?.(args) ?? true;
  if (
    spec.requester !== undefined &&
    environment.protected &&
    changes &&
    spec.requester(args) === undefined &&
    // Executions started before the rule ran on without a requester: their histories keep that path.
    patched(protectedChangeNeedsRequester.id)
  ) {
    validate(() => {
      throw new DomainError({
        type: FailureType.InvalidInput,
        message: `${run.workflowType} input is invalid; fix these fields:\n  - requestedBy: ${environment.name} is protected: name who asks for this change (four-eyes needs a requester)`,
        details: { environment: environment.name, field: 'requestedBy' },
      });
    });
  }
  if (changes) validate(() => assertNotFrozen(environment, Date.now()));
  markWorkflow({ environment: environment.name });
  const context = { run, args, catalog, environment };
  const resolved = await spec.resolve(context);
  markWorkflow({ revision: resolved.revision });
  return { ...context, ...resolved, failIfLocked: failIfLocked ?? false, supersede: supersede ?? true };
}

/**
 * Takes the lock of `environment` and runs `body` with the environment's deployed-state record read under it (a local
 * activity, in the workflow task that learns of the grant; patch `state-read-under-lock-runs-locally`);
 * the lock is released however `body` ends. Plans `acquire-lock`, `read-deployed-state` and then `plan`,
 * unless `plan` is null (the caller planned already). The lease shows whom it serves: the workflow type and
 * the revision.
 * @throws ApplicationFailure `EnvironmentLocked` when `failIfLocked` and anyone holds or waits for the lock;
 *   `Superseded` when a newer request of the same kind replaced this one in the queue.
 */
export function underLock<T>(
  opening: Pick<OpeningContext<unknown>, 'run' | 'environment'> & LockChoice & { readonly revision: string },
  plan: readonly PlannedStep[] | null,
  body: (state: DeployedState | null) => Promise<T>,
): Promise<T> {
  const { run, environment, failIfLocked, supersede, revision } = opening;
  if (plan) planSteps(run.tracker, ['acquire-lock', 'read-deployed-state', ...plan]);
  const purpose = `${run.workflowType} of ${revision.slice(0, 7)}`;
  return run.locks
    .withLock(environment.name, { failIfLocked, supersede, purpose }, async () =>
      // Patch state-read-under-lock-runs-locally: the read runs in the workflow task that learned of the grant.
      body(await runStep(run.tracker, 'read-deployed-state', { environment }, { local: patched(stateReadUnderLockRunsLocally.id) })),
    )
    .catch((err: unknown) => {
      if (failureType(err) === FailureType.Superseded) run.notifier.send(environment, { kind: 'superseded', revision, supersededBy: supersededBy(err) });
      throw err;
    });
}

/** The run that replaced this one, from a `Superseded` failure's details. */
function supersededBy(err: unknown): { workflowType: string; workflowId: string } | null {
  const details = (err as { details?: unknown }).details;
  const first = (Array.isArray(details) ? details[0] : undefined) as { supersededBy?: { workflowType?: unknown; workflowId?: unknown } } | undefined;
  const by = first?.supersededBy;
  return typeof by?.workflowType === 'string' && typeof by.workflowId === 'string' ? { workflowType: by.workflowType, workflowId: by.workflowId } : null;
}
