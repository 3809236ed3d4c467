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
 * worker used (/proc/<pid>/stat: its own, and its git and kubectl processes') is printed for the one and the 50. So is
 * the machine's speed before the one and after the 50 (`concurrent_bootstraps_machine_probe_ms`: one core's time for a fixed
 * piece of work, the baseline taken before the one): on a shared host it moves, and the wall-time ratio moves with it.
 * So is where the machine's CPU went (/proc/stat, and /proc/<pid>/stat of each sandbox part): busy CPU-seconds of all
 * cores against those available, by part — the worker, Temporal, the API servers, etcd, moto, External Secrets, the
 * controller managers, the stand-ins — and what that makes the floor of the 50's wall time: each of them cost the
 * machine (busy CPU-seconds ÷ COUNT) so much, and the cores cannot run them faster than COUNT × that ÷ cores; the line also
 * says how much CPU a bootstrap may cost for the 50 to take at most 15 × the one's wall time. That floor is a figure too:
 * `concurrent_bootstraps_50_wall_vs_cpu_floor_s`, the 50's wall time against COUNT × CPU-seconds per bootstrap ÷ cores (a
 * ratio near 1 says the 50 wait for nothing but the machine's CPU; it goes down only with the CPU a bootstrap costs,
 * wherever that is spent). The one bootstrap runs on a worker that has not run one before, so it costs more CPU and
 * time than each of the 50 (its code is still being compiled, its connections opened). A second bootstrap alone, of
 * another environment, follows it on the now warm worker: `concurrent_bootstraps_50_wall_vs_warm_one_s` is the 50's wall
 * time against 50 × that one's, and the line before it says how much of the machine that bootstrap alone kept busy and
 * what ratio the CPU floor makes against it. On a machine where the worker and every server a bootstrap talks to share
 * the cores, a bootstrap's steps spend most of their time as CPU in one of those processes: work taken off a bootstrap
 * shortens the one and the 50 alike, and the ratio stays near COUNT × the share of the cores one bootstrap keeps busy.
 * Everything the environments created (moto, clusters, lock workflows, files) is removed at the end.
 *
 * BENCH_BOOTSTRAPS changes the 50 (the metric names carry the count). BENCH_WORKER_RUNTIME=deno runs the same with the
 * worker on Deno (`deno task worker`'s permissions and settings); its metrics end in `_deno` (`…_rss_deno_mb`).
 */
import { createHash } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
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

/**
 * The machine's speed, as the milliseconds one core takes for a fixed piece of work (a chain of SHA-256 digests; the best
 * of three). Measured while the bench is idle, before the one bootstrap and after the 50: on a shared host the same work
 * can take far longer at one moment than at another, and the wall-time ratio then compares runs on different machines.
 */
function machineProbeMs(): number {
  const times: number[] = [];
  for (let round = 0; round < 3; round++) {
    const started = performance.now();
    let digest = Buffer.alloc(32);
    for (let i = 0; i < 100_000; i++) digest = createHash('sha256').update(digest).digest();
    times.push(performance.now() - started);
  }
  return Math.min(...times);
}

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

/** Busy CPU-seconds of all cores (user, nice, system, irq, softirq) and all CPU-seconds that passed, stolen ones included. */
function machineCpu(): { busy: number; total: number } {
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '')
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  const busy = user + nice + system + irq + softirq;
  return { busy: busy / CLOCK_TICKS, total: (busy + idle + iowait + steal) / CLOCK_TICKS };
}

/** One reading of where CPU went: the machine's, and each part's own CPU-seconds (a process that is gone reads 0). */
interface CpuReading {
  readonly machine: { busy: number; total: number };
  readonly parts: ReadonlyMap<string, number>;
}

/**
 * Reads the machine and the parts: the sandbox's processes grouped by kind (`kube-apiserver-dev` counts as
 * `kube-apiserver`), and the named extra processes (the worker with its git and kubectl children, the stand-ins).
 */
function readCpu(sandboxPids: Readonly<Record<string, number>>, extra: Readonly<Record<string, { pid: number; children: boolean }>>): CpuReading {
  const parts = new Map<string, number>();
  const add = (name: string, seconds: number): void => void parts.set(name, (parts.get(name) ?? 0) + seconds);
  const own = (pid: number, children: boolean): number => {
    try {
      const cpu = cpuOf(pid);
      return cpu.own + (children ? cpu.children : 0);
    } catch {
      return 0;
    }
  };
  for (const [name, pid] of Object.entries(sandboxPids)) add(name.replace(/-(dev|staging|production)$/, ''), own(pid, false));
  for (const [name, { pid, children }] of Object.entries(extra)) add(name, own(pid, children));
  return { machine: machineCpu(), parts };
}

