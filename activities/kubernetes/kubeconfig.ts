/**
 * The kubeconfig, read as kubectl reads it: `KUBECONFIG` (a list of files, merged, the first to name a
 * cluster, user or context wins), else `~/.kube/config`, else the pod's service account when the worker
 * runs in a cluster. Relative file paths are resolved against the file that names them. Nothing is
 * contacted and no credential plugin runs here; certificate files are read when a context is first used.
 *
 * Supported per user: a bearer `token`, a `tokenFile` (re-read as it rotates), client certificates
 * (`client-certificate[-data]`, `client-key[-data]`), basic auth, and exec credential plugins
 * (`client.authentication.k8s.io`, see credentials.ts). Refused with a message naming what to change:
 * the removed `auth-provider` plugins and `proxy-url`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path';
import { parse } from 'yaml';
import { FailureType, hasUnsafeCharacters } from '../../domain/index.ts';
import { nonRetryable } from '../errors.ts';

/** One `exec` credential plugin, as the kubeconfig's user names it. */
export interface ExecPlugin {
  readonly apiVersion: string;
  /** The command: absolute, on `PATH`, or relative to the kubeconfig file that names it (when it has a `/`). */
  readonly command: string;
  readonly args: readonly string[];
  readonly env: readonly { readonly name: string; readonly value: string }[];
  readonly installHint?: string;
  /** Pass the cluster's server and CA to the plugin (`KUBERNETES_EXEC_INFO`'s `spec.cluster`). */
  readonly provideClusterInfo: boolean;
}

/** How requests to one context authenticate. */
export type UserAuth =
  | { readonly kind: 'none' }
  | { readonly kind: 'token'; readonly token: string }
  | { readonly kind: 'tokenFile'; readonly path: string }
  | { readonly kind: 'basic'; readonly username: string; readonly password: string }
  | { readonly kind: 'exec'; readonly user: string; readonly plugin: ExecPlugin };

/** The TLS material of one context. PEM text; `insecure` skips verifying the server's certificate. */
export interface TlsMaterial {
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
  readonly insecure: boolean;
  readonly serverName?: string;
}

/** Everything needed to reach one context's API server. */
export interface ContextConnection {
  readonly context: string;
  /** The server's base URL, without a trailing slash. */
  readonly server: string;
  /** The context's namespace (`default` when it names none): where a namespaced object without one goes. */
  readonly namespace: string;
  readonly tls: TlsMaterial;
  readonly auth: UserAuth;
}

/** A loaded kubeconfig: its contexts, and the connection of each. */
export interface Kubeconfig {
  /** Where it was read from, for messages. */
  readonly source: string;
  readonly contexts: readonly string[];
  /**
   * The connection of `context`, its certificate files read now.
   * @throws ApplicationFailure `InvalidInput` naming the context and what to fix.
   */
  connection(context: string): ContextConnection;
}

type Entry = Record<string, unknown>;
interface Named {
  readonly body: Entry;
  /** The directory of the file that named it, for relative paths. */
  readonly dir: string;
}

/** The service account mount of a pod. */
const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
/** The context name an in-cluster configuration gets. */
export const IN_CLUSTER_CONTEXT = 'inCluster';

function invalid(source: string, message: string, details: Readonly<Record<string, unknown>> = {}): Error {
  return nonRetryable(FailureType.InvalidInput, `kubeconfig ${source}: ${message}`, { kubeconfig: source, ...details });
}

function asEntries(value: unknown, section: string, source: string): { name: string; body: Entry }[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw invalid(source, `"${section}" must be a list`);
  return value.map((item: unknown, i) => {
    const record = item as { name?: unknown } & Entry;
    const name = record?.name;
    const key = section.slice(0, -1); // clusters → cluster
    const body = record?.[key];
    if (typeof name !== 'string' || name === '') throw invalid(source, `${section}[${i}] has no name`);
    if (typeof body !== 'object' || body === null) throw invalid(source, `${section}[${i}] ("${name}") has no "${key}" section`);
    return { name, body: body as Entry };
  });
}

/** The parsed sections of several files, merged first-wins, as kubectl merges `KUBECONFIG`. */
interface Merged {
  readonly clusters: Map<string, Named>;
  readonly users: Map<string, Named>;
  readonly contexts: Map<string, Named>;
}

function mergeFile(merged: Merged, text: string, file: string, dir = dirname(file)): void {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (error) {
    throw invalid(file, `is not YAML: ${(error as Error).message.split('\n')[0] ?? ''}`);
  }
  if (doc === null || doc === undefined) return;
  if (typeof doc !== 'object' || Array.isArray(doc)) throw invalid(file, 'is not a kubeconfig (a mapping with clusters, users and contexts)');
  const d = doc as Entry;
  for (const section of ['clusters', 'users', 'contexts'] as const) {
    for (const { name, body } of asEntries(d[section], section, file)) {
      if (!merged[section].has(name)) merged[section].set(name, { body, dir });
    }
  }
}

