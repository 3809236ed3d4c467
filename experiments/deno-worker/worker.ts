/**
 * EXPERIMENTAL — not a supported way to run the logstack worker. Production workers run on Node 24
 * (`npm run worker`).
 *
 * Tries to run a Temporal Worker under Deno (`deno task worker:experimental`): the SDK's native bridge
 * (`@temporalio/core-bridge`) is a Node-API addon, which Deno loads through its Node-API support, and the
 * workflow sandbox relies on `node:vm` and `node:worker_threads`. The script goes stage by stage against
 * the sandbox's Temporal and prints one JSON line per stage:
 *
 * 1. a trivial worker: import the SDK, connect, bundle, create the worker, run one workflow calling one activity;
 * 2. the logstack worker itself (`workerOptions`: the real workflows bundled on the fly and the real
 *    activities), running a read-only `remediateDrift` report of `dev` (Git, kubectl, the API server, moto).
 *
 * Then a summary line `{"experiment":"deno-worker","ok":…,"trivial":…,"logstack":…}`; it exits 0 when both
 * workflows completed, else 1.
 */
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import type { DriftResult } from '../../domain/index.ts';
import type { denoExperimentHello } from './workflows.ts';
import { readSandbox } from '../../sandbox/status.ts';

const STAGE_TIMEOUT_MS = Number(process.env['LOGSTACK_EXPERIMENT_STAGE_TIMEOUT_MS'] ?? '60000');
const WORKFLOWS = fileURLToPath(new URL('./workflows.ts', import.meta.url));

type Stage =
  | 'runtime'
  | 'import-sdk'
  | 'connect'
  | 'bundle'
  | 'create-worker'
  | 'run-workflow'
  | 'logstack-create-worker'
  | 'logstack-run-drift-report';

const line = (value: Record<string, unknown>): void => void process.stdout.write(`${JSON.stringify(value)}\n`);
const describeError = (error: unknown): string =>
  error instanceof Error ? `${error.name}: ${error.message}` : String(error);

/** Runs one stage with a deadline; throws `{stage, error}` on failure. */
async function stage<T>(name: Stage, run: () => Promise<T>): Promise<T> {
  const started = performance.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const value = await Promise.race([
      run(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no result within ${STAGE_TIMEOUT_MS} ms`)), STAGE_TIMEOUT_MS);
      }),
    ]);
    line({ stage: name, ok: true, ms: Math.round(performance.now() - started) });
    return value;
  } catch (error) {
    line({ stage: name, ok: false, ms: Math.round(performance.now() - started), error: describeError(error) });
    throw Object.assign(new Error(describeError(error)), { stage: name });
  } finally {
    clearTimeout(timer);
  }
}

/** Outcome of one part of the experiment. */
type Outcome = { ok: true; result: unknown } | { ok: false; stage: string; error: string };

const outcome = async (run: () => Promise<unknown>): Promise<Outcome> => {
  try {
    return { ok: true, result: await run() };
  } catch (error) {
    return { ok: false, stage: (error as { stage?: string }).stage ?? 'unknown', error: describeError(error) };
  }
};

async function trivialWorker(): Promise<{ workflowId: string; result: string }> {
  const deno = (globalThis as { Deno?: { version: { deno: string; v8: string } } }).Deno;
  await stage('runtime', () => Promise.resolve(deno ? { deno: deno.version.deno } : { node: process.version }));
  if (!deno) throw Object.assign(new Error('run this under Deno: deno task worker:experimental'), { stage: 'runtime' });
  const address = process.env['TEMPORAL_ADDRESS'] ?? readSandbox()?.temporal.address ?? 'localhost:7233';

  const sdk = await stage('import-sdk', () => import('@temporalio/worker'));
  const { Client, Connection } = await import('@temporalio/client');
  const connection = await stage('connect', () => sdk.NativeConnection.connect({ address }));
  try {
    const bundle = await stage('bundle', () =>
      sdk.bundleWorkflowCode({ workflowsPath: WORKFLOWS, logger: new sdk.DefaultLogger('WARN') }),
    );
    const taskQueue = `deno-experiment-${process.pid}`;
    const worker = await stage('create-worker', () =>
      sdk.Worker.create({
        connection,
        taskQueue,
        workflowBundle: bundle,
        activities: {
          greet: (name: string) => Promise.resolve(`hello ${name}, from an activity on Deno ${deno.version.deno}`),
        },
      }),
    );
    const clientConnection = await Connection.connect({ address });
    try {
      const client = new Client({ connection: clientConnection });
      const workflowId = `deno-experiment-${process.pid}-${Date.now()}`;
      const result = await stage('run-workflow', () =>
        worker.runUntil(
          client.workflow.execute<typeof denoExperimentHello>('denoExperimentHello', {
            taskQueue,
            workflowId,
            args: ['logstack'],
          }),
        ),
      );
      return { workflowId, result };
    } finally {
      await clientConnection.close();
    }
  } finally {
    await connection.close();
  }
}

/** The logstack worker as `npm run worker` builds it, on a task queue of its own; a drift report of dev. */
async function logstackWorker(): Promise<{ workflowId: string; findings: number; remediated: number }> {
  const { Worker } = await import('@temporalio/worker');
  const { Client, Connection } = await import('@temporalio/client');
  const { loadWorkerConfig } = await import('../../config/index.ts');
  const { readInputs } = await import('../../sandbox/inputs.ts');
  const { connect, workerOptions } = await import('../../worker/run.ts');
  const taskQueue = `deno-experiment-logstack-${process.pid}`;
  // The experiment targets the sandbox: its published inputs become this process's environment.
  Object.assign(process.env, readInputs());
  const config = loadWorkerConfig({ ...process.env, LOGSTACK_TASK_QUEUE: taskQueue, LOGSTACK_WORKFLOW_BUNDLE: '' });
  const connection = await connect(config);
  try {
    const worker = await stage('logstack-create-worker', () => Worker.create(workerOptions(config, connection)));
    const clientConnection = await Connection.connect({ address: config.temporal.address });
    try {
      const client = new Client({ connection: clientConnection, namespace: config.temporal.namespace });
      const workflowId = `deno-experiment-drift-${process.pid}-${Date.now()}`;
      const report = (await stage('logstack-run-drift-report', () =>
        worker.runUntil(
          client.workflow.execute('remediateDrift', {
            taskQueue,
            workflowId,
            args: [{ mode: 'report', environments: ['dev'] }],
          }),
        ),
      )) as DriftResult;
      return { workflowId, findings: report.findings.length, remediated: report.remediated.length };
    } finally {
      await clientConnection.close();
    }
  } finally {
    await connection.close();
  }
}

const trivial = await outcome(trivialWorker);
const logstack = trivial.ok
  ? await outcome(logstackWorker)
  : ({ ok: false, stage: 'not-run', error: 'the trivial worker failed first' } as const);
line({ experiment: 'deno-worker', ok: trivial.ok && logstack.ok, trivial, logstack });
process.exitCode = trivial.ok && logstack.ok ? 0 : 1;
// The SDK's native runtime keeps handles open; end the experiment explicitly.
process.exit();
