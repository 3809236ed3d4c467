/**
 * Small pieces shared by the AWS activity modules: cancellation, account id, ARNs, tags, canonical
 * JSON and input checks. No AWS writes happen here.
 */
import { createHash } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { GetCallerIdentityCommand, type STSClient } from '@aws-sdk/client-sts';
import { AWS_ADOPTABLE, FailureType, IAM_POLICY_ARN, partitionOf, type AwsAdoptable, type Environment } from '../../domain/index.ts';
import { awsCall, hasAwsCode, mapAwsError, nonRetryable } from '../errors.ts';

/**
 * The running activity's cancellation signal, or undefined when called outside an activity (tests,
 * scripts). Passing it to every SDK call makes a cancelled activity stop at its next request.
 */
export function currentCancellationSignal(): AbortSignal | undefined {
  try {
    return Context.current().cancellationSignal;
  } catch {
    return undefined;
  }
}

/** SDK `send` options carrying the cancellation signal when there is one. */
export function sendOptions(signal: AbortSignal | undefined): { abortSignal?: AbortSignal } {
  return signal === undefined ? {} : { abortSignal: signal };
}

/**
 * Returns a function that resolves the AWS account id of the caller (STS GetCallerIdentity) once and
 * remembers it; a failed lookup is not remembered, so the next call retries.
 */
export function accountIdLookup(sts: () => STSClient): (signal?: AbortSignal) => Promise<string> {
  let cached: string | undefined;
  return async (signal) => {
    if (cached !== undefined) return cached;
    const identity = await awsCall('sts:GetCallerIdentity', () => sts().send(new GetCallerIdentityCommand({}), sendOptions(signal)));
    if (identity.Account === undefined) throw new Error('sts:GetCallerIdentity returned no account id');
    cached = identity.Account;
    return cached;
  };
}

/** The ARN builders, shared with the AWS plan (`domain/aws-plan.ts`), where they are defined. */
export { bucketArn, bucketObjectsArn, partitionOf } from '../../domain/index.ts';

/** Tag key naming the environment a resource belongs to. */
export const ENVIRONMENT_TAG = 'logstack.io/environment';
/** Tag key/value marking a resource as managed by logstack. */
export const MANAGED_TAG = { key: 'app', value: 'logstack' } as const;

/** The tags every AWS resource logstack creates carries, as `Key`/`Value` pairs. */
export function managedTags(env: Environment): { Key: string; Value: string }[] {
  return [
    { Key: MANAGED_TAG.key, Value: MANAGED_TAG.value },
    { Key: ENVIRONMENT_TAG, Value: env.name },
  ];
}

/** A tag as every AWS SDK returns it. */
export type AwsTag = { Key?: string | undefined; Value?: string | undefined };

/** True when a tag list carries `app=logstack`. */
export function isManaged(tags: readonly AwsTag[] | undefined): boolean {
  return (tags ?? []).some((t) => t.Key === MANAGED_TAG.key && t.Value === MANAGED_TAG.value);
}

/**
 * Who a resource belongs to, from its tags:
 * - `owned`: `app=logstack` and `logstack.io/environment=<env>` — logstack manages it for this environment;
 * - `other-environment`: tagged for another environment (`logstack.io/environment=<other>`) — never touched;
 * - `unmanaged`: neither — someone else's resource, taken over only when the catalog adopts it.
 */
export type Ownership = { readonly state: 'owned' } | { readonly state: 'other-environment'; readonly environment: string } | { readonly state: 'unmanaged' };

/** Classifies a resource's tags for `env` (see {@link Ownership}). */
export function ownershipOf(tags: readonly AwsTag[] | undefined, env: Pick<Environment, 'name'>): Ownership {
  const environmentTag = (tags ?? []).find((t) => t.Key === ENVIRONMENT_TAG)?.Value;
  if (environmentTag !== undefined && environmentTag !== env.name) return { state: 'other-environment', environment: environmentTag };
  return isManaged(tags) && environmentTag === env.name ? { state: 'owned' } : { state: 'unmanaged' };
}

/** Whether the catalog lets `env` adopt its existing resource of `kind` (`aws.adopt`). */
export function adopts(env: Environment, kind: AwsAdoptable): boolean {
  return (env.aws.adopt ?? []).includes(kind);
}

/** A resource logstack would write, named for messages: its kind, name and the catalog field that names it. */
export interface AwsResourceRef {
  /** Adoption kind (`aws.adopt` entry). */
  readonly kind: AwsAdoptable;
  /** What it is, for people: `S3 bucket`, `IAM user`, `IAM role`, `Secrets Manager secret`. */
  readonly label: string;
  /** Its name (or ARN). */
  readonly name: string;
  /** The catalog field that names it (`aws.bucket`, `aws.secretName`, `aws.principalName`). */
  readonly field: string;
}

/** What the caller must do with an existing resource: manage it as it is, or adopt it (tag it first). */
export type OwnershipDecision = 'owned' | 'adopt';