const text = (body: Entry, key: string, source: string, what: string): string | undefined => {
  const value = body[key];
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw invalid(source, `${what}: "${key}" must be a string`);
  return value;
};

function fileText(path: string, source: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw invalid(source, `${what}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`, { path });
  }
}

function decoded(data: string, source: string, what: string): string {
  if (!/^[A-Za-z0-9+/=\s]*$/.test(data)) throw invalid(source, `${what} is not base64`);
  return Buffer.from(data, 'base64').toString('utf8');
}

/** `<key>-data` (base64) or `<key>` (a file, relative to its kubeconfig). */
function pem(named: Named, key: string, source: string, what: string): string | undefined {
  const data = text(named.body, `${key}-data`, source, what);
  if (data !== undefined) return decoded(data, source, `${what}: ${key}-data`);
  const path = text(named.body, key, source, what);
  return path === undefined ? undefined : fileText(resolve(named.dir, path), source, `${what}: ${key}`);
}

/** A header value must be one line of visible text: a credential with a line break would split the request. */
function headerSafe(value: string, source: string, what: string): string {
  if (hasUnsafeCharacters(value)) throw invalid(source, `${what} contains control characters`);
  return value;
}

function execPlugin(named: Named, user: string, source: string): ExecPlugin {
  const exec = named.body['exec'] as Entry;
  const what = `user "${user}" exec`;
  const apiVersion = text(exec, 'apiVersion', source, what);
  const command = text(exec, 'command', source, what);
  if (!apiVersion?.startsWith('client.authentication.k8s.io/')) {
    throw invalid(source, `${what}: apiVersion must be client.authentication.k8s.io/v1 or v1beta1, not "${apiVersion ?? ''}"`);
  }
  if (!command) throw invalid(source, `${what} names no command`);
  const args = (exec['args'] ?? []) as unknown;
  const env = (exec['env'] ?? []) as unknown;
  if (!Array.isArray(args) || !args.every((a) => typeof a === 'string')) throw invalid(source, `${what}: args must be a list of strings`);
  if (!Array.isArray(env) || !env.every((e: Entry) => typeof e?.['name'] === 'string' && typeof e['value'] === 'string')) {
    throw invalid(source, `${what}: env must be a list of {name, value} strings`);
  }
  if (exec['interactiveMode'] === 'Always') throw invalid(source, `${what}: interactiveMode Always needs a terminal; a worker has none`);
  const installHint = text(exec, 'installHint', source, what);
  return {
    apiVersion,
    command: command.includes('/') && !isAbsolute(command) ? resolve(named.dir, command) : command,
    args,
    env: env as { name: string; value: string }[],
    ...(installHint ? { installHint } : {}),
    provideClusterInfo: exec['provideClusterInfo'] === true,
  };
}

function userAuth(named: Named | undefined, user: string, source: string): UserAuth {
  if (!named) return { kind: 'none' };
  const body = named.body;
  const what = `user "${user}"`;
  if (body['auth-provider'] !== undefined) {
    throw invalid(source, `${what} uses an auth-provider plugin, which Kubernetes removed; use an exec credential plugin or a token`);
  }
  if (body['exec'] !== undefined && body['exec'] !== null) return { kind: 'exec', user, plugin: execPlugin(named, user, source) };
  const token = text(body, 'token', source, what);
  if (token !== undefined) return { kind: 'token', token: headerSafe(token.trim(), source, `${what}'s token`) };
  const tokenFile = text(body, 'tokenFile', source, what);
  if (tokenFile !== undefined) return { kind: 'tokenFile', path: resolve(named.dir, tokenFile) };
  const username = text(body, 'username', source, what);
  if (username !== undefined) {
    const password = text(body, 'password', source, what) ?? '';
    return { kind: 'basic', username: headerSafe(username, source, `${what}'s username`), password: headerSafe(password, source, `${what}'s password`) };
  }
  return { kind: 'none' };
}

