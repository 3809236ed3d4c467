/**
 * Where and how to reach Temporal, resolved the way the `temporal` CLI and every Temporal SDK resolve
 * it: a TOML profile (`TEMPORAL_CONFIG_FILE`, else `~/.config/temporalio/temporal.toml`; profile
 * `TEMPORAL_PROFILE`, else `default`) overridden by the `TEMPORAL_*` variables, overridden by flags.
 * The worker and the CLI both use this one resolver, so they never disagree about a setting.
 */
import { existsSync } from 'node:fs';
import { loadClientConfigProfile, toClientOptions, type ClientConfigProfile } from '@temporalio/envconfig';
import { TEMPORAL_DEFAULTS } from '../domain/index.ts';
import { ConfigError, type Env, type Problem } from './problems.ts';

/** Flags that override the variables and the profile. */
export interface TemporalFlags {
  readonly address?: string | undefined;
  readonly namespace?: string | undefined;
  readonly taskQueue?: string | undefined;
  readonly profile?: string | undefined;
}

/** Where a setting came from, for messages that say what to change. */
export type SettingSource = 'flag' | 'env' | 'profile' | 'default';

/** TLS as the SDK's connections take it (the shape `@temporalio/envconfig` produces). */
export type TemporalTls = NonNullable<ReturnType<typeof toClientOptions>['connectionOptions']['tls']>;

/** The resolved, validated Temporal settings. */
export interface TemporalSettings {
  readonly address: string;
  readonly namespace: string;
  readonly taskQueue: string;
  /** Base URL of the Temporal Web UI, for links (`LOGSTACK_UI_URL`). */
  readonly uiBase: string;
  /** TLS for the connection: `undefined` plain, `true` system roots (API key), or a TLS config. */
  readonly tls: TemporalTls | undefined;
  readonly apiKey: string | undefined;
  /** gRPC metadata from the profile or `TEMPORAL_GRPC_META_*`. */
  readonly metadata: Readonly<Record<string, string>> | undefined;
  /** The profile that was read, and the file `TEMPORAL_CONFIG_FILE` named (`undefined`: the default location, if any). */
  readonly profile: { readonly name: string; readonly file: string | undefined };
  /** Where the address came from. */
  readonly source: SettingSource;
}

/**
 * The Temporal CLI's older TLS variables and the names `@temporalio/envconfig` reads. The older ones
 * keep working: each is mapped to its newer name unless that one is set too.
 */
export const LEGACY_TLS_VARIABLES = {
  TEMPORAL_TLS_CERT: 'TEMPORAL_TLS_CLIENT_CERT_PATH',
  TEMPORAL_TLS_KEY: 'TEMPORAL_TLS_CLIENT_KEY_PATH',
  TEMPORAL_TLS_CA: 'TEMPORAL_TLS_SERVER_CA_CERT_PATH',
} as const;

/** The Temporal variables logstack documents (the profile file's keys are in the README). */
export const TEMPORAL_VARIABLES = {
  TEMPORAL_CONFIG_FILE: 'TOML file of Temporal profiles (default ~/.config/temporalio/temporal.toml)',
  TEMPORAL_PROFILE: 'profile to read from it (default "default")',
  TEMPORAL_ADDRESS: `Temporal frontend host:port (default ${TEMPORAL_DEFAULTS.address})`,
  TEMPORAL_NAMESPACE: `Temporal namespace (default "${TEMPORAL_DEFAULTS.namespace}")`,
  LOGSTACK_TASK_QUEUE: `task queue of the logstack worker (default "${TEMPORAL_DEFAULTS.taskQueue}")`,
  TEMPORAL_TLS: 'true/false: force TLS on or off',
  TEMPORAL_TLS_CLIENT_CERT_PATH: 'path of the mTLS client certificate (also TEMPORAL_TLS_CERT)',
  TEMPORAL_TLS_CLIENT_KEY_PATH: 'path of the mTLS client key (also TEMPORAL_TLS_KEY)',
  TEMPORAL_TLS_SERVER_CA_CERT_PATH: 'path of the server CA bundle (also TEMPORAL_TLS_CA)',
  TEMPORAL_TLS_SERVER_NAME: 'TLS server name override',
  TEMPORAL_API_KEY: 'API key (implies TLS)',
  LOGSTACK_UI_URL: `base URL of the Temporal Web UI for links (default http://127.0.0.1:${TEMPORAL_DEFAULTS.uiPort})`,
} as const;

