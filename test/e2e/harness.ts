/**
 * The end-to-end harness: a real worker (real activities, the sandbox's clusters, moto, Git remote and
 * Temporal) on a task queue of its own — in this process on Node, or a worker process on Node or on Deno as
 * `deno task worker` starts it — the controller stand-ins for the statuses of OLM, the Loki Operator and the
 * Cluster Logging Operator, the `logstack` CLI in-process, and the Temporal CLI binary.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import * as k8s from '@kubernetes/client-node';
import { parseDocument } from 'yaml';
import { runCli } from '../../client/cli.ts';
import { workflowIds } from '../../domain/index.ts';
import type { CliIo } from '../../client/context.ts';
import { requireSandbox, type SandboxRuntime } from '../../sandbox/status.ts';
import { loadWorkerConfig } from '../../config/index.ts';
import { workerOptions } from '../../worker/run.ts';
import { workerTracing } from '../../worker/tracing.ts';
import { startStandIns, startWorkerProcess, stopWorker, type WorkerRuntime } from '../support/processes.ts';

const execFileAsync = promisify(execFile);

/**
 * Where the end-to-end worker runs: `in-process` (Node, this test's process, the default), or a worker process on
 * `node` or `deno` (test/support/processes.ts: started as the image and as `deno task worker` start it).
 */
export type E2EWorker = 'in-process' | WorkerRuntime;

/** The end-to-end suites run on each of these workers (`npm test` runs both). */
export const E2E_WORKERS: readonly E2EWorker[] = ['in-process', 'deno'];

/** Options of {@link startE2E}. */
export interface E2EOptions {
  /** Variables added to the worker's configuration (e.g. `OTEL_EXPORTER_OTLP_ENDPOINT`: the worker then traces). */
  readonly workerEnv?: Readonly<Record<string, string>>;
  /** Where the worker runs; default `in-process`. */
  readonly worker?: E2EWorker;
}

/** A running end-to-end environment; `stop()` ends the worker and the stand-ins. */
export interface E2E {
  readonly sandbox: SandboxRuntime;
  readonly taskQueue: string;
  readonly client: Client;
  /** Runs the logstack CLI in-process on this task queue; returns exit code and output. */
  cli(...argv: string[]): Promise<{ code: number; out: string; err: string }>;
  /** Runs the Temporal CLI binary against the sandbox. */
  temporal(...argv: string[]): Promise<{ code: number; out: string; err: string }>;
  /** Commits a structured edit of a file in the GitOps remote, as an engineer would; returns the commit. */
  pushEdit(path: string, edit: (doc: ReturnType<typeof parseDocument>) => void, message: string): Promise<string>;
  /** The deployed-state ConfigMap data of an environment. */
  deployedState(env: string): Promise<Record<string, string>>;
  stop(): Promise<void>;
}

/** The completed event's result of a `--wait --output json` CLI run. */
export function resultOf<T>(out: string): T {
  for (const line of out.trim().split('\n').reverse()) {
    try {
      const event = JSON.parse(line) as { event?: string; result?: T };
      if (event.event === 'completed') return event.result as T;
    } catch {
      // not a JSON line
    }
  }
  throw new Error(`no completed event in:\n${out}`);
}

/** A worker of the end-to-end run; `stop()` drains it. */
interface RunningWorker {
  output(): string;
  stop(): Promise<void>;
}

/** Starts the worker in this process, with the product's worker options and tracing. */
async function startInProcess(config: ReturnType<typeof loadWorkerConfig>): Promise<RunningWorker> {
  const nativeConnection = await NativeConnection.connect({ address: config.temporal.address });
  const tracing = await workerTracing(config.tracing);
  const worker = await Worker.create(workerOptions(config, nativeConnection, undefined, tracing));
  const running = worker.run();
  return {
    output: () => '',
    async stop() {
      worker.shutdown();
      await running;
      await tracing.shutdown();
      await nativeConnection.close();
    },
  };
}

