/**
 * The credentials a request to one context carries, from its kubeconfig user: a static bearer token, a
 * token file (re-read at most once a minute, so a rotated token is picked up as kubectl picks it up),
 * basic auth, or an exec credential plugin (`client.authentication.k8s.io/v1` or `v1beta1`). A plugin
 * runs once and its answer is kept until its `expirationTimestamp`, or until the API server answers
 * 401 (then it runs again); concurrent requests share one run. What a plugin prints is never logged or
 * put into an error message: it is a credential. A plugin starts without the worker's key variables
 * (child-env.ts).
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { FailureType, hasUnsafeCharacters } from '../../domain/index.ts';
import { childEnvironment } from '../child-env.ts';
import { nonRetryable } from '../errors.ts';
import type { ContextConnection, ExecPlugin } from './kubeconfig.ts';

/** What one request authenticates with. `cert` and `key` are PEM, from an exec plugin. */
export interface RequestCredentials {
  readonly authorization?: string;
  readonly cert?: string;
  readonly key?: string;
}

/** The credentials of one context. */
export interface Credentials {
  /** The credentials for the next request. */
  current(): Promise<RequestCredentials>;
  /** True when {@link invalidate} may yield different credentials (an exec plugin or a token file). */
  readonly renewable: boolean;
  /** Forgets cached credentials, after the API server refused them (401). */
  invalidate(): void;
}

/** How long a token file's content is used before it is read again. */
const TOKEN_FILE_TTL_MS = 60_000;
/** How long an exec plugin may run. */
const EXEC_TIMEOUT_MS = 60_000;

interface ExecCredentialStatus {
  readonly token?: string;
  readonly clientCertificateData?: string;
  readonly clientKeyData?: string;
  readonly expirationTimestamp?: string;
}

function bearer(token: string, what: string): string {
  if (hasUnsafeCharacters(token)) throw nonRetryable(FailureType.InvalidInput, `${what} contains control characters`);
  return `Bearer ${token}`;
}

function tokenFileCredentials(path: string): Credentials {
  let cached: { value: string; readAt: number } | undefined;
  return {
    renewable: true,
    async current() {
      if (!cached || performance.now() - cached.readAt > TOKEN_FILE_TTL_MS) {
        let token: string;
        try {
          token = (await readFile(path, 'utf8')).trim();
        } catch (error) {
          throw nonRetryable(FailureType.InvalidInput, `kubeconfig tokenFile ${path} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`, { path });
        }
        cached = { value: bearer(token, `token file ${path}`), readAt: performance.now() };
      }
      return { authorization: cached.value };
    },
    invalidate() {
      cached = undefined;
    },
  };
}

/** The last line of a plugin's stderr, shortened: what it says went wrong, without its output. */
function lastLine(stderr: string): string {
  const line = stderr.trim().split('\n').at(-1)?.trim() ?? '';
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}

function runPlugin(plugin: ExecPlugin, user: string, connection: ContextConnection): Promise<ExecCredentialStatus> {
  const what = `kubeconfig user "${user}": exec credential plugin "${plugin.command}"`;
  const info = {
    apiVersion: plugin.apiVersion,
    kind: 'ExecCredential',
    spec: {
      interactive: false,
      ...(plugin.provideClusterInfo
        ? {
            cluster: {
              server: connection.server,
              ...(connection.tls.ca ? { 'certificate-authority-data': Buffer.from(connection.tls.ca).toString('base64') } : {}),
              ...(connection.tls.insecure ? { 'insecure-skip-tls-verify': true } : {}),
              ...(connection.tls.serverName ? { 'tls-server-name': connection.tls.serverName } : {}),
            },
          }
        : {}),
    },
  };
  const env = childEnvironment({ ...Object.fromEntries(plugin.env.map((e) => [e.name, e.value])), KUBERNETES_EXEC_INFO: JSON.stringify(info) });
  return new Promise((resolve, reject) => {
    const child = execFile(plugin.command, [...plugin.args], { env, timeout: EXEC_TIMEOUT_MS, maxBuffer: 1 << 20, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'EACCES') {
          reject(nonRetryable(FailureType.InvalidInput, `${what} cannot be run (${code})${plugin.installHint ? `: ${plugin.installHint}` : ''}`, { user, command: plugin.command }));
          return;
        }
        const said = lastLine(stderr);
        reject(new Error(`${what} failed (${error.killed ? 'timed out' : `exit ${String(code ?? error.signal ?? 'error')}`})${said ? `: ${said}` : ''}`));
        return;
      }
      let parsed: { apiVersion?: unknown; kind?: unknown; status?: ExecCredentialStatus };
      try {
        parsed = JSON.parse(stdout) as typeof parsed;
      } catch {
        reject(new Error(`${what} printed no ExecCredential JSON`));
        return;
      }
      const status = parsed.status;
      if (parsed.kind !== 'ExecCredential' || parsed.apiVersion !== plugin.apiVersion || typeof status !== 'object' || status === null) {
        reject(new Error(`${what} printed no ExecCredential of ${plugin.apiVersion}`));
        return;
      }
      if (!status.token && !(status.clientCertificateData && status.clientKeyData)) {
        reject(new Error(`${what}'s ExecCredential has neither a token nor a client certificate and key`));
        return;
      }
      resolve(status);
    });
    child.stdin?.end();
  });
}

function execCredentials(plugin: ExecPlugin, user: string, connection: ContextConnection): Credentials {
  let pending: Promise<{ credentials: RequestCredentials; expiresAt: number }> | undefined;
  const fetchCredentials = async (): Promise<{ credentials: RequestCredentials; expiresAt: number }> => {
    const status = await runPlugin(plugin, user, connection);
    const expiry = status.expirationTimestamp ? Date.parse(status.expirationTimestamp) : Number.POSITIVE_INFINITY;
    return {
      credentials: {
        ...(status.token ? { authorization: bearer(status.token, `the ExecCredential of user "${user}"`) } : {}),
        ...(status.clientCertificateData && status.clientKeyData ? { cert: status.clientCertificateData, key: status.clientKeyData } : {}),
      },
      expiresAt: Number.isNaN(expiry) ? 0 : expiry,
    };
  };
  return {
    renewable: true,
    async current() {
      pending ??= fetchCredentials();
      const run = pending;
      try {
        const got = await run;
        if (got.expiresAt > Date.now()) return got.credentials;
      } catch (error) {
        if (pending === run) pending = undefined;
        throw error;
      }
      if (pending === run) pending = undefined;
      pending ??= fetchCredentials();
      return (await pending).credentials;
    },
    invalidate() {
      pending = undefined;
    },
  };
}

function fixed(credentials: RequestCredentials): Credentials {
  return { renewable: false, current: () => Promise.resolve(credentials), invalidate: () => undefined };
}

/** The credentials of `connection`'s user. Runs nothing until the first request. */
export function credentialsFor(connection: ContextConnection): Credentials {
  const auth = connection.auth;
  switch (auth.kind) {
    case 'none':
      return fixed({});
    case 'token':
      return fixed({ authorization: `Bearer ${auth.token}` });
    case 'basic':
      return fixed({ authorization: `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}` });
    case 'tokenFile':
      return tokenFileCredentials(auth.path);
    case 'exec':
      return execCredentials(auth.plugin, auth.user, connection);
  }
}
