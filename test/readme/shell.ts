/**
 * Runs README commands as a reader would: through bash, in the repository root, with `logstack` (the
 * package's bin), `temporal` (the sandbox's Temporal CLI) and `kubectl` (the sandbox's) on PATH. Every command runs in a process group
 * of its own, so a long-running one (a worker, the codec server) is stopped with everything it started.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../support/processes.ts';

/** How a command ended and what it printed (stdout and stderr interleaved). */
export interface ShellResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly out: string;
}

/** A command still running in the background. */
export interface Background {
  readonly child: ChildProcess;
  readonly output: () => string;
  readonly exited: Promise<ShellResult>;
  /** Resolves once `pattern` appears in the output; rejects if the command ends first or after `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** Sends `signal` to the whole process group and waits for the command to end. */
  stop(signal?: NodeJS.Signals): Promise<ShellResult>;
}

/** A bash with `logstack`, `temporal` and `kubectl` on PATH. */
export class ReadmeShell {
  private readonly bin: string;

  /** Variables the sandbox publishes; a clean shell (one that has not loaded them) runs without them. */
  private readonly published: readonly string[];

  constructor(temporalCli: string, kubectl: string, published: readonly string[] = []) {
    this.published = published;
    this.bin = mkdtempSync(join(tmpdir(), 'logstack-readme-bin-'));
    const logstack = join(this.bin, 'logstack');
    writeFileSync(logstack, `#!/bin/sh\nexec "${process.execPath}" "${join(ROOT, 'client/bin.js')}" "$@"\n`);
    chmodSync(logstack, 0o755);
    symlinkSync(temporalCli, join(this.bin, 'temporal'));
    symlinkSync(kubectl, join(this.bin, 'kubectl'));
  }

  /**
   * The environment commands run with (`extra` on top): a reader's shell that has loaded the sandbox's
   * inputs as the README says (this suite runs under `sandbox exec`), or with `clean`, one that has not.
   */
  env(extra: Readonly<Record<string, string>> = {}, clean = false): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env };
    if (clean) for (const name of this.published) delete env[name];
    // A reader's shell has none of the test runner's own settings.
    delete env['NODE_TEST_CONTEXT'];
    delete env['LOGSTACK_TASK_QUEUE'];
    delete env['LOGSTACK_CODEC_KEYS'];
    return { ...env, ...extra, PATH: `${this.bin}:${process.env['PATH'] ?? ''}` };
  }

  /** Starts `script` in the background. */
  start(script: string, extra: Readonly<Record<string, string>> = {}, clean = false): Background {
    const child = spawn('bash', ['-c', script], { cwd: ROOT, env: this.env(extra, clean), detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const listeners = new Set<() => void>();
    const onData = (chunk: Buffer): void => {
      out += chunk.toString();
      for (const listener of listeners) listener();
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const exited = new Promise<ShellResult>((resolve) => child.once('close', (code, signal) => resolve({ code, signal, out })));
    const signalGroup = (signal: NodeJS.Signals): void => {
      try {
        if (child.pid) process.kill(-child.pid, signal);
      } catch {
        // already gone
      }
    };
    return {
      child,
      output: () => out,
      exited,
      waitFor(pattern, timeoutMs = 180_000) {
        return new Promise<void>((resolve, reject) => {
          const check = (): void => {
            if (!pattern.test(out)) return;
            done();
            resolve();
          };
          const timer = setTimeout(() => {
            done();
            reject(new Error(`no ${pattern} after ${timeoutMs / 1000} s from \`${script}\`:\n${out.slice(-3000)}`));
          }, timeoutMs);
          const done = (): void => {
            clearTimeout(timer);
            listeners.delete(check);
          };
          listeners.add(check);
          void exited.then((r) => {
            if (!listeners.has(check)) return;
            done();
            if (pattern.test(r.out)) resolve();
            else reject(new Error(`\`${script}\` ended (${r.code ?? r.signal}) before ${pattern}:\n${r.out.slice(-3000)}`));
          });
          check();
        });
      },
      async stop(signal = 'SIGTERM') {
        signalGroup(signal);
        const timer = setTimeout(() => signalGroup('SIGKILL'), 60_000);
        try {
          return await exited;
        } finally {
          clearTimeout(timer);
        }
      },
    };
  }

  /** Runs `script` to its end (killed after `timeoutMs`). */
  async run(script: string, extra: Readonly<Record<string, string>> = {}, timeoutMs = 600_000, clean = false): Promise<ShellResult> {
    const background = this.start(script, extra, clean);
    const timer = setTimeout(() => void background.stop('SIGKILL'), timeoutMs);
    try {
      return await background.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Removes the PATH directory. */
  dispose(): void {
    rmSync(this.bin, { recursive: true, force: true });
  }
}
