/**
 * The shape of one step — Kargo's promotion step made deterministic: a kebab-case kind (the registry key),
 * a title for the plan, a per-call summary for the Web UI, a default timeout, one activity call, and one
 * result described in a line for the `progress` query.
 */
import type { ActivityInterfaceFor, ActivityOptions } from '@temporalio/workflow';
import type { LogstackActivities } from '../../domain/activity-contract.ts';
import type { ActivityProfile } from '../activities.ts';

/** What a step's `run` receives besides its input. */
export interface StepContext {
  /** The activities of this step's profile. */
  readonly activities: ActivityInterfaceFor<LogstackActivities>;
  /** Per-call options: the summary shown in the Web UI and the timeout. Pass them to `executeWithOptions`. */
  readonly options: ActivityOptions;
  /** The wait budget of a gate in seconds (the activity stops with `GateFailed` when it runs out). */
  readonly timeoutSeconds: number;
}

/**
 * One step. Methods (not function properties) on purpose: their parameters are bivariant, so definitions with
 * different inputs fit one registry type.
 */
export interface StepDefinition<I, O> {
  /** Which activity profile runs it. */
  readonly profile: ActivityProfile;
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

/** Declares a step with its input and output types inferred from `run`. */
export function defineStep<I, O>(definition: StepDefinition<I, O>): StepDefinition<I, O> {
  return definition;
}
