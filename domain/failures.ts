/**
 * Failure types carried by `ApplicationFailure.type` across the activity → workflow → client
 * boundary. Branch on these strings, never on `instanceof`: the workflow sandbox is another realm.
 */
export const FailureType = {
  InvalidInput: 'InvalidInput',
  UnknownEnvironment: 'UnknownEnvironment',
  PromotionOrderViolation: 'PromotionOrderViolation',
  RevisionNotVerified: 'RevisionNotVerified',
  ManifestRejected: 'ManifestRejected',
  ApprovalRejected: 'ApprovalRejected',
  ApprovalTimedOut: 'ApprovalTimedOut',
  NotAuthorized: 'NotAuthorized',
  EnvironmentLocked: 'EnvironmentLocked',
  ChangeFreeze: 'ChangeFreeze',
  GateFailed: 'GateFailed',
  /** A resource exists but belongs to someone else (bucket owned by another account, field owned by another manager). */
  Conflict: 'Conflict',
  /** A kind the target cluster does not serve (CRD missing). */
  MissingCustomResource: 'MissingCustomResource',
  /** The credentials in use are not allowed to perform the action. */
  AccessDenied: 'AccessDenied',
  /** A queued mutation was replaced by a newer request of the same kind for the same environment. */
  Superseded: 'Superseded',
  /** An environment's deployed-state record fails its integrity checks (signature, revision, field ownership). */
  StateRecordInvalid: 'StateRecordInvalid',
  /** The rendered overlay breaks a rule the Loki Operator or the Cluster Logging Operator enforces (domain/operator-rules/); found before any side effect. */
  OperatorRuleViolation: 'OperatorRuleViolation',
} as const;

/** One of the stable failure type strings. */
export type FailureType = (typeof FailureType)[keyof typeof FailureType];

/** Failure types that are the input's fault: retrying cannot help, so they are always non-retryable. */
export const NON_RETRYABLE_FAILURES: readonly FailureType[] = Object.values(FailureType);

/**
 * A typed, realm-independent description of a failure, produced by pure validation code.
 * Activities and workflows turn it into `ApplicationFailure.nonRetryable(message, type, details)`.
 */
export interface DomainFailure {
  readonly type: FailureType;
  /** Says what is wrong and what to do about it. */
  readonly message: string;
  readonly details?: Readonly<Record<string, unknown>>;
}

/** Thrown by pure code (catalog/input validation); carries a {@link DomainFailure}. */
export class DomainError extends Error {
  readonly type: FailureType;
  readonly details: Readonly<Record<string, unknown>> | undefined;
  constructor(failure: DomainFailure) {
    super(failure.message);
    this.name = 'DomainError';
    this.type = failure.type;
    this.details = failure.details;
  }
}

/** True when `value` looks like a {@link DomainError} (works across realms). */
export function isDomainError(value: unknown): value is DomainError {
  return value instanceof Error && value.name === 'DomainError' && typeof (value as DomainError).type === 'string';
}
