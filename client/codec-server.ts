/**
 * The codec server the Temporal Web UI and the Temporal CLI call to show decrypted payloads:
 * `POST /encode` and `POST /decode` with the codec-server JSON shape
 * `{ payloads: [{ metadata: { key: base64 }, data: base64 }] }`. CORS answers only the configured UI
 * origins (preflight included, `X-Namespace` allowed); with a token, every POST needs
 * `Authorization: Bearer <token>`. Payloads are processed in memory and never logged.
 */
import { Buffer } from 'node:buffer';
import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Payload, PayloadCodec } from '@temporalio/common';

/** JSON form of one payload: base64 metadata values and data. */
export interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

/** Options of {@link createCodecServer}. */
export interface CodecServerOptions {
  readonly codec: PayloadCodec;
  /** Browser origins allowed by CORS, e.g. `http://127.0.0.1:8233`. */
  readonly origins: readonly string[];
  /** When set, POSTs need `Authorization: Bearer <token>`. */
  readonly token?: string | undefined;
  /** Largest accepted request body; default 8 MiB (four times Temporal's payload limit). */
  readonly maxBodyBytes?: number;
}

const ALLOWED_HEADERS = 'Content-Type, X-Namespace, Authorization';

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

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
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
    if (options.token !== undefined) {
      const auth = req.headers.authorization ?? '';
      const match = /^Bearer\s+(.+)$/i.exec(auth);
      if (!match?.[1] || !sameSecret(match[1].trim(), options.token)) {
        res.setHeader('WWW-Authenticate', 'Bearer realm="logstack-codec"');
        throw new HttpError(401, 'missing or wrong bearer token');
      }
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
      result = path === '/encode' ? await options.codec.encode(payloads) : await options.codec.decode(payloads);
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

/** Starts the codec server on `host:port` (port 0 picks a free one). */
export async function startCodecServer(options: CodecServerOptions & { port: number; host?: string }): Promise<RunningCodecServer> {
  const server = createCodecServer(options);
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
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
