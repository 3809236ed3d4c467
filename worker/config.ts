/**
 * Worker configuration from environment variables, validated at start with one clear message per
 * wrong value. With the local sandbox up and nothing set, every value defaults to the sandbox.
 */
import { existsSync } from 'node:fs';
import { z } from 'zod';
import { TEMPORAL_DEFAULTS } from '../domain/index.ts';
import { readSandbox } from '../sandbox/status.ts';

const optionalPath = z
  .string()
  .min(1)
  .refine((p) => existsSync(p), { message: 'file does not exist' })
  .optional();

const schema = z.object({
  temporal: z.object({
    address: z.string().regex(/^[\w.-]+:\d{1,5}$/, 'host:port, e.g. localhost:7233'),
    namespace: z.string().min(1),
    taskQueue: z.string().min(1),
    /** mTLS client certificate and key (Temporal Cloud or a self-hosted TLS frontend). */
    tlsCert: optionalPath,
    tlsKey: optionalPath,
    tlsCa: optionalPath,
    tlsServerName: z.string().optional(),
    /** API key auth (Temporal Cloud); implies TLS. */
    apiKey: z.string().min(1).optional(),
  }),
  catalogPath: z.string().refine((p) => existsSync(p), { message: 'catalog file does not exist' }),
  kubeconfig: z.string().optional(),
  /** kubectl used for `kubectl kustomize`. */
  kubectlPath: z.string().min(1),
  awsEndpoint: z.url().optional(),
  /** Prebuilt workflow bundle (production starts); when absent the worker bundles on the fly (dev mode). */
  workflowBundle: z.string().min(1).refine((p) => existsSync(p), { message: 'file does not exist' }).optional().or(z.literal('').transform(() => undefined)),
  metricsAddress: z.string().regex(/^[\w.-]*:\d{1,5}$/, 'host:port for the Prometheus endpoint').optional(),
  logLevel: z.enum(['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR']),
  versioning: z
    .object({ deploymentName: z.string().min(1), buildId: z.string().min(1) })
    .optional(),
  maxConcurrentActivities: z.coerce.number().int().min(1).max(1000),
  shutdownGraceSeconds: z.coerce.number().int().min(0).max(3600),
});

/** The validated worker configuration. */
export type WorkerConfig = z.infer<typeof schema>;

/** Which variables configure what; printed with validation errors so the fix is obvious. */
export const ENVIRONMENT_VARIABLES = {
  TEMPORAL_ADDRESS: 'Temporal frontend host:port (default localhost:7233, or the sandbox)',
  TEMPORAL_NAMESPACE: 'Temporal namespace (default "default")',
  LOGSTACK_TASK_QUEUE: 'task queue (default "logstack")',
  TEMPORAL_TLS_CERT: 'path of the mTLS client certificate',
  TEMPORAL_TLS_KEY: 'path of the mTLS client key',
  TEMPORAL_TLS_CA: 'path of the server CA bundle',
  TEMPORAL_TLS_SERVER_NAME: 'TLS server name override',
  TEMPORAL_API_KEY: 'Temporal Cloud API key',
  LOGSTACK_CATALOG: 'environment catalog path (default gitops/environments.yaml, or the sandbox catalog)',
  KUBECONFIG: 'kubeconfig holding one context per environment',
  LOGSTACK_KUBECTL: 'kubectl used to render Kustomize overlays (default kubectl on PATH, or the sandbox build)',
  AWS_ENDPOINT_URL: 'AWS endpoint override (the sandbox uses moto)',
  LOGSTACK_WORKFLOW_BUNDLE: 'prebuilt workflow bundle (npm run build:bundle)',
  LOGSTACK_METRICS_ADDRESS: 'host:port serving Prometheus metrics',
  LOGSTACK_LOG_LEVEL: 'TRACE|DEBUG|INFO|WARN|ERROR (default INFO)',
  LOGSTACK_DEPLOYMENT_NAME: 'Worker Deployment name (with LOGSTACK_BUILD_ID enables Worker Versioning)',
  LOGSTACK_BUILD_ID: 'build id of this worker',
  LOGSTACK_MAX_CONCURRENT_ACTIVITIES: 'activity slots (default 100)',
  LOGSTACK_CODEC_KEYS: 'payload encryption keys "id:base64key,…" (first encrypts, all decrypt); unset = no codec',
  LOGSTACK_SHUTDOWN_GRACE_SECONDS: 'how long in-flight activities may finish after SIGTERM (default 30)',
} as const;

