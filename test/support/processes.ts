/**
 * Child processes that tests run next to the sandbox: the real worker (`node <entry>`, Node's own type
 * stripping as in the image, `worker/main.ts` by default; or on Deno, as `deno task worker` starts it) and the
 * controller stand-ins. Each is a real OS process, so a test can
 * SIGTERM or SIGKILL it and start another.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import { DENO_WORKER_RUN, WORKER_NODE_OPTIONS, WORKER_PROCESS_ENV } from '../../worker/launch.ts';

/** The repository root: every child process runs there. */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The project's pinned Deno (the `deno` npm script's binary). */
export const DENO = fileURLToPath(new URL('../../node_modules/@deno/linux-x64-glibc/deno', import.meta.url));

/** The runtime a worker process runs on. */
export type WorkerRuntime = 'node' | 'deno';

/** How a worker process exited. */
export interface WorkerExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** `performance.now()` when it exited. */
  readonly at: number;
}

/** A worker child process and what it printed. */
export interface WorkerProcess {
  readonly child: ChildProcess;
  /** `<pid>@<host>`: the identity the SDK reports for this worker. */
  readonly identity: string;
  /** Everything it printed on stdout and stderr so far. */
  readonly output: () => string;
  /** Resolves when the worker logs state RUNNING; rejects if it exits first or takes 120 s. */
  readonly running: Promise<void>;
  readonly exited: Promise<WorkerExit>;
}

/** Options of {@link startWorkerProcess}. */
export interface WorkerProcessOptions {
  readonly taskQueue: string;
  /** Extra environment variables (merged over this process's environment). */
  readonly env?: Readonly<Record<string, string>>;
  /** Entry module relative to the repository root; default `worker/main.ts`. */
  readonly entry?: string;
  /** Keep the caller's LOGSTACK_WORKFLOW_BUNDLE / LOGSTACK_CODEC_KEYS; by default both are removed. */
  readonly inheritBundleAndCodec?: boolean;
  /** Node (default: `node` with worker/launch.ts's options) or Deno (`deno run` with `deno task worker`'s permissions and V8 flags). */
  readonly runtime?: WorkerRuntime;
}

const RUNNING_DEADLINE_MS = 120_000;
/** How long a stopping worker may drain before it is killed. */
const STOP_DEADLINE_MS = 30_000;

/**
 * Spawns a worker process on `taskQueue` with INFO JSON logs, started as the image starts it, or as `deno task
 * worker` starts it (worker/launch.ts).
 */
export function startWorkerProcess(options: WorkerProcessOptions): WorkerProcess {
  const env: NodeJS.ProcessEnv = { ...process.env, ...WORKER_PROCESS_ENV, LOGSTACK_LOG_LEVEL: 'INFO' };
  if (!options.inheritBundleAndCodec) {
    delete env['LOGSTACK_WORKFLOW_BUNDLE'];
    delete env['LOGSTACK_CODEC_KEYS'];
  }
  Object.assign(env, options.env ?? {}, { LOGSTACK_TASK_QUEUE: options.taskQueue });
  const entry = options.entry ?? 'worker/main.ts';
  const [command, args] =
    options.runtime === 'deno' ? [DENO, [...DENO_WORKER_RUN, entry]] : [process.execPath, [...WORKER_NODE_OPTIONS, entry]];
  const child = spawn(command, args, {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const exited = new Promise<WorkerExit>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal, at: performance.now() })),
  );
  const running = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`worker not RUNNING after ${RUNNING_DEADLINE_MS / 1000} s:\n${out.slice(-3000)}`)),
      RUNNING_DEADLINE_MS,
    );
    const onData = (chunk: Buffer): void => {
      out += chunk.toString();
      if (/"state":"RUNNING"/.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`worker exited with ${code ?? signal} before RUNNING:\n${out.slice(-3000)}`));
    });
  });
  running.catch(() => undefined);
  return { child, identity: `${child.pid}@${hostname()}`, output: () => out, running, exited };
}

/** Starts the controller stand-ins (statuses of OLM, Loki Operator, Cluster Logging Operator); resolves once they write. */
export function startStandIns(): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['sandbox/cli.ts', 'stand-ins'], {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child.stderr.on('data', (chunk: Buffer) => {
      if (/stand-ins writing/.test(chunk.toString())) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`stand-ins exited with ${code}`)));
  });
}

/** Stops a worker: SIGTERM when it polls (drains, exits), SIGKILL when it is only held or stuck. */
export async function stopWorker(worker: WorkerProcess | undefined): Promise<void> {
  if (!worker || worker.child.exitCode !== null || worker.child.signalCode !== null) return;
  const polling = /"state":"RUNNING"/.test(worker.output());
  worker.child.kill(polling ? 'SIGTERM' : 'SIGKILL');
  const timer = setTimeout(() => worker.child.kill('SIGKILL'), STOP_DEADLINE_MS);
  await worker.exited;
  clearTimeout(timer);
}
