/**
 * The worker's configuration: the shared Temporal settings ({@link resolveTemporal}) plus logstack's
 * own variables. Nothing here knows about the local sandbox: it publishes its facts as these same
 * variables and a Temporal profile (see the README), and a user's own setup is read the same way.
 */
import { existsSync } from 'node:fs';
import { z } from 'zod';
import { parseStateKeys, redactStateKeys, STATE_KEYS_ENV, type StateKey } from '../domain/index.ts';
import { ConfigError, type Env, type Problem } from './problems.ts';
import { resolveTemporal, TEMPORAL_VARIABLES, type TemporalFlags, type TemporalSettings } from './temporal.ts';
import { resolveTracing, TRACING_VARIABLES, type TracingSettings } from './tracing.ts';

/** logstack's own worker variables, with what each means; printed with validation errors. */
export const WORKER_VARIABLES = {
  LOGSTACK_CATALOG: 'environment catalog path (default gitops/environments.yaml)',
  KUBECONFIG: 'kubeconfig holding one context per environment (default: the client library default)',
  LOGSTACK_KUBECTL: 'kubectl used to render Kustomize overlays (default kubectl on PATH)',
  AWS_ENDPOINT_URL: 'AWS endpoint override (for an S3/IAM/STS/Secrets Manager compatible endpoint)',
  LOGSTACK_WORKFLOW_BUNDLE: 'prebuilt workflow bundle (npm run build:bundle); with tracing off its untraced twin *.untraced.js is loaded when present; unset = bundle at start',
  LOGSTACK_METRICS_ADDRESS: 'host:port serving Prometheus metrics',
  LOGSTACK_LOG_LEVEL: 'TRACE|DEBUG|INFO|WARN|ERROR (default INFO)',
  LOGSTACK_DEPLOYMENT_NAME: 'Worker Deployment name (with LOGSTACK_BUILD_ID enables Worker Versioning)',
  LOGSTACK_BUILD_ID: 'build id of this worker',
  LOGSTACK_MAX_CONCURRENT_ACTIVITIES: 'activity slots (default 100)',
  LOGSTACK_SHUTDOWN_GRACE_SECONDS: 'how long in-flight activities may finish after SIGTERM (default 30)',
  LOGSTACK_CODEC_KEYS: 'payload encryption keys "id:base64key,…" (first encrypts, all decrypt); unset = no codec',
  LOGSTACK_LOCK_TASK_QUEUE: 'task queue of the environment locks, polled too (default: the worker\'s task queue); one value for every installation sharing a namespace',
  LOGSTACK_STATE_KEYS: 'required: deployed-state record HMAC keys "id:base64key,…" of ≥ 32 bytes (first signs, all verify)',
  LOGSTACK_EVIDENCE_KEY: 'evidence signing key: ed25519 PKCS#8 PEM or 32-byte seed (base64 or hex); unset = promotions and rollouts fail at their evidence step',
} as const;

/** Every variable the worker reads, Temporal's first. */
export const ENVIRONMENT_VARIABLES = { ...TEMPORAL_VARIABLES, ...WORKER_VARIABLES, ...TRACING_VARIABLES } as const;

type WorkerVariable = keyof typeof WORKER_VARIABLES;

const existingFile = (what: string) => z.string().min(1).refine((p) => existsSync(p), { message: `${what} does not exist` });

const schema = z.object({
  catalogPath: existingFile('catalog file'),
  // KUBECONFIG may be a list of files (`a:b`), as kubectl reads it: the client library checks it.
  kubeconfig: z.string().min(1).optional(),
  kubectlPath: z.string().min(1),
  awsEndpoint: z.url().optional(),
  workflowBundle: existingFile('file').optional(),
  metricsAddress: z
    .string()
    .regex(/^[\w.-]*:\d{1,5}$/, 'host:port for the Prometheus endpoint')
    .optional(),
  logLevel: z.enum(['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR']),
  deploymentName: z.string().min(1).optional(),
  buildId: z.string().min(1).optional(),
  maxConcurrentActivities: z.coerce.number().int().min(1).max(1000),
  shutdownGraceSeconds: z.coerce.number().int().min(0).max(3600),
  codecKeys: z.string().min(1).optional(),
  evidenceKey: z
    .string({
      error: (issue) =>
        issue.input === undefined
          ? 'required: the ed25519 key that signs the evidence record every delivery ends with (generate one with `openssl genpkey -algorithm ed25519`; give its public half to whoever verifies records)'
          : 'an ed25519 PKCS#8 PEM or a 32-byte seed',
    })
    .refine((v) => /^-----BEGIN PRIVATE KEY-----[\s\S]+-----END PRIVATE KEY-----\s*$/.test(v.trim().replace(/\\n/g, '\n')) || /^[0-9a-fA-F]{64}$/.test(v.trim()) || /^[A-Za-z0-9+/]{43}=?$/.test(v.trim()), {
      message: 'an ed25519 PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----…") or a 32-byte seed, base64 or 64 hex digits',
    }),
  lockTaskQueue: z
    .string()
    .max(200)
    .regex(/^[\w.:@/-]+$/, 'a task queue name: letters, digits and . _ - : @ / only')
    .optional(),
});

