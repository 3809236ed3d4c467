import { DefaultLogger, type LogEntry, type LogLevel } from '@temporalio/worker';

/**
 * Structured JSON logs, one object per line on stdout: time, level, message and the SDK's metadata
 * (workflow/activity ids). Activities never log secret values, so nothing here needs redaction.
 */
export function jsonLogger(level: LogLevel): DefaultLogger {
  return new DefaultLogger(level, (entry: LogEntry) => {
    const line = {
      time: new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString(),
      level: entry.level.toLowerCase(),
      message: entry.message,
      ...entry.meta,
    };
    process.stdout.write(`${JSON.stringify(line, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}\n`);
  });
}
