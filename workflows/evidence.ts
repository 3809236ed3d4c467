/**
 * The signed evidence of a delivery: when a rollout or promotion ends — delivered and verified, rolled back,
 * or failed after it changed something — the workflow builds an in-toto statement from what its own history
 * holds (inputs, the approval, the gates' step results and times; never a secret value) and has the
 * `recordEvidence` activity sign and store it. Runs that changed nothing (refused before the lock, already
 * there, a delivery the API server rejected before any write, cancelled) record none. Behind the patch
 * `record-evidence`, so executions started before it replay as they ran.
 */
import { isCancellation, patched, setHandler, workflowInfo } from '@temporalio/workflow';
import {
  EvidenceOutcome,
  evidenceStatement,
  type Environment,
  type EvidenceApproval,
  type EvidenceGate,
  type EvidencePredicate,
} from '../domain/index.ts';
import { evidenceQuery, type EvidenceAnswer } from './evidence-query.ts';
import { failureMessage, failureType } from './failures.ts';
import { recordsEvidence } from './patches.ts';
import type { ProgressTracker, TrackedStep } from './progress.ts';
import { runStep } from './steps/index.ts';
import { gateSteps } from './steps/gates.ts';

/** The gate each gate step proves, by step kind. */
const GATE_OF_STEP: ReadonlyMap<string, string> = new Map(Object.entries(gateSteps).map(([gate, step]) => [step, gate]));
const ROLLBACK_LABEL = 'rollback: ';
/** Steps whose success means the environment was changed. */
const DELIVERY_STEPS = new Set(['apply-overlay', 'pin-revision', 'record-deployed-state']);

function gatesPassed(steps: readonly TrackedStep[], rollback: boolean): EvidenceGate[] {
  return steps
    .filter((s) => s.status === 'succeeded' && GATE_OF_STEP.has(s.kind) && s.name.startsWith(ROLLBACK_LABEL) === rollback)
    .map((s) => ({
      gate: GATE_OF_STEP.get(s.kind) ?? s.kind,
      passedAt: s.endedAt ?? new Date().toISOString(),
      ...(s.detail !== undefined ? { detail: s.detail } : {}),
    }));
}

/** True once a step that changes the environment has succeeded in this run. */
export function changedSomething(tracker: ProgressTracker): boolean {
  return tracker.trackedSteps().some((s) => s.status === 'succeeded' && DELIVERY_STEPS.has(s.kind));
}

/** What the workflow knows about the delivery the record describes. */
export interface DeliveryFacts {
  readonly catalogRemote: string;
  readonly environment: Environment;
  readonly from: string | null;
  readonly revision: string;
  readonly previousRevision: string | null;
  readonly diffDigest: string | null;
  readonly approvals: readonly EvidenceApproval[];
}

/** The predicate of this run, ending now with `outcome`. */
export function evidencePredicate(tracker: ProgressTracker, facts: DeliveryFacts, outcome: EvidenceOutcome, failure?: string): EvidencePredicate {
  const info = workflowInfo();
  const steps = tracker.trackedSteps();
  const rolledBack = steps.some((s) => s.name.startsWith(ROLLBACK_LABEL));
  return {
    workflow: { type: info.workflowType, id: info.workflowId, runId: info.runId },
    environment: facts.environment.name,
    from: facts.from,
    to: facts.environment.name,
    revision: facts.revision,
    previousRevision: facts.previousRevision,
    outcome,
    ...(failure !== undefined ? { failure } : {}),
    delivery: { mode: facts.environment.delivery },
    diffDigest: facts.diffDigest,
    approvals: [...facts.approvals],
    gates: gatesPassed(steps, false),
    rollback: rolledBack && facts.previousRevision !== null ? { to: facts.previousRevision, gates: gatesPassed(steps, true) } : null,
    startedAt: info.runStartTime.toISOString(),
    finishedAt: new Date().toISOString(),
  };
}

/**
 * Records the evidence of this run (patch `record-evidence`) and answers the `evidence` query with it.
 * @throws the activity's failure (the run fails: a delivery without its record is not done).
 */
export async function recordEvidence(tracker: ProgressTracker, facts: DeliveryFacts, outcome: EvidenceOutcome, failure?: string): Promise<void> {
  if (!patched(recordsEvidence.id)) return;
  const statement = evidenceStatement(facts.catalogRemote, facts.revision, evidencePredicate(tracker, facts, outcome, failure));
  const recorded: EvidenceAnswer = await runStep(tracker, 'record-evidence', { environment: facts.environment, statement });
  setHandler(evidenceQuery, () => recorded);
}

/**
 * Runs a delivery and records its evidence: `succeeded` or `rolled-back` from its result; when it fails after
 * changing the environment (not a cancellation), `failed` with the failure's type and message, and the
 * original failure is rethrown whatever the record does.
 */
export async function withEvidence<T extends { readonly rolledBack: boolean }>(
  tracker: ProgressTracker,
  facts: () => DeliveryFacts,
  deliver: () => Promise<T>,
): Promise<T> {
  let result: T;
  try {
    result = await deliver();
  } catch (err) {
    if (!isCancellation(err) && changedSomething(tracker)) {
      // The workflow's own failure says the most (e.g. ROLLBACK FAILED); an activity's wraps the useful message.
      const own = (err as { name?: unknown }).name === 'ApplicationFailure' ? (err as Error).message : '';
      const why = `${failureType(err) ?? 'failure'}: ${own || failureMessage(err)}`;
      try {
        await recordEvidence(tracker, facts(), EvidenceOutcome.failed, why);
      } catch {
        // The step shows why the record failed; the delivery's own failure is what the run reports.
      }
    }
    throw err;
  }
  await recordEvidence(tracker, facts(), result.rolledBack ? EvidenceOutcome.rolledBack : EvidenceOutcome.succeeded);
  return result;
}