/** What happened between two readings, as one line: busy CPU against available, then each part, largest first. */
function cpuBetween(from: CpuReading, to: CpuReading): { busy: number; line: string } {
  const busy = to.machine.busy - from.machine.busy;
  const total = to.machine.total - from.machine.total;
  const parts = [...to.parts].map(([name, seconds]) => ({ name, seconds: seconds - (from.parts.get(name) ?? 0) })).sort((a, b) => b.seconds - a.seconds);
  const rest = busy - parts.reduce((sum, p) => sum + p.seconds, 0);
  const byPart = [...parts, { name: 'everything else', seconds: rest }].map((p) => `${p.name} ${p.seconds.toFixed(1)}`).join(', ');
  return { busy, line: `the machine's CPUs were busy ${busy.toFixed(1)} of ${total.toFixed(1)} CPU-s (${((100 * busy) / total).toFixed(0)}%): ${byPart}` };
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

const estate = await createEstate({ count: COUNT + 2, gates: [GateKinds.externalSecretsSynced, GateKinds.lokiStackReady, GateKinds.logForwarderReady], purpose: 'cb' });
const interrupt = cleanupOnInterrupt(() => estate.cleanup());
const [single, warmSingle, ...many] = estate.environments as [Environment, Environment, ...Environment[]];
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
    say(`worker pid ${pid} running on ${taskQueue} (${RUNTIME}, prebuilt bundle); ${COUNT} + 2 environments over ${estate.sandbox.clusters.length} clusters; load average ${load()}`);
    rss.window();
    await new Promise((r) => setTimeout(r, IDLE_MS));
    const idle = rss.window();

    const parts = { worker: { pid, children: true }, ...(standIns.pid !== undefined ? { 'stand-ins': { pid: standIns.pid, children: false } } : {}) };
    const cpuReading = (): CpuReading => readCpu(estate.sandbox.pids, parts);
    const probeBefore = machineProbeMs();
    const beforeOne = cpuOf(pid);
    const machineBeforeOne = cpuReading();
    const singleSeconds = await withDeadline(bootstrap(single), `the bootstrap of ${single.name}`);
    const oneCpu = cpuBetween(machineBeforeOne, cpuReading());
    const one = rss.window();
    say(`one bootstrap (${single.name}): ${singleSeconds.toFixed(1)} s, peak RSS ${mib(one).toFixed(0)} MiB (idle ${mib(idle).toFixed(0)} MiB); ${cpuSince(pid, beforeOne)}`);
    say(`one bootstrap: ${oneCpu.line}`);
    const machineBeforeWarm = cpuReading();
    const warmSeconds = await withDeadline(bootstrap(warmSingle), `the bootstrap of ${warmSingle.name}`);
    const warmCpu = cpuBetween(machineBeforeWarm, cpuReading());
    say(`one more bootstrap alone, on the now warm worker (${warmSingle.name}): ${warmSeconds.toFixed(1)} s; ${warmCpu.line}`);

    const beforeMany = cpuOf(pid);
    const machineBeforeMany = cpuReading();
    const started = performance.now();
    const settled = await withDeadline(Promise.allSettled(many.map(bootstrap)), `${COUNT} bootstraps`);
    const wall = (performance.now() - started) / 1000;
    const manyCpu = cpuBetween(machineBeforeMany, cpuReading());
    const peak = rss.window();
    const failed = settled.flatMap((s, i) => (s.status === 'rejected' ? [`${many[i]?.name}: ${String(s.reason)}`] : []));
    if (failed.length) throw new Error(`${failed.length} of ${COUNT} bootstraps failed:\n${failed.join('\n')}`);
    const each = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const { hwm } = memoryOf(pid);
    say(
      `${COUNT} concurrent bootstraps: all completed in ${wall.toFixed(1)} s (each: p50 ${percentile(each, 50).toFixed(1)} s, max ${Math.max(...each).toFixed(1)} s); ` +
        `peak RSS ${mib(peak).toFixed(0)} MiB; VmHWM since start ${mib(hwm).toFixed(0)} MiB; ${cpuSince(pid, beforeMany)}; load average ${load()}`,
    );
    const cores = availableParallelism();
    const cpuEach = manyCpu.busy / COUNT;
    const cpuFloor = (COUNT * cpuEach) / cores;
    say(`${COUNT} concurrent bootstraps: ${manyCpu.line}`);
    say(
      `each of the ${COUNT} cost the machine ${cpuEach.toFixed(2)} CPU-s: on ${cores} cores they need at least ${cpuFloor.toFixed(1)} s (they took ${wall.toFixed(1)} s); ` +
        `to finish within 15 × the one's wall time (${(15 * singleSeconds).toFixed(1)} s) a bootstrap may cost at most ${((15 * singleSeconds * cores) / COUNT).toFixed(2)} CPU-s`,
    );
    say(
      `against the bootstrap on the warm worker (${warmSeconds.toFixed(2)} s, ${warmCpu.busy.toFixed(2)} CPU-s of the machine): ${(wall / warmSeconds).toFixed(1)} ×; ` +
        `at the CPU floor the ratio is ${COUNT} × ${cpuEach.toFixed(2)} ÷ (${cores} × ${warmSeconds.toFixed(2)}) = ${(cpuFloor / warmSeconds).toFixed(1)} ×`,
    );
    const probeAfter = machineProbeMs();
    say(
      `machine probe (one core, a fixed chain of digests): ${probeBefore.toFixed(0)} ms before the one bootstrap, ${probeAfter.toFixed(0)} ms after the ${COUNT}` +
        (Math.abs(probeAfter / probeBefore - 1) > 0.15 ? ` — the machine's speed changed by ${((probeAfter / probeBefore - 1) * 100).toFixed(0)}% between them, and the wall-time ratio with it` : ''),
    );
    report(`concurrent_bootstraps_idle_worker_rss${SUFFIX}_mb`, mib(idle), 'MB');
    report(`concurrent_bootstraps_${COUNT}_worker_rss${SUFFIX}_mb`, mib(peak), 'MB', mib(one));
    report(`concurrent_bootstraps_${COUNT}_wall${SUFFIX}_s`, wall, 's', singleSeconds * COUNT);
    report(`concurrent_bootstraps_${COUNT}_wall_vs_cpu_floor${SUFFIX}_s`, wall, 's', cpuFloor);
    report(`concurrent_bootstraps_${COUNT}_wall_vs_warm_one${SUFFIX}_s`, wall, 's', warmSeconds * COUNT);
    report(`concurrent_bootstraps_machine_probe${SUFFIX}_ms`, probeAfter, 'ms', probeBefore);
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