/** The variable each schema field comes from, and its default. */
const FIELDS: Readonly<Record<keyof z.input<typeof schema>, { variable: WorkerVariable; fallback?: string }>> = {
  catalogPath: { variable: 'LOGSTACK_CATALOG', fallback: 'gitops/environments.yaml' },
  kubeconfig: { variable: 'KUBECONFIG' },
  kubectlPath: { variable: 'LOGSTACK_KUBECTL', fallback: 'kubectl' },
  awsEndpoint: { variable: 'AWS_ENDPOINT_URL' },
  workflowBundle: { variable: 'LOGSTACK_WORKFLOW_BUNDLE' },
  metricsAddress: { variable: 'LOGSTACK_METRICS_ADDRESS' },
  logLevel: { variable: 'LOGSTACK_LOG_LEVEL', fallback: 'INFO' },
  deploymentName: { variable: 'LOGSTACK_DEPLOYMENT_NAME' },
  buildId: { variable: 'LOGSTACK_BUILD_ID' },
  maxConcurrentActivities: { variable: 'LOGSTACK_MAX_CONCURRENT_ACTIVITIES', fallback: '100' },
  shutdownGraceSeconds: { variable: 'LOGSTACK_SHUTDOWN_GRACE_SECONDS', fallback: '30' },
  codecKeys: { variable: 'LOGSTACK_CODEC_KEYS' },
  lockTaskQueue: { variable: 'LOGSTACK_LOCK_TASK_QUEUE' },
  evidenceKey: { variable: 'LOGSTACK_EVIDENCE_KEY' },
};

/** The validated worker configuration. */
export interface WorkerConfig {
  readonly temporal: TemporalSettings;
  readonly catalogPath: string;
  readonly kubeconfig?: string;
  /** kubectl used for `kubectl kustomize`. */
  readonly kubectlPath: string;
  readonly awsEndpoint?: string;
  /**
   * The prebuilt workflow bundle the worker loads (production starts); when absent the worker bundles on the fly.
   * With tracing off, the untraced twin of the bundle `LOGSTACK_WORKFLOW_BUNDLE` names when it exists
   * ({@link untracedBundlePath}), else the bundle named.
   */
  readonly workflowBundle?: string;
  readonly metricsAddress?: string;
  readonly logLevel: 'TRACE' | 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
  /** Worker Versioning, when both the deployment name and the build id are set. */
  readonly versioning?: { readonly deploymentName: string; readonly buildId: string };
  readonly maxConcurrentActivities: number;
  readonly shutdownGraceSeconds: number;
  /** `LOGSTACK_CODEC_KEYS` as given; the codec parses and checks it at start. */
  readonly codecKeys?: string;
  /** The task queue lock workflows live on, when it is not the worker's own; the worker polls it too. */
  readonly lockTaskQueue?: string;
  /**
   * `LOGSTACK_EVIDENCE_KEY` as given (the activities parse it): required, so a worker never changes an
   * environment it could not then record signed evidence of.
   */
  readonly evidenceKey: string;
  /** `LOGSTACK_STATE_KEYS`, parsed: at least one key of ≥ 32 bytes; the first signs the deployed-state records, all verify. */
  readonly stateKeys: readonly StateKey[];
  /** OpenTelemetry trace export (`OTEL_EXPORTER_OTLP_ENDPOINT`); absent = tracing off and not loaded. */
  readonly tracing?: TracingSettings;
}

/**
 * `LOGSTACK_STATE_KEYS`: required, because promotion trusts the deployed-state record and an unsigned
 * record is refused. Problems name the variable with its key material replaced by `***`.
 */
function stateKeyProblems(env: Env): { keys: readonly StateKey[]; problems: Problem[] } {
  const spec = env[STATE_KEYS_ENV];
  if (spec === undefined || spec.trim() === '') {
    return {
      keys: [],
      problems: [
        {
          key: STATE_KEYS_ENV,
          value: undefined,
          expected: 'required: HMAC keys "id:base64key,…" that sign and verify the deployed-state records promotion trusts (generate one with `echo "k1:$(openssl rand -base64 32)"`)',
        },
      ],
    };
  }
  const parsed = parseStateKeys(spec);
  return { keys: parsed.keys, problems: parsed.problems.map((expected) => ({ key: STATE_KEYS_ENV, value: redactStateKeys(spec), expected })) };
}

