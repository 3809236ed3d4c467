/**
 * `concurrent_bootstraps_50_worker_rss_mb`: peak resident memory of one worker process while it runs 50
 * `bootstrapEnvironment` workflows at once on this 2-core machine, all of which must complete; and
 * `concurrent_bootstraps_50_wall_s`, the wall time from starting the 50 to the last one done.
 *
 * Bootstraps of one environment are serialised by its lock, so 50 concurrent bootstraps need 50
 * environments: generated bench environments spread round-robin over the three sandbox clusters
 * (bench/support-estate.ts), each with its own S3 bucket, IAM user and access key, Secrets Manager secret,
 * Loki namespace (ExternalSecret, LokiStack, ClusterLogForwarder, collector service account and bindings),
 * deployed-state record and lock — the Kubernetes targets are distinct within a cluster as far as the
 * overlays allow; cluster singletons (operators, ESO configuration, the worker's RBAC) are not part of the
 * bench overlays, so the operators gate is left out, and the bootstrap overlay's ClusterSecretStore is one
 * per cluster, shared by that cluster's bench environments. The overlays come from a temporary Git remote
 * named by a generated catalog (LOGSTACK_CATALOG of the worker). Gates: ExternalSecret synced (real ESO),
 * LokiStack and ClusterLogForwarder Ready (statuses written by the sandbox stand-ins in the Loki and Cluster
 * Logging Operators' place).
 *
 * The worker is a separate process started as the image starts it (`node worker/main.ts`, with
 * a workflow bundle prebuilt for this run), so its memory is its own: VmRSS of /proc/<pid>/status sampled
 * every 100 ms; VmHWM (the kernel's peak) is printed too, but it also covers start-up. Side by side in the
 * same process: its idle RSS after start (`concurrent_bootstraps_idle_worker_rss_mb`), and its peak RSS
 * during one bootstrap of another bench environment, run first on its own — the baseline of the 50. The
 * wall time's baseline is that single bootstrap's wall time × 50 (running them one after another). The CPU the
 * worker used (/proc/<pid>/stat: its own, and its git and kubectl processes') is printed for the one and the 50.
 * Everything the environments created (moto, clusters, lock workflows, files) is removed at the end.
 *
 * BENCH_BOOTSTRAPS changes the 50 (the metric names keep "50"). BENCH_WORKER_RUNTIME=deno runs the same with the
 * worker on Deno (`deno task worker`'s permissions and settings); its metrics end in `_deno` (`…_rss_deno_mb`).
 */
import { readFileSync, rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger } from '@temporalio/worker';
import { GateKinds, WorkflowTypes, workflowIds, type BootstrapResult, type Environment } from '../domain/index.ts';
import { startStandIns, startWorkerProcess, stopWorker, type WorkerRuntime } from '../test/support/processes.ts';
import { endLocksOnTaskQueue } from '../test/worker/sandbox-runs.ts';
import { writeWorkflowBundles } from '../worker/bundle.ts';
import { percentile, report } from './report.ts';
import { cleanupOnInterrupt, createEstate, terminateRunsOnTaskQueue, workerCloneDir } from './support-estate.ts';

const COUNT = Math.max(1, Number(process.env['BENCH_BOOTSTRAPS'] ?? '50'));
const RUNTIME: WorkerRuntime = process.env['BENCH_WORKER_RUNTIME'] === 'deno' ? 'deno' : 'node';
/** The metric name's runtime suffix: none for Node (the names the README's figures use), `_deno` for Deno. */
const SUFFIX = RUNTIME === 'deno' ? '_deno' : '';
const IDLE_MS = 5_000;
const SAMPLE_MS = 100;
const DEADLINE_MS = 20 * 60_000;

const say = (line: string): boolean => process.stderr.write(`concurrent-bootstraps: ${line}\n`);
const load = (): string => loadavg().map((l) => l.toFixed(1)).join(' ');
const mib = (kib: number): number => kib / 1024;
/** Linux reports process times in ticks of 1/100 s (USER_HZ) on every architecture it runs the sandbox on. */
const CLOCK_TICKS = 100;

/** VmRSS and VmHWM of a process, in KiB. */
function memoryOf(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): number => Number(/^(\w+):\s+(\d+) kB$/m.exec(status.split('\n').find((l) => l.startsWith(`${name}:`)) ?? '')?.[2] ?? NaN);
  return { rss: field('VmRSS'), hwm: field('VmHWM') };
}

/** The CPU seconds a process used (user + system), and those of the child processes it waited for (git, kubectl). */
function cpuOf(pid: number): { own: number; children: number } {
  // Fields after the command name (which may hold spaces): state is the 3rd field, utime the 14th … cstime the 17th.
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ').at(-1)?.split(' ') ?? [];
  const ticks = (n: number): number => Number(fields[n - 3]) / CLOCK_TICKS;
  return { own: ticks(14) + ticks(15), children: ticks(16) + ticks(17) };
}

/** The CPU a process used since `since` was read, as one line. */
function cpuSince(pid: number, since: { own: number; children: number }): string {
  const now = cpuOf(pid);
  return `worker CPU ${(now.own - since.own).toFixed(1)} s + ${(now.children - since.children).toFixed(1)} s in its git and kubectl processes`;
}

/** Samples VmRSS every 100 ms; `window()` returns the peak since the last call. */
function sampler(pid: number): { window(): number; stop(): void } {
  let peak = 0;
  const sample = (): void => {
    try {
      peak = Math.max(peak, memoryOf(pid).rss);
    } catch {
      // the process is gone
    }
  };
  sample();
  const timer = setInterval(sample, SAMPLE_MS);
  return {
    window() {
      sample();
      const value = peak;
      peak = 0;
      return value;
    },
    stop: () => clearInterval(timer),
  };
}

