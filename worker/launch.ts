/**
 * How the worker process is started: the Node options and environment the image, `npm run worker`, the tests
 * and the benchmarks all use. Both must be set before the process starts (V8 sizes its heap and glibc its
 * allocator at start), so they live in the launch command, not in the worker's code; a test checks that the
 * Dockerfile and `package.json` carry exactly these.
 *
 * Measured on the sandbox (`npm run bench:concurrent`): idle RSS 313 → 228 MiB, one bootstrap's peak
 * 364 → 255 MiB, 50 concurrent bootstraps' peak 919 → 855 MiB, at the same wall time.
 */

/**
 * `--max-semi-space-size=2`: young-generation semi-spaces of 2 MiB instead of V8's default of up to 16 MiB each,
 * for the main thread and the workflow thread alike. A worker mostly waits; a smaller nursery costs more frequent
 * but shorter scavenges, and no measurable time on the benchmarks.
 */
export const WORKER_NODE_OPTIONS: readonly string[] = ['--max-semi-space-size=2'];

/**
 * `MALLOC_ARENA_MAX=2`: glibc's allocator keeps at most two arenas instead of up to eight per core, so memory
 * freed by the native runtime's and libuv's threads is reused rather than held in per-thread arenas. Ignored by
 * other C libraries.
 */
export const WORKER_PROCESS_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' };
