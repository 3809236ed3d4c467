/**
 * Operator-rule pre-flight of the worker: the environment's rendered overlay is held to the Loki Operator's
 * and the Cluster Logging Operator's rules (`domain/operator-rules/`) before anything is applied, dry-run
 * against a cluster or pinned in Git. Runs inside the activities that render before they act
 * (`applyOverlay`, `renderOverlay`, `pinRevision`, and the migration's inventory and adoption), so every
 * mutation meets it first without a workflow change. Drift remediation re-applies the recorded revision and
 * is not held to it.
 */
import { FailureType, type Environment } from '../../domain/index.ts';
import { checkOperatorRules, operatorRulesMessage } from '../../domain/operator-rules/index.ts';
import { nonRetryable } from '../errors.ts';
import type { RenderedOverlay } from './render.ts';

/** At most this many violations travel in the failure's details. */
const DETAIL_LIMIT = 50;

/**
 * Refuses `rendered` when it is the environment's own overlay (the one the catalog names) and breaks an
 * operator rule. Other overlays (the bootstrap overlay, an explicit test overlay) are not environment
 * overlays and pass unchecked.
 * @throws ApplicationFailure `OperatorRuleViolation` (non-retryable) listing every violation with its path;
 *   details: `environment`, `overlay`, `commit`, `violations` (path, owner, reason — names and catalog facts, never secret values).
 */
export function assertOperatorRules(environment: Environment, rendered: RenderedOverlay): void {
  if (rendered.overlay !== environment.overlay) return;
  const violations = checkOperatorRules(rendered.objects, environment);
  if (violations.length === 0) return;
  throw nonRetryable(FailureType.OperatorRuleViolation, `${operatorRulesMessage(environment.name, `${rendered.overlay} at ${rendered.commit.slice(0, 12)}`, violations)}`, {
    environment: environment.name,
    overlay: rendered.overlay,
    commit: rendered.commit,
    count: violations.length,
    violations: violations.slice(0, DETAIL_LIMIT).map((v) => ({ path: v.path, owner: v.owner, reason: v.reason })),
  });
}
