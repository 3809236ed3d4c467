/**
 * The typed Temporal client of the CLI. Settings come from the shared resolver of the `config/` room
 * (flags, then `TEMPORAL_*` / `LOGSTACK_*` variables, then the Temporal profile, then the defaults) —
 * the same one the worker uses.
 */
import { Client, Connection } from '@temporalio/client';
import { ConfigError, connectionOptions, resolveTemporal, type TemporalFlags, type TemporalSettings } from '../config/index.ts';
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
 * Connects and checks the server answers (within `connectTimeoutMs`, default 5 s).
 * Payloads are encrypted with the codec when `LOGSTACK_CODEC_KEYS` is set.
 * @throws CliError (exit 1) with {@link unreachableHint} when Temporal does not answer.
 */
export async function connectClient(settings: ConnectionSettings, options: { connectTimeoutMs?: number; env?: Env } = {}): Promise<TemporalClient> {
  let connection: Connection;
  try {
    connection = await Connection.connect({ ...connectionOptions(settings), connectTimeout: options.connectTimeoutMs ?? 5000 });
  } catch (error) {
    throw new CliError(`${unreachableHint(settings)}\n  (${error instanceof Error ? error.message : String(error)})`, 1);
  }
  const dataConverter = await dataConverterFromEnv(options.env ?? process.env, settings.namespace);
  const client = new Client({ connection, namespace: settings.namespace, ...(dataConverter ? { dataConverter } : {}) });
  return { client, connection, close: () => connection.close() };
}
