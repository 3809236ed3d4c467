/**
 * Turning pure-code errors and activity failures into the typed, non-retryable workflow failures of
 * docs/architecture.md#failure-types. Everything here branches on `failure.type` strings, never on `instanceof`: workflow code
 * runs in its own realm.
 */
import { ApplicationFailure } from '@temporalio/workflow';
import { FailureType, isDomainError } from '../domain/index.ts';

const KNOWN_TYPES: ReadonlySet<string> = new Set(Object.values(FailureType));

interface FailureLike {
  readonly name?: unknown;
  readonly type?: unknown;
  readonly message?: unknown;
  readonly details?: unknown;
  readonly cause?: unknown;
}

/** The first `ApplicationFailure.type` found along the `cause` chain of `err`, if any. */
export function failureType(err: unknown): string | undefined {
  let current: unknown = err;
  for (let depth = 0; depth < 8 && typeof current === 'object' && current !== null; depth++) {
    const f = current as FailureLike;
    if (f.name === 'ApplicationFailure' && typeof f.type === 'string') return f.type;
    current = f.cause;
  }
  return undefined;
}

/** The innermost human message along the `cause` chain (activity failures wrap the useful one). */
export function failureMessage(err: unknown): string {
  let message = String(err);
  let current: unknown = err;
  for (let depth = 0; depth < 8 && typeof current === 'object' && current !== null; depth++) {
    const f = current as FailureLike;
    if (typeof f.message === 'string' && f.message.length > 0) message = f.message;
    current = f.cause;
  }
  return message;
}

/** True when `err` carries one of the project's failure types (see {@link FailureType}). */
export function hasFailureType(err: unknown, ...types: FailureType[]): boolean {
  const type = failureType(err);
  return type !== undefined && (types.length === 0 ? KNOWN_TYPES.has(type) : (types as string[]).includes(type));
}

/** Builds the non-retryable failure a workflow ends with. `details` is one plain object (names, never secrets). */
export function typedFailure(
  type: FailureType,
  message: string,
  details?: Readonly<Record<string, unknown>>,
  cause?: Error,
): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable: true, details: details ? [details] : [], cause });
}

/**
 * Runs pure validation code and converts a `DomainError` into
 * `ApplicationFailure.nonRetryable(message, type, details)`; anything else is rethrown untouched.
 */
export function validate<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (isDomainError(err))
      throw ApplicationFailure.nonRetryable(err.message, err.type, ...(err.details ? [err.details] : []));
    throw err;
  }
}

/**
 * The failure a workflow ends with: an activity failure carrying a project failure type is lifted to a
 * top-level `ApplicationFailure` of that type (so clients read `failure.type` directly), keeping the original
 * as its cause. Cancellation and everything else pass through unchanged.
 */
export function liftFailure(err: unknown): unknown {
  if (isDomainError(err))
    return ApplicationFailure.nonRetryable(err.message, err.type, ...(err.details ? [err.details] : []));
  const type = failureType(err);
  if (type === undefined || !KNOWN_TYPES.has(type)) return err;
  const top = err as FailureLike;
  if (top.name === 'ApplicationFailure') return err;
  return ApplicationFailure.create({
    type,
    message: failureMessage(err),
    nonRetryable: true,
    details: innermostDetails(err),
    cause: err as Error,
  });
}

function innermostDetails(err: unknown): unknown[] {
  let current: unknown = err;
  let details: unknown[] = [];
  for (let depth = 0; depth < 8 && typeof current === 'object' && current !== null; depth++) {
    const f = current as FailureLike;
    if (f.name === 'ApplicationFailure' && Array.isArray(f.details)) details = f.details as unknown[];
    current = f.cause;
  }
  return details;
}
