/**
 * The shape of one step — Kargo's promotion step made deterministic: a kebab-case kind (the registry key),
 * a title for the plan, a per-call summary for the Web UI, a default timeout, one activity call, and one
 * result described in a line for the `progress` query.
 */
import type { Duration } from '@temporalio/common';
import type { LogstackActivities } from '../../domain/activity-contract.ts';
import type { ActivityProfile, LocalStepProfile } from '../activities.ts';

/** The options a step passes to its call: what the Web UI shows, and the start-to-close timeout. */
export interface StepCallOptions {
  readonly summary: string;
  readonly startToCloseTimeout: Duration;
}

/**
 * The activities as a step calls them, through `executeWithOptions` — a profile's activities or, for a `local`
 * step, the same profile's local activities: both proxies take the step's options.
 */
export type StepActivities = {
  readonly [K in keyof LogstackActivities]: {
    executeWithOptions(options: StepCallOptions, args: Parameters<LogstackActivities[K]>): Promise<Awaited<ReturnType<LogstackActivities[K]>>>;
  };
};

/** What a step's `run` receives besides its input. */
export interface StepContext {
  /** The activities of this step's profile (its local activities when the step runs locally). */
  readonly activities: StepActivities;
  /** Per-call options: the summary shown in the Web UI and the timeout. Pass them to `executeWithOptions`. */
  readonly options: StepCallOptions;
  /** The wait budget of a gate in seconds (the activity stops with `GateFailed` when it runs out). */
  readonly timeoutSeconds: number;
}

/**
 * What every step declares. Methods (not function properties) on purpose: their parameters are bivariant, so
 * definitions with different inputs fit one registry type.
 */
interface StepShape<I, O> {
  /** Default timeout in seconds: start-to-close for calls, the wait budget for gates. */
  readonly timeoutSeconds: number;
  /** Short name shown while the step is still pending, e.g. "ensure bucket". */
  readonly title: string;
  /** One line for the Web UI and the step list, e.g. "ensure bucket logstack-dev-loki". */
  summary(input: I): string;
  /** Calls the activity. */
  run(ctx: StepContext, input: I): Promise<O>;
  /** One line describing the result (names, counts, hashes — never secret values). */
  describe(output: O): string;
}

/**
 * One step: which activity profile runs it and, for `local` steps, that it runs as a local activity of that
 * profile — inside the workflow task that reaches it, with no activity task and no workflow task of its own. Only
 * read-only steps that end on their own within their timeout are `local` (so only the `short` and `apply`
 * profiles); executions recorded before the patch `read-only-steps-run-locally` keep calling them as activities.
 */
export type StepDefinition<I, O> = StepShape<I, O> &
  ({ readonly profile: ActivityProfile; readonly local?: false } | { readonly profile: LocalStepProfile; readonly local: true });

/** Declares a step with its input and output types inferred from `run`. */
export function defineStep<I, O>(definition: StepDefinition<I, O>): StepDefinition<I, O> {
  return definition;
}
