/** `remediateDrift`: classify drift per environment; in `remediate` mode fix what is safe. */
import { continueAsNew, isCancellation, workflowInfo } from '@temporalio/workflow';
import {
  activeFreeze,
  driftInputSchema,
  FailureType,
  findEnvironment,
  findingList,
  parseInput,
  WorkflowTypes,
  type DriftFinding,
  type DriftInput,
  type DriftResult,
} from '../domain/index.ts';
import { failureMessage, failureType, validate } from './failures.ts';
import { Phase } from './progress.ts';
import { loadCatalog, runWorkflow } from './run.ts';
import { markWorkflow } from './search-attributes.ts';
import { planSteps, runStep } from './steps/index.ts';
import { declareVersioning } from './versioning.ts';

/** State carried across continue-as-new (not part of the user-facing input). */
export interface DriftCarry {
  readonly findings: readonly DriftFinding[];
  readonly remediated: readonly DriftFinding[];
  /** Continue as new once the history has this many events (default 5,000; the server also suggests it). */
  readonly continueAsNewAfterEvents?: number;
}

const DEFAULT_CONTINUE_AS_NEW_AFTER = 5000;

/**
 * Scans each environment (default: all, in catalog order) for drift — Git vs cluster, ESO, AWS, operators.
 * `report` (default) only lists findings. `remediate` fixes the findings marked safe, holding the environment
 * lock; an environment that is locked by another change or frozen is reported but not touched. Run by the
 * Schedule `drift-remediation` (overlap: skip). Continues as new between environments when history grows.
 * `AUTO_UPGRADE` on versioned workers: each run after a continue-as-new starts on the current build (`versioning.ts`).
 * @throws ApplicationFailure `InvalidInput`, `UnknownEnvironment` before any scan.
 */
export async function remediateDrift(input: DriftInput, carry?: DriftCarry): Promise<DriftResult> {
  return runWorkflow(WorkflowTypes.remediateDrift, async (run) => {
    const { tracker } = run;
    const args = validate(() => parseInput(driftInputSchema(), input ?? {}, WorkflowTypes.remediateDrift));
    const mode = args.mode ?? 'report';
    const catalog = await loadCatalog(run);
    const names = args.environments ?? catalog.environments.map((e) => e.name);
    const environments = names.map((n) => validate(() => findEnvironment(catalog, n)));
    const findings: DriftFinding[] = [...(carry?.findings ?? [])];
    const remediated: DriftFinding[] = [...(carry?.remediated ?? [])];
    const limit = carry?.continueAsNewAfterEvents ?? DEFAULT_CONTINUE_AS_NEW_AFTER;

    planSteps(
      tracker,
      environments.map(() => 'scan-drift' as const),
    );
    for (const [i, environment] of environments.entries()) {
      markWorkflow({ environment: environment.name });
      tracker.setPhase(Phase.scanning);
      const found = await runStep(tracker, 'scan-drift', { environment });
      findings.push(...found);
      const safe = found.filter((f) => f.safeToRemediate);
      if (mode === 'remediate' && safe.length > 0) {
        const freeze = environment.protected ? activeFreeze(environment, Date.now()) : undefined;
        if (freeze) {
          tracker.skip(
            'remediate-finding',
            `remediate ${safe.length} findings in ${environment.name}`,
            `not touched: change freeze until ${freeze.end} (${freeze.reason})`,
          );
        } else {
          try {
            await run.locks.withLock(environment.name, { failIfLocked: true }, async () => {
              tracker.setPhase(Phase.remediating);
              for (const finding of safe) {
                try {
                  const r = await runStep(tracker, 'remediate-finding', { environment, finding });
                  if (r.remediated) remediated.push(finding);
                } catch (err) {
                  // One finding that cannot be fixed must not hide the others; the step shows why.
                  if (isCancellation(err)) throw err;
                }
              }
            });
          } catch (err) {
            if (failureType(err) !== FailureType.EnvironmentLocked) throw err;
            tracker.skip(
              'remediate-finding',
              `remediate ${safe.length} findings in ${environment.name}`,
              `not touched: ${failureMessage(err)}`,
            );
          }
        }
      }
      const fixed = remediated.filter((f) => found.includes(f));
      if (fixed.length > 0) {
        run.notifier.send(environment, { kind: 'drift-remediated', remediated: findingList(fixed), remaining: findingList(found.filter((f) => !fixed.includes(f))) });
      } else if (found.length > 0) {
        run.notifier.send(environment, { kind: 'drift-found', findings: findingList(found) });
      }
      const remaining = environments.slice(i + 1).map((e) => e.name);
      const info = workflowInfo();
      if (remaining.length > 0 && (info.continueAsNewSuggested || info.historyLength >= limit)) {
        await continueAsNew<typeof remediateDrift>(
          { environments: remaining, mode },
          { findings, remediated, continueAsNewAfterEvents: limit },
        );
      }
    }
    return { findings, remediated };
  });
}
declareVersioning(remediateDrift, WorkflowTypes.remediateDrift);
