/**
 * The workflow bundle: built once ahead of time for production starts (`npm run build:bundle`), or on
 * the fly in dev mode. Both use the same options so the code that runs is the same. It comes in two kinds,
 * the same workflows with and without the tracing interceptors; a worker runs the traced one only when it
 * exports spans. The interceptors add no command and no event, so a run moves between the two kinds freely.
 */
import { bundleWorkflowCode, type BundleOptions, type Logger } from '@temporalio/worker';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { untracedBundlePath } from '../config/index.ts';

/** Absolute path of the workflows entry point. */
export const WORKFLOWS_PATH = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

/** The interceptor and preload modules of either bundle kind, as absolute paths. */
const MODULES = {
  failureLogging: fileURLToPath(new URL('../workflows/failure-logging.ts', import.meta.url)),
  tracing: fileURLToPath(new URL('../workflows/tracing.ts', import.meta.url)),
  preload: fileURLToPath(new URL('../workflows/preload.ts', import.meta.url)),
  preloadTracing: fileURLToPath(new URL('../workflows/preload-tracing.ts', import.meta.url)),
} as const;

/**
 * Workflow interceptor modules bundled with the workflows: failure descriptions for the worker's logs, and, in the
 * traced bundle, OpenTelemetry spans (exported through the worker's `exporter` sink). A worker with tracing off
 * runs the untraced bundle: spans it would only drop are never built.
 */
export function workflowInterceptorModules(traced: boolean): string[] {
  return [MODULES.failureLogging, ...(traced ? [MODULES.tracing] : [])];
}

/**
 * Modules evaluated once per workflow thread and shared by every workflow it runs (see `workflows/preload.ts`): the
 * schema library, which would otherwise be evaluated again for each cached workflow, and in the traced bundle the
 * tracing libraries that can be shared (`workflows/preload-tracing.ts`).
 */
export function workflowPreloadModules(traced: boolean): string[] {
  return [MODULES.preload, ...(traced ? [MODULES.preloadTracing] : [])];
}

/** Default location of the prebuilt (traced) bundle; its untraced twin is written next to it ({@link untracedBundlePath}). */
export const DEFAULT_BUNDLE_PATH = fileURLToPath(new URL('../dist/workflow-bundle.js', import.meta.url));

/**
 * Bundler options shared by prebuilt and on-the-fly bundles: TypeScript sources with `.ts` import extensions,
 * and an inline source map without the sources' text (`inline-nosources-source-map`). The worker needs the
 * inline map (it maps workflow stack traces back to file, line and column) but never the text: it sends
 * sources in stack-trace queries only with `showStackTraceSources`, which logstack leaves off. The bundle is
 * then 3.1 MB instead of 5.8 MB, which the worker reads, compiles and maps at every start.
 *
 * Modules are concatenated (webpack's scope hoisting, `optimization.concatenateModules`), as a production build
 * would: the reusable V8 context evaluates the bundle's modules once for every workflow it caches, and each
 * module boundary costs a getter closure and a property for every export it has. Concatenated, an idle cached
 * workflow holds about a fifth less heap (`npm run bench:workflow-memory`). Nothing is minified or mangled,
 * so stack traces keep their names, and unused exports stay (tree shaking changes which modules the SDK's
 * `preloadModules` shares).
 */
export const bundlerOptions: NonNullable<BundleOptions['webpackConfigHook']> = (config) => {
  config.devtool = 'inline-nosources-source-map';
  config.optimization = { ...config.optimization, concatenateModules: true };
  config.resolve = {
    ...config.resolve,
    extensionAlias: { '.js': ['.ts', '.js'] },
    extensions: ['.ts', '.js', '.mjs', '.cjs'],
  };
  return config;
};

/**
 * The bundler options of every worker that bundles on the fly (the worker's dev mode, the workflow tests): the
 * same as the prebuilt bundle's of the same kind (`traced`, default: untraced), so the code that runs and the
 * modules shared between workflows are the same.
 */
export function workflowBundlerOptions(traced = false): Pick<BundleOptions, 'webpackConfigHook' | 'preloadModules'> {
  return { webpackConfigHook: bundlerOptions, preloadModules: workflowPreloadModules(traced) };
}

/** Bundles the workflows with their interceptors (the tracing ones when `traced`), in memory; `logger` gets the bundler's progress. */
export async function bundleWorkflows(traced: boolean, logger?: Logger): Promise<string> {
  const { code } = await bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    workflowInterceptorModules: workflowInterceptorModules(traced),
    ...workflowBundlerOptions(traced),
    ...(logger ? { logger } : {}),
  });
  return code;
}

/** A bundle written: where, and its size in bytes. */
export interface WrittenBundle {
  readonly path: string;
  readonly bytes: number;
}

/**
 * Bundles the workflows twice and writes both bundles: the traced one to `outputPath`, the one without the tracing
 * interceptors next to it ({@link untracedBundlePath}), which a worker with tracing off loads instead when
 * `LOGSTACK_WORKFLOW_BUNDLE` names `outputPath`. `logger` gets the bundler's progress.
 */
export async function writeWorkflowBundles(outputPath = DEFAULT_BUNDLE_PATH, logger?: Logger): Promise<{ traced: WrittenBundle; untraced: WrittenBundle }> {
  mkdirSync(dirname(outputPath), { recursive: true });
  const write = async (path: string, traced: boolean): Promise<WrittenBundle> => {
    const code = await bundleWorkflows(traced, logger);
    writeFileSync(path, code);
    return { path, bytes: Buffer.byteLength(code) };
  };
  // One after the other: the bundler is busy on one core either way, and its progress lines stay apart.
  const traced = await write(outputPath, true);
  const untraced = await write(untracedBundlePath(outputPath), false);
  return { traced, untraced };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const started = Date.now();
  const written = await writeWorkflowBundles(process.argv[2] ?? DEFAULT_BUNDLE_PATH);
  const kib = (b: WrittenBundle): string => `${b.path} ${(b.bytes / 1024).toFixed(0)} KiB`;
  process.stdout.write(`workflow bundles: ${kib(written.traced)} (traced), ${kib(written.untraced)} (untraced) in ${Date.now() - started} ms\n`);
}
