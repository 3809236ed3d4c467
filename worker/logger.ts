import { DefaultLogger, type LogEntry, type LogLevel } from '@temporalio/worker';
import { describeFailure, isErrorLike, WORKFLOW_FAILURE_LOG_ATTRIBUTE, type LoggedFailure } from '../domain/index.ts';

const MAX_DEPTH = 6;

/**
 * Metadata made fit for JSON: every error, wherever it sits, becomes its {@link LoggedFailure} (an `Error`
 * would print as `{}`, and a Temporal failure's own fields include `details` and the encoded `failure`);
 * bigints become strings.
 */
function loggable(value: unknown, depth = 0, seen = new WeakSet<object>()): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (isErrorLike(value)) return describeFailure(value);
  if (typeof value !== 'object' || value === null || depth >= MAX_DEPTH || seen.has(value)) return value;
  const proto: unknown = Object.getPrototypeOf(value);
  const plain = Array.isArray(value) || proto === Object.prototype || proto === null;
  if (!plain) return value;
  seen.add(value);
  if (Array.isArray(value)) return value.map((item: unknown) => loggable(item, depth + 1, seen));
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, loggable(v, depth + 1, seen)]));
}

function isLoggedFailure(value: unknown): value is LoggedFailure {
  const f = value as Partial<LoggedFailure> | null;
  return typeof f === 'object' && f !== null && typeof f.name === 'string' && typeof f.message === 'string';
}

/**
 * Structured JSON logs, one object per line on stdout: time, level, message and the SDK's metadata
 * (workflow/activity ids). Errors are written as {@link LoggedFailure}s: name, failure type, message,
 * non-retryable flag and cause chain, never their details or payloads. A workflow's failure comes with the
 * description its workflow interceptor made inside the sandbox, which is written as the line's `error`.
 * Activities never log secret values, so nothing here needs redaction.
 */
export function jsonLogger(level: LogLevel): DefaultLogger {
  return new DefaultLogger(level, (entry: LogEntry) => {
    const meta: Record<string, unknown> = { ...entry.meta };
    const workflowFailure = meta[WORKFLOW_FAILURE_LOG_ATTRIBUTE];
    if (isLoggedFailure(workflowFailure)) {
      delete meta[WORKFLOW_FAILURE_LOG_ATTRIBUTE];
      meta['error'] = workflowFailure;
    }
    const line = {
      time: new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString(),
      level: entry.level.toLowerCase(),
      message: entry.message,
      ...(loggable(meta) as Record<string, unknown>),
    };
    process.stdout.write(`${JSON.stringify(line, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}\n`);
  });
}
