/**
 * The Temporal servers of the workflow tests and the worker they run: one time-skipping test server and
 * one worker (real workflow bundle, activity doubles) per `describe` block ({@link useHarness}) or per
 * script ({@link startHarness}); a local dev server where a test needs the real server's behaviour
 * ({@link devServerPath}). Executables come from the running sandbox, the sandbox's build cache, or the
 * `LOGSTACK_TEST_SERVER` / `LOGSTACK_TEMPORAL_CLI` variables; without any, tests fail saying how to get
 * one — they never skip silently.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, beforeEach } from 'node:test';
import { fileURLToPath } from 'node:url';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker, type NativeConnection, type WorkerOptions } from '@temporalio/worker';
import {
  WorkflowClient,
  type WorkflowHandle,
  type WorkflowHandleWithStartDetails,
  type WorkflowResultType,
  type WorkflowStartOptions,
} from '@temporalio/client';
import type { Workflow } from '@temporalio/common';
import { SearchAttributeNames } from '../../domain/index.ts';
import { CACHE_ROOT, loadVersions, temporalCliPath } from '../../sandbox/paths.ts';
import { readSandbox } from '../../sandbox/status.ts';
import { environmentKey, revisionKey } from '../../workflows/search-attributes.ts';
import { createActivityDoubles, DoubleWorld } from './doubles.ts';
import { workflowBundlerOptions } from '../../worker/bundle.ts';

/** Absolute path of the workflow entry point the worker bundles. */
export const WORKFLOWS_PATH = fileURLToPath(new URL('../../workflows/index.ts', import.meta.url));

/** The first of `candidates` that names an existing file, else an error saying how to get one. */
function executable(what: string, candidates: readonly (string | undefined)[], howToGetOne: string): string {
  const found = candidates.find((path) => path !== undefined && existsSync(path));
  if (!found) throw new Error(`no ${what}: ${howToGetOne}`);
  return found;
}

/** The time-skipping test server: the running sandbox's, the sandbox build's, else `LOGSTACK_TEST_SERVER`. */
export function testServerPath(): string {
  const version = loadVersions().maven.temporalTestServer.split(':').at(-1) ?? '';
  return executable(
    'time-skipping test server',
    [
      readSandbox()?.testServer,
      join(CACHE_ROOT, `temporal-test-server-${version}`, 'temporal-test-server'),
      process.env['LOGSTACK_TEST_SERVER'],
    ],
    'run `npm run sandbox -- up` (it builds one), or set LOGSTACK_TEST_SERVER to an executable that runs ' +
      'io.temporal.testserver.TestServer (Maven io.temporal:temporal-test-server) with the arguments it is given',
  );
}

/** The Temporal CLI that runs a local dev server: the running sandbox's, the sandbox build's, else `LOGSTACK_TEMPORAL_CLI`. */
export function devServerPath(): string {
  return executable(
    'Temporal CLI for a local dev server',
    [
      readSandbox()?.temporal.cli,
      temporalCliPath(loadVersions()),
      process.env['LOGSTACK_TEMPORAL_CLI'],
    ],
    'run `npm run sandbox -- up` (it builds one), or set LOGSTACK_TEMPORAL_CLI to a `temporal` executable',
  );
}

let runtimeInstalled = false;

/** Installs the SDK runtime (once per process) with the log level of `LOGSTACK_TEST_LOG` (default ERROR). */
export function installTestRuntime(): void {
  if (runtimeInstalled) return;
  Runtime.install({ logger: new DefaultLogger((process.env['LOGSTACK_TEST_LOG'] as 'ERROR' | undefined) ?? 'ERROR') });
  runtimeInstalled = true;
}

/** A worker of the real workflow bundle whose activities are the doubles acting on `world`. */
export function doublesWorker(
  connection: NativeConnection,
  world: DoubleWorld,
  options: Pick<WorkerOptions, 'taskQueue' | 'workerDeploymentOptions' | 'maxConcurrentWorkflowTaskExecutions'>,
): Promise<Worker> {
  return Worker.create({
    connection,
    workflowsPath: WORKFLOWS_PATH,
    bundlerOptions: workflowBundlerOptions(),
    activities: createActivityDoubles(world),
    shutdownForceTime: STOP_FORCE_TIME,
    ...options,
  });
}

/**
 * How long a test worker's shutdown may take before the worker gives up on it. A graceful shutdown takes
 * milliseconds here; one that does not end (an activity attempt the server already timed out, which the worker
 * never hears the end of) would otherwise hold its test file open until the whole run is killed.
 */
export const STOP_FORCE_TIME = '15 seconds';

/** A step as the `progress` query returns it, with its registry kind. */
export type Step = { kind: string; name: string; status: string; detail?: string };

/** A running test server, a worker with doubles, and the world the doubles act on. */
export interface Harness {
  readonly env: TestWorkflowEnvironment;
  readonly world: DoubleWorld;
  readonly taskQueue: string;
  /**
   * Starts `workflow` (a function, or a type name for inputs its types refuse) on the harness's task queue
   * under `workflowId` (default: a fresh one named after the workflow).
   */
  start<W extends Workflow>(
    workflow: W | string,
    args: readonly unknown[],
    workflowId?: string,
  ): Promise<WorkflowHandleWithStartDetails<W>>;
  /** {@link start}, then the workflow's result (or its failure). */
  execute<W extends Workflow>(
    workflow: W | string,
    args: readonly unknown[],
    workflowId?: string,
  ): Promise<WorkflowResultType<W>>;
  stop(): Promise<void>;
}

