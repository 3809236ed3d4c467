/**
 * Failures as log lines show them: what an operator needs to act (class, failure type, message, whether
 * Temporal retries it, which activity, the cause chain) and never what a failure carries as data
 * (`details`, heartbeat details, the encoded proto `failure`), which may hold payloads. Pure and
 * realm-independent: it reads fields by name, so it works on failures from the workflow sandbox too.
 */

/** One failure of a chain, as logged. Only these keys are ever written; none of them holds a payload. */
export interface LoggedFailure {
  /** Class name: `ApplicationFailure`, `ActivityFailure`, `TimeoutFailure`, `DomainError`, `TypeError`… */
  readonly name: string;
  readonly message: string;
  /** `ApplicationFailure.type` (the project's failure type) or a `DomainError`'s type. */
  readonly type?: string;
  readonly nonRetryable?: boolean;
  /** Node system error code (`ECONNREFUSED`…). */
  readonly code?: string;
  readonly activityType?: string;
  readonly activityId?: string;
  readonly workflowType?: string;
  readonly retryState?: string;
  readonly timeoutType?: string;
  readonly cause?: LoggedFailure;
}

/** Scalar fields copied when present; everything else on a failure object is left out on purpose. */
const SCALAR_FIELDS = [
  'type',
  'nonRetryable',
  'code',
  'activityType',
  'activityId',
  'workflowType',
  'retryState',
  'timeoutType',
] as const;
const MAX_CAUSES = 8;

/** True for an `Error` of any realm (the workflow sandbox and worker threads have their own `Error`). */
export function isErrorLike(value: unknown): value is Error {
  return value instanceof Error || Object.prototype.toString.call(value) === '[object Error]';
}

/**
 * The class name of an error. An error structured-cloned out of a worker thread (the workflow's log sink)
 * arrives as a plain `Error`; its stack still starts with the original class name, so that is used instead.
 */
function nameOf(error: Error): string {
  const name = typeof error.name === 'string' && error.name !== '' ? error.name : 'Error';
  if (name !== 'Error' || typeof error.stack !== 'string') return name;
  return /^([A-Z][\w$]*)(?::|\n|$)/.exec(error.stack)?.[1] ?? name;
}

/**
 * Describes `error` and its causes (up to {@link MAX_CAUSES} deep, cycles cut) with the fields of
 * {@link LoggedFailure} only. Guarantees the result holds no `details`, no payload and no encoded failure.
 */
export function describeFailure(error: Error): LoggedFailure {
  const chain: Error[] = [];
  let current: unknown = error;
  while (isErrorLike(current) && chain.length < MAX_CAUSES && !chain.includes(current)) {
    chain.push(current);
    current = (current as { cause?: unknown }).cause;
  }
  let described: LoggedFailure | undefined;
  for (const link of chain.reverse()) {
    const fields: Record<string, string | number | boolean> = {};
    for (const key of SCALAR_FIELDS) {
      const value = (link as unknown as Record<string, unknown>)[key];
      if (typeof value === 'string' || typeof value === 'boolean' || typeof value === 'number') fields[key] = value;
    }
    described = {
      name: nameOf(link),
      message: String(link.message),
      ...fields,
      ...(described ? { cause: described } : {}),
    };
  }
  return described ?? { name: 'Error', message: String(error) };
}

/** The log attribute under which workflow code hands the worker's logger the description of a workflow's failure. */
export const WORKFLOW_FAILURE_LOG_ATTRIBUTE = 'workflowFailure';
