/**
 * The workflow bundle: built once ahead of time for production starts (`npm run build:bundle`), or on
 * the fly in dev mode. Both use the same options so the code that runs is the same.
 */
import { bundleWorkflowCode, type BundleOptions, type Logger } from '@temporalio/worker';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Absolute path of the workflows entry point. */
export const WORKFLOWS_PATH = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

/**
 * Workflow interceptor modules bundled with the workflows: failure descriptions for the worker's logs, and
 * OpenTelemetry spans (exported through the worker's `exporter` sink, a no-op when tracing is off).
 */
export const WORKFLOW_INTERCEPTOR_MODULES: readonly string[] = [
  fileURLToPath(new URL('../workflows/failure-logging.ts', import.meta.url)),
  fileURLToPath(new URL('../workflows/tracing.ts', import.meta.url)),
];

/**
 * Modules evaluated once per workflow thread and shared by every workflow it runs (see
 * `workflows/preload.ts`): the schema library, which would otherwise be evaluated again for each cached
 * workflow.
 */
export const WORKFLOW_PRELOAD_MODULES: readonly string[] = [fileURLToPath(new URL('../workflows/preload.ts', import.meta.url))];

/** Default location of the prebuilt bundle. */
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
 * same as the prebuilt bundle's, so the code that runs and the modules shared between workflows are the same.
 */
export function workflowBundlerOptions(): Pick<BundleOptions, 'webpackConfigHook' | 'preloadModules'> {
  return { webpackConfigHook: bundlerOptions, preloadModules: [...WORKFLOW_PRELOAD_MODULES] };
}

/** Bundles the workflows with their interceptors, in memory; `logger` gets the bundler's progress. */
export async function bundleWorkflows(logger?: Logger): Promise<string> {
  const { code } = await bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    workflowInterceptorModules: [...WORKFLOW_INTERCEPTOR_MODULES],
    ...workflowBundlerOptions(),
    ...(logger ? { logger } : {}),
  });
  return code;
}

/** Bundles the workflows and writes the bundle to `outputPath`. Returns its size in bytes. `logger` gets the bundler's progress. */
export async function writeWorkflowBundle(outputPath = DEFAULT_BUNDLE_PATH, logger?: Logger): Promise<number> {
  const code = await bundleWorkflows(logger);
  mkdirSync(dirname(outputPath), { recursive: true });
  writeFileSync(outputPath, code);
  return Buffer.byteLength(code);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = process.argv[2] ?? DEFAULT_BUNDLE_PATH;
  const started = Date.now();
  const size = await writeWorkflowBundle(out);
  process.stdout.write(`workflow bundle ${out}: ${(size / 1024).toFixed(0)} KiB in ${Date.now() - started} ms\n`);
}
