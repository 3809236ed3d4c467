/**
 * A raw JSON request to a kube-apiserver through the client library's own transport (TLS, bearer
 * token and client certificates from the kubeconfig), with an `AbortSignal`. Used where the generic
 * `KubernetesObjectApi` has no verb: subresources (`/status`), discovery, watch-compatible lists, and
 * `/metrics`.
 */
import { HttpMethod, type KubeConfig, RequestContext, createConfiguration } from '@kubernetes/client-node';

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

const transport = createConfiguration().httpApi;

function buildUrl(kc: KubeConfig, path: string, query: KubeRequest['query']): string {
  const server = kc.getCurrentCluster()?.server;
  if (!server) throw new Error(`kubeconfig context "${kc.getCurrentContext()}" names no cluster server`);
  const url = new URL(server.replace(/\/$/, '') + path);
  for (const [key, value] of Object.entries(query ?? {})) if (value !== undefined) url.searchParams.set(key, String(value));
  return url.toString();
}

function parseStatus(text: string): KubeStatus | undefined {
  try {
    const parsed = JSON.parse(text) as unknown;
    return typeof parsed === 'object' && parsed !== null ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Sends one request and returns the parsed JSON body.
 * @throws KubeApiError for any non-2xx answer (carrying the apiserver's Status); the abort reason when `signal` aborts.
 */
export async function kubeRequest<T>(kc: KubeConfig, request: KubeRequest): Promise<T> {
  const ctx = new RequestContext(buildUrl(kc, request.path, request.query), HttpMethod[request.method]);
  ctx.setHeaderParam('Accept', request.text ? 'text/plain, */*' : 'application/json');
  if (request.body !== undefined) {
    ctx.setHeaderParam('Content-Type', request.contentType ?? 'application/json');
    ctx.setBody(JSON.stringify(request.body));
  }
  // A `PooledKubeConfig` (every cluster's) also sets its shared connection pool here.
  await kc.applySecurityAuthentication(ctx);
  if (request.signal) ctx.setSignal(request.signal);
  const response = await transport.send(ctx).toPromise();
  const text = await response.body.text();
  if (response.httpStatusCode < 200 || response.httpStatusCode > 299) {
    throw new KubeApiError(response.httpStatusCode, parseStatus(text), `HTTP ${response.httpStatusCode} from ${request.method} ${request.path}`);
  }
  return (request.text ? text : JSON.parse(text)) as T;
}