const estate = await createEstate({ count: COUNT + 1, gates: [GateKinds.externalSecretsSynced, GateKinds.lokiStackReady, GateKinds.logForwarderReady], purpose: 'cb' });
const interrupt = cleanupOnInterrupt(() => estate.cleanup());
const [single, ...many] = estate.environments as [Environment, ...Environment[]];
const taskQueue = `bench-concurrent-${process.pid}`;
const bundle = join(estate.dir, 'workflow-bundle.js');
// Built by the function `npm run build:bundle` runs (same entry, interceptors and options), without progress lines.
await writeWorkflowBundles(bundle, new DefaultLogger('WARN'));
const standIns = await startStandIns();
const worker = startWorkerProcess({ taskQueue, runtime: RUNTIME, env: { LOGSTACK_CATALOG: estate.catalogPath, LOGSTACK_WORKFLOW_BUNDLE: bundle } });
const pid = worker.child.pid;
const connection = await Connection.connect({ address: estate.sandbox.temporal.address });
const client = new Client({ connection });
interrupt.stopFirst(async () => {
  const ended = await terminateRunsOnTaskQueue(client, taskQueue, 'the concurrent bootstraps benchmark was interrupted');
  say(`ended ${ended} workflows still running on ${taskQueue}`);
  standIns.kill('SIGTERM');
  // SIGTERM, then SIGKILL after a deadline: a worker that does not drain must not hold the interrupt forever.
  await stopWorker(worker);
});

/** Starts a bootstrap of `env` at the bench commit; resolves with its wall seconds once it completed. */
async function bootstrap(env: Environment): Promise<number> {
  const started = performance.now();
  const handle = await client.workflow.start(WorkflowTypes.bootstrapEnvironment, {
    taskQueue,
    workflowId: workflowIds.bootstrap(env.name),
    args: [{ environment: env.name, revision: estate.commit }],
  });
  const result = (await handle.result()) as BootstrapResult;
  if (result.environment !== env.name || result.revision !== estate.commit) throw new Error(`${env.name}: unexpected result ${JSON.stringify(result)}`);
  return (performance.now() - started) / 1000;
}

/** `promise`, unless the deadline passes or the worker process exits first. */
function withDeadline<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} not done after ${DEADLINE_MS / 60_000} min`)), DEADLINE_MS);
  });
  const died = worker.exited.then(({ code, signal }) => {
    throw new Error(`the worker exited (${code ?? signal}) during ${what}:\n${worker.output().slice(-3000)}`);
  });
  return Promise.race([promise, deadline, died]).finally(() => clearTimeout(timer));
}

try {
  if (pid === undefined) throw new Error('the worker process has no pid');
  await worker.running;
  const rss = sampler(pid);
  try {
    say(`worker pid ${pid} running on ${taskQueue} (${RUNTIME}, prebuilt bundle); ${COUNT} + 1 environments over ${estate.sandbox.clusters.length} clusters; load average ${load()}`);
    rss.window();
    await new Promise((r) => setTimeout(r, IDLE_MS));
    const idle = rss.window();

    const beforeOne = cpuOf(pid);
    const singleSeconds = await withDeadline(bootstrap(single), `the bootstrap of ${single.name}`);
    const one = rss.window();
    say(`one bootstrap (${single.name}): ${singleSeconds.toFixed(1)} s, peak RSS ${mib(one).toFixed(0)} MiB (idle ${mib(idle).toFixed(0)} MiB); ${cpuSince(pid, beforeOne)}`);

    const beforeMany = cpuOf(pid);
    const started = performance.now();
    const settled = await withDeadline(Promise.allSettled(many.map(bootstrap)), `${COUNT} bootstraps`);
    const wall = (performance.now() - started) / 1000;
    const peak = rss.window();
    const failed = settled.flatMap((s, i) => (s.status === 'rejected' ? [`${many[i]?.name}: ${String(s.reason)}`] : []));
    if (failed.length) throw new Error(`${failed.length} of ${COUNT} bootstraps failed:\n${failed.join('\n')}`);
    const each = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const { hwm } = memoryOf(pid);
    say(
      `${COUNT} concurrent bootstraps: all completed in ${wall.toFixed(1)} s (each: p50 ${percentile(each, 50).toFixed(1)} s, max ${Math.max(...each).toFixed(1)} s); ` +
        `peak RSS ${mib(peak).toFixed(0)} MiB; VmHWM since start ${mib(hwm).toFixed(0)} MiB; ${cpuSince(pid, beforeMany)}; load average ${load()}`,
    );
    report(`concurrent_bootstraps_idle_worker_rss${SUFFIX}_mb`, mib(idle), 'MB');
    report(`concurrent_bootstraps_${COUNT}_worker_rss${SUFFIX}_mb`, mib(peak), 'MB', mib(one));
    report(`concurrent_bootstraps_${COUNT}_wall${SUFFIX}_s`, wall, 's', singleSeconds * COUNT);
  } finally {
    rss.stop();
  }
} finally {
  await endLocksOnTaskQueue(client, estate.environments.map((e) => e.name), taskQueue, 'end of the concurrent bootstraps benchmark').catch((e: unknown) => say(String(e)));
  await stopWorker(worker);
  standIns.kill('SIGTERM');
  await connection.close();
  if (pid !== undefined) rmSync(workerCloneDir(estate.remote, pid), { recursive: true, force: true });
  await estate.cleanup();
  interrupt.release();
}
