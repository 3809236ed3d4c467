/**
 * Delivering a revision to an environment and proving it healthy — shared by bootstrap, rollout,
 * promotion and migration — and the automatic rollback to the last verified revision.
 */
import { CancellationScope, isCancellation, patched } from '@temporalio/workflow';
import { FailureType, GateKinds, shortSha, type Environment, type GateKind, type GateResult } from '../domain/index.ts';
import type { DeployedState } from '../domain/activity-contract.ts';
import { failureMessage, failureType, hasFailureType, typedFailure } from './failures.ts';
import { rejectedDeliveryFailsWithoutRollback } from './patches.ts';
import { Phase, type ProgressTracker } from './progress.ts';
import { runStep, type StepKind } from './steps/index.ts';
import { gatesOf, gateSteps } from './steps/gates.ts';

/** What the deployed-state record says about the last verified revisions of an environment. */
export interface PriorState {
  /** The last verified revision: the rollback target. */
  readonly lastVerified: string | null;
  /** The verified revision before that one (recorded as `previousRevision` after a rollback). */
  readonly beforeLastVerified: string | null;
}

/**
 * Reads the record: a verified record is the last verified revision; an unverified one (a rollout that
 * never passed its gates) still names the last verified revision in `previousRevision`.
 */
export function priorState(state: DeployedState | null): PriorState {
  if (!state) return { lastVerified: null, beforeLastVerified: null };
  return state.verified
    ? { lastVerified: state.revision, beforeLastVerified: state.previousRevision }
    : { lastVerified: state.previousRevision, beforeLastVerified: null };
}

/** The catalog gates checked after delivery: with Argo CD delivery the Application gate is part of delivery itself. */
function gatesAfterDelivery(environment: Environment): GateKind[] {
  return gatesOf(environment).filter((g) => !(environment.delivery === 'argocd' && g === GateKinds.argoAppAtRevision));
}

/** The step kinds of the gates checked after delivery, in catalog order, the InstallPlan approval before the operators gate. */
export function postDeliveryGates(environment: Environment): StepKind[] {
  return gatesAfterDelivery(environment).flatMap((g): StepKind[] =>
    g === GateKinds.operatorsSucceeded ? ['approve-install-plans', gateSteps[g]] : [gateSteps[g]],
  );
}

/** The step kinds {@link deliverAndVerify} runs, in order — for the up-front plan. */
export function deliveryPlan(environment: Environment): StepKind[] {
  const deliver: StepKind[] =
    environment.delivery === 'argocd' ? ['pin-revision', 'wait-argocd-app'] : ['apply-overlay'];
  const prune: StepKind[] = environment.delivery === 'direct' ? ['prune-overlay'] : [];
  return [...deliver, 'record-deployed-state', ...postDeliveryGates(environment), ...prune, 'record-deployed-state'];
}

const gateResult = (gate: string, detail: string): GateResult => ({ gate, ok: true, detail });

/**
 * `direct`: render + server-side apply (no pruning yet). `argocd`: pin the commit in Git and wait for the
 * Application at exactly that commit. Returns the Argo CD gate result when there is one.
 */
export async function deliver(
  tracker: ProgressTracker,
  environment: Environment,
  revision: string,
  label?: string,
): Promise<GateResult | undefined> {
  if (environment.delivery === 'direct') {
    await runStep(tracker, 'apply-overlay', { environment, revision }, { label });
    return undefined;
  }
  await runStep(tracker, 'pin-revision', { environment, commit: revision }, { label });
  const argo = await runStep(tracker, 'wait-argocd-app', { environment, revision }, { label });
  return gateResult(GateKinds.argoAppAtRevision, argo.detail);
}

/** Runs the environment's gates in catalog order. The first failure (usually `GateFailed`) is thrown. */
export async function runGates(
  tracker: ProgressTracker,
  environment: Environment,
  revision: string,
  label?: string,
): Promise<GateResult[]> {
  const results: GateResult[] = [];
  for (const gate of gatesAfterDelivery(environment)) {
    const kind = gateSteps[gate];
    // Manual InstallPlans pinned in Git are approved here; anything else waits for a person and fails the gate in time.
    if (gate === GateKinds.operatorsSucceeded)
      await runStep(tracker, 'approve-install-plans', { environment }, { label });
    const outcome =
      kind === 'wait-argocd-app'
        ? await runStep(tracker, kind, { environment, revision }, { label })
        : await runStep(tracker, kind, { environment }, { label });
    results.push(gateResult(gate, outcome.detail));
  }
  return results;
}

/**
 * Delivers `revision`, records it unverified, waits for every gate, prunes (direct delivery, only once the
 * gates are green) and records it verified. `previousRevision` is the last verified revision before it.
 */