/** The raw value of each field: the variable when set and not empty, else the default. */
function rawValues(env: Env): Record<string, string | undefined> {
  const raw: Record<string, string | undefined> = {};
  for (const [field, { variable, fallback }] of Object.entries(FIELDS)) {
    const given = env[variable];
    raw[field] = given !== undefined && given !== '' ? given : fallback;
  }
  if (raw['logLevel'] !== undefined) raw['logLevel'] = raw['logLevel'].toUpperCase();
  return raw;
}

/** The worker's own problems, one per wrong variable. */
function workerProblems(error: z.ZodError, env: Env): Problem[] {
  return error.issues.map((issue) => {
    const spec = FIELDS[String(issue.path[0]) as keyof typeof FIELDS];
    const given = env[spec.variable];
    const shown = spec.variable === 'LOGSTACK_EVIDENCE_KEY' && given ? '***' : given;
    return {
      key: spec.variable,
      value: shown !== undefined && shown !== '' ? shown : undefined,
      expected: issue.message,
      ...(spec.fallback !== undefined ? { defaulted: spec.fallback } : {}),
    };
  });
}

/** The file name ending of a prebuilt bundle without the tracing interceptors, after its traced twin's name less `.js`. */
const UNTRACED_SUFFIX = '.untraced.js';

/**
 * Where the bundle without the tracing interceptors lies next to the prebuilt bundle at `path` (`npm run
 * build:bundle` writes both): `dist/workflow-bundle.js` → `dist/workflow-bundle.untraced.js`.
 */
export function untracedBundlePath(path: string): string {
  return `${path.endsWith('.js') ? path.slice(0, -'.js'.length) : path}${UNTRACED_SUFFIX}`;
}

/** Whether `path` names a bundle without the tracing interceptors. */
function isUntracedBundle(path: string): boolean {
  return path.endsWith(UNTRACED_SUFFIX);
}

/** The traced twin of the untraced bundle at `path`. */
function tracedBundlePath(path: string): string {
  return `${path.slice(0, -UNTRACED_SUFFIX.length)}.js`;
}

/**
 * The prebuilt bundle to load for the bundle named: the one named when tracing is on, else its untraced twin when
 * that exists (the same workflows without the tracing interceptors, whose spans would go nowhere: a smaller
 * bundle, a faster start and less memory per cached workflow), else the one named.
 */
function bundleToLoad(named: string, tracing: boolean): string {
  if (tracing || isUntracedBundle(named)) return named;
  const untraced = untracedBundlePath(named);
  return existsSync(untraced) ? untraced : named;
}

/**
 * Reads and validates the worker's configuration: flags over variables over the Temporal profile over
 * the defaults. Reads no file but the profile, and checks that the files named exist.
 * @throws ConfigError with one line per wrong value (Temporal's and the worker's together).
 */
export function loadWorkerConfig(env: Env = process.env, flags: TemporalFlags = {}): WorkerConfig {
  const problems: Problem[] = [];
  let temporal: TemporalSettings | undefined;
  try {
    temporal = resolveTemporal(flags, env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    problems.push(...error.problems);
  }
  const parsed = schema.safeParse(rawValues(env));
  if (!parsed.success) problems.push(...workerProblems(parsed.error, env));
  const data = parsed.data;
  if (data && Boolean(data.deploymentName) !== Boolean(data.buildId)) {
    const missing = data.deploymentName ? 'LOGSTACK_BUILD_ID' : 'LOGSTACK_DEPLOYMENT_NAME';
    problems.push({ key: missing, value: undefined, expected: 'set with its pair to enable Worker Versioning (LOGSTACK_DEPLOYMENT_NAME and LOGSTACK_BUILD_ID), or unset both' });
  }
  const state = stateKeyProblems(env);
  problems.push(...state.problems);
  const tracing = resolveTracing(env, 'logstack-worker');
  problems.push(...tracing.problems);
  if (data?.workflowBundle !== undefined && tracing.settings && isUntracedBundle(data.workflowBundle)) {
    problems.push({
      key: 'LOGSTACK_WORKFLOW_BUNDLE',
      value: data.workflowBundle,
      expected: `tracing is on (OTEL_EXPORTER_OTLP_ENDPOINT) and this bundle has no tracing interceptors: name the traced bundle next to it (${tracedBundlePath(data.workflowBundle)}), or unset OTEL_EXPORTER_OTLP_ENDPOINT`,
    });
  }
  if (problems.length > 0 || !temporal || !data) throw new ConfigError(problems, ENVIRONMENT_VARIABLES);
  const { deploymentName, buildId, workflowBundle, ...rest } = data;
  return {
    temporal,
    ...rest,
    ...(workflowBundle !== undefined ? { workflowBundle: bundleToLoad(workflowBundle, tracing.settings !== undefined) } : {}),
    stateKeys: state.keys,
    ...(deploymentName && buildId ? { versioning: { deploymentName, buildId } } : {}),
    ...(tracing.settings ? { tracing: tracing.settings } : {}),
  };
}
