/**
 * Runs a command without a shell (`execFile`), bounded in time and output, and reports its stderr
 * on failure. Arguments are passed as an array, so no user input is ever interpreted by a shell.
 * Credentials in URLs (`https://user:token@host/…`) are redacted from every error this module makes. The child
 * starts without the worker's key variables (child-env.ts).
 */
import { execFile } from 'node:child_process';
import { childEnvironment } from '../child-env.ts';

/** `scheme://userinfo@` in any text: the userinfo is what {@link redactCredentials} hides. */
const URL_USERINFO = /\b([A-Za-z][A-Za-z0-9+.-]*:\/\/)[^\s/'"]+@/g;

/**
 * `text` with the userinfo of every URL (`user:password@`, or a token used as user name) replaced by
 * `***`, so a credentialed remote URL never reaches history, logs or error messages. Pure.
 */
export function redactCredentials(text: string): string {
  return text.replace(URL_USERINFO, '$1***@');
}

/** A URL or path as it may be stored and shown: without its userinfo. Pure. */
export function redactUrl(url: string): string {
  return redactCredentials(url);
}

/** A command that exited non-zero (or was killed), with its stderr (credentials in URLs redacted). */
export class CommandError extends Error {
  readonly command: string;
  readonly exitCode: number | null;
  readonly stderr: string;
  constructor(command: string, exitCode: number | null, stderr: string) {
    const redacted = redactCredentials(stderr);
    super(`${redactCredentials(command)} failed (exit ${exitCode ?? 'signal'}): ${redacted.trim().slice(0, 2000)}`);
    this.name = 'CommandError';
    this.command = redactCredentials(command);
    this.exitCode = exitCode;
    this.stderr = redacted;
  }
}

/** Options of one run. */
export interface RunOptions {
  readonly cwd?: string;
  readonly env?: Readonly<Record<string, string>>;
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

/**
 * Runs `file args…` and resolves with stdout.
 * @throws CommandError on a non-zero exit, a timeout (default 120 s) or an abort.
 */
export function run(file: string, args: readonly string[], options: RunOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      {
        cwd: options.cwd,
        env: childEnvironment(options.env),
        timeout: options.timeoutMs ?? 120_000,
        maxBuffer: 64 * 1024 * 1024,
        encoding: 'utf8',
        ...(options.signal ? { signal: options.signal } : {}),
      },
      (error, stdout, stderr) => {
        if (error) {
          const code = typeof error.code === 'number' ? error.code : null;
          reject(new CommandError(`${file} ${args[0] ?? ''}`.trim(), code, stderr || error.message));
        } else resolve(stdout);
      },
    );
  });
}
