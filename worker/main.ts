/**
 * The worker process's entry (`node worker/main.ts`, `deno task worker`, the image's command). It enables Node's
 * module compile cache ({@link enableCompileCache}) before anything else is loaded — which is why the worker
 * itself is imported here, not statically — then runs the worker (`worker/run.ts`) until a shutdown signal.
 * Exits 1 with the reason on stderr when the worker cannot start or fails.
 */
import { enableCompileCache } from './compile-cache.ts';

enableCompileCache();
const [{ runWorker, workerFlags }, { loadWorkerConfig }] = await Promise.all([
  import('./run.ts'),
  import('../config/index.ts'),
]);
try {
  await runWorker(loadWorkerConfig(process.env, workerFlags(process.argv.slice(2))));
} catch (error) {
  process.stderr.write(`logstack worker: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
}