/** Starts the server and the worker. Scripts call it once and `stop()` at the end; test files use {@link useHarness}. */
export async function startHarness(taskQueue = 'logstack-test'): Promise<Harness> {
  installTestRuntime();
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: testServerPath() } },
  });
  await env.connection.operatorService.addSearchAttributes({
    namespace: env.namespace ?? 'default',
    searchAttributes: { [SearchAttributeNames.environment]: 2, [SearchAttributeNames.revision]: 2 }, // 2 = KEYWORD
  });
  const world = new DoubleWorld();
  const worker = await doublesWorker(env.nativeConnection, world, { taskQueue });
  const running = worker.run().catch((err: unknown) => {
    console.error('worker stopped with an error:', err);
  });
  const start = <W extends Workflow>(
    workflow: W | string,
    args: readonly unknown[],
    workflowId?: string,
  ): Promise<WorkflowHandleWithStartDetails<W>> =>
    // Tests hand workflows inputs their types refuse on purpose; the workflow validates them.
    env.client.workflow.start<W>(workflow, {
      taskQueue,
      workflowId: workflowId ?? wid(typeof workflow === 'string' ? workflow : workflow.name),
      args,
    } as unknown as WorkflowStartOptions<W>);
  return {
    env,
    world,
    taskQueue,
    start,
    async execute<W extends Workflow>(workflow: W | string, args: readonly unknown[], workflowId?: string) {
      return (await start(workflow, args, workflowId)).result() as Promise<WorkflowResultType<W>>;
    },
    async stop() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
      await env.teardown();
    },
  };
}

/**
 * The harness of one `describe` block: registers `before` (start the server and the worker), `after` (stop
 * them) and `beforeEach` (a fresh world, then `seed` for what every test of the block shares). Returns a
 * handle whose members reach the started harness, so tests read `h.world`, `h.start(...)` as usual.
 */
export function useHarness(
  options: { readonly taskQueue?: string; readonly seed?: (world: DoubleWorld) => void } = {},
): Harness {
  let started: Harness | undefined;
  const current = (): Harness => {
    if (!started) throw new Error('the harness is used outside a test: it starts in before() and stops in after()');
    return started;
  };
  before(async () => {
    started = await startHarness(options.taskQueue);
  });
  after(async () => {
    await started?.stop();
  });
  beforeEach(() => {
    current().world.reset();
    options.seed?.(current().world);
  });
  return {
    get env() {
      return current().env;
    },
    get world() {
      return current().world;
    },
    get taskQueue() {
      return current().taskQueue;
    },
    start: (workflow, args, workflowId) => current().start(workflow, args, workflowId),
    execute: (workflow, args, workflowId) => current().execute(workflow, args, workflowId),
    stop: () => current().stop(),
  };
}

/**
 * A local Temporal dev server for one `describe` block, for what the time-skipping server does not model
 * (Worker Versioning): started in `before` with logstack's search attributes, torn down in `after`.
 */
export function useDevServer(): { readonly env: TestWorkflowEnvironment } {
  let started: TestWorkflowEnvironment | undefined;
  before(async () => {
    installTestRuntime();
    started = await TestWorkflowEnvironment.createLocal({
      server: {
        executable: { type: 'existing-path', path: devServerPath() },
        searchAttributes: [environmentKey, revisionKey],
      },
    });
  });
  after(async () => {
    await started?.teardown();
  });
  return {
    get env() {
      if (!started)
        throw new Error('the dev server is used outside a test: it starts in before() and stops in after()');
      return started;
    },
  };
}

/**
 * Waits for a workflow to close without letting the test server skip time (polls `describe`), then returns
 * its result (or throws its failure). Use it when other workflows have timers that must not fire meanwhile.
 *
 * The result is read through a plain {@link WorkflowClient} on the same connection: the time-skipping
 * client's `result()` unlocks time skipping while it waits, even for a run that has already closed, and in
 * that window the server may jump to another workflow's timer (an approval's 24 h deadline, say).
 */
export async function settle<T>(handle: WorkflowHandle, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while ((await handle.describe()).status.name === 'RUNNING') {
    if (Date.now() > deadline) throw new Error(`${handle.workflowId} still running after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const plain = new WorkflowClient({ connection: handle.client.connection, namespace: handle.client.options.namespace });
  return (await plain.getHandle(handle.workflowId).result()) as T;
}

/** Polls the `progress` query (or any probe) until `ready` holds, without skipping time. */
export async function waitUntil<T>(
  probe: () => Promise<T>,
  ready: (value: T) => boolean,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const value = await probe();
      if (ready(value)) return value;
    } catch {
      // not queryable yet (no first workflow task): try again
    }
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The `ApplicationFailure.type` a failed workflow ended with (top-level cause of `WorkflowFailedError`). */
export async function failureOf(
  promise: Promise<unknown>,
): Promise<{ type: string | undefined; message: string; details: unknown[]; name: string }> {
  try {
    await promise;
  } catch (err) {
    const cause = (err as { cause?: { type?: string; message?: string; details?: unknown[]; name?: string } }).cause;
    return {
      type: cause?.type,
      message: cause?.message ?? String(err),
      details: cause?.details ?? [],
      name: cause?.name ?? (err as Error).name,
    };
  }
  throw new Error('expected the workflow to fail, but it completed');
}

let seq = 0;
/** A unique workflow ID for one test. */
export function wid(prefix: string): string {
  return `${prefix}-${process.pid}-${++seq}`;
}
