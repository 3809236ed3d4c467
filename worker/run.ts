/**
 * The logstack worker: composition root (started by `worker/main.ts`). Reads configuration, builds the clients, registers the
 * workflows (prebuilt bundle or on-the-fly) and activities on the `logstack` task queue, and shuts
 * down gracefully on SIGTERM/SIGINT: polling stops at once, in-flight activities get
 * `LOGSTACK_SHUTDOWN_GRACE_SECONDS` to finish before they are cancelled (and then heartbeat out).
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { NativeConnection, Runtime, Worker, type ActivityInterceptorsFactory, type WorkerOptions } from '@temporalio/worker';
import { dataConverterFromEnv } from '../codec/codec.ts';
import { connectionOptions, loadWorkerConfig, type TemporalFlags, type WorkerConfig } from '../config/index.ts';
import { bundleWorkflows, workflowBundlerOptions, workflowInterceptorModules, WORKFLOWS_PATH } from './bundle.ts';
import { describeCompileCache } from './compile-cache.ts';
import { lazyActivities, type LazyActivities } from './lazy-activities.ts';
import { jsonLogger } from './logger.ts';
import { NO_TRACING, workerTracing, type WorkerTracing } from './tracing.ts';

/** The runtime this worker runs on, as its start line names it: `node 24.x.y` or `deno 2.x.y`. */
export function runtimeName(): string {
  const deno = (globalThis as { Deno?: { version: { deno: string } } }).Deno;
  return deno ? `deno ${deno.version.deno}` : `node ${process.versions.node}`;
}

/** Connects to Temporal with the configured profile, TLS, API key and gRPC metadata (the CLI's resolver). */
export async function connect(config: WorkerConfig): Promise<NativeConnection> {
  return NativeConnection.connect(connectionOptions(config.temporal));
}

/**
 * The worker's flags: `--address`, `--namespace`, `--task-queue` and `--profile` override the variables
 * and the profile, as they do for the CLI.
 * @throws TypeError naming an unknown flag.
 */
export function workerFlags(argv: readonly string[]): TemporalFlags {
  const { values } = parseArgs({
    args: [...argv],
    options: { address: { type: 'string' }, namespace: { type: 'string' }, 'task-queue': { type: 'string' }, profile: { type: 'string' } },
    strict: true,
  });
  return { address: values.address, namespace: values.namespace, taskQueue: values['task-queue'], profile: values.profile };
}

/**
 * The activities built from the configured clients, loaded lazily: the activity modules (Kubernetes and
 * AWS clients) are evaluated on `preload()` or the first activity task, not at start.
 */
export function configuredActivities(config: WorkerConfig): LazyActivities {
  return lazyActivities(async () => {
    const { createActivities } = await import('../activities/index.ts');
    return createActivities({
      catalogPath: config.catalogPath,
      stateKeys: config.stateKeys,
      kubectlPath: config.kubectlPath,
      ...(config.kubeconfig ? { kubeconfig: config.kubeconfig } : {}),
      ...(config.awsEndpoint ? { awsEndpoint: config.awsEndpoint } : {}),
      lockTaskQueue: config.lockTaskQueue ?? config.temporal.taskQueue,
      evidenceKey: config.evidenceKey,
      uiBase: config.temporal.uiBase,
    });
  });
}

/**
 * Worker options derived from configuration; the activities are built from the configured clients. `tracing`
 * (default: off) gives the workflow interceptors' span sink and the activity interceptors ({@link workerTracing}).
 */