export async function deliverAndVerify(
  tracker: ProgressTracker,
  environment: Environment,
  revision: string,
  previousRevision: string | null,
  label?: string,
  onDelivered?: () => void,
): Promise<GateResult[]> {
  tracker.setPhase(label ? Phase.rollingBack : Phase.delivering);
  const gates: GateResult[] = [];
  const argo = await deliver(tracker, environment, revision, label);
  onDelivered?.();
  if (argo) gates.push(argo);
  await runStep(
    tracker,
    'record-deployed-state',
    { environment, revision, verified: false, previousRevision },
    { label },
  );
  if (!label) tracker.setPhase(Phase.verifying);
  gates.push(...(await runGates(tracker, environment, revision, label)));
  if (environment.delivery === 'direct') await runStep(tracker, 'prune-overlay', { environment, revision }, { label });
  await runStep(
    tracker,
    'record-deployed-state',
    { environment, revision, verified: true, previousRevision },
    { label },
  );
  return gates;
}

/** Result of {@link releaseWithRollback}. */
export interface ReleaseOutcome {
  readonly gates: readonly GateResult[];
  readonly rolledBack: boolean;
}

/**
 * Rollout semantics: {@link deliverAndVerify}; when a gate fails (`GateFailed`), the server rejects the
 * manifests (`ManifestRejected`) or the workflow is cancelled mid-delivery, roll back — in a non-cancellable
 * scope — to the last verified revision and wait until it is healthy again. A rollback is never rolled back:
 * when it fails, the workflow fails with `GateFailed` and `rollbackFailed: true` in its details.
 * A direct delivery the server rejects is not rolled back: `applyOverlay` dry-runs every object before it
 * writes any, so nothing changed — the workflow fails `ManifestRejected` with no side effect.
 * `onRollback` hears why and where to, just before a rollback after a failure (not a cancellation) starts.
 * @returns `rolledBack: true` after a successful rollback (the failure is in the step list).
 * @throws the original failure when there is no earlier verified revision; `ManifestRejected` when the
 *   delivery itself was rejected; cancellation after rolling back.
 */
export async function releaseWithRollback(
  tracker: ProgressTracker,
  environment: Environment,
  revision: string,
  prior: PriorState,
  onRollback?: (cause: unknown, target: string) => void,
): Promise<ReleaseOutcome> {
  let delivered = false;
  try {
    const gates = await deliverAndVerify(tracker, environment, revision, prior.lastVerified, undefined, () => {
      delivered = true;
    });
    return { gates, rolledBack: false };
  } catch (err) {
    const cancelled = isCancellation(err);
    if (!cancelled && !hasFailureType(err, FailureType.GateFailed, FailureType.ManifestRejected)) throw err;
    const rejectedBeforeWrite =
      !cancelled &&
      !delivered &&
      environment.delivery === 'direct' &&
      hasFailureType(err, FailureType.ManifestRejected);
    // Executions that reached this point before the rule existed rolled back after such a rejection.
    if (rejectedBeforeWrite && patched(rejectedDeliveryFailsWithoutRollback.id)) {
      tracker.skipPending(`not run: the API server rejected ${shortSha(revision)}; nothing was applied`);
      throw typedFailure(
        FailureType.ManifestRejected,
        `${failureMessage(err)} (nothing was applied to ${environment.name}: every object is dry-run first, so nothing was rolled back)`,
        { environment: environment.name, revision, rolledBack: false },
        err as Error,
      );
    }
    const target = prior.lastVerified;
    if (!target || target === revision) {
      if (cancelled) throw err;
      throw typedFailure(
        hasFailureType(err, FailureType.ManifestRejected) ? FailureType.ManifestRejected : FailureType.GateFailed,
        `${failureMessage(err)} — and ${environment.name} has no earlier verified revision to roll back to; fix forward with a new rollout`,
        { environment: environment.name, revision, rolledBack: false },
        err as Error,
      );
    }
    tracker.skipPending(`not run: ${cancelled ? 'cancelled' : 'a gate failed'}; rolling back to ${shortSha(target)}`);
    if (!cancelled) onRollback?.(err, target);
    await CancellationScope.nonCancellable(() =>
      rollback(tracker, environment, revision, target, prior.beforeLastVerified, err),
    );
    if (cancelled) throw err;
    tracker.finish(Phase.rolledBack);
    return { gates: [], rolledBack: true };
  }
}

async function rollback(
  tracker: ProgressTracker,
  environment: Environment,
  failed: string,
  target: string,
  beforeTarget: string | null,
  cause: unknown,
): Promise<void> {
  try {
    await deliverAndVerify(tracker, environment, target, beforeTarget, 'rollback');
  } catch (rollbackErr) {
    const why = isCancellation(cause)
      ? 'the rollout was cancelled'
      : `${failureType(cause) ?? 'failure'}: ${failureMessage(cause)}`;
    tracker.finish(Phase.rollbackFailed);
    throw typedFailure(
      FailureType.GateFailed,
      `ROLLBACK FAILED: ${environment.name} could not return to ${shortSha(target)} (${failureType(rollbackErr) ?? 'failure'}: ${failureMessage(rollbackErr)}) after ${shortSha(failed)} failed (${why}). ` +
        `${environment.name} is at neither verified revision: inspect it, then roll out a known-good revision.`,
      {
        environment: environment.name,
        revision: failed,
        rollbackRevision: target,
        rolledBack: false,
        rollbackFailed: true,
      },
      rollbackErr as Error,
    );
  }
}
