/**
 * The static step registry: every step a workflow can run, keyed by its kebab-case kind. A plain object
 * checked with `satisfies` — no registration on import, so workflow code stays deterministic.
 */
import { RetryState } from '@temporalio/common';
import { ActivityFailure, ApplicationFailure, isCancellation, patched, type LocalActivityInterfaceFor } from '@temporalio/workflow';
import { ACTIVITY_NAMES } from '../../domain/activity-names.ts';
import type { LogstackActivities } from '../../domain/activity-contract.ts';
import { localStepProfiles, profiles, type LocalStepProfile } from '../activities.ts';
import { failureMessage, failureType } from '../failures.ts';
import type { ProgressTracker } from '../progress.ts';
import { readOnlyStepsRunLocally } from '../patches.ts';
import type { StepActivities, StepCallOptions, StepDefinition } from './step.ts';
import { ensureBucket, ensureLokiCredentials, planAws, seedLokiSecret } from './aws.ts';
import { loadCatalog, pinRevision, resolveRevision } from './git.ts';
import {
  applyOverlay,
  diffOverlay,
  ensureStoreCredential,
  pruneOverlay,
  readDeployedState,
  recordDeployedState,
  renderOverlay,
} from './kubernetes.ts';
import {
  approveInstallPlans,
  waitArgoApp,
  waitExternalSecretSynced,
  waitLogForwarderReady,
  waitLokiStackReady,
  waitOperatorsSucceeded,
  waitSecretStoreReady,
} from './gates.ts';
import { adoptObjects, inventoryLiveObjects } from './migration.ts';
import { remediateFinding, scanDrift } from './drift.ts';
import { recordEvidence } from './evidence.ts';

type KebabCase = `${Lowercase<string>}-${Lowercase<string>}`;

/** Every step, by kind. */
export const steps = {
  'load-catalog': loadCatalog,
  'resolve-revision': resolveRevision,
  'pin-revision': pinRevision,
  'ensure-bucket': ensureBucket,
  'ensure-loki-credentials': ensureLokiCredentials,
  'seed-loki-secret': seedLokiSecret,
  'plan-aws': planAws,
  'ensure-store-credential': ensureStoreCredential,
  'render-overlay': renderOverlay,
  'apply-overlay': applyOverlay,
  'diff-overlay': diffOverlay,
  'prune-overlay': pruneOverlay,
  'read-deployed-state': readDeployedState,
  'record-deployed-state': recordDeployedState,
  'wait-external-secret-synced': waitExternalSecretSynced,
  'wait-secret-store-ready': waitSecretStoreReady,
  'approve-install-plans': approveInstallPlans,
  'wait-argocd-app': waitArgoApp,
  'wait-operators-succeeded': waitOperatorsSucceeded,
  'wait-lokistack-ready': waitLokiStackReady,
  'wait-log-forwarder-ready': waitLogForwarderReady,
  'inventory-live-objects': inventoryLiveObjects,
  'adopt-objects': adoptObjects,
  'scan-drift': scanDrift,
  'remediate-finding': remediateFinding,
  'record-evidence': recordEvidence,
} satisfies Record<KebabCase, StepDefinition<never, unknown>>;

/** A step kind, e.g. `ensure-bucket`. */
export type StepKind = keyof typeof steps;
/** The input a step takes. */
export type StepInput<K extends StepKind> = Parameters<(typeof steps)[K]['run']>[1];
/** The result a step returns. */
export type StepOutput<K extends StepKind> = Awaited<ReturnType<(typeof steps)[K]['run']>>;

/** Extra room a gate activity gets beyond its own wait budget before Temporal times it out. */
const GATE_MARGIN_SECONDS = 120;

/** Per-call overrides of a step. */
export interface RunStepOptions {
  /** Prefix for the summary, e.g. `rollback` → "rollback: apply gitops/overlays/dev at 3f2c1a9 to dev". */
  readonly label?: string;
  /** Overrides the step's default timeout (gates: the wait budget). */
  readonly timeoutSeconds?: number;
  /**
   * Runs this call as a local activity of the step's profile, where the call site knows it fits (a read that ends on
   * its own) though the step is not `local` everywhere; ignored for a step whose profile has no local form.
   */
  readonly local?: boolean;
}

/**
 * A local activity's failure as the failure of an activity reads: an `ActivityFailure` naming the activity, with its
 * retry state and the failure as its cause. The SDK hands a local activity's own failure (not its timeouts) to the
 * workflow unwrapped, so a failed local step would otherwise fail its workflow without naming the activity.
 */
