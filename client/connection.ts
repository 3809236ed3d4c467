/**
 * The typed Temporal client of the CLI. Settings come from flags, then environment variables (the same
 * ones the worker reads), then the running sandbox, then the documented defaults.
 */
import { readFileSync } from 'node:fs';
import { Client, Connection, type ConnectionOptions } from '@temporalio/client';
import { TEMPORAL_DEFAULTS } from '../domain/index.ts';
import { readSandbox } from '../sandbox/status.ts';
import { dataConverterFromEnv } from '../codec/codec.ts';
import { CliError } from './errors.ts';

/** Where and how the CLI talks to Temporal. */
export interface ConnectionSettings {
  readonly address: string;
  readonly namespace: string;
  readonly taskQueue: string;
  /** Base URL of the Temporal Web UI, for links. */
  readonly uiBase: string;
  readonly tls?: { readonly cert?: string; readonly key?: string; readonly ca?: string; readonly serverName?: string };
  readonly apiKey?: string;
  /** Where the address came from, for error messages. */
  readonly source: 'flag' | 'env' | 'sandbox' | 'default';
}

/** Flags that override the environment. */
export interface ConnectionFlags {
  readonly address?: string | undefined;
  readonly namespace?: string | undefined;
  readonly taskQueue?: string | undefined;
}

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Resolves the settings: flags, then `TEMPORAL_ADDRESS` / `TEMPORAL_NAMESPACE` / `LOGSTACK_TASK_QUEUE`
 * / `TEMPORAL_TLS_*` / `TEMPORAL_API_KEY` / `LOGSTACK_UI_URL`, then the sandbox's status file, then
 * `localhost:7233`, `default`, `logstack`.
 */
export function resolveSettings(flags: ConnectionFlags = {}, env: Env = process.env): ConnectionSettings {
  const sandbox = readSandbox();
  const address = flags.address ?? env['TEMPORAL_ADDRESS'] ?? sandbox?.temporal.address ?? TEMPORAL_DEFAULTS.address;
  const source = flags.address ? 'flag' : env['TEMPORAL_ADDRESS'] ? 'env' : sandbox ? 'sandbox' : 'default';
  const cert = env['TEMPORAL_TLS_CERT'];
  const key = env['TEMPORAL_TLS_KEY'];
  const ca = env['TEMPORAL_TLS_CA'];
  const serverName = env['TEMPORAL_TLS_SERVER_NAME'];
  if ((cert === undefined) !== (key === undefined)) {
    throw new CliError('set both TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY for mTLS, or neither', 2);
  }
  const tls = cert || ca || serverName ? { ...(cert ? { cert } : {}), ...(key ? { key } : {}), ...(ca ? { ca } : {}), ...(serverName ? { serverName } : {}) } : undefined;
  const apiKey = env['TEMPORAL_API_KEY'];
  return {
    address,
    namespace: flags.namespace ?? env['TEMPORAL_NAMESPACE'] ?? TEMPORAL_DEFAULTS.namespace,
    taskQueue: flags.taskQueue ?? env['LOGSTACK_TASK_QUEUE'] ?? TEMPORAL_DEFAULTS.taskQueue,
    uiBase: (env['LOGSTACK_UI_URL'] ?? sandbox?.temporal.ui ?? `http://127.0.0.1:${TEMPORAL_DEFAULTS.uiPort}`).replace(/\/$/, ''),
    ...(tls ? { tls } : {}),
    ...(apiKey ? { apiKey } : {}),
    source,
  };
}

/** The Web UI page of a workflow. */
export function workflowUrl(settings: ConnectionSettings, workflowId: string): string {
  return `${settings.uiBase}/namespaces/${encodeURIComponent(settings.namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}

function readPem(path: string, variable: string): Buffer {
  try {
    return readFileSync(path);
  } catch {
    throw new CliError(`cannot read ${variable}=${path}; point it at a PEM file`, 2);
  }
}

/** What to do when Temporal cannot be reached, per where the address came from. */
export function unreachableHint(settings: ConnectionSettings): string {
  switch (settings.source) {
    case 'sandbox':
    case 'default':
      return `cannot reach Temporal at ${settings.address} — is the sandbox up? run \`npm run sandbox -- up\` (or set TEMPORAL_ADDRESS / --address)`;
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
  const t = settings.tls;
  const tls: ConnectionOptions['tls'] = t
    ? {
        ...(t.cert && t.key ? { clientCertPair: { crt: readPem(t.cert, 'TEMPORAL_TLS_CERT'), key: readPem(t.key, 'TEMPORAL_TLS_KEY') } } : {}),
        ...(t.ca ? { serverRootCACertificate: readPem(t.ca, 'TEMPORAL_TLS_CA') } : {}),
        ...(t.serverName ? { serverNameOverride: t.serverName } : {}),
      }
    : settings.apiKey
      ? true
      : undefined;
  let connection: Connection;
  try {
    connection = await Connection.connect({
      address: settings.address,
      connectTimeout: options.connectTimeoutMs ?? 5000,
      ...(tls ? { tls } : {}),
      ...(settings.apiKey ? { apiKey: settings.apiKey } : {}),
    });
  } catch (error) {
    throw new CliError(`${unreachableHint(settings)}\n  (${error instanceof Error ? error.message : String(error)})`, 1);
  }
  const dataConverter = await dataConverterFromEnv(options.env ?? process.env);
  const client = new Client({ connection, namespace: settings.namespace, ...(dataConverter ? { dataConverter } : {}) });
  return { client, connection, close: () => connection.close() };
}