const ADDRESS = /^[\w.-]+:\d{1,5}$/;

/** The variables handed to the profile loader: only set ones, with the older TLS names mapped. */
function loaderEnvironment(env: Env, problems: Problem[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) if (value !== undefined) out[name] = value;
  for (const [legacy, modern] of Object.entries(LEGACY_TLS_VARIABLES)) {
    const old = env[legacy];
    if (old === undefined) continue;
    const current = env[modern];
    if (current === undefined) out[modern] = old;
    else if (current !== old) problems.push({ key: legacy, value: old, expected: `the same path as ${modern}=${JSON.stringify(current)}, or unset` });
  }
  return out;
}

/**
 * The profile file `TEMPORAL_CONFIG_FILE` names. The loader finds its platform's default file itself,
 * but silently ignores a named file that is missing: that is reported here.
 */
function namedProfileFile(env: Readonly<Record<string, string>>, problems: Problem[]): string | undefined {
  const file = env['TEMPORAL_CONFIG_FILE'];
  if (file !== undefined && !existsSync(file)) problems.push({ key: 'TEMPORAL_CONFIG_FILE', value: file, expected: 'an existing TOML file of Temporal profiles' });
  return file;
}

/** Names the place a TLS path came from: its variable when set, else the profile key. */
function tlsOrigin(env: Readonly<Record<string, string>>, variable: string, profileKey: string, profile: string): string {
  return env[variable] !== undefined ? variable : `profile "${profile}" key tls.${profileKey}`;
}

/** Names the missing half of an mTLS pair where its present half was set: that is what to set. */
function missingHalf(env: Readonly<Record<string, string>>, certPresent: boolean, profile: string): string {
  const [present, missing, missingKey] = certPresent
    ? ['TEMPORAL_TLS_CLIENT_CERT_PATH', 'TEMPORAL_TLS_CLIENT_KEY_PATH', 'client_key_path']
    : ['TEMPORAL_TLS_CLIENT_KEY_PATH', 'TEMPORAL_TLS_CLIENT_CERT_PATH', 'client_cert_path'];
  return env[present] !== undefined ? missing : `profile "${profile}" key tls.${missingKey}`;
}

/** Checks that the TLS files named by the profile or variables exist, before the loader reads them. */
function checkTlsFiles(profile: ClientConfigProfile, env: Readonly<Record<string, string>>, name: string, problems: Problem[]): void {
  const tls = profile.tls;
  if (!tls) return;
  const files = [
    [tls.clientCert, 'TEMPORAL_TLS_CLIENT_CERT_PATH', 'client_cert_path'],
    [tls.clientKey, 'TEMPORAL_TLS_CLIENT_KEY_PATH', 'client_key_path'],
    [tls.serverCACert, 'TEMPORAL_TLS_SERVER_CA_CERT_PATH', 'server_ca_cert_path'],
  ] as const;
  for (const [source, variable, key] of files) {
    if (source && 'path' in source && !existsSync(source.path)) {
      problems.push({ key: tlsOrigin(env, variable, key, name), value: source.path, expected: 'an existing PEM file' });
    }
  }
  if (Boolean(tls.clientCert) !== Boolean(tls.clientKey)) {
    problems.push({
      key: missingHalf(env, tls.clientCert !== undefined, name),
      value: undefined,
      expected: 'both halves of the mTLS pair: set the client certificate and the client key (TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY), or neither',
    });
  }
}