export function workerOptions(
  config: WorkerConfig,
  connection: NativeConnection,
  activities: LazyActivities = configuredActivities(config),
  tracing: WorkerTracing = NO_TRACING,
): WorkerOptions {
  const activityInterceptors = tracing.activityInterceptors.length > 0 ? { activity: [...tracing.activityInterceptors] } : {};
  // A prebuilt bundle already holds the workflow interceptors (the configuration picked the traced or the untraced
  // one); the SDK ignores `workflowModules` with it.
  const traced = config.tracing !== undefined;
  const workflows: Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath' | 'bundlerOptions' | 'interceptors'> =
    config.workflowBundle
      ? { workflowBundle: { codePath: resolve(config.workflowBundle) }, interceptors: activityInterceptors }
      : {
          workflowsPath: WORKFLOWS_PATH,
          bundlerOptions: workflowBundlerOptions(traced),
          interceptors: { workflowModules: workflowInterceptorModules(traced), ...activityInterceptors },
        };
  return {
    connection,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    ...workflows,
    activities: activities.activities,
    // The traced bundle's interceptors export their spans through this sink (registered, a no-op, when tracing is
    // off: an untraced worker may still be given the traced bundle).
    sinks: tracing.sinks,
    maxConcurrentActivityTaskExecutions: config.maxConcurrentActivities,
    shutdownGraceTime: `${config.shutdownGraceSeconds}s`,
    ...(config.versioning
      ? {
          workerDeploymentOptions: {
            version: config.versioning,
            useWorkerVersioning: true,
            // Each workflow type declares its own behaviour (workflows/versioning.ts); the SDK still
            // requires a default, which only a type added without a declaration would get.
            defaultVersioningBehavior: 'AUTO_UPGRADE',
          },
        }
      : {}),
  };
}

/**
 * The options with the workflows bundled once, in memory, when two workers (the task queue and the lock task
 * queue) would otherwise each bundle them on the fly; unchanged when there is one worker or a prebuilt bundle.
 */
async function sharedBundle(options: WorkerOptions, twoWorkers: boolean, traced: boolean): Promise<WorkerOptions> {
  if (!twoWorkers || options.workflowBundle) return options;
  const { workflowsPath: _path, bundlerOptions: _bundler, interceptors, ...rest } = options;
  const { workflowModules: _modules, ...otherInterceptors } = interceptors ?? {};
  return { ...rest, interceptors: otherInterceptors, workflowBundle: { code: await bundleWorkflows(traced) } };
}

/** The signals that start the drain. */
const SHUTDOWN_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];

/** A shutdown signal repeated within this long of the first is the same request, forwarded once more. */
const REPEAT_WINDOW_MS = 2_000;

/** Installs the runtime (JSON logs, optional Prometheus) once per process. */
export function installRuntime(config: WorkerConfig): void {
  Runtime.install({
    logger: jsonLogger(config.logLevel),
    shutdownSignals: SHUTDOWN_SIGNALS,
    ...(config.metricsAddress ? { telemetryOptions: { metrics: { prometheus: { bindAddress: config.metricsAddress } } } } : {}),
  });
  absorbForwardedSignals();
}

/**
 * Keeps a drain going when the shutdown signal arrives twice at once. Ctrl-C in a terminal, or a signal to the
 * process group, reaches the worker directly and again through `npm run` or `deno task`, which forward it; the SDK
 * stops listening after the first, so the second would end the process mid-drain. A repeat within
 * {@link REPEAT_WINDOW_MS} of the first is ignored; a later one is a deliberate second request, and ends the
 * process at once (exit 130), as it would without this.
 */
function absorbForwardedSignals(): void {
  let first: number | undefined;
  const onSignal = (): void => {
    const now = Date.now();
    if (first === undefined) first = now;
    else if (now - first > REPEAT_WINDOW_MS) process.exit(130);
  };
  for (const signal of SHUTDOWN_SIGNALS) process.on(signal, onSignal);
}

/** The part of a worker {@link runTogether} uses. */
export type RunnableWorker = Pick<Worker, 'run' | 'shutdown' | 'getState'>;

/**
 * Runs the workers until every one has stopped. When one stops — it failed, or it was shut down — the others
 * are shut down too: a process polling only one of its two task queues (its workflows' or the locks') would
 * look alive while the work of the other queue waits for ever.
 * @throws the first failure of a worker, once all have stopped.
 */
export async function runTogether(workers: readonly RunnableWorker[]): Promise<void> {
  const stopTheOthers = (): void => {
    for (const worker of workers) if (worker.getState() === 'RUNNING') worker.shutdown();
  };
  const outcomes = await Promise.allSettled(workers.map((worker) => worker.run().finally(stopTheOthers)));
  const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
  if (failed) throw failed.reason;
}

/** What a caller may add to the worker `runWorker` builds: more activity interceptors, and a step before polling. */
export interface WorkerHooks {
  /** Activity interceptors placed outermost, before the product's own. */
  readonly activityInterceptors?: readonly ActivityInterceptorsFactory[];
  /** Runs after the worker is created and before it polls (the activities may be preloaded here). */
  readonly beforePoll?: (activities: LazyActivities) => Promise<void>;
}

