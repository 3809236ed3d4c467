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
 * `MALLOC_ARENA_MAX=2`: glibc's allocator keeps at most two arenas instead of up to eight per core, so memory
 * freed by the native runtime's and libuv's threads is reused rather than held in per-thread arenas. Ignored by
 * other C libraries.
 */
export const WORKER_PROCESS_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' };
