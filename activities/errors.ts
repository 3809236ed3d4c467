/**
 * Error helpers shared by every activity module: typed non-retryable failures for input- or
 * target-at-fault errors, and the mapping of SDK errors onto them. Transient errors are rethrown
 * unchanged so the activity's retry policy handles them.
 */
import { ApplicationFailure } from '@temporalio/common';
import { FailureType, isDomainError } from '../domain/index.ts';

/**
 * A non-retryable `ApplicationFailure` whose `type` is a {@link FailureType}. `message` must say what
 * to fix and must never contain secret material; `details` (names, ARNs, counts) travel as the
 * failure's single detail object.
 */
export function nonRetryable(type: FailureType, message: string, details?: Readonly<Record<string, unknown>>): ApplicationFailure {
  return details === undefined
    ? ApplicationFailure.nonRetryable(message, type)
    : ApplicationFailure.nonRetryable(message, type, details);
}

/** True for an `ApplicationFailure` (checked by name as well, so it holds across module copies). */
export function isApplicationFailure(error: unknown): error is ApplicationFailure {
  return error instanceof ApplicationFailure || (error instanceof Error && error.name === 'ApplicationFailure');
}

/**
 * Turns a `DomainError` raised by pure validation into the matching non-retryable failure; returns
 * any other value unchanged so callers can `throw fromDomainError(err)` in a catch block.
 */
export function fromDomainError(error: unknown): unknown {
  return isDomainError(error) ? nonRetryable(error.type, error.message, error.details) : error;
}

/** The fields of an AWS SDK v3 service exception the mapper reads. */
export interface AwsErrorShape {
  readonly name: string;
  readonly message?: string;
  readonly Code?: string;
  readonly $fault?: 'client' | 'server';
  readonly $metadata?: { readonly httpStatusCode?: number; readonly requestId?: string };
}

/** True when `error` carries the fields of an AWS SDK v3 service exception. */
export function isAwsError(error: unknown): error is AwsErrorShape & Error {
  return error instanceof Error && typeof (error as { $metadata?: unknown }).$metadata === 'object';
}

/** The AWS error code (`Code` when the service sent one, else the exception name). */
export function awsErrorCode(error: unknown): string | undefined {
  if (!isAwsError(error)) return undefined;
  return error.Code ?? error.name;
}

/** The HTTP status of an AWS SDK error, when the service answered. */
export function awsHttpStatus(error: unknown): number | undefined {
  return isAwsError(error) ? error.$metadata?.httpStatusCode : undefined;
}

/** True when the AWS error has one of `codes`. */
export function hasAwsCode(error: unknown, ...codes: readonly string[]): boolean {
  const code = awsErrorCode(error);
  return code !== undefined && codes.includes(code);
}

/** Codes meaning "the caller is not allowed" (IAM, S3, Secrets Manager, STS spellings). */
const ACCESS_DENIED_CODES: readonly string[] = [
  'AccessDenied',
  'AccessDeniedException',
  'Forbidden',
  'UnauthorizedOperation',
  'UnauthorizedAccess',
  'AllAccessDisabled',
];

/** Codes meaning the credentials themselves are wrong; a retry with the same credentials cannot help. */
const BAD_CREDENTIAL_CODES: readonly string[] = [
  'InvalidClientTokenId',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'UnrecognizedClientException',
  'AuthFailure',
];

/** Codes meaning the request itself is malformed: the input is at fault. */
const INVALID_INPUT_CODES: readonly string[] = [
  'InvalidBucketName',
  'InvalidLocationConstraint',
  'IllegalLocationConstraintException',
  'InvalidArgument',
  'MalformedPolicy',
  'MalformedPolicyDocument',
  'MalformedXML',
  'InvalidTag',
  'InvalidInput',
  'InvalidParameterException',
  'InvalidParameterValue',
  'ValidationError',
  'ValidationException',
];

/**
 * Maps an AWS SDK error raised while doing `action` (e.g. "s3:CreateBucket on logs-dev") to what the
 * activity should throw:
 * - access denied (403 and friends) → non-retryable `AccessDenied` naming the action to grant;
 * - invalid credentials → non-retryable `AccessDenied` saying to fix the credentials;
 * - malformed request → non-retryable `InvalidInput`;
 * - anything else (throttling, 5xx, network, timeouts, conflicts in progress) → the original error,
 *   left for the retry policy.
 * Already-typed `ApplicationFailure`s pass through. The AWS message is included: AWS never echoes
 * request bodies, so it holds no secret values.
 */
export function mapAwsError(error: unknown, action: string): unknown {
  if (isApplicationFailure(error) || !isAwsError(error)) return error;
  const code = awsErrorCode(error) ?? 'unknown';
  const status = awsHttpStatus(error);
  const aws = `${code}${status === undefined ? '' : ` (HTTP ${status})`}`;
  if (BAD_CREDENTIAL_CODES.includes(code)) {
    return nonRetryable(
      FailureType.AccessDenied,
      `${action} was refused: ${aws} — the AWS credentials of the worker are not valid; fix the credentials (env, profile or role) the worker runs with`,
      { action, code },
    );
  }
  if (ACCESS_DENIED_CODES.includes(code) || status === 403) {
    return nonRetryable(
      FailureType.AccessDenied,
      `${action} was refused: ${aws}: ${error.message ?? ''} — grant the worker's AWS principal this permission, then retry`,
      { action, code },
    );
  }
  if (INVALID_INPUT_CODES.includes(code)) {
    return nonRetryable(FailureType.InvalidInput, `${action} was rejected as invalid: ${aws}: ${error.message ?? ''} — fix the catalog entry`, {
      action,
      code,
    });
  }
  return error;
}

/**
 * Runs one AWS call and rethrows its error through {@link mapAwsError}, so every call site states
 * which action failed.
 */
export async function awsCall<T>(action: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw mapAwsError(error, action);
  }
}
