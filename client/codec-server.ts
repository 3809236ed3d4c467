/**
 * The codec server the Temporal Web UI and the Temporal CLI call to show decrypted payloads:
 * `POST /encode` and `POST /decode` with the codec-server JSON shape
 * `{ payloads: [{ metadata: { key: base64 }, data: base64 }] }`, in the namespace named by the
 * `X-Namespace` header (the Web UI and the Temporal CLI send it; payloads are bound to their namespace).
 * Every POST needs `Authorization: Bearer <token>` — with or without an `Origin` header — unless the
 * server was created with `noAuth`, which {@link startCodecServer} allows only on a loopback address.
 * The token is compared as SHA-256 digests with `timingSafeEqual`, so neither its content nor its length
 * shows in the answer time. CORS answers only the configured UI origins (preflight included). Payloads
 * are processed in memory and never logged.
 */
import { Buffer } from 'node:buffer';
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Payload, PayloadCodec } from '@temporalio/common';

/** JSON form of one payload: base64 metadata values and data. */
export interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

/** A codec that can serve any namespace (`AesGcmCodec` is one). */
export interface NamespacedCodec {
  /** The codec bound to `namespace`. @throws Error for a malformed namespace name. */
  forNamespace(namespace: string): PayloadCodec;
}

/** Shortest bearer token accepted: 16 characters (`openssl rand -hex 32` gives 64). */
export const MIN_TOKEN_LENGTH = 16;

/** The codec server's configuration is unsafe or incomplete (no token, `noAuth` off loopback, short token). */
export class CodecServerConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CodecServerConfigError';
  }
}

/** Options of {@link createCodecServer}. */
export interface CodecServerOptions {
  readonly codec: NamespacedCodec;
  /** Browser origins allowed by CORS, e.g. `http://127.0.0.1:8233`. */
  readonly origins: readonly string[];
  /** POSTs need `Authorization: Bearer <token>`; required unless `noAuth`. */
  readonly token?: string | undefined;
  /** Serve without a token: only for a loopback bind ({@link startCodecServer} refuses any other). */
  readonly noAuth?: boolean;
  /** Largest accepted request body; default 8 MiB (four times Temporal's payload limit). */
  readonly maxBodyBytes?: number;
}

const ALLOWED_HEADERS = 'Content-Type, X-Namespace, Authorization';
const NAMESPACE = /^[A-Za-z0-9._-]{1,255}$/;

/**
 * True for an address that only this machine can reach: `localhost`, 127.0.0.0/8, `::1` (and the
 * IPv4-mapped `::ffff:127.x.y.z`). `0.0.0.0`, `::` and every other address are not.
 */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  const ipv4Loopback = /^127(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;
  if (bare === 'localhost' || ipv4Loopback.test(bare)) return true;
  if (bare === '::1' || /^(0{1,4}:){7}0{0,3}1$/.test(bare)) return true;
  const mapped = /^::ffff:(.+)$/.exec(bare);
  return mapped?.[1] !== undefined && ipv4Loopback.test(mapped[1]);
}

/**
 * Checks the authentication settings of a codec server about to listen on `host`.
 * @throws CodecServerConfigError when there is no token and no `noAuth`, both, a token shorter than
 * {@link MIN_TOKEN_LENGTH}, or `noAuth` on a non-loopback address.
 */
export function assertCodecServerAuth(options: { token?: string | undefined; noAuth?: boolean | undefined }, host: string): void {
  if (options.noAuth) {
    if (options.token !== undefined) throw new CodecServerConfigError('give either a token or --no-auth, not both');
    if (!isLoopbackHost(host)) {
      throw new CodecServerConfigError(
        `--no-auth is only allowed on a loopback address (127.0.0.1, ::1, localhost); ${host} can be reached from other machines — set a token (LOGSTACK_CODEC_TOKEN) instead`,
      );
    }
    return;
  }
  if (options.token === undefined || options.token === '') {
    throw new CodecServerConfigError(
      'the codec server decrypts payloads for whoever calls it, so it needs a bearer token: set LOGSTACK_CODEC_TOKEN (e.g. $(openssl rand -hex 32)), or start it with --no-auth on a loopback address',
    );
  }
  if (options.token.length < MIN_TOKEN_LENGTH || /\s/.test(options.token)) {
    throw new CodecServerConfigError(`the codec server's token must be at least ${MIN_TOKEN_LENGTH} characters without spaces (e.g. $(openssl rand -hex 32))`);
  }
}

