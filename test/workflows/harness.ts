/**
 * One time-skipping Temporal test server and one worker (real workflow bundle, activity doubles) per
 * `describe` block ({@link useHarness}), or per script ({@link startHarness}). The server comes from the sandbox (`testServer`) or `LOGSTACK_TEST_SERVER`; without either the
 * tests fail with a message saying how to get one — they never skip silently.
 */
import { after, before, beforeEach } from 'node:test';
import { fileURLToPath } from 'node:url';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import type {
  WorkflowHandle,
  WorkflowHandleWithStartDetails,
  WorkflowResultType,
  WorkflowStartOptions,
} from '@temporalio/client';
import type { Workflow } from '@temporalio/common';
import { SearchAttributeNames } from '../../domain/index.ts';
import { readSandbox } from '../../sandbox/status.ts';
import { createActivityDoubles, DoubleWorld } from './doubles.ts';

/** Absolute path of the workflow entry point the worker bundles. */
export const WORKFLOWS_PATH = fileURLToPath(new URL('../../workflows/index.ts', import.meta.url));

/** The test server executable: the sandbox's wrapper, else `LOGSTACK_TEST_SERVER`. */
export function testServerPath(): string {
  const path = readSandbox()?.testServer ?? process.env['LOGSTACK_TEST_SERVER'];
  if (!path) {
    throw new Error(
      'no time-skipping test server: run `npm run sandbox -- up` (it provides one), or set LOGSTACK_TEST_SERVER to an executable ' +
        'that runs io.temporal.testserver.TestServer (Maven io.temporal:temporal-test-server) with the arguments it is given',
    );
  }
  return path;
}

let runtimeInstalled = false;

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
  if (!runtimeInstalled) {
    Runtime.install({
      logger: new DefaultLogger((process.env['LOGSTACK_TEST_LOG'] as 'ERROR' | undefined) ?? 'ERROR'),
    });
    runtimeInstalled = true;
  }
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: testServerPath() } },
  });
  await env.connection.operatorService.addSearchAttributes({
    namespace: env.namespace ?? 'default',
    searchAttributes: { [SearchAttributeNames.environment]: 2, [SearchAttributeNames.revision]: 2 }, // 2 = KEYWORD
  });
  const world = new DoubleWorld();
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowsPath: WORKFLOWS_PATH,
    activities: createActivityDoubles(world),
  });
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
 * Waits for a workflow to close without letting the test server skip time (polls `describe`), then returns
 * its result (or throws its failure). Use it when other workflows have timers that must not fire meanwhile.
 */
export async function settle<T>(handle: WorkflowHandle, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while ((await handle.describe()).status.name === 'RUNNING') {
    if (Date.now() > deadline) throw new Error(`${handle.workflowId} still running after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return (await handle.result()) as T;
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
