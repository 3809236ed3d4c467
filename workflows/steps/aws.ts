/** AWS steps: the bucket, the Loki principal and the Secrets Manager secret. All idempotent. */
import { describeAwsPlan, principalName, shortSha, type Environment } from '../../domain/index.ts';
import { defineStep } from './step.ts';

/** Input of the steps that need only the environment. */
export interface EnvironmentInput {
  readonly environment: Environment;
}

/** `ensure-bucket`: creates the bucket if absent and converges its settings. `Conflict` when owned elsewhere. */
export const ensureBucket = defineStep({
  profile: 'short',
  timeoutSeconds: 120,
  title: 'ensure bucket',
  summary: ({ environment }: EnvironmentInput) => `ensure bucket ${environment.aws.bucket}`,
  run: ({ activities, options }, input: EnvironmentInput) =>
    activities.ensureBucket.executeWithOptions(options, [input]),
  describe: (r) =>
    r.created
      ? `created ${r.bucket}`
      : r.changed.length > 0
        ? `converged ${r.changed.join(', ')}`
        : `${r.bucket} already as desired`,
});

/** `ensure-loki-credentials`: the IAM user (static) or role (sts) scoped to the bucket. */
export const ensureLokiCredentials = defineStep({
  profile: 'short',
  timeoutSeconds: 120,
  title: 'ensure Loki credentials',
  summary: ({ environment }: EnvironmentInput) =>
    `ensure IAM ${environment.aws.credentialMode === 'static' ? 'user' : 'role'} ${principalName(environment)}`,
  run: ({ activities, options }, input: EnvironmentInput) =>
    activities.ensureLokiCredentials.executeWithOptions(options, [input]),
  describe: (r) => `${r.mode} ${r.principalArn}${r.created ? ' (created)' : ''}`,
});

/** Input of `seed-loki-secret`. */
export interface SeedSecretInput extends EnvironmentInput {
  readonly principalArn: string;
}

/** `seed-loki-secret`: writes the Loki-shaped secret; a new version only when the content changed. */
export const seedLokiSecret = defineStep({
  profile: 'short',
  timeoutSeconds: 120,
  title: 'seed Loki secret',
  summary: ({ environment }: SeedSecretInput) => `seed secret ${environment.aws.secretName}`,
  run: ({ activities, options }, input: SeedSecretInput) =>
    activities.seedLokiSecret.executeWithOptions(options, [input]),
  describe: (r) => `${r.changed ? 'new version' : 'unchanged'} ${r.versionId} (sha256 ${r.sha256.slice(0, 12)})`,
});

/** Input of `plan-aws`. */
export interface PlanAwsInput extends EnvironmentInput {
  /** The revision being promoted (named in the plan; the AWS desired state is the catalog's). */
  readonly revision: string;
}

/** `plan-aws`: read-only plan of what the environment's AWS convergence would change, destructive changes flagged. */
export const planAws = defineStep({
  profile: 'short',
  timeoutSeconds: 120,
  title: 'plan AWS changes',
  summary: ({ environment, revision }: PlanAwsInput) => `plan AWS changes of ${environment.name} for ${shortSha(revision)} (read-only)`,
  run: ({ activities, options }, input: PlanAwsInput) => activities.planAws.executeWithOptions(options, [input]),
  describe: (r) => describeAwsPlan(r),
});
