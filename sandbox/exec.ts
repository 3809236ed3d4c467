import { spawn, execFile } from 'node:child_process';
import { openSync, mkdirSync, existsSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { RUN_DIR } from './paths.ts';

const execFileAsync = promisify(execFile);

/** Runs a command to completion, streaming its output into `logFile`; throws with the log's tail on failure. */
export async function run(
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; logFile: string },
): Promise<void> {
  mkdirSync(dirname(options.logFile), { recursive: true });
  const fd = openSync(options.logFile, 'a');
  const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', fd, fd] });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', resolve);
  });
  if (code !== 0) {
    const tail = readFileSync(options.logFile, 'utf8').split('\n').slice(-25).join('\n');
    throw new Error(`${command} ${args.join(' ')} exited with ${code}; log ${options.logFile}:\n${tail}`);
  }
}

/** Runs a command and returns its stdout. */
export async function capture(command: string, args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  const { stdout } = await execFileAsync(command, args, { ...options, maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

const pidFile = (name: string): string => join(RUN_DIR, 'pids', `${name}.pid`);

/** True when a process with this PID exists (and is not a zombie). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return true;
  }
}

/** The recorded PID of a sandbox process, if it is still running. */
export function runningPid(name: string): number | undefined {
  const file = pidFile(name);
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8').trim());
  return Number.isInteger(pid) && pid > 0 && isAlive(pid) ? pid : undefined;
}

/** All recorded PIDs by process name (alive or not). */
export function recordedPids(names: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const name of names) {
    const pid = runningPid(name);
    if (pid !== undefined) out[name] = pid;
  }
  return out;
}

/**
 * Starts a long-running process detached from this CLI, logging to `<RUN_DIR>/logs/<name>.log`,
 * and records its PID so `down` stops exactly it. Returns the PID.
 */
export function startDaemon(name: string, command: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env, cwd?: string): number {
  mkdirSync(join(RUN_DIR, 'logs'), { recursive: true });
  mkdirSync(join(RUN_DIR, 'pids'), { recursive: true });
  const fd = openSync(logFile(name), 'a');
  const child = spawn(command, args, { cwd, env, detached: true, stdio: ['ignore', fd, fd] });
  if (child.pid === undefined) throw new Error(`could not start ${name} (${command})`);
  child.unref();
  writeFileSync(pidFile(name), String(child.pid));
  return child.pid;
}

/** Path of a sandbox process's log file. */
export function logFile(name: string): string {
  return join(RUN_DIR, 'logs', `${name}.log`);
}

/** Stops a recorded process: SIGTERM, then SIGKILL after `graceMs`. Only PIDs the sandbox recorded are touched. */
export async function stopDaemon(name: string, graceMs = 5000): Promise<boolean> {
  const pid = runningPid(name);
  rmSync(pidFile(name), { force: true });
  if (pid === undefined) return false;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return false;
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && isAlive(pid)) await sleep(100);
  if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  while (isAlive(pid)) await sleep(50);
  return true;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` until it resolves true, or throws after `timeoutMs` with `what` and the log path. */
export async function waitFor(what: string, probe: () => Promise<boolean>, timeoutMs: number, log?: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      if (await probe()) return;
    } catch (error) {
      lastError = error;
    }
    await sleep(200);
  }
  const tail = log && existsSync(log) ? readFileSync(log, 'utf8').split('\n').slice(-15).join('\n') : '';
  throw new Error(`${what} not ready after ${timeoutMs / 1000}s${lastError instanceof Error ? ` (${lastError.message})` : ''}${log ? `; log ${log}:\n${tail}` : ''}`);
}