/**
 * Runs the worker until a shutdown signal; resolves when it has drained. The one start-up of the worker:
 * runtime, connection, codec, activities, worker options; `hooks` only add to it.
 */
export async function runWorker(config: WorkerConfig = loadWorkerConfig(), hooks: WorkerHooks = {}): Promise<void> {
  installRuntime(config);
  const connection = await connect(config).catch((error: unknown) => {
    // The native client's own message is a Rust transport error; say which address and what to check.
    const reason = error instanceof Error ? error.message : String(error);
    const hint = 'check --address / TEMPORAL_ADDRESS or the Temporal profile, and TLS or API key settings';
    throw new Error(`cannot reach Temporal at ${config.temporal.address} — ${hint}: ${reason}`, { cause: error });
  });
  let failure: { readonly error: unknown } | undefined;
  let tracing: WorkerTracing = NO_TRACING;
  try {
    // With OTEL_EXPORTER_OTLP_ENDPOINT set, the OpenTelemetry SDK is loaded now; unset, never.
    tracing = await workerTracing(config.tracing);
    // With LOGSTACK_CODEC_KEYS set, every payload is AES-256-GCM encrypted before it reaches history.
    const dataConverter = await dataConverterFromEnv(config.codecKeys !== undefined ? { LOGSTACK_CODEC_KEYS: config.codecKeys } : {}, config.temporal.namespace);
    const activities = configuredActivities(config);
    const lockQueue = config.lockTaskQueue !== undefined && config.lockTaskQueue !== config.temporal.taskQueue ? config.lockTaskQueue : undefined;
    const options = await sharedBundle(workerOptions(config, connection, activities, tracing), lockQueue !== undefined, config.tracing !== undefined);
    const interceptors = options.interceptors ?? {};
    const create = (taskQueue: string): Promise<Worker> =>
      Worker.create({
        ...options,
        taskQueue,
        ...(dataConverter ? { dataConverter } : {}),
        ...(hooks.activityInterceptors ? { interceptors: { ...interceptors, activity: [...hooks.activityInterceptors, ...(interceptors.activity ?? [])] } } : {}),
      });
    const worker = await create(config.temporal.taskQueue);
    // The lock task queue, when it is another one: the same workflows and activities serve it.
    const lockWorker = lockQueue !== undefined ? await create(lockQueue) : undefined;
    await hooks.beforePoll?.(activities);
    Runtime.instance().logger.info('logstack worker started', {
      taskQueue: config.temporal.taskQueue,
      lockTaskQueue: lockQueue ?? config.temporal.taskQueue,
      namespace: config.temporal.namespace,
      address: config.temporal.address,
      profile: `${config.temporal.profile.name} (${config.temporal.profile.file ?? 'default location'})`,
      tls: config.temporal.tls ? 'on' : 'off',
      bundle: `${config.workflowBundle ? `prebuilt ${config.workflowBundle}` : 'on-the-fly'}, ${config.tracing ? 'traced' : 'untraced'}`,
      runtime: runtimeName(),
      compileCache: describeCompileCache(),
      catalog: config.catalogPath,
      payloadCodec: dataConverter ? 'aes-256-gcm' : 'none',
      stateKeys: config.stateKeys.map((k) => k.id).join(','),
      tracing: config.tracing ? `otlp ${new URL(config.tracing.url).origin} as ${config.tracing.serviceName}` : 'off',
    });
    const running = runTogether(lockWorker ? [worker, lockWorker] : [worker]);
    // Load the activity modules now that the worker polls, so the first task does not wait for them.
    setImmediate(() => {
      activities.preload().catch((error: unknown) => {
        Runtime.instance().logger.error('loading the activities failed; the first activity task retries it', { error });
      });
    });
    await running;
  } catch (error) {
    failure = { error };
    throw error;
  } finally {
    // The spans of the last tasks go out before the process ends (a receiver that is down costs its timeout once).
    await tracing.shutdown();
    // A worker that was created but never ran (a failure before polling) still holds the connection, and
    // closing it then throws over the failure that matters.
    await connection.close().catch((closeError: unknown) => {
      if (!failure) throw closeError;
    });
  }
}
