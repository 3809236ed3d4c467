/** Drift steps: classify drift of one environment, fix one safe finding. */
import type { DriftFinding } from '../../domain/index.ts';
import { defineStep } from './step.ts';
import type { EnvironmentInput } from './aws.ts';

/** `scan-drift`: Git vs cluster, ESO, AWS and operator drift of one environment. Read-only. */
export const scanDrift = defineStep({
  profile: 'apply',
  timeoutSeconds: 600,
  title: 'scan drift',
  summary: ({ environment }: EnvironmentInput) => `scan drift in ${environment.name}`,
  run: ({ activities, options }, input: EnvironmentInput) => activities.scanDrift.executeWithOptions(options, [input]),
  describe: (findings: DriftFinding[]) =>
    findings.length === 0
      ? 'no drift'
      : `${findings.length} findings, ${findings.filter((f) => f.safeToRemediate).length} safe to remediate`,
});

/** Input of `remediate-finding`. */
export interface RemediateInput extends EnvironmentInput {
  readonly finding: DriftFinding;
}

/** `remediate-finding`: fixes one finding classified safe. Idempotent. */
export const remediateFinding = defineStep({
  profile: 'apply',
  timeoutSeconds: 300,
  title: 'remediate finding',
  summary: ({ environment, finding }: RemediateInput) =>
    `remediate ${finding.class} drift on ${finding.object} in ${environment.name}`,
  run: ({ activities, options }, input: RemediateInput) =>
    activities.remediateFinding.executeWithOptions(options, [input]),
  describe: (r) => `${r.remediated ? 'remediated' : 'not remediated'}: ${r.detail}`,
});
