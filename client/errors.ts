/**
 * CLI errors and exit codes (docs/architecture.md#the-logstack-cli): 0 done, 1 failed, 2 usage, 3 rejected or timed out.
 * Temporal failures are classified by `ApplicationFailure.type` strings, never by `instanceof` on
 * workflow-side classes.
 */
import { FailureType, isDomainError } from '../domain/index.ts';
import { printable } from './printable.ts';

/** Process exit codes of the `logstack` CLI. */
export const ExitCode = {
  ok: 0,
  failed: 1,
  usage: 2,
  rejected: 3,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** An error the CLI reports as one message (no stack) with its exit code. */
export class CliError extends Error {
  readonly exitCode: ExitCode;
  constructor(message: string, exitCode: ExitCode = ExitCode.failed) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

/** A failure type found in a Temporal error's cause chain, with its message. */
export interface FailureInfo {
  readonly type: string | undefined;
  readonly message: string;
}

interface Causal {
  readonly name?: unknown;
  readonly message?: unknown;
  readonly type?: unknown;
  readonly cause?: unknown;
}

/**
 * Walks an error's cause chain (workflow failed → activity failure → application failure) and returns
 * the innermost `ApplicationFailure` type and message, or the deepest message when none has a type.
 */
export function failureInfo(error: unknown): FailureInfo {
  let current: unknown = error;
  let deepest = error instanceof Error ? error.message : String(error);
  let typed: FailureInfo | undefined;
  for (let depth = 0; current && typeof current === 'object' && depth < 10; depth++) {
    const c = current as Causal;
    if (typeof c.message === 'string' && c.message) deepest = c.message;
    if (c.name === 'ApplicationFailure' && typeof c.type === 'string') typed = { type: c.type, message: String(c.message) };
    else if (c.name === 'TimeoutFailure') typed ??= { type: 'Timeout', message: String(c.message) };
    else if (c.name === 'TerminatedFailure') typed ??= { type: 'Terminated', message: String(c.message) };
    else if (c.name === 'CancelledFailure') typed ??= { type: 'Cancelled', message: String(c.message) };
    current = c.cause;
  }
  return typed ?? { type: undefined, message: deepest };
}

/** Exit code for a workflow that ended with this failure type. */
export function exitCodeForFailure(type: string | undefined): ExitCode {
  return type === FailureType.ApprovalRejected || type === FailureType.ApprovalTimedOut ? ExitCode.rejected : ExitCode.failed;
}

/** Exit code and message for any error thrown by a command. */
export function describeError(error: unknown): { exitCode: ExitCode; message: string } {
  if (error instanceof CliError) return { exitCode: error.exitCode, message: error.message };
  if (isDomainError(error)) {
    // Pure validation before anything reached Temporal: the command line is at fault.
    const usage = error.type === FailureType.InvalidInput || error.type === FailureType.UnknownEnvironment || error.type === FailureType.PromotionOrderViolation;
    return { exitCode: usage ? ExitCode.usage : ExitCode.failed, message: error.message };
  }
  const name = (error as { name?: unknown } | null)?.name;
  if (name === 'CodecConfigError') return { exitCode: ExitCode.usage, message: (error as Error).message };
  if (name === 'PayloadDecryptionError') return { exitCode: ExitCode.failed, message: (error as Error).message };
  const info = failureInfo(error);
  if (info.message.includes('binary/encrypted')) {
    return { exitCode: ExitCode.failed, message: 'the payloads are encrypted; set LOGSTACK_CODEC_KEYS to the keys the worker uses to read them' };
  }
  // Failure types and messages from history are shown on one line, controls escaped.
  const type = info.type ? ` (${printable(info.type)})` : '';
  if (name === 'WorkflowFailedError') {
    return { exitCode: exitCodeForFailure(info.type), message: `workflow failed${type}: ${printable(info.message)}` };
  }
  if (name === 'WorkflowUpdateFailedError') {
    return { exitCode: ExitCode.failed, message: `refused${type}: ${printable(info.message)}` };
  }
  if (name === 'WorkflowNotFoundError') return { exitCode: ExitCode.failed, message: (error as Error).message };
  return { exitCode: ExitCode.failed, message: info.message };
}