/**
 * The owned-or-absent rule for an EXISTING resource: returns `owned` when it carries this environment's
 * ownership tags, `adopt` when it carries none and the catalog adopts it (the caller tags it before any
 * other write); otherwise throws non-retryable `Conflict` naming the resource, who it belongs to and how
 * to adopt it deliberately. Read-only; call it before the first write.
 */
export function decideOwnership(resource: AwsResourceRef, tags: readonly AwsTag[] | undefined, env: Environment): OwnershipDecision {
  const ownership = ownershipOf(tags, env);
  if (ownership.state === 'owned') return 'owned';
  const details = { environment: env.name, resource: resource.kind, name: resource.name };
  if (ownership.state === 'other-environment') {
    throw nonRetryable(
      FailureType.Conflict,
      `${resource.label} "${resource.name}" belongs to environment "${ownership.environment}" (tag ${ENVIRONMENT_TAG}=${ownership.environment}), ` +
        `so logstack will not change it for environment "${env.name}"; it cannot be adopted from another environment. ` +
        `Set ${resource.field} of environment "${env.name}" to another name`,
      { ...details, owner: ownership.environment },
    );
  }
  if (adopts(env, resource.kind)) return 'adopt';
  throw nonRetryable(
    FailureType.Conflict,
    `${resource.label} "${resource.name}" exists but logstack did not create it for environment "${env.name}" ` +
      `(it lacks the tags ${MANAGED_TAG.key}=${MANAGED_TAG.value} and ${ENVIRONMENT_TAG}=${env.name}), so logstack will not change it. ` +
      `To hand it over deliberately, add "${resource.kind}" to aws.adopt of environment "${env.name}" in the catalog ` +
      `(logstack then tags it and manages it: ${ADOPTION_EFFECT[resource.kind]}); otherwise set ${resource.field} to another name`,
    details,
  );
}

/** What adopting each kind lets logstack do, said in the Conflict message. */
const ADOPTION_EFFECT: Readonly<Record<AwsAdoptable, string>> = {
  bucket: 'its public-access block, encryption, versioning, lifecycle rule, TLS-only policy statement and tags are rewritten',
  secret: "its value is replaced by Loki's credentials",
  principal:
    "its inline policy, trust policy and permissions boundary are rewritten, and a user's other access keys are deleted (the ESO reader also loses every other policy and group)",
};

/** Canonical JSON (keys sorted at every level), shared with the AWS plan (`domain/aws-plan.ts`). */
export { canonicalJson } from '../../domain/index.ts';

/** Lower-case hex SHA-256 of a UTF-8 string. */
export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/**
 * Parses an IAM policy document as IAM returns it (URL-encoded JSON) or as given (plain JSON).
 * Returns undefined when neither parses.
 */
export function parsePolicyDocument(document: string | undefined): unknown {
  if (document === undefined) return undefined;
  for (const candidate of [document, safeDecode(document)]) {
    if (candidate === undefined) continue;
    try {
      return JSON.parse(candidate) as unknown;
    } catch {
      // try the next form
    }
  }
  return undefined;
}

