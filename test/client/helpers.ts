/** Shared by the CLI tests: in-process CLI runs with captured output, and the test-double worker. */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { runCli } from '../../client/cli.ts';
import type { CliIo } from '../../client/context.ts';

/** The repository root. */
export const REPO = fileURLToPath(new URL('../..', import.meta.url));
/** Node 24 from the project's `node` package (the machine's default node may be older). */
export const NODE24 = `${REPO}node_modules/.bin/node`;
/** The Deno binary shipped by `@deno/linux-x64-glibc` (one definition, with the worker processes'). */
export { DENO } from '../support/processes.ts';

/** A CLI run's exit code and output. */
export interface CliRun {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

/** Runs the CLI in this process with its own output capture and environment. */
export async function cli(args: readonly string[], env: Record<string, string | undefined> = process.env): Promise<CliRun> {
  let out = '';
  let err = '';
  const io: CliIo = { out: (t) => void (out += t), err: (t) => void (err += t), isTTY: false, env };
  const code = await runCli(args, io);
  return { code, out, err };
}

/** A random suffix usable in environment names and task queues. */
export function suffix(): string {
  return Math.random().toString(16).slice(2, 10);
}

/** A random 32-byte key in `LOGSTACK_CODEC_KEYS` form. */
export function codecKey(id: string): string {
  return `${id}:${btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))))}`;
}

/** Polls `probe` until it returns a value (not undefined) or the time is up. */
export async function waitFor<T>(probe: () => Promise<T | undefined>, timeoutMs = 30_000, what = 'condition'): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** A running test-double worker process. */
export interface FixtureWorker {
  stop(): Promise<void>;
}

/**
 * Starts test/client/fixtures/worker.ts on Node 24 for `taskQueue` and waits for it to poll.
 * The worker always runs on Node (Temporal workers are Node-only), also when the tests run on Deno.
 */
export async function startFixtureWorker(taskQueue: string, env: Record<string, string | undefined>): Promise<FixtureWorker> {
  const child: ChildProcess = spawn(NODE24, ['test/client/fixtures/worker.ts', taskQueue], {
    cwd: REPO,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`fixture worker did not start within 90 s:\n${log}`)), 90_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      log += chunk.toString();
      if (log.includes('ready\n')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.stderr?.on('data', (chunk: Buffer) => (log += chunk.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`fixture worker exited with ${code}:\n${log}`));
    });
  });
  return {
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
