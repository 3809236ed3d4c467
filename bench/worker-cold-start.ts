/**
 * Worker start-up, measured on real worker processes (`worker/main.ts`) against Temporal (the sandbox's, or
 * TEMPORAL_ADDRESS), on their own task queue so they never take real work:
 * - cold start: seconds from spawning the process to its state RUNNING;
 * - idle RSS: VmRSS of /proc/<pid>/status BENCH_IDLE_MS (default 5000) after RUNNING, the activity modules
 *   preloaded by then, as a worker waiting for work holds it.
 * Seven variants, interleaved (the order rotates every repetition, BENCH_RUNS repetitions, default 5):
 * Node's own type stripping (`node worker/main.ts`, how the image and `npm run worker` start it) against
 * the tsx loader (`node --import tsx worker/main.ts`, how they started it before, the baseline), each with the
 * Node options and environment of worker/launch.ts, and each with
 * a bundle prebuilt for this run (production start) and bundling on the fly (dev mode); and the worker on Deno
 * (`deno task worker`'s permissions and V8 settings), prebuilt and on the fly; and Node's type stripping, prebuilt,
 * without the module compile cache. Medians reported:
 * - `worker_cold_start_s`: type stripping, prebuilt; baseline: type stripping, on the fly;
 * - `worker_cold_start_prebuilt_node_vs_tsx_s`, `worker_cold_start_on_the_fly_node_vs_tsx_s`,
 *   `worker_idle_rss_prebuilt_node_vs_tsx_mb`, `worker_idle_rss_on_the_fly_node_vs_tsx_mb`: type stripping;
 *   baseline: the tsx loader (ratio = tsx / node);
 * - `worker_cold_start_deno_vs_node_s`, `worker_idle_rss_deno_vs_node_mb`: Deno, prebuilt; baseline: Node's type
 *   stripping, prebuilt (ratio = node / deno);
 * - `worker_cold_start_compile_cache_s`, `worker_idle_rss_compile_cache_mb`: Node, prebuilt, with the module compile
 *   cache (worker/compile-cache.ts) of this run, written by one start before the repetitions (its time goes to
 *   stderr, not into a median); baseline: the same start with `NODE_DISABLE_COMPILE_CACHE=1`.
 * Every run and the load average before and after go to stderr.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DefaultLogger } from '@temporalio/worker';
import { writeWorkflowBundles } from '../worker/bundle.ts';
import { percentile, report } from './report.ts';
import { DENO_WORKER_RUN, WORKER_NODE_OPTIONS, WORKER_PROCESS_ENV } from '../worker/launch.ts';
import { DENO } from '../test/support/processes.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RUNS = Number(process.env['BENCH_RUNS'] ?? '5');
const IDLE_MS = Number(process.env['BENCH_IDLE_MS'] ?? '5000');
const RUNNING_DEADLINE_MS = 120_000;

/** How each kind of start runs `worker/main.ts`: the command and the arguments before the entry. */
const LOADERS = {
  node: [process.execPath, ...WORKER_NODE_OPTIONS],
  uncached: [process.execPath, ...WORKER_NODE_OPTIONS],
  tsx: [process.execPath, ...WORKER_NODE_OPTIONS, '--import', 'tsx'],
  deno: [DENO, ...DENO_WORKER_RUN],
} as const satisfies Record<string, readonly string[]>;
type Loader = keyof typeof LOADERS;
type Bundle = 'prebuilt' | 'on-the-fly';
interface Variant {
  readonly loader: Loader;
  readonly bundle: Bundle;
}
interface Sample {
  readonly seconds: number;
  readonly rssMiB: number;
}

const say = (line: string): boolean => process.stderr.write(`worker-cold-start: ${line}\n`);
const load = (): string =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
const LOADER_LABELS: Readonly<Record<Loader, string>> = {
  node: 'node (type stripping)',
  uncached: 'node, no compile cache',
  tsx: 'node --import tsx',
  deno: 'deno (deno task worker)',
};
const label = (v: Variant): string => `${LOADER_LABELS[v.loader]}, ${v.bundle}`;

function rssMiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'));
  const kib = Number(/(\d+) kB/.exec(line ?? '')?.[1]);
  if (!Number.isFinite(kib)) throw new Error(`no VmRSS for pid ${pid}`);
  return kib / 1024;
}

/** Starts a worker; resolves with seconds until it logs RUNNING and its RSS once idle; then stops it with SIGTERM. */
function startOnce(variant: Variant, bundlePath: string, compileCache: string): Promise<Sample> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const [command, ...args] = LOADERS[variant.loader];
    const child = spawn(command, [...args, 'worker/main.ts'], {
      cwd: ROOT,
      env: {
        ...process.env,
        ...WORKER_PROCESS_ENV,
        LOGSTACK_TASK_QUEUE: `bench-cold-start-${process.pid}`,
        LOGSTACK_WORKFLOW_BUNDLE: variant.bundle === 'prebuilt' ? bundlePath : '',
        // This run's own compile cache (worker/compile-cache.ts), written by the warm-up start below.
        NODE_COMPILE_CACHE: compileCache,
        ...(variant.loader === 'uncached' ? { NODE_DISABLE_COMPILE_CACHE: '1' } : {}),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let seconds: number | undefined;
    const fail = (error: Error): void => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(error);
    };
    const timer = setTimeout(
      () => fail(new Error(`${label(variant)}: not RUNNING in ${RUNNING_DEADLINE_MS / 1000} s:\n${out.slice(-2000)}`)),
      RUNNING_DEADLINE_MS,
    );
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (seconds !== undefined || !/"state":"RUNNING"/.test(out)) return;
      seconds = (performance.now() - started) / 1000;
      clearTimeout(timer);
      setTimeout(() => {
        try {
          const rss = rssMiB(child.pid ?? -1);
          child.once('exit', () => resolve({ seconds: seconds ?? Number.NaN, rssMiB: rss }));
          child.kill('SIGTERM');
        } catch (error) {
          fail(new Error(`${label(variant)}: ${(error as Error).message}:\n${out.slice(-2000)}`));
        }
      }, IDLE_MS);
    });
    child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.once('error', fail);
    child.once('exit', (code, signal) => {
      if (seconds === undefined)
        fail(new Error(`${label(variant)}: exited (${code ?? signal}) before RUNNING:\n${out.slice(-2000)}`));
    });
  });
}