class HttpError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/** Converts the JSON shape to SDK payloads. @throws Error naming the malformed field. */
export function payloadsFromJson(body: unknown): Payload[] {
  const list = (body as { payloads?: unknown } | null)?.payloads;
  if (!Array.isArray(list)) throw new HttpError(400, 'body must be {"payloads": [...]}');
  return list.map((p: unknown, i) => {
    if (typeof p !== 'object' || p === null) throw new HttpError(400, `payloads[${i}] must be an object`);
    const { metadata, data } = p as { metadata?: unknown; data?: unknown };
    const out: Payload = {};
    if (metadata !== undefined && metadata !== null) {
      if (typeof metadata !== 'object') throw new HttpError(400, `payloads[${i}].metadata must be an object`);
      out.metadata = {};
      for (const [k, v] of Object.entries(metadata)) {
        if (typeof v !== 'string') throw new HttpError(400, `payloads[${i}].metadata.${k} must be a base64 string`);
        out.metadata[k] = new Uint8Array(Buffer.from(v, 'base64'));
      }
    }
    if (data !== undefined && data !== null) {
      if (typeof data !== 'string') throw new HttpError(400, `payloads[${i}].data must be a base64 string`);
      out.data = new Uint8Array(Buffer.from(data, 'base64'));
    }
    return out;
  });
}

/** Converts SDK payloads to the JSON shape. */
export function payloadsToJson(payloads: readonly Payload[]): { payloads: JsonPayload[] } {
  return {
    payloads: payloads.map((p) => {
      const out: JsonPayload = {};
      if (p.metadata) {
        out.metadata = {};
        for (const [k, v] of Object.entries(p.metadata)) if (v) out.metadata[k] = Buffer.from(v).toString('base64');
      }
      if (p.data) out.data = Buffer.from(p.data).toString('base64');
      return out;
    }),
  };
}

const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

/** Constant-time comparison of equal-length SHA-256 digests: neither content nor length leaks through timing. */
function sameSecret(given: string, expectedDigest: Buffer): boolean {
  return timingSafeEqual(digest(given), expectedDigest);
}

