/**
 * Runs a command without a shell (`execFile`), bounded in time and output, and reports its stderr
 * on failure. Arguments are passed as an array, so no user input is ever interpreted by a shell.
 */
import { execFile } from 'node:child_process';

/** A command that exited non-zero (or was killed), with its trimmed stderr. */
export class CommandError extends Error {
  readonly command: string;
  readonly exitCode: number | null;
  readonly stderr: string;
  constructor(command: string, exitCode: number | null, stderr: string) {
    super(`${command} failed (exit ${exitCode ?? 'signal'}): ${stderr.trim().slice(0, 2000)}`);
    this.name = 'CommandError';
    this.command = command;
    this.exitCode = exitCode;
    this.stderr = stderr;
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
        env: { ...process.env, ...options.env },
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
