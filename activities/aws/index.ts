/**
 * The AWS activities (S3, IAM, STS, Secrets Manager), built from their clients. Register the object
 * returned by {@link createAwsActivities} on the worker beside the other activity modules.
 */
import type { Environment } from '../../domain/index.ts';
import type { LogstackActivities } from '../../domain/activity-contract.ts';
import { fromDomainError } from '../errors.ts';
import type { AwsClients } from './clients.ts';
import { accountIdLookup, assertAwsInput, currentCancellationSignal } from './common.ts';
import { checkedPrincipalName, ensureLokiRole, ensureLokiUser, lokiPrincipalRef, readPrincipal, type IamScope } from './iam.ts';
import { convergeBucket, reportBucketDrift, type BucketScope } from './s3.ts';
import { readAwsPlan } from './plan.ts';
import { inspectSecret, secretOwnership, seedSecret, type SecretScope } from './secrets-manager.ts';

/** The client factory and its options, re-exported for the worker's composition root. */
export { createAwsClients, resolveEndpoint, type AwsClientOptions, type AwsClients } from './clients.ts';
/** The ownership and boundary helpers other modules that create AWS resources reuse. */
export { adopts, checkedPermissionsBoundary, decideOwnership, ownershipOf, retryWhilePropagating, type AwsResourceRef, type Ownership } from './common.ts';
export { claimPrincipal, convergeBoundary, creationFields, readPrincipal, webIdentityTrustPolicy, type PrincipalKind, type PrincipalState } from './iam.ts';

/** Options of {@link createAwsActivities}. */
export interface AwsActivityOptions {
  /** How long calls on a just-created IAM principal are retried while IAM propagates it (ms); default 30 s. */
  readonly iamPropagationWindowMs?: number;
}

/**
 * Read-only inspections of the AWS resources. The drift scan calls them inside its own activity; they
 * are not registered as activities of their own (no workflow schedules them).
 */
export interface AwsInspections {
  /** Reports how the bucket differs from its desired configuration. Read-only. */
  readonly inspectBucket: (input: { environment: Environment }) => Promise<{ bucket: string; exists: boolean; drift: string[] }>;
  /** Reports whether the Loki secret exists and still matches its expected shape. Read-only. */
  readonly inspectLokiSecret: (input: { environment: Environment }) => Promise<{ exists: boolean; drift: string[] }>;
}

/** The activities this module implements, with the exact signatures of the activity contract, and the inspections. */
export type AwsActivities = Pick<LogstackActivities, 'ensureBucket' | 'ensureLokiCredentials' | 'seedLokiSecret' | 'planAws'> & AwsInspections;

/**
 * Runs an activity body. A failure after the activity was cancelled is reported as the cancellation
 * itself (the signal's `CancelledFailure`), whatever the aborted SDK call threw, so the workflow sees
 * a cancelled activity; a `DomainError` from shared validation becomes its typed failure.
 */
async function typed<T>(body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (error) {
    const signal = currentCancellationSignal();
    if (signal?.aborted === true && signal.reason !== undefined) throw signal.reason;
    throw fromDomainError(error);
  }
}

/**
 * Builds the AWS activities over `clients`. Every activity: is idempotent (a second run has no side
 * effect and the same result); checks its input before any write (`InvalidInput`); refuses targets
 * owned by someone else — not tagged for this environment and not adopted — with `Conflict` before any
 * write (ensureBucket and ensureLokiCredentials check the principal and the secret too, so a bootstrap
 * writes nothing when any of the three would be taken over) and maps AWS refusals to `AccessDenied`, all non-retryable and
 * with a message saying what to fix; rethrows transient errors for the retry policy; stops at its next
 * AWS request when the activity is cancelled; and returns no secret value.
 */
export function createAwsActivities(clients: AwsClients, options: AwsActivityOptions = {}): AwsActivities {
  const accountId = accountIdLookup(() => clients.sts());

  const iamScope = (environment: Environment, signal: AbortSignal | undefined): IamScope => ({
    iam: clients.iam(),
    env: environment,
    signal,
    propagationWindowMs: options.iamPropagationWindowMs,
  });
  const bucketScope = async (environment: Environment): Promise<BucketScope> => {
    assertAwsInput(environment);
    const signal = currentCancellationSignal();
    return { s3: clients.s3(environment.aws.region), env: environment, accountId: await accountId(signal), signal };
  };
  const secretScope = (environment: Environment): SecretScope => {
    assertAwsInput(environment);
    const signal = currentCancellationSignal();
    return { sm: clients.secretsManager(environment.aws.region), iam: iamScope(environment, signal), env: environment, signal };
  };

  /**
   * Read-only pre-flight of the resources written after the bucket: the Loki principal and the Loki
   * secret must each be absent, this environment's, or adopted — else `Conflict` before the first write
   * of a bootstrap (the bucket checks itself inside {@link convergeBucket} before it writes).
   */
  const nothingTakenOver = async (environment: Environment): Promise<void> => {
    const scope = secretScope(environment);
    const kind = environment.aws.credentialMode === 'static' ? 'user' : 'role';
    await readPrincipal(scope.iam, kind, checkedPrincipalName(environment), lokiPrincipalRef(environment));
    await secretOwnership(scope);
  };

  return {
    ensureBucket: ({ environment }) =>
      typed(async () => {
        const scope = await bucketScope(environment);
        await nothingTakenOver(environment);
        return convergeBucket(scope);
      }),
    inspectBucket: ({ environment }) => typed(async () => reportBucketDrift(await bucketScope(environment))),
    ensureLokiCredentials: ({ environment }) =>
      typed(async () => {
        assertAwsInput(environment);
        const signal = currentCancellationSignal();
        const scope = iamScope(environment, signal);
        // The secret, written after the principal, is checked first; the principal's own read below (the first call of
        // ensureLokiUser and ensureLokiRole) refuses one that is not this environment's, also before any write.
        await secretOwnership(secretScope(environment));
        const mode = environment.aws.credentialMode;
        const principal = mode === 'static' ? await ensureLokiUser(scope) : await ensureLokiRole(scope, await accountId(signal));
        return { mode, ...principal };
      }),
    seedLokiSecret: ({ environment, principalArn }) => typed(() => seedSecret(secretScope(environment), principalArn)),
    inspectLokiSecret: ({ environment }) => typed(() => inspectSecret(secretScope(environment))),
    planAws: ({ environment, revision }) =>
      typed(async () => {
        const bucket = await bucketScope(environment);
        const secret = secretScope(environment);
        return readAwsPlan({ bucket, secret, reader: { ...secret.iam, sm: secret.sm, accountId: bucket.accountId } }, revision);
      }),
  };
}