function safeDecode(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const REGION = /^[a-z]{2}(-gov)?-[a-z]+-\d$/;

/**
 * Checks the fields the AWS activities read, so a hand-written workflow input fails before any side
 * effect. Throws non-retryable `InvalidInput` naming the field to fix.
 */
export function assertAwsInput(env: Environment | undefined): asserts env is Environment {
  const problems: string[] = [];
  if (env === undefined || typeof env !== 'object' || typeof env.aws !== 'object') {
    throw nonRetryable(FailureType.InvalidInput, 'the activity input has no environment (with an aws section); pass a validated catalog entry');
  }
  if (!BUCKET_NAME.test(env.aws.bucket) || env.aws.bucket.includes('..')) problems.push(`aws.bucket "${env.aws.bucket}" is not a valid S3 bucket name`);
  if (!REGION.test(env.aws.region)) problems.push(`aws.region "${env.aws.region}" is not an AWS region such as eu-west-1`);
  if (env.aws.credentialMode !== 'static' && env.aws.credentialMode !== 'sts') problems.push(`aws.credentialMode must be "static" or "sts"`);
  if (!Number.isInteger(env.retentionDays) || env.retentionDays < 1) problems.push(`retentionDays must be a positive whole number of days`);
  problems.push(...ownershipInputProblems(env));
  if (problems.length > 0) {
    throw nonRetryable(FailureType.InvalidInput, `environment "${env.name}" cannot be provisioned; fix: ${problems.join('; ')}`, {
      environment: env.name,
    });
  }
}

/** Problems of `aws.adopt` and `aws.permissionsBoundary` in a hand-written input (the catalog schema checks the same). */
function ownershipInputProblems(env: Environment): string[] {
  const problems: string[] = [];
  const adopt = env.aws.adopt as unknown;
  if (adopt !== undefined && (!Array.isArray(adopt) || adopt.some((k) => !(AWS_ADOPTABLE as readonly unknown[]).includes(k)))) {
    problems.push(`aws.adopt must be a list of ${AWS_ADOPTABLE.join(', ')}`);
  }
  const boundary = env.aws.permissionsBoundary as unknown;
  if (boundary !== undefined) {
    if (typeof boundary !== 'string' || !IAM_POLICY_ARN.test(boundary)) {
      problems.push(`aws.permissionsBoundary ${JSON.stringify(boundary)} is not an IAM managed policy ARN (arn:aws:iam::<account>:policy/<name>)`);
    } else if (boundary.split(':')[1] !== partitionOf(env.aws.region)) {
      problems.push(`aws.permissionsBoundary "${boundary}" is not in partition ${partitionOf(env.aws.region)} of region ${env.aws.region}`);
    }
  }
  return problems;
}

/**
 * The permissions boundary the catalog asks for, checked as an IAM managed policy ARN of the region's
 * partition (`InvalidInput` naming the field otherwise), or undefined when none is set. Reusable by every
 * module that creates an IAM principal.
 */
export function checkedPermissionsBoundary(env: Environment): string | undefined {
  const problems = ownershipInputProblems(env).filter((p) => p.startsWith('aws.permissionsBoundary'));
  if (problems.length > 0) {
    throw nonRetryable(FailureType.InvalidInput, `environment "${env.name}" cannot be provisioned; fix: ${problems.join('; ')}`, { environment: env.name });
  }
  return env.aws.permissionsBoundary;
}

// ── IAM propagation ──────────────────────────────────────────────────────────────────────────

/** How long a call on a principal created moments ago is retried while IAM propagates it, by default. */
export const IAM_PROPAGATION_WINDOW_MS = 30_000;
/** A principal created less than this long ago (its `CreateDate`) counts as just created. */
export const FRESH_PRINCIPAL_MS = 120_000;

/** Errors IAM's eventual consistency gives right after a principal is created: refused, or not found yet. */
const PROPAGATION_CODES = ['AccessDenied', 'AccessDeniedException', 'NoSuchEntity', 'NoSuchEntityException', 'InvalidClientTokenId'];

/** Options of {@link retryWhilePropagating}. */
export interface PropagationOptions {
  /** The principal was created moments ago: only then are refusals retried. */
  readonly fresh: boolean;
  /** Retry window (ms); default {@link IAM_PROPAGATION_WINDOW_MS}. */
  readonly windowMs?: number | undefined;
  readonly signal: AbortSignal | undefined;
}

/**
 * Runs one AWS call on (or as) a principal that may have been created moments ago. When `fresh`, an
 * AccessDenied or NoSuchEntity answer — what IAM's propagation delay looks like — is retried with
 * backoff (250 ms doubling to 4 s), heartbeating, for at most the window; after it, the mapped error is
 * thrown (`AccessDenied`, non-retryable, saying the refusal outlasted the window). Not fresh: one call,
 * errors mapped as by {@link awsCall}. Stops at once when `signal` aborts.
 */
export async function retryWhilePropagating<T>(action: string, call: () => Promise<T>, options: PropagationOptions): Promise<T> {
  const windowMs = options.windowMs ?? IAM_PROPAGATION_WINDOW_MS;
  const started = Date.now();
  let delay = 250;
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      const elapsed = Date.now() - started;
      if (!options.fresh || !hasAwsCode(error, ...PROPAGATION_CODES) || options.signal?.aborted === true) throw mapAwsError(error, action);
      if (elapsed + delay > windowMs) throw stillRefused(error, action, attempt, elapsed);
      heartbeat({ waitingFor: 'iam-propagation', action, attempt });
      await sleep(delay, options.signal);
      delay = Math.min(delay * 2, 4_000);
    }
  }
}

function stillRefused(error: unknown, action: string, attempts: number, elapsedMs: number): unknown {
  const mapped = mapAwsError(error, action);
  const suffix = ` (refused ${attempts} times over ${Math.round(elapsedMs / 100) / 10} s right after the principal was created: longer than IAM propagation takes)`;
  if (mapped instanceof Error && mapped !== error) {
    mapped.message += suffix;
    return mapped;
  }
  // NoSuchEntity is not mapped by the shared mapper: after the window it is the worker's view of IAM that is wrong.
  return nonRetryable(FailureType.AccessDenied, `${action} kept failing with NoSuchEntity${suffix}; check that the worker's AWS principal may read IAM`, { action });
}

function heartbeat(details: unknown): void {
  try {
    Context.current().heartbeat(details);
  } catch {
    // outside an activity (tests, scripts): nothing to heartbeat
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(signal.reason as Error);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Whether a principal's `CreateDate` is recent enough for {@link retryWhilePropagating} to treat it as fresh. */
export function isFresh(createDate: Date | undefined, now = Date.now()): boolean {
  return createDate !== undefined && now - createDate.getTime() < FRESH_PRINCIPAL_MS;
}
