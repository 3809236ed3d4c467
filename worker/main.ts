/**
 * The logstack worker: composition root. Reads configuration, builds the clients, registers the
 * workflows (prebuilt bundle or on-the-fly) and activities on the `logstack` task queue, and shuts
 * down gracefully on SIGTERM/SIGINT: polling stops at once, in-flight activities get
 * `LOGSTACK_SHUTDOWN_GRACE_SECONDS` to finish before they are cancelled (and then heartbeat out).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NativeConnection, Runtime, Worker, type WorkerOptions } from '@temporalio/worker';
import { dataConverterFromEnv } from '../client/codec.ts';
import { loadWorkerConfig, sandboxAwsCredentials, type WorkerConfig } from './config.ts';
import { bundlerOptions, WORKFLOW_INTERCEPTOR_MODULES, WORKFLOWS_PATH } from './bundle.ts';
import { lazyActivities, type LazyActivities } from './lazy-activities.ts';
import { jsonLogger } from './logger.ts';

/** Connects to Temporal with the configured TLS / API key. */
export async function connect(config: WorkerConfig): Promise<NativeConnection> {
  const t = config.temporal;
  const tls =
    t.tlsCert && t.tlsKey
      ? {
          clientCertPair: { crt: readFileSync(t.tlsCert), key: readFileSync(t.tlsKey) },
          ...(t.tlsCa ? { serverRootCACertificate: readFileSync(t.tlsCa) } : {}),
          ...(t.tlsServerName ? { serverNameOverride: t.tlsServerName } : {}),
        }
      : t.apiKey
        ? true
        : undefined;
  return NativeConnection.connect({ address: t.address, ...(tls ? { tls } : {}), ...(t.apiKey ? { apiKey: t.apiKey } : {}) });
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
      kubectlPath: config.kubectlPath,
      ...(config.kubeconfig ? { kubeconfig: config.kubeconfig } : {}),
      ...(config.awsEndpoint ? { awsEndpoint: config.awsEndpoint } : {}),
    });
  });
}

/** Worker options derived from configuration; the activities are built from the configured clients. */
export function workerOptions(config: WorkerConfig, connection: NativeConnection, activities: LazyActivities = configuredActivities(config)): WorkerOptions {
  // A prebuilt bundle already holds the workflow interceptors; the SDK ignores `workflowModules` with it.
  const workflows: Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath' | 'bundlerOptions' | 'interceptors'> =
    config.workflowBundle
      ? { workflowBundle: { codePath: resolve(config.workflowBundle) } }
      : {
          workflowsPath: WORKFLOWS_PATH,
          bundlerOptions: { webpackConfigHook: bundlerOptions },
          interceptors: { workflowModules: [...WORKFLOW_INTERCEPTOR_MODULES] },
        };
  return {
    connection,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    ...workflows,
    activities: activities.activities,
    maxConcurrentActivityTaskExecutions: config.maxConcurrentActivities,
    shutdownGraceTime: `${config.shutdownGraceSeconds}s`,
    ...(config.versioning
      ? {
          workerDeploymentOptions: {
            version: config.versioning,
            useWorkerVersioning: true,
            defaultVersioningBehavior: 'AUTO_UPGRADE',
          },
        }
      : {}),
  };
}

/** Installs the runtime (JSON logs, optional Prometheus) once per process. */
export function installRuntime(config: WorkerConfig): void {
  Runtime.install({
    logger: jsonLogger(config.logLevel),
    shutdownSignals: ['SIGINT', 'SIGTERM'],
    ...(config.metricsAddress ? { telemetryOptions: { metrics: { prometheus: { bindAddress: config.metricsAddress } } } } : {}),
  });
}

/** Runs the worker until a shutdown signal; resolves when it has drained. */
export async function runWorker(config: WorkerConfig = loadWorkerConfig()): Promise<void> {
  installRuntime(config);
  sandboxAwsCredentials(config);
  const connection = await connect(config).catch((error: unknown) => {
    // The native client's own message is a Rust transport error; say which address and what to check.
    const reason = error instanceof Error ? error.message : String(error);
    const hint = 'check TEMPORAL_ADDRESS, and TLS or API key settings';
    throw new Error(`cannot reach Temporal at ${config.temporal.address} — ${hint}: ${reason}`, { cause: error });
  });
  try {
    // With LOGSTACK_CODEC_KEYS set, every payload is AES-256-GCM encrypted before it reaches history.
    const dataConverter = await dataConverterFromEnv();
    const activities = configuredActivities(config);
    const worker = await Worker.create({ ...workerOptions(config, connection, activities), ...(dataConverter ? { dataConverter } : {}) });
    Runtime.instance().logger.info('logstack worker started', {
      taskQueue: config.temporal.taskQueue,
      namespace: config.temporal.namespace,
      address: config.temporal.address,
      bundle: config.workflowBundle ? 'prebuilt' : 'on-the-fly',
      catalog: config.catalogPath,
      payloadCodec: dataConverter ? 'aes-256-gcm' : 'none',
    });
    const running = worker.run();
    // Load the activity modules now that the worker polls, so the first task does not wait for them.
    setImmediate(() => {
      activities.preload().catch((error: unknown) => {
        Runtime.instance().logger.error('loading the activities failed; the first activity task retries it', { error });
      });
    });
    await running;
  } finally {
    await connection.close();
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    await runWorker();
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  }
}
