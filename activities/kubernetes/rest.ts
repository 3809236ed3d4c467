/**
 * The HTTP transport to one kube-apiserver: JSON requests and watch streams over keep-alive connections
 * (one pool per context, reused by every object call, list and watch), with the context's TLS material and
 * credentials (credentials.ts), an `AbortSignal` on every request, and the apiserver's `Status` on every
 * failure. Built on Node's `http`/`https`, which Node and Deno both provide.
 */
import { Agent as HttpAgent, type IncomingMessage, type RequestOptions, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { createInterface } from 'node:readline';
import { type Credentials, type RequestCredentials, credentialsFor } from './credentials.ts';
import type { ContextConnection } from './kubeconfig.ts';

/** A failed API call: HTTP status plus the apiserver's `Status` object when it sent one. */
export class KubeApiError extends Error {
  readonly status: number;
  readonly reason: string | undefined;
  readonly body: KubeStatus | undefined;
  constructor(status: number, body: KubeStatus | undefined, fallback: string) {
    super(body?.message ?? fallback);
    this.name = 'KubeApiError';
    this.status = status;
    this.reason = body?.reason;
    this.body = body;
  }
}

/** The apiserver's `Status` object (the body of every error response). */
export interface KubeStatus {
  readonly kind?: string;
  readonly message?: string;
  readonly reason?: string;
  readonly code?: number;
  readonly details?: {
    readonly name?: string;
    readonly group?: string;
    readonly kind?: string;
    readonly causes?: readonly { readonly reason?: string; readonly message?: string; readonly field?: string }[];
  };
}

/** One request. `query` values that are undefined are left out. */
export interface KubeRequest {
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  readonly path: string;
  readonly query?: Readonly<Record<string, string | number | boolean | undefined>>;
  readonly body?: unknown;
  readonly contentType?: string;
  readonly signal?: AbortSignal;
  /** Return the body as text rather than JSON (for `/metrics`). */
  readonly text?: boolean;
}

/** The content types of the apiserver's patch verbs. */
export const PatchType = {
  /** Server-side apply (a JSON body is valid YAML). */
  Apply: 'application/apply-patch+yaml',
  MergePatch: 'application/merge-patch+json',
  JsonPatch: 'application/json-patch+json',
} as const;

/** One watch event: `ADDED`, `MODIFIED`, `DELETED`, `BOOKMARK` or `ERROR` (whose object is a Status). */
export type WatchHandler = (type: string, object: unknown) => void;

/** The error a watch stream ends with when no byte arrived for its idle limit. */
export class WatchIdleTimeout extends Error {
  constructor(path: string, ms: number) {
    super(`no data on the watch of ${path} for ${ms} ms`);
    this.name = 'TimeoutError';
  }
}

/** Requests to one context's API server. */
export interface KubeTransport {
  /**
   * Sends one request and returns the parsed JSON body (or text).
   * @throws KubeApiError for any non-2xx answer (carrying the apiserver's Status); the abort reason when `signal` aborts;
   *   the network error when the server does not answer.
   */
  request<T>(request: KubeRequest): Promise<T>;
  /**
   * Watches a collection path (`watch=true` plus `query`), calling `onEvent` for every event line. Resolves when the
   * server ends the stream or `signal` aborts; rejects with a {@link KubeApiError} when the server refuses the watch,
   * with {@link WatchIdleTimeout} after `idleMs` without a byte, or with the network error.
   */
  watch(path: string, query: KubeRequest['query'], onEvent: WatchHandler, signal: AbortSignal, idleMs: number): Promise<void>;
}

function parseStatus(text: string): KubeStatus | undefined {
  try {
    const parsed = JSON.parse(text) as unknown;
    return typeof parsed === 'object' && parsed !== null ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/** Why `signal` aborted, as an Error (the reason it was given, when that is one). */
function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new DOMException('The operation was aborted', 'AbortError');
}

/** How long a request's connection may stay silent (no byte either way) before the request fails `ETIMEDOUT` (default). */
const REQUEST_IDLE_MS = 60_000;

/** A connection the server (or the network) closed mid-answer: transient, like any reset. */
function connectionReset(what: string): Error {
  return Object.assign(new Error(`socket hang up: ${what}`), { code: 'ECONNRESET' });
}

function readBody(response: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    response.on('data', (chunk: Buffer) => chunks.push(chunk));
    response.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    response.on('error', reject);
    response.on('aborted', () => reject(connectionReset('the API server closed the response early')));
  });
}

/**
 * The transport of one context. Its keep-alive pool lives as long as the transport; TLS material is the
 * context's, read once; credentials are asked for on every request (a 401 renews renewable ones and the
 * request is sent once more).
 */