/** Reads the profile (file, then variables); a broken file or unknown profile becomes a problem line. */
function readProfile(env: Readonly<Record<string, string>>, flags: TemporalFlags, file: string | undefined, problems: Problem[]): ClientConfigProfile {
  try {
    return loadClientConfigProfile({
      ...(flags.profile !== undefined ? { profile: flags.profile } : {}),
      overrideEnvVars: env,
    });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    problems.push({ key: flags.profile !== undefined ? '--profile' : file ? `TEMPORAL_PROFILE / ${file}` : 'TEMPORAL_PROFILE', value: flags.profile ?? env['TEMPORAL_PROFILE'], expected: message });
    return {};
  }
}

/**
 * Resolves flags over variables over the profile over the defaults, and validates the result.
 * Guarantees: no file is read but the profile file and the TLS files it names; the older
 * `TEMPORAL_TLS_CERT`/`_KEY`/`_CA` work like their newer names (a server CA alone turns TLS on).
 * @throws ConfigError listing every wrong value, one line each: where it came from, the value, what is expected.
 */
export function resolveTemporal(flags: TemporalFlags = {}, env: Env = {}): TemporalSettings {
  const problems: Problem[] = [];
  const loaderEnv = loaderEnvironment(env, problems);
  const file = namedProfileFile(loaderEnv, problems);
  const profileName = flags.profile ?? loaderEnv['TEMPORAL_PROFILE'] ?? 'default';
  const profile = readProfile(loaderEnv, flags, file, problems);
  checkTlsFiles(profile, loaderEnv, profileName, problems);
  const address = flags.address ?? profile.address ?? TEMPORAL_DEFAULTS.address;
  const source: SettingSource = flags.address !== undefined ? 'flag' : loaderEnv['TEMPORAL_ADDRESS'] !== undefined ? 'env' : profile.address !== undefined ? 'profile' : 'default';
  if (!ADDRESS.test(address)) {
    const key = source === 'flag' ? '--address' : source === 'env' ? 'TEMPORAL_ADDRESS' : `profile "${profileName}" key address`;
    problems.push({ key, value: address, expected: 'host:port, e.g. localhost:7233' });
  }
  const namespace = flags.namespace ?? profile.namespace ?? TEMPORAL_DEFAULTS.namespace;
  if (namespace.trim() === '') problems.push({ key: flags.namespace !== undefined ? '--namespace' : 'TEMPORAL_NAMESPACE', value: namespace, expected: 'a namespace name' });
  const taskQueue = flags.taskQueue ?? loaderEnv['LOGSTACK_TASK_QUEUE'] ?? TEMPORAL_DEFAULTS.taskQueue;
  if (taskQueue.trim() === '') problems.push({ key: flags.taskQueue !== undefined ? '--task-queue' : 'LOGSTACK_TASK_QUEUE', value: taskQueue, expected: 'a task queue name' });
  if (problems.length > 0) throw new ConfigError(problems, TEMPORAL_VARIABLES);
  const { connectionOptions } = toClientOptions(profile);
  return {
    address,
    namespace,
    taskQueue,
    uiBase: (loaderEnv['LOGSTACK_UI_URL'] ?? `http://127.0.0.1:${TEMPORAL_DEFAULTS.uiPort}`).replace(/\/$/, ''),
    tls: connectionOptions.tls ?? undefined,
    apiKey: profile.apiKey,
    metadata: profile.grpcMeta,
    profile: { name: profileName, file },
    source,
  };
}

/** Connection options for `Connection.connect` and `NativeConnection.connect` alike. */
export function connectionOptions(settings: TemporalSettings): { address: string; tls?: TemporalTls; apiKey?: string; metadata?: Record<string, string> } {
  return {
    address: settings.address,
    ...(settings.tls !== undefined ? { tls: settings.tls } : {}),
    ...(settings.apiKey !== undefined ? { apiKey: settings.apiKey } : {}),
    ...(settings.metadata !== undefined ? { metadata: { ...settings.metadata } } : {}),
  };
}
