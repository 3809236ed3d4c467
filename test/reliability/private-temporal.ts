/**
 * A private Temporal dev server for one test: the sandbox's own Temporal CLI binary, a SQLite file in a
 * temporary directory, a free loopback port, no Web UI, and logstack's search attributes registered the
 * way the sandbox registers them. It can be killed and started again on the same file and port, which the
 * shared sandbox server must never be (other runs use it).
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { searchAttributeFlags, temporalStoreFlags } from '../../sandbox/components.ts';

const execFileAsync = promisify(execFile);

const READY_DEADLINE_MS = 90_000;

/** A private dev server; {@link startPrivateTemporal} makes one. */
export interface PrivateTemporal {
  /** `127.0.0.1:<port>`, the same across restarts. */
  readonly address: string;
  /** The SQLite file holding every execution, the same across restarts. */
  readonly dbFile: string;
  /** The running server process, or undefined while it is down. */
  readonly pid: number | undefined;
  /** Everything the server printed on stdout and stderr, across restarts. */
  output(): string;
  /** Sends `signal` to the server and resolves when it has exited. */
  kill(signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Starts the server again on the same file and port; resolves when its frontend answers. */
  start(): Promise<void>;
  /** Stops the server (SIGTERM, then SIGKILL) and deletes its directory. */
  dispose(): Promise<void>;
}

/** A port nobody listens on right now (the kernel's choice on 127.0.0.1). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (address && typeof address !== 'string' ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** Starts a private dev server with `cli` (the sandbox's `temporal` binary); resolves once it answers. */
export async function startPrivateTemporal(cli: string): Promise<PrivateTemporal> {
  const dir = mkdtempSync(join(tmpdir(), 'logstack-private-temporal-'));
  const dbFile = join(dir, 'temporal.db');
  const port = await freePort();
  const address = `127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  let exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> = Promise.resolve({ code: null, signal: null });
  let out = '';

  const launch = async (): Promise<void> => {
    const server = spawn(
      cli,
      [
        'server',
        'start-dev',
        '--ip=127.0.0.1',
        `--port=${port}`,
        '--headless',
        ...temporalStoreFlags(dbFile),
        '--namespace=default',
        ...searchAttributeFlags(),
        '--log-level=warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child = server;
    server.stdout?.on('data', (chunk: Buffer) => void (out += chunk.toString()));
    server.stderr?.on('data', (chunk: Buffer) => void (out += chunk.toString()));
    exited = new Promise((resolve) => server.once('exit', (code, signal) => resolve({ code, signal })));
    const deadline = Date.now() + READY_DEADLINE_MS;
    for (;;) {
      if (server.exitCode !== null || server.signalCode !== null) {
        throw new Error(`the private Temporal server exited before it answered:\n${out.slice(-3000)}`);
      }
      try {
        await execFileAsync(cli, ['operator', 'namespace', 'describe', '--address', address, '--namespace', 'default'], { timeout: 10_000 });
        return;
      } catch (error) {
        if (Date.now() > deadline) throw new Error(`the private Temporal server on ${address} did not answer within ${READY_DEADLINE_MS / 1000} s: ${String(error)}\n${out.slice(-3000)}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  };

  const kill = async (signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }> => {
    const server = child;
    if (!server || server.exitCode !== null || server.signalCode !== null) return exited;
    server.kill(signal);
    const result = await exited;
    child = undefined;
    return result;
  };

  await launch();
  return {
    address,
    dbFile,
    get pid() {
      return child?.pid;
    },
    output: () => out,
    kill,
    start: launch,
    async dispose() {
      const server = child;
      if (server && server.exitCode === null && server.signalCode === null) {
        const timer = setTimeout(() => server.kill('SIGKILL'), 10_000);
        await kill('SIGTERM');
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
