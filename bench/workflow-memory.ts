/**
 * `workflow_heap_per_cached_workflow_kib`: the worker's heap that one cached, idle workflow holds.
 *
 * Every workflow a worker keeps in its cache carries its own instance of each module the bundle evaluates for it
 * (the reusable V8 context shares only what the bundle preloads, see workflows/preload.ts), so this figure times
 * the fleet is the workflow side of the worker's memory: at 50 concurrent bootstraps the cache holds about 100
 * workflows (each bootstrap and its environment's lock).
 *
 * Measured: logstack's untraced bundle exactly as a worker with tracing off builds it (worker/bundle.ts), BENCH_WORKFLOWS (default 100)
 * `environmentLock` runs — the workflow a fleet caches most, idle between requests — each with an environment of
 * its own. Baseline, side by side in the same process and against the same server: a bundle of only the SDK and a
 * workflow that waits (bench/support-idle-workflow.ts), as many runs. Each worker runs its workflows in this
 * process's main thread (the SDK's `debugMode`), so the heap after a full collection, minus the heap before the
 * runs started, divided by their number, is what each cached workflow holds. Each run is counted only once its
 * first workflow task completed. The runs are terminated at the end.
 *
 * `workflow_heap_per_cached_workflow_traced_kib`: the same with the traced bundle a worker that exports spans runs,
 * against the untraced figure: what tracing costs each cached workflow.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { fileURLToPath } from 'node:url';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { loadWorkerConfig } from '../config/index.ts';
import { LOCK_WORKFLOW_TYPE } from '../domain/index.ts';
import { bundleWorkflows } from '../worker/bundle.ts';
import { NO_TRACING } from '../worker/tracing.ts';
import { report } from './report.ts';
import { cleanupOnInterrupt, terminateRunsOnTaskQueue } from './support-estate.ts';

const RUNS = Math.max(1, Number(process.env['BENCH_WORKFLOWS'] ?? '100'));
/** How long one run may take to complete its first workflow task. */
const FIRST_TASK_DEADLINE_MS = 60_000;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Heap in use after full collections (several: weak references and finalizers free more on each pass). */
function settledHeapKiB(): number {
  for (let i = 0; i < 4; i++) gc();
  return process.memoryUsage().heapUsed / 1024;
}

/** Resolves once the run's first workflow task completed (its history holds WorkflowTaskCompleted). */
async function firstTaskDone(handle: WorkflowHandle): Promise<void> {
  const deadline = performance.now() + FIRST_TASK_DEADLINE_MS;
  for (;;) {
    const { raw } = await handle.describe();
    if (raw.pendingWorkflowTask == null && Number(raw.workflowExecutionInfo?.historyLength ?? 0) >= 4) return;
    if (performance.now() > deadline) throw new Error(`${handle.workflowId}: no workflow task completed in ${FIRST_TASK_DEADLINE_MS / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

interface Side {
  readonly label: string;
  readonly code: string;
  readonly workflowType: string;
  readonly args: (i: number) => unknown[];
}

Runtime.install({ logger: new DefaultLogger('WARN') });
const config = loadWorkerConfig(process.env);
const taskQueue = `bench-workflow-memory-${process.pid}`;
const nativeConnection = await NativeConnection.connect({ address: config.temporal.address });
const client = new Client({ connection: await Connection.connect({ address: config.temporal.address }), namespace: config.temporal.namespace });
const interrupt = cleanupOnInterrupt(async () => {
  for (const queue of [`${taskQueue}-logstack`, `${taskQueue}-traced`, `${taskQueue}-baseline`]) await terminateRunsOnTaskQueue(client, queue, 'bench interrupted');
});

/** Caches RUNS idle workflows of `side` on a worker of its own; returns the heap each holds, in KiB. */
async function measure(side: Side): Promise<number> {
  const queue = `${taskQueue}-${side.label}`;
  const worker = await Worker.create({
    connection: nativeConnection,
    namespace: config.temporal.namespace,
    taskQueue: queue,
    workflowBundle: { code: side.code },
    debugMode: true,
    maxCachedWorkflows: RUNS + 10,
    sinks: NO_TRACING.sinks,
  });
  const running = worker.run();
  const handles: WorkflowHandle[] = [];
  try {
    // One run first, so the bundle's shared context and the worker's own structures exist before the baseline heap.
    const start = (i: number): Promise<WorkflowHandle> =>
      client.workflow.start(side.workflowType, { taskQueue: queue, workflowId: `${queue}-${i}`, args: side.args(i) });
    handles.push(await start(0));
    await firstTaskDone(handles[0]!);
    const before = settledHeapKiB();
    const started = performance.now();
    for (let i = 1; i <= RUNS; i++) handles.push(await start(i));
    for (const handle of handles) await firstTaskDone(handle);
    const seconds = (performance.now() - started) / 1000;
    const after = settledHeapKiB();
    const each = (after - before) / RUNS;
    process.stderr.write(
      `${side.label}: ${RUNS} cached ${side.workflowType} runs in ${seconds.toFixed(1)} s; heap ${(before / 1024).toFixed(1)} → ${(after / 1024).toFixed(1)} MiB = ${each.toFixed(0)} KiB each\n`,
    );
    return each;
  } finally {
    await Promise.all(handles.map((handle) => handle.terminate('bench done').catch(() => undefined)));
    worker.shutdown();
    await running;
  }
}

const baseline = await measure({
  label: 'baseline',
  code: (await bundleWorkflowCode({ workflowsPath: fileURLToPath(new URL('./support-idle-workflow.ts', import.meta.url)), logger: new DefaultLogger('WARN') })).code,
  workflowType: 'idleWorkflow',
  args: () => [],
});
/** An idle environment lock of each bundle kind. */
const lockSide = async (label: string, traced: boolean): Promise<Side> => ({
  label,
  code: await bundleWorkflows(traced, new DefaultLogger('WARN')),
  workflowType: LOCK_WORKFLOW_TYPE,
  args: (i) => [{ environment: `bench-wm-${label}-${process.pid}-${i}` }],
});
const ours = await measure(await lockSide('logstack', false));
const traced = await measure(await lockSide('traced', true));
interrupt.release();
report('workflow_heap_per_cached_workflow_kib', ours, 'KiB', baseline);
report('workflow_heap_per_cached_workflow_traced_kib', traced, 'KiB', ours);
await nativeConnection.close();