export function createTransport(
  connection: ContextConnection,
  credentials: Credentials = credentialsFor(connection),
  settings: { readonly requestIdleMs?: number } = {},
): KubeTransport {
  const requestIdleMs = settings.requestIdleMs ?? REQUEST_IDLE_MS;
  const secure = connection.server.startsWith('https:');
  const agent = secure ? new HttpsAgent({ keepAlive: true, scheduling: 'lifo' }) : new HttpAgent({ keepAlive: true, scheduling: 'lifo' });
  const send = secure ? httpsRequest : httpRequest;
  const { tls } = connection;

  const options = (method: string, headers: Record<string, string>, auth: RequestCredentials, signal: AbortSignal | undefined): RequestOptions & Record<string, unknown> => ({
    method,
    agent,
    headers: { ...headers, ...(auth.authorization ? { Authorization: auth.authorization } : {}) },
    ...(signal ? { signal } : {}),
    ...(secure
      ? {
          rejectUnauthorized: !tls.insecure,
          ...(tls.ca ? { ca: tls.ca } : {}),
          ...(auth.cert && auth.key ? { cert: auth.cert, key: auth.key } : tls.cert && tls.key ? { cert: tls.cert, key: tls.key } : {}),
          ...(tls.serverName ? { servername: tls.serverName } : {}),
        }
      : {}),
  });

  const url = (path: string, query: KubeRequest['query']): URL => {
    const target = new URL(connection.server + path);
    for (const [key, value] of Object.entries(query ?? {})) if (value !== undefined) target.searchParams.set(key, String(value));
    return target;
  };

  /** Opens one request and resolves with the response head; a 401 with renewable credentials is sent once more. */
  const open = async (
    method: string,
    target: URL,
    headers: Record<string, string>,
    body: string | undefined,
    signal: AbortSignal | undefined,
    socketIdleMs: number,
  ): Promise<IncomingMessage> => {
    for (let attempt = 0; ; attempt++) {
      signal?.throwIfAborted();
      const auth = await credentials.current();
      const response = await new Promise<IncomingMessage>((resolve, reject) => {
        const req = send(target, options(method, headers, auth, signal), resolve);
        req.on('error', (error) => reject(signal?.aborted ? abortReason(signal) : error));
        if (socketIdleMs > 0) {
          // A server that accepted the request and went silent (a partition drops packets without a reset): give up,
          // as a transient error, rather than wait for the operating system to notice.
          req.setTimeout(socketIdleMs, () =>
            req.destroy(Object.assign(new Error(`no answer from ${connection.server} for ${socketIdleMs} ms (${method} ${target.pathname})`), { code: 'ETIMEDOUT' })),
          );
        }
        req.end(body);
      });
      if (response.statusCode !== 401 || !credentials.renewable || attempt > 0) return response;
      response.on('error', () => undefined); // the refused answer is dropped, and so is a reset while draining it
      response.resume();
      credentials.invalidate();
    }
  };

  const failure = async (response: IncomingMessage, method: string, path: string): Promise<KubeApiError> => {
    const status = response.statusCode ?? 0;
    return new KubeApiError(status, parseStatus(await readBody(response)), `HTTP ${status} from ${method} ${path}`);
  };

  return {
    async request<T>(request: KubeRequest): Promise<T> {
      const headers: Record<string, string> = { Accept: request.text ? 'text/plain, */*' : 'application/json' };
      let body: string | undefined;
      if (request.body !== undefined) {
        headers['Content-Type'] = request.contentType ?? 'application/json';
        body = JSON.stringify(request.body);
        // Always framed by its length: Node sends a DELETE body neither chunked nor with a length of its own,
        // and the server would read it as the next request on the kept-alive connection.
        headers['Content-Length'] = String(Buffer.byteLength(body));
      }
      const response = await open(request.method, url(request.path, request.query), headers, body, request.signal, requestIdleMs);
      const status = response.statusCode ?? 0;
      if (status < 200 || status > 299) throw await failure(response, request.method, request.path);
      const text = await readBody(response).catch((error: unknown) => {
        throw request.signal?.aborted ? abortReason(request.signal) : error;
      });
      return (request.text ? text : JSON.parse(text)) as T;
    },

    async watch(path, query, onEvent, signal, idleMs) {
      const stream = new AbortController();
      const stopStream = (): void => stream.abort(signal.reason);
      signal.addEventListener('abort', stopStream, { once: true });
      let idle: NodeJS.Timeout | undefined;
      const quiet = (): void => {
        clearTimeout(idle);
        idle = setTimeout(() => stream.abort(new WatchIdleTimeout(path, idleMs)), idleMs);
        idle.unref?.();
      };
      try {
        quiet();
        // The watch's own idle limit applies (below); the socket's would end a quiet stream the server keeps open.
        const response = await open('GET', url(path, { ...query, watch: true }), { Accept: 'application/json' }, undefined, stream.signal, 0);
        if (response.statusCode !== 200) throw await failure(response, 'GET', path);
        await new Promise<void>((resolve, reject) => {
          const end = (): void => {
            stream.signal.removeEventListener('abort', abort);
            resolve();
          };
          const abort = (): void => {
            response.destroy();
            end();
          };
          // A stream aborted while its request was in flight: not every runtime ends an answered request on its
          // signal, and a listener added to an aborted signal never runs.
          if (stream.signal.aborted) abort();
          else stream.signal.addEventListener('abort', abort, { once: true });
          response.on('data', quiet);
          response.on('error', (error) => (stream.signal.aborted ? end() : reject(error)));
          response.on('aborted', () => reject(connectionReset('the API server closed the watch')));
          const lines = createInterface({ input: response, crlfDelay: Number.POSITIVE_INFINITY });
          // readline re-emits the response's errors (a connection reset mid-stream); without a listener they would
          // end the process.
          lines.on('error', (error) => (stream.signal.aborted ? end() : reject(error)));
          lines.on('line', (line) => {
            if (stream.signal.aborted || line.trim() === '') return;
            let event: { type?: unknown; object?: unknown };
            try {
              event = JSON.parse(line) as typeof event;
            } catch {
              return; // a line cut by a closing stream; the next stream resumes from the last resourceVersion
            }
            if (typeof event.type === 'string') onEvent(event.type, event.object);
          });
          lines.on('close', end);
        });
      } catch (error) {
        if (signal.aborted) return;
        if (stream.signal.reason instanceof WatchIdleTimeout) throw stream.signal.reason;
        throw error;
      } finally {
        clearTimeout(idle);
        signal.removeEventListener('abort', stopStream);
      }
      if (!signal.aborted && stream.signal.reason instanceof WatchIdleTimeout) throw stream.signal.reason;
    },
  };
}
