/**
 * How the worker process is started: the Node options and environment the image, `npm run worker`, the tests
 * and the benchmarks all use. Both must be set before the process starts (V8 sizes its heap and glibc its
 * allocator at start), so they live in the launch command, not in the worker's code; a test checks that the
 * Dockerfile and `package.json` carry exactly these.
 *
 * Measured on the sandbox (`npm run bench:concurrent`): idle RSS 313 → 228 MiB, one bootstrap's peak
 * 364 → 255 MiB, 50 concurrent bootstraps' peak 919 → 855 MiB with the first two settings, at the same wall
 * time; the heap growing factor then took that peak from 597–686 to 399–412 MiB (two runs each, side by side),
 * with the 50's wall time within the runs' noise (38.9–40.5 s against 40.4–41.8 s).
 */

/**
 * `--max-semi-space-size=2`: young-generation semi-spaces of 2 MiB instead of V8's default of up to 16 MiB each,
 * for the main thread and the workflow thread alike. A worker mostly waits; a smaller nursery costs more frequent
 * but shorter scavenges, and no measurable time on the benchmarks.
 *
 * `--heap-growing-percent=20`: after each full garbage collection V8 lets the old generation grow by 20% over
 * what survived, instead of a factor it picks between 1.1 and 4 (usually the high end while a worker is busy).
 * Under load, the worker's main thread makes a lot of short-lived garbage (API responses, rendered manifests,
 * parsed YAML) that survives a scavenge or two; with the default factor it piled up to about 300 MiB of heap
 * before a full collection found 100 MiB live. Full collections now come sooner, marking concurrently on
 * another core.
 */
export const WORKER_NODE_OPTIONS: readonly string[] = ['--max-semi-space-size=2', '--heap-growing-percent=20'];

/**
 * glibc's allocator settings (ignored by other C libraries):
 *
 * `MALLOC_ARENA_MAX=2`: at most two arenas instead of up to eight per core, so memory freed by the native
 * runtime's and libuv's threads is reused rather than held in per-thread arenas.
 *
 * `MALLOC_MMAP_THRESHOLD_=131072` and `MALLOC_TRIM_THRESHOLD_=131072`: glibc's own starting values, fixed. By
 * default glibc raises both as soon as a large block is freed (the mmap threshold up to 32 MiB), after which
 * blocks of up to that size come from the arenas, where freed memory stays in the process. Fixed, a block of
 * 128 KiB or more is a mapping of its own, returned to the system when freed, and an arena gives back its free top
 * beyond 128 KiB. Measured on the sandbox (`npm run bench:concurrent`, four runs each, interleaved): the peak of 50
 * concurrent bootstraps over the idle worker from + 110–122 to + 83–84 MiB, with the same CPU (the worker 23.2–25.0 s
 * against 24.6–26.4 s for the 50) and wall time within the runs' noise (41.4–65.3 s against 43.9–55.1 s).
 */
export const WORKER_PROCESS_ENV: Readonly<Record<string, string>> = {
  MALLOC_ARENA_MAX: '2',
  MALLOC_MMAP_THRESHOLD_: '131072',
  MALLOC_TRIM_THRESHOLD_: '131072',
};

/**
 * The Deno worker's permissions (`deno task worker`), each kind named, none wider than the worker needs:
 * - `--allow-read`: the sources and `node_modules`, the catalog, the kubeconfig, the Temporal profile, AWS
 *   configuration files and the prebuilt bundle — paths each installation chooses;
 * - `--allow-write=/tmp`: the only place the worker writes, its Git work tree and render directories under the
 *   system temp directory (with `TMPDIR` set elsewhere, name that directory instead);
 * - `--allow-net`: Temporal, the API servers, AWS endpoints, notification receivers and the metrics listener;
 * - `--allow-env`: the configuration (the worker's, Temporal's, AWS's and the tracing variables);
 * - `--allow-run`: `git`, `kubectl` (any path `LOGSTACK_KUBECTL` names) and a kubeconfig's exec credential plugins;
 * - `--allow-ffi=node_modules/@temporalio/core-bridge,node_modules/@swc`: the Temporal SDK's Node-API bridge, and the
 *   compiler the SDK's bundler uses when the worker bundles its workflows at start; no other native library;
 * - `--allow-sys=uid,gid,hostname,osRelease,homedir`: what the SDK and the libraries ask of the system — the
 *   worker's identity is `<pid>@<hostname>`, the AWS SDK's user agent names the OS release, and AWS and
 *   Kubernetes configuration defaults live in the home directory.
 * A permission missing at run time ends the step with Deno's `NotCapable` error naming the flag, never silently.
 */
export const DENO_WORKER_PERMISSIONS: readonly string[] = [
  '--allow-read',
  '--allow-write=/tmp',
  '--allow-net',
  '--allow-env',
  '--allow-run',
  '--allow-ffi=node_modules/@temporalio/core-bridge,node_modules/@swc',
  '--allow-sys=uid,gid,hostname,osRelease,homedir',
];

/** The same V8 settings as {@link WORKER_NODE_OPTIONS}, in the form Deno takes them. */
export const DENO_WORKER_V8_FLAGS = `--v8-flags=${WORKER_NODE_OPTIONS.join(',')}`;

/** `deno run` with the worker's permissions and V8 settings: what comes before the entry module. */
export const DENO_WORKER_RUN: readonly string[] = ['run', ...DENO_WORKER_PERMISSIONS, DENO_WORKER_V8_FLAGS];

/** The Deno worker's command as `deno task worker` runs it (from the repository root), after `deno`. */
export const DENO_WORKER_COMMAND: readonly string[] = [...DENO_WORKER_RUN, 'worker/main.ts'];