async function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new HttpError(413, `request body exceeds ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Creates (does not start) the codec server. Routes: `POST /encode`, `POST /decode`, `OPTIONS` for
 * CORS preflight, `GET /healthz`.
 */
export function createCodecServer(options: CodecServerOptions): Server {
  if (!options.noAuth && (options.token === undefined || options.token === '')) {
    throw new CodecServerConfigError('a codec server needs a token, or noAuth (loopback only)');
  }
  const expected = options.noAuth ? undefined : digest(options.token ?? '');
  const origins = new Set(options.origins.map((o) => o.replace(/\/$/, '')));
  const limit = options.maxBodyBytes ?? 8 * 1024 * 1024;

  const cors = (req: IncomingMessage, res: ServerResponse): boolean => {
    const origin = req.headers.origin;
    res.setHeader('Vary', 'Origin');
    if (origin === undefined) return true; // not a browser request (Temporal CLI, curl)
    if (!origins.has(origin)) return false;
    res.setHeader('Access-Control-Allow-Origin', origin);
    res.setHeader('Access-Control-Allow-Credentials', 'true');
    return true;
  };

  const send = (res: ServerResponse, status: number, body: unknown): void => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = new URL(req.url ?? '/', 'http://codec.invalid').pathname.replace(/\/+$/, '') || '/';
    const allowedOrigin = cors(req, res);
    if (req.method === 'OPTIONS') {
      if (!allowedOrigin) throw new HttpError(403, `origin ${req.headers.origin} is not allowed; start the codec server with --origin ${req.headers.origin}`);
      res.writeHead(204, {
        'Access-Control-Allow-Methods': 'POST, OPTIONS',
        'Access-Control-Allow-Headers': ALLOWED_HEADERS,
        'Access-Control-Max-Age': '600',
      });
      res.end();
      return;
    }
    if (req.method === 'GET' && path === '/healthz') {
      send(res, 200, { ok: true });
      return;
    }
    if (path !== '/encode' && path !== '/decode') throw new HttpError(404, 'routes: POST /encode, POST /decode');
    if (req.method !== 'POST') {
      res.setHeader('Allow', 'POST, OPTIONS');
      throw new HttpError(405, `${path} accepts POST`);
    }
    if (!allowedOrigin) throw new HttpError(403, `origin ${req.headers.origin} is not allowed`);
    // Every POST, from a browser or not (no Origin header), shows the token.
    if (expected !== undefined) {
      const auth = req.headers.authorization ?? '';
      const match = /^Bearer +(\S+) *$/i.exec(auth);
      // Compared even when absent, so a missing header costs the same as a wrong one.
      const ok = sameSecret(match?.[1] ?? '', expected);
      if (!match || !ok) {
        res.setHeader('WWW-Authenticate', 'Bearer realm="logstack-codec"');
        throw new HttpError(401, 'missing or wrong bearer token');
      }
    }
    const namespaceHeader = req.headers['x-namespace'];
    const namespace = Array.isArray(namespaceHeader) ? undefined : namespaceHeader;
    if (namespace === undefined || !NAMESPACE.test(namespace)) {
      throw new HttpError(400, 'X-Namespace must name the Temporal namespace of the payloads (the Web UI and the Temporal CLI send it)');
    }
    let body: unknown;
    try {
      body = JSON.parse(await readBody(req, limit));
    } catch (error) {
      if (error instanceof HttpError) throw error;
      throw new HttpError(400, 'body is not JSON');
    }
    const payloads = payloadsFromJson(body);
    let result: Payload[];
    try {
      const codec = options.codec.forNamespace(namespace);
      result = path === '/encode' ? await codec.encode(payloads) : await codec.decode(payloads);
    } catch (error) {
      throw new HttpError(422, error instanceof Error ? error.message : String(error));
    }
    send(res, 200, payloadsToJson(result));
  };

  return createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      const status = error instanceof HttpError ? error.status : 500;
      const message = error instanceof HttpError ? error.message : 'internal error';
      if (!res.headersSent) send(res, status, { error: message });
      else res.end();
    });
  });
}

/** A running codec server. */
export interface RunningCodecServer {
  readonly url: string;
  readonly server: Server;
  close(): Promise<void>;
}

/**
 * Starts the codec server on `host:port` (port 0 picks a free one; host default 127.0.0.1).
 * @throws CodecServerConfigError (before listening) without a token unless `noAuth` on a loopback host.
 */
export async function startCodecServer(options: CodecServerOptions & { port: number; host?: string }): Promise<RunningCodecServer> {
  const host = options.host ?? '127.0.0.1';
  assertCodecServerAuth(options, host);
  const server = createCodecServer(options);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (options.noAuth && !(typeof address === 'object' && address && isLoopbackHost(address.address))) {
    // `localhost` resolved to something else: never serve without a token off loopback.
    await new Promise<void>((resolve) => server.close(() => resolve()));
    throw new CodecServerConfigError(`--no-auth: ${host} resolved to ${typeof address === 'object' && address ? address.address : String(address)}, which is not a loopback address`);
  }
  const port = typeof address === 'object' && address ? address.port : options.port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${port}`,
    server,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
