/**
 * Small pieces shared by the AWS activity modules: cancellation, account id, ARNs, tags, canonical
 * JSON and input checks. No AWS writes happen here.
 */
import { createHash } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { GetCallerIdentityCommand, type STSClient } from '@aws-sdk/client-sts';
import { FailureType, type Environment } from '../../domain/index.ts';
import { awsCall, nonRetryable } from '../errors.ts';

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

/** The ARN partition of a region (`aws`, `aws-us-gov`, `aws-cn`). */
export function partitionOf(region: string): string {
  if (region.startsWith('us-gov-')) return 'aws-us-gov';
  if (region.startsWith('cn-')) return 'aws-cn';
  return 'aws';
}

/** `arn:<partition>:s3:::<bucket>` — the bucket itself. */
export function bucketArn(env: Environment): string {
  return `arn:${partitionOf(env.aws.region)}:s3:::${env.aws.bucket}`;
}

/** `arn:<partition>:s3:::<bucket>/*` — every object of the bucket. */
export function bucketObjectsArn(env: Environment): string {
  return `${bucketArn(env)}/*`;
}

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

/** True when a tag list carries `app=logstack`. */
export function isManaged(tags: readonly { Key?: string | undefined; Value?: string | undefined }[] | undefined): boolean {
  return (tags ?? []).some((t) => t.Key === MANAGED_TAG.key && t.Value === MANAGED_TAG.value);
}

/** JSON with object keys sorted at every level: equal values give equal text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return Object.fromEntries(entries.map(([k, v]) => [k, sortKeys(v)]));
  }
  return value;
}

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
  if (problems.length > 0) {
    throw nonRetryable(FailureType.InvalidInput, `environment "${env.name}" cannot be provisioned; fix: ${problems.join('; ')}`, {
      environment: env.name,
    });
  }
}