/** The variable each configuration field comes from, so a validation issue names what to change. */
const VARIABLE_OF_FIELD: Readonly<Record<string, keyof typeof ENVIRONMENT_VARIABLES>> = {
  'temporal.address': 'TEMPORAL_ADDRESS',
  'temporal.namespace': 'TEMPORAL_NAMESPACE',
  'temporal.taskQueue': 'LOGSTACK_TASK_QUEUE',
  'temporal.tlsCert': 'TEMPORAL_TLS_CERT',
  'temporal.tlsKey': 'TEMPORAL_TLS_KEY',
  'temporal.tlsCa': 'TEMPORAL_TLS_CA',
  'temporal.tlsServerName': 'TEMPORAL_TLS_SERVER_NAME',
  'temporal.apiKey': 'TEMPORAL_API_KEY',
  catalogPath: 'LOGSTACK_CATALOG',
  kubeconfig: 'KUBECONFIG',
  kubectlPath: 'LOGSTACK_KUBECTL',
  awsEndpoint: 'AWS_ENDPOINT_URL',
  workflowBundle: 'LOGSTACK_WORKFLOW_BUNDLE',
  metricsAddress: 'LOGSTACK_METRICS_ADDRESS',
  logLevel: 'LOGSTACK_LOG_LEVEL',
  'versioning.deploymentName': 'LOGSTACK_DEPLOYMENT_NAME',
  'versioning.buildId': 'LOGSTACK_BUILD_ID',
  maxConcurrentActivities: 'LOGSTACK_MAX_CONCURRENT_ACTIVITIES',
  shutdownGraceSeconds: 'LOGSTACK_SHUTDOWN_GRACE_SECONDS',
};

/** One line per issue: the variable, the value it had (or the default used), and what is expected. */
function describeIssues(error: z.ZodError, env: NodeJS.ProcessEnv, raw: unknown): string {
  return error.issues
    .map((issue) => {
      const field = issue.path.map(String).join('.');
      const variable = VARIABLE_OF_FIELD[field];
      if (!variable) return `  - ${field || '(root)'}: ${issue.message}`;
      const given = env[variable];
      const used = issue.path.reduce<unknown>((value, key) => (value as Record<PropertyKey, unknown> | undefined)?.[key], raw);
      const value = given !== undefined ? `=${JSON.stringify(given)}` : used !== undefined ? ` (unset; default ${JSON.stringify(used)})` : ' (unset)';
      return `  - ${variable}${value}: ${issue.message}`;
    })
    .join('\n');
}

/**
 * Reads and validates the configuration.
 * @throws Error with one line per wrong variable: its name, its value, and what is expected.
 */
export function loadWorkerConfig(env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  const sandbox = readSandbox();
  const deploymentName = env['LOGSTACK_DEPLOYMENT_NAME'];
  const buildId = env['LOGSTACK_BUILD_ID'];
  const raw = {
    temporal: {
      address: env['TEMPORAL_ADDRESS'] ?? sandbox?.temporal.address ?? TEMPORAL_DEFAULTS.address,
      namespace: env['TEMPORAL_NAMESPACE'] ?? TEMPORAL_DEFAULTS.namespace,
      taskQueue: env['LOGSTACK_TASK_QUEUE'] ?? TEMPORAL_DEFAULTS.taskQueue,
      tlsCert: env['TEMPORAL_TLS_CERT'],
      tlsKey: env['TEMPORAL_TLS_KEY'],
      tlsCa: env['TEMPORAL_TLS_CA'],
      tlsServerName: env['TEMPORAL_TLS_SERVER_NAME'],
      apiKey: env['TEMPORAL_API_KEY'],
    },
    catalogPath: env['LOGSTACK_CATALOG'] ?? sandbox?.catalog ?? 'gitops/environments.yaml',
    kubeconfig: env['KUBECONFIG'] ?? sandbox?.kubeconfig,
    kubectlPath: env['LOGSTACK_KUBECTL'] ?? sandbox?.kubectl ?? 'kubectl',
    awsEndpoint: env['AWS_ENDPOINT_URL'] ?? sandbox?.aws.endpoint,
    workflowBundle: env['LOGSTACK_WORKFLOW_BUNDLE'],
    metricsAddress: env['LOGSTACK_METRICS_ADDRESS'],
    logLevel: (env['LOGSTACK_LOG_LEVEL'] ?? 'INFO').toUpperCase(),
    versioning: deploymentName || buildId ? { deploymentName, buildId } : undefined,
    maxConcurrentActivities: env['LOGSTACK_MAX_CONCURRENT_ACTIVITIES'] ?? '100',
    shutdownGraceSeconds: env['LOGSTACK_SHUTDOWN_GRACE_SECONDS'] ?? '30',
  };
  const result = schema.safeParse(raw);
  if (!result.success) {
    throw new Error(`logstack worker: invalid configuration; fix these values:\n${describeIssues(result.error, env, raw)}\nVariables:\n${Object.entries(ENVIRONMENT_VARIABLES).map(([k, v]) => `  ${k}  ${v}`).join('\n')}`);
  }
  if ((result.data.temporal.tlsCert === undefined) !== (result.data.temporal.tlsKey === undefined)) {
    throw new Error('logstack worker: set both TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY for mTLS, or neither');
  }
  return result.data;
}

/**
 * Against the sandbox (moto accepts any key) with no AWS credentials set, use moto's conventional
 * `test` key so the default credential chain resolves. Never applies once a real endpoint or key is configured.
 */
export function sandboxAwsCredentials(config: WorkerConfig, env: NodeJS.ProcessEnv = process.env): void {
  const sandbox = readSandbox();
  if (!sandbox || config.awsEndpoint !== sandbox.aws.endpoint) return;
  if (env['AWS_ACCESS_KEY_ID'] || env['AWS_PROFILE']) return;
  env['AWS_ACCESS_KEY_ID'] = 'test';
  env['AWS_SECRET_ACCESS_KEY'] = 'test';
  env['AWS_REGION'] ??= 'us-east-1';
}
