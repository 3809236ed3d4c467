/**
 * The typed Temporal client of the CLI. Settings come from the shared resolver of the `config/` room
 * (flags, then `TEMPORAL_*` / `LOGSTACK_*` variables, then the Temporal profile, then the defaults) —
 * the same one the worker uses.
 */
import { Client, Connection, type WorkflowClientInterceptor } from '@temporalio/client';
import { ConfigError, connectionOptions, describeProblem, resolveTemporal, resolveTracing, type TemporalFlags, type TemporalSettings, type TracingSettings } from '../config/index.ts';
import { dataConverterFromEnv } from '../codec/codec.ts';
import { CliError, ExitCode } from './errors.ts';

/** Where and how the CLI talks to Temporal. */
export type ConnectionSettings = TemporalSettings;

/** Flags that override the environment and the profile. */
export type ConnectionFlags = TemporalFlags;

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Resolves the settings: flags, then the variables, then the Temporal profile, then `localhost:7233`,
 * `default`, `logstack`.
 * @throws CliError (usage) listing every wrong value, one per line.
 */
export function resolveSettings(flags: ConnectionFlags = {}, env: Env = process.env): ConnectionSettings {
  try {
    return resolveTemporal(flags, env);
  } catch (error) {
    if (error instanceof ConfigError) throw new CliError(error.message, ExitCode.usage);
    throw error;
  }
}

/** The Web UI page of a workflow. */
export function workflowUrl(settings: ConnectionSettings, workflowId: string): string {
  return `${settings.uiBase}/namespaces/${encodeURIComponent(settings.namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}

/** What to do when Temporal cannot be reached, per where the address came from. */
export function unreachableHint(settings: ConnectionSettings): string {
  switch (settings.source) {
    case 'default':
      return `cannot reach Temporal at ${settings.address} (the default) — set --address / TEMPORAL_ADDRESS or a Temporal profile (TEMPORAL_CONFIG_FILE, TEMPORAL_PROFILE); for the local sandbox run \`npm run sandbox -- up\` and \`npm run sandbox -- exec -- <command>\``;
    case 'profile':
      return `cannot reach Temporal at ${settings.address} (from profile "${settings.profile.name}" in ${settings.profile.file ?? 'the default profile file'}) — check the profile, or override with --address / TEMPORAL_ADDRESS`;
    default:
      return `cannot reach Temporal at ${settings.address} — check --address / TEMPORAL_ADDRESS, and TLS or API key settings`;
  }
}

/** An open client; close it when done. */
export interface TemporalClient {
  readonly client: Client;
  readonly connection: Connection;
  close(): Promise<void>;
}

/**
 * The CLI's trace export from `OTEL_EXPORTER_OTLP_ENDPOINT` and friends; undefined when off.
 * @throws CliError (usage) listing every wrong tracing variable.
 */
export function resolveCliTracing(env: Env): TracingSettings | undefined {
  const { settings, problems } = resolveTracing(env, 'logstack-cli');
  if (problems.length > 0) throw new CliError(`invalid configuration; fix these values:\n${problems.map((p) => `  ${describeProblem(p)}`).join('\n')}`, ExitCode.usage);
  return settings;
}

/**
 * The client interceptor of Temporal's OpenTelemetry support, for the calls that change something: starting a
 * workflow (its `StartWorkflow:<type>` span is the parent of the run's span, in the same trace), signals and
 * updates (approve, reject). Queries, describes and lists pass untraced: `watch` polls `progress` every second.
 * Loads the OpenTelemetry SDK; call only when tracing is on.
 */
async function tracingInterceptor(settings: TracingSettings): Promise<{ interceptor: WorkflowClientInterceptor; shutdown: () => Promise<void> }> {
  const [{ startTracing }, { OpenTelemetryWorkflowClientInterceptor }] = await Promise.all([
    import('../config/tracing-sdk.ts'),
    import('@temporalio/interceptors-opentelemetry/lib/client/index.js'),
  ]);
  const sdk = startTracing(settings, 'logstack-cli');
  const otel = new OpenTelemetryWorkflowClientInterceptor({ tracer: sdk.tracer });
  const interceptor: WorkflowClientInterceptor = {
    start: (input, next) => otel.start(input, next),
    startWithDetails: (input, next) => otel.startWithDetails(input, next),
    signal: (input, next) => otel.signal(input, next),
    signalWithStart: (input, next) => otel.signalWithStart(input, next),
    startUpdate: (input, next) => otel.startUpdate(input, next),
    startUpdateWithStart: (input, next) => otel.startUpdateWithStart(input, next),
  };
  return { interceptor, shutdown: () => sdk.shutdown() };
}

/**
 * Connects and checks the server answers (within `connectTimeoutMs`, default 5 s).
 * Payloads are encrypted with the codec when `LOGSTACK_CODEC_KEYS` is set; with `OTEL_EXPORTER_OTLP_ENDPOINT`
 * set, starts, signals and updates are traced (and the spans exported when the client closes).
 * @throws CliError (exit 1) with {@link unreachableHint} when Temporal does not answer; (usage) for a wrong tracing variable.
 */
export async function connectClient(settings: ConnectionSettings, options: { connectTimeoutMs?: number; env?: Env } = {}): Promise<TemporalClient> {
  const env = options.env ?? process.env;
  const tracingSettings = resolveCliTracing(env);
  let connection: Connection;
  try {
    connection = await Connection.connect({ ...connectionOptions(settings), connectTimeout: options.connectTimeoutMs ?? 5000 });
  } catch (error) {
    throw new CliError(`${unreachableHint(settings)}\n  (${error instanceof Error ? error.message : String(error)})`, 1);
  }
  const dataConverter = await dataConverterFromEnv(env, settings.namespace);
  const tracing = tracingSettings ? await tracingInterceptor(tracingSettings) : undefined;
  const client = new Client({
    connection,
    namespace: settings.namespace,
    ...(dataConverter ? { dataConverter } : {}),
    ...(tracing ? { interceptors: { workflow: [tracing.interceptor] } } : {}),
  });
  return {
    client,
    connection,
    close: async () => {
      try {
        await tracing?.shutdown();
      } finally {
        await connection.close();
      }
    },
  };
}