/** Starts a worker process on `runtime`; resolves once it polls, rejects with its output if it cannot start. */
async function startProcess(runtime: WorkerRuntime, taskQueue: string, env: Readonly<Record<string, string>>): Promise<RunningWorker> {
  const worker = startWorkerProcess({ taskQueue, runtime, env });
  await worker.running;
  return { output: worker.output, stop: () => stopWorker(worker) };
}

/**
 * Starts the worker (in this process, or a process on Node or Deno) and the stand-ins. `workerEnv` adds variables
 * to the worker's configuration (e.g. `OTEL_EXPORTER_OTLP_ENDPOINT`: the worker then traces, as `runWorker` does).
 */
export async function startE2E(options: E2EOptions = {}): Promise<E2E> {
  const sandbox = requireSandbox();
  const where = options.worker ?? 'in-process';
  const taskQueue = `e2e-${where}-${process.pid}`;
  const workerEnv = { ...options.workerEnv };
  const worker =
    where === 'in-process'
      ? await startInProcess(loadWorkerConfig({ ...process.env, LOGSTACK_TASK_QUEUE: taskQueue, ...workerEnv }))
      : await startProcess(where, taskQueue, workerEnv);
  const standIns = await startStandIns();
  const connection = await Connection.connect({ address: sandbox.temporal.address });
  const client = new Client({ connection });
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(sandbox.kubeconfig);

  return {
    sandbox,
    taskQueue,
    client,
    async cli(...argv) {
      let out = '';
      let err = '';
      const io: CliIo = { out: (t) => void (out += t), err: (t) => void (err += t), isTTY: false, env: process.env };
      const code = await runCli([...argv, '--task-queue', taskQueue], io);
      return { code, out, err };
    },
    async temporal(...argv) {
      try {
        const { stdout, stderr } = await execFileAsync(sandbox.temporal.cli, [...argv, '--address', sandbox.temporal.address]);
        return { code: 0, out: stdout, err: stderr };
      } catch (error) {
        const e = error as { code?: number; stdout?: string; stderr?: string };
        return { code: typeof e.code === 'number' ? e.code : 1, out: e.stdout ?? '', err: e.stderr ?? '' };
      }
    },
    async pushEdit(path, edit, message) {
      const work = mkdtempSync(join(tmpdir(), 'logstack-e2e-'));
      const git = async (...args: string[]) =>
        (await execFileAsync('git', ['-C', work, '-c', 'user.name=E2E Engineer', '-c', 'user.email=e2e@localhost', ...args])).stdout.trim();
      try {
        await execFileAsync('git', ['clone', '--quiet', sandbox.git.remote, work]);
        const file = join(work, path);
        const doc = parseDocument(readFileSync(file, 'utf8'));
        edit(doc);
        writeFileSync(file, doc.toString());
        await git('commit', '--quiet', '-am', message);
        await git('push', '--quiet', 'origin', 'HEAD:main');
        return await git('rev-parse', 'HEAD');
      } finally {
        rmSync(work, { recursive: true, force: true });
      }
    },
    async deployedState(env) {
      kc.setCurrentContext(`logstack-${env}`);
      const core = kc.makeApiClient(k8s.CoreV1Api);
      const cm = await core.readNamespacedConfigMap({ name: `logstack-state-${env}`, namespace: 'logstack-system' });
      return cm.data ?? {};
    },
    async stop() {
      standIns.kill('SIGTERM');
      // Lock workflows run on the task queue of the workflow that started them; once this worker is gone,
      // nobody would serve the ones started on this run's queue, so end them (no lease is held by now).
      for (const env of sandbox.clusters.map((c) => c.name)) {
        const handle = client.workflow.getHandle(workflowIds.lock(env));
        const description = await handle.describe().catch(() => undefined);
        if (description?.status.name === 'RUNNING' && description.taskQueue === taskQueue) {
          await handle.terminate(`end of the end-to-end run on ${taskQueue}`);
        }
      }
      await worker.stop();
      await connection.close();
      // A permission the worker lacked on Deno fails the step that needed it; say so even if the step recovered.
      const missing = /.*NotCapable.*/.exec(worker.output());
      if (missing) throw new Error(`the ${where} worker lacked a permission: ${missing[0].slice(0, 500)}`);
    },
  };
}