function asActivityFailure(error: unknown, activityType: string): unknown {
  if (!(error instanceof Error) || error instanceof ActivityFailure || isCancellation(error)) return error;
  const retryState = error instanceof ApplicationFailure && error.nonRetryable ? RetryState.NON_RETRYABLE_FAILURE : RetryState.MAXIMUM_ATTEMPTS_REACHED;
  return new ActivityFailure('Activity task failed', activityType, undefined, retryState, undefined, error);
}

/** A local profile's activities as steps call them, each failure in an activity's shape ({@link asActivityFailure}). */
function asStepActivities(local: LocalActivityInterfaceFor<LogstackActivities>): StepActivities {
  const byName = local as unknown as Record<string, { executeWithOptions(options: StepCallOptions, args: unknown[]): Promise<unknown> }>;
  const entries = ACTIVITY_NAMES.map(
    (name) =>
      [
        name,
        {
          executeWithOptions: (options: StepCallOptions, args: unknown[]) =>
            byName[name]!.executeWithOptions(options, args).catch((error: unknown) => {
              throw asActivityFailure(error, name);
            }),
        },
      ] as const,
  );
  return Object.fromEntries(entries) as unknown as StepActivities;
}

const localSteps: Readonly<Record<LocalStepProfile, StepActivities>> = {
  short: asStepActivities(localStepProfiles.short),
  apply: asStepActivities(localStepProfiles.apply),
};

/** Whether a profile's activities can also run as local activities (its steps may then be `local`). */
const hasLocalForm = (profile: StepDefinition<never, unknown>['profile']): profile is LocalStepProfile => Object.hasOwn(localSteps, profile);

/**
 * The activities a step calls: its profile's local activities when it is `local` (and the execution took the patch
 * `read-only-steps-run-locally`) or the call asks for it (`local`, on the `short` and `apply` profiles), otherwise its
 * profile's activities.
 */
function activitiesOf(def: StepDefinition<never, unknown>, local: boolean): StepActivities {
  if (def.local && patched(readOnlyStepsRunLocally.id)) return localSteps[def.profile];
  if (local && hasLocalForm(def.profile)) return localSteps[def.profile];
  return profiles[def.profile];
}

/**
 * Runs one step: tracks it in the progress list, calls its activity with the step's profile (as a local activity
 * for a `local` step), a summary for the Web UI and its timeout, and records the result line (or the failure, which
 * is rethrown as the activity's failure — unchanged, or for a local step wrapped by {@link asActivityFailure}).
 */
export async function runStep<K extends StepKind>(
  tracker: ProgressTracker,
  kind: K,
  input: StepInput<K>,
  opts: RunStepOptions = {},
): Promise<StepOutput<K>> {
  const def = steps[kind] as unknown as StepDefinition<StepInput<K>, StepOutput<K>>;
  const timeoutSeconds = opts.timeoutSeconds ?? def.timeoutSeconds;
  const summary = `${opts.label ? `${opts.label}: ` : ''}${def.summary(input)}`;
  const startToClose = def.profile === 'gate' ? timeoutSeconds + GATE_MARGIN_SECONDS : timeoutSeconds;
  const options: StepCallOptions = { summary, startToCloseTimeout: `${startToClose} seconds` };
  const activities = activitiesOf(def, opts.local ?? false);
  const index = tracker.start(kind, summary);
  try {
    const output = await def.run({ activities, options, timeoutSeconds }, input);
    tracker.end(index, 'succeeded', def.describe(output));
    return output;
  } catch (err) {
    const type = failureType(err);
    tracker.end(
      index,
      isCancellation(err) ? 'skipped' : 'failed',
      isCancellation(err) ? 'cancelled' : `${type ? `${type}: ` : ''}${failureMessage(err)}`,
    );
    throw err;
  }
}

/** Steps the workflow runs itself, without an activity. */
export const workflowSteps = {
  'acquire-lock': 'acquire environment lock',
  'await-approval': 'await approval',
} as const satisfies Record<KebabCase, string>;

/** A step that can be planned: one of the registry's, or one the workflow runs itself. */
export type PlannedStep = StepKind | keyof typeof workflowSteps;

/** Lists steps as pending, in order, under their titles. */
export function planSteps(tracker: ProgressTracker, kinds: readonly PlannedStep[]): void {
  tracker.plan(
    kinds.map((kind) => ({
      kind,
      name: kind in workflowSteps ? workflowSteps[kind as keyof typeof workflowSteps] : steps[kind as StepKind].title,
    })),
  );
}