function serverUrl(raw: string | undefined, cluster: string, source: string): string {
  if (!raw) throw invalid(source, `cluster "${cluster}" names no server`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw invalid(source, `cluster "${cluster}": server "${raw}" is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw invalid(source, `cluster "${cluster}": server must be https:// (or http://), not ${url.protocol}`);
  return url.toString().replace(/\/$/, '');
}

function connectionOf(merged: Merged, context: string, source: string, contextNames: readonly string[]): ContextConnection {
  const ctx = merged.contexts.get(context);
  if (!ctx) {
    throw invalid(source, `has no context "${context}" (it has: ${contextNames.join(', ') || 'none'}); fix cluster.context in the catalog`, { context });
  }
  const clusterName = text(ctx.body, 'cluster', source, `context "${context}"`);
  const userName = text(ctx.body, 'user', source, `context "${context}"`);
  const cluster = clusterName === undefined ? undefined : merged.clusters.get(clusterName);
  if (!cluster) throw invalid(source, `context "${context}" names cluster "${clusterName ?? ''}", which it does not define`, { context });
  const user = userName === undefined ? undefined : merged.users.get(userName);
  if (userName !== undefined && !user) throw invalid(source, `context "${context}" names user "${userName}", which it does not define`, { context });
  const what = `cluster "${clusterName}"`;
  if (cluster.body['proxy-url'] !== undefined) throw invalid(source, `${what} names a proxy-url; logstack reaches API servers directly — remove it or run the worker where the server is reachable`);
  const ca = pem(cluster, 'certificate-authority', source, what);
  const serverName = text(cluster.body, 'tls-server-name', source, what);
  const auth = userAuth(user, userName ?? '', source);
  const cert = user && pem(user, 'client-certificate', source, `user "${userName}"`);
  const key = user && pem(user, 'client-key', source, `user "${userName}"`);
  if ((cert === undefined) !== (key === undefined)) throw invalid(source, `user "${userName}" has a client certificate without its key, or a key without its certificate`);
  return {
    context,
    server: serverUrl(text(cluster.body, 'server', source, what), clusterName ?? '', source),
    namespace: text(ctx.body, 'namespace', source, `context "${context}"`) ?? 'default',
    tls: {
      insecure: cluster.body['insecure-skip-tls-verify'] === true,
      ...(ca !== undefined ? { ca } : {}),
      ...(cert !== undefined && key !== undefined ? { cert, key } : {}),
      ...(serverName ? { serverName } : {}),
    },
    auth,
  };
}

function fromMerged(merged: Merged, source: string): Kubeconfig {
  const contexts = [...merged.contexts.keys()];
  return { source, contexts, connection: (context) => connectionOf(merged, context, source, contexts) };
}

/**
 * Parses kubeconfig text (relative paths resolve against `dir`).
 * @throws ApplicationFailure `InvalidInput` when it is not a kubeconfig.
 */
export function parseKubeconfig(textOf: string, source: string, dir = process.cwd()): Kubeconfig {
  const merged: Merged = { clusters: new Map(), users: new Map(), contexts: new Map() };
  mergeFile(merged, textOf, source, dir);
  return fromMerged(merged, source);
}

/**
 * Reads the kubeconfig files `paths` (merged first-wins; a missing file is skipped, as kubectl skips it).
 * @throws ApplicationFailure `InvalidInput` when none exists or one is not a kubeconfig.
 */
export function loadKubeconfigFiles(paths: readonly string[]): Kubeconfig {
  const merged: Merged = { clusters: new Map(), users: new Map(), contexts: new Map() };
  const source = paths.join(delimiter);
  const present = paths.filter((p) => existsSync(p));
  if (present.length === 0) throw invalid(source, 'does not exist; set KUBECONFIG to a kubeconfig with one context per environment');
  for (const path of present) mergeFile(merged, fileText(resolve(path), path, 'file'), resolve(path));
  return fromMerged(merged, source);
}

/** The pod's own service account, as a kubeconfig of one context ({@link IN_CLUSTER_CONTEXT}). */
function inCluster(host: string, port: string): Kubeconfig {
  const server = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const merged: Merged = {
    clusters: new Map([[IN_CLUSTER_CONTEXT, { body: { server, 'certificate-authority': join(SERVICE_ACCOUNT_DIR, 'ca.crt') }, dir: SERVICE_ACCOUNT_DIR }]]),
    users: new Map([[IN_CLUSTER_CONTEXT, { body: { tokenFile: join(SERVICE_ACCOUNT_DIR, 'token') }, dir: SERVICE_ACCOUNT_DIR }]]),
    contexts: new Map([[IN_CLUSTER_CONTEXT, { body: { cluster: IN_CLUSTER_CONTEXT, user: IN_CLUSTER_CONTEXT }, dir: SERVICE_ACCOUNT_DIR }]]),
  };
  return fromMerged(merged, 'in-cluster service account');
}

/**
 * The default kubeconfig: the files of `KUBECONFIG`, else `~/.kube/config`, else the pod's service account.
 * @throws ApplicationFailure `InvalidInput` when there is none.
 */
export function loadDefaultKubeconfig(env: NodeJS.ProcessEnv = process.env): Kubeconfig {
  const list = (env['KUBECONFIG'] ?? '').split(delimiter).filter((p) => p !== '');
  if (list.length > 0) return loadKubeconfigFiles(list);
  const home = join(homedir(), '.kube', 'config');
  if (existsSync(home)) return loadKubeconfigFiles([home]);
  const host = env['KUBERNETES_SERVICE_HOST'];
  const port = env['KUBERNETES_SERVICE_PORT'];
  if (host && port && existsSync(join(SERVICE_ACCOUNT_DIR, 'token'))) return inCluster(host, port);
  throw invalid('(none)', 'none found: set KUBECONFIG to a kubeconfig with one context per environment');
}