const VARIANTS: readonly Variant[] = [
  { loader: 'tsx', bundle: 'prebuilt' },
  { loader: 'node', bundle: 'prebuilt' },
  { loader: 'uncached', bundle: 'prebuilt' },
  { loader: 'tsx', bundle: 'on-the-fly' },
  { loader: 'node', bundle: 'on-the-fly' },
  { loader: 'deno', bundle: 'prebuilt' },
  { loader: 'deno', bundle: 'on-the-fly' },
];
const key = (v: Variant): string => `${v.loader}/${v.bundle}`;
const samples = new Map<string, Sample[]>(VARIANTS.map((v) => [key(v), []]));
const median = (v: Variant, of: keyof Sample): number =>
  percentile(
    (samples.get(key(v)) ?? []).map((s) => s[of]),
    50,
  );

const dir = mkdtempSync(join(tmpdir(), 'logstack-bench-cold-start-'));
try {
  // Built for this run as `npm run build:bundle` builds it, so the prebuilt variants load current code.
  const bundlePath = join(dir, 'workflow-bundle.js');
  await writeWorkflowBundles(bundlePath, new DefaultLogger('WARN'));
  say(
    `${RUNS} repetitions of ${VARIANTS.length} variants, idle RSS read ${IDLE_MS} ms after RUNNING; load average ${load()}`,
  );
  // The first start after an install writes the compile cache; it is reported, not counted.
  const compileCache = join(dir, 'compile-cache');
  const first = await startOnce({ loader: 'node', bundle: 'prebuilt' }, bundlePath, compileCache);
  say(`first start, writing the compile cache: RUNNING after ${first.seconds.toFixed(2)} s, idle RSS ${first.rssMiB.toFixed(0)} MiB`);
  for (let i = 0; i < RUNS; i++) {
    const order = VARIANTS.map((_, j) => VARIANTS[(i + j) % VARIANTS.length] as Variant);
    for (const variant of order) {
      const sample = await startOnce(variant, bundlePath, compileCache);
      samples.get(key(variant))?.push(sample);
      say(
        `run ${i + 1} ${label(variant)}: RUNNING after ${sample.seconds.toFixed(2)} s, idle RSS ${sample.rssMiB.toFixed(0)} MiB`,
      );
    }
  }
  say(`load average after: ${load()}`);
  for (const v of VARIANTS) {
    const all = samples.get(key(v)) ?? [];
    const seconds = all.map((s) => s.seconds);
    say(
      `${label(v).padEnd(34)} cold start p50 ${median(v, 'seconds').toFixed(2)} s (min ${Math.min(...seconds).toFixed(2)}, ` +
        `max ${Math.max(...seconds).toFixed(2)}), idle RSS p50 ${median(v, 'rssMiB').toFixed(0)} MiB`,
    );
  }
  const node = (bundle: Bundle): Variant => ({ loader: 'node', bundle });
  const tsx = (bundle: Bundle): Variant => ({ loader: 'tsx', bundle });
  const deno = (bundle: Bundle): Variant => ({ loader: 'deno', bundle });
  report('worker_cold_start_deno_vs_node_s', median(deno('prebuilt'), 'seconds'), 's', median(node('prebuilt'), 'seconds'));
  report('worker_idle_rss_deno_vs_node_mb', median(deno('prebuilt'), 'rssMiB'), 'MB', median(node('prebuilt'), 'rssMiB'));
  report('worker_cold_start_s', median(node('prebuilt'), 'seconds'), 's', median(node('on-the-fly'), 'seconds'));
  const uncached: Variant = { loader: 'uncached', bundle: 'prebuilt' };
  report('worker_cold_start_compile_cache_s', median(node('prebuilt'), 'seconds'), 's', median(uncached, 'seconds'));
  report('worker_idle_rss_compile_cache_mb', median(node('prebuilt'), 'rssMiB'), 'MB', median(uncached, 'rssMiB'));
  for (const bundle of ['prebuilt', 'on-the-fly'] as const) {
    const name = bundle.replaceAll('-', '_');
    report(
      `worker_cold_start_${name}_node_vs_tsx_s`,
      median(node(bundle), 'seconds'),
      's',
      median(tsx(bundle), 'seconds'),
    );
    report(
      `worker_idle_rss_${name}_node_vs_tsx_mb`,
      median(node(bundle), 'rssMiB'),
      'MB',
      median(tsx(bundle), 'rssMiB'),
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
