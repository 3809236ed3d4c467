/**
 * Finding secret values where they must not be: a scanner that looks for each known secret in text or
 * bytes in its common encodings (plain, base64 at every byte alignment, base64url, hex) and inside every
 * base64 run it meets (payload data, Kubernetes Secret data, nested encodings); and a recording AWS
 * endpoint that forwards to the sandbox's moto and remembers every secret value that passes through it
 * (access keys IAM hands out, Secrets Manager values read and written), optionally refusing chosen calls
 * the way AWS refuses them.
 *
 * Reports name the secret's label, the encoding and the place — never the value, so a failing test does not
 * print the secret it found.
 */
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes, randomUUID } from 'node:crypto';

/** A value that must appear nowhere it is scanned for, and a label to name it by. */
export interface KnownSecret {
  readonly label: string;
  readonly value: Buffer;
}

/** One place a secret was found. */
export interface SecretFinding {
  readonly secret: string;
  readonly encoding: string;
  readonly where: string;
}

/** Values shorter than this are not treated as secrets (they would match by chance: `test`, `us-east-1`). */
export const MIN_SECRET_BYTES = 12;

/** A secret from a string (UTF-8). */
export function secretOf(label: string, value: string): KnownSecret {
  return { label, value: Buffer.from(value, 'utf8') };
}

/** A unique marker that looks like an AWS secret access key (40 characters of base64 alphabet). */
export function markerSecret(tag: string): string {
  const body = randomBytes(30).toString('base64').replace(/[+/]/g, 'x');
  return `${tag
    .toUpperCase()
    .replace(/[^A-Z0-9]/g, '')
    .slice(0, 8)}${body}`.slice(0, 40);
}

/** Adds `secret` unless it is too short or already known (by value). */
export function addSecret(secrets: KnownSecret[], secret: KnownSecret): void {
  if (secret.value.length < MIN_SECRET_BYTES) return;
  if (secrets.some((s) => s.value.equals(secret.value))) return;
  secrets.push(secret);
}

interface Needle {
  readonly secret: string;
  readonly encoding: string;
  readonly bytes: Buffer;
}

/**
 * The forms a secret takes in text. Base64 of a value embedded in a longer encoded string depends on where
 * the value starts within a 3-byte group, so each of the three alignments contributes the characters that
 * only the value's own bits determine.
 */
function needlesOf(secret: KnownSecret): Needle[] {
  const v = secret.value;
  const needles: Needle[] = [{ secret: secret.label, encoding: 'plain', bytes: v }];
  for (let shift = 0; shift < 3; shift++) {
    const b64 = Buffer.concat([Buffer.alloc(shift), v]).toString('base64');
    const start = Math.ceil((8 * shift) / 6);
    const end = Math.floor((8 * (shift + v.length)) / 6);
    const stable = b64.slice(start, end);
    if (stable.length < 8) continue;
    needles.push({ secret: secret.label, encoding: `base64 (offset ${shift})`, bytes: Buffer.from(stable) });
    const url = stable.replace(/\+/g, '-').replace(/\//g, '_');
    if (url !== stable)
      needles.push({ secret: secret.label, encoding: `base64url (offset ${shift})`, bytes: Buffer.from(url) });
  }
  needles.push({ secret: secret.label, encoding: 'hex', bytes: Buffer.from(v.toString('hex')) });
  needles.push({ secret: secret.label, encoding: 'HEX', bytes: Buffer.from(v.toString('hex').toUpperCase()) });
  // JSON string escaping of a value with quotes, backslashes or slashes (Go escapes none of ours but `/`-style encoders might).
  const escaped = JSON.stringify(v.toString('utf8')).slice(1, -1).replace(/\//g, '\\/');
  if (escaped !== v.toString('utf8'))
    needles.push({ secret: secret.label, encoding: 'JSON-escaped', bytes: Buffer.from(escaped) });
  return needles;
}

const BASE64_RUN = /[A-Za-z0-9+/_-]{16,}={0,2}/g;

/** Bytes decoded from every base64 (or base64url) run of at least 16 characters in `haystack`. */
function decodedRuns(haystack: Buffer): Buffer[] {
  const text = haystack.toString('latin1');
  const out: Buffer[] = [];
  for (const match of text.matchAll(BASE64_RUN)) {
    const run = match[0];
    // Try every start offset within a 4-character group: a run may begin mid-group (glued to other text).
    for (let offset = 0; offset < 4; offset++) {
      const part = run.slice(offset);
      if (part.length < 16) break;
      out.push(Buffer.from(part, part.includes('-') || part.includes('_') ? 'base64url' : 'base64'));
    }
  }
  return out;
}

/**
 * Looks for every secret, in every encoding, in `haystack` and in whatever its base64 runs decode to (down
 * to `depth` levels: payload data holding JSON holding base64, for instance).
 */
export function scanFor(
  secrets: readonly KnownSecret[],
  haystack: Buffer | string,
  where: string,
  depth = 3,
): SecretFinding[] {
  const bytes = typeof haystack === 'string' ? Buffer.from(haystack, 'utf8') : haystack;
  const needles = secrets.flatMap(needlesOf);
  const found = new Map<string, SecretFinding>();
  const visit = (buf: Buffer, path: string, level: number): void => {
    for (const n of needles) {
      if (buf.includes(n.bytes)) {
        const key = `${n.secret}|${n.encoding}|${path}`;
        if (!found.has(key)) found.set(key, { secret: n.secret, encoding: n.encoding, where: path });
      }
    }
    if (level >= depth) return;
    for (const decoded of decodedRuns(buf)) visit(decoded, `${path} → base64-decoded`, level + 1);
  };
  visit(bytes, where, 0);
  return [...found.values()];
}

/** A finding as a line for an assertion message: label, encoding, place — no value. */
export function describeFindings(findings: readonly SecretFinding[]): string {
  return findings.map((f) => `${f.secret} (${f.encoding}) in ${f.where}`).join('\n');
}

/** JSON of any value, with byte arrays as base64 and bigints as text (histories hold both). */
export function toJsonText(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
    if (typeof v === 'bigint') return v.toString();
    return v;
  });
}

// ── recording AWS endpoint ──────────────────────────────────────────────────────────────────────

/** One AWS call as the recorder sees it. */
export interface AwsCall {
  /** `x-amz-target` of JSON-protocol services, e.g. `secretsmanager.CreateSecret`. */
  readonly target: string | undefined;
  /** `Action` of query-protocol services (IAM, STS), e.g. `CreateAccessKey`. */
  readonly action: string | undefined;
  readonly body: string;
}

/** A secret value seen in AWS traffic, with where it was seen. */
export interface RecordedSecret {
  readonly label: string;
  readonly value: string;
}

/** A forwarding AWS endpoint that records secret values and can refuse calls. */
export interface AwsRecorder {
  /** `http://127.0.0.1:<port>`: point the worker's `AWS_ENDPOINT_URL` here. */
  readonly endpoint: string;
  /** Every secret value seen so far (deduplicated by value). */
  readonly secrets: readonly RecordedSecret[];
  /** Calls refused so far, as `target or action` plus whether the refused request carried a recorded secret. */
  readonly refused: readonly { readonly call: string; readonly carriedSecret: boolean }[];
  /** Calls forwarded so far. */
  readonly forwarded: number;
  /**
   * Refuses calls for which `decide` returns a message: answered as AWS answers an IAM denial
   * (`AccessDeniedException`, HTTP 400, JSON protocol) without reaching moto. `undefined` stops refusing.
   */
  refuse(decide: ((call: AwsCall) => string | undefined) | undefined): void;
  close(): Promise<void>;
}

/** Keys of the Loki secret document whose values are credentials. */
const SECRET_DOCUMENT_KEYS = ['access_key_id', 'access_key_secret'];

function recordSecretString(add: (label: string, value: string) => void, label: string, secretString: unknown): void {
  if (typeof secretString !== 'string' || secretString === '') return;
  add(`${label} SecretString`, secretString);
  try {
    const doc = JSON.parse(secretString) as Record<string, unknown>;
    for (const key of SECRET_DOCUMENT_KEYS) if (typeof doc[key] === 'string') add(`${label} ${key}`, doc[key]);
  } catch {
    // not a JSON document: the whole string is the secret
  }
}

function xmlField(xml: string, field: string): string | undefined {
  return new RegExp(`<${field}>([^<]+)</${field}>`).exec(xml)?.[1];
}

function queryAction(body: string): string | undefined {
  return new URLSearchParams(body).get('Action') ?? undefined;
}

/** Starts a recorder in front of `target` (the sandbox's moto). */
export async function startAwsRecorder(target: string): Promise<AwsRecorder> {
  const upstream = new URL(target);
  const secrets: RecordedSecret[] = [];
  const refused: { call: string; carriedSecret: boolean }[] = [];
  let forwarded = 0;
  let decide: ((call: AwsCall) => string | undefined) | undefined;
  const add = (label: string, value: string): void => {
    if (Buffer.byteLength(value) >= MIN_SECRET_BYTES && !secrets.some((s) => s.value === value))
      secrets.push({ label, value });
  };

  const recordRequest = (call: AwsCall): void => {
    if (call.target === 'secretsmanager.CreateSecret' || call.target === 'secretsmanager.PutSecretValue') {
      const body = JSON.parse(call.body) as { SecretString?: unknown };
      recordSecretString(add, `${call.target} request`, body.SecretString);
    }
  };
  const recordAnswer = (call: AwsCall, answer: string): void => {
    if (call.target === 'secretsmanager.GetSecretValue') {
      try {
        recordSecretString(
          add,
          'GetSecretValue answer',
          (JSON.parse(answer) as { SecretString?: unknown }).SecretString,
        );
      } catch {
        // an error answer
      }
    }
    if (call.action === 'CreateAccessKey' || call.target?.endsWith('.CreateAccessKey')) {
      const json = answer.trimStart().startsWith('{')
        ? (JSON.parse(answer) as { AccessKey?: { AccessKeyId?: string; SecretAccessKey?: string } })
        : undefined;
      const id = json?.AccessKey?.AccessKeyId ?? xmlField(answer, 'AccessKeyId');
      const secret = json?.AccessKey?.SecretAccessKey ?? xmlField(answer, 'SecretAccessKey');
      if (id) add('CreateAccessKey AccessKeyId', id);
      if (secret) add('CreateAccessKey SecretAccessKey', secret);
    }
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const text = body.toString('utf8');
      const targetHeader = req.headers['x-amz-target'];
      const call: AwsCall = {
        target: typeof targetHeader === 'string' ? targetHeader : undefined,
        action: req.headers['content-type']?.includes('x-www-form-urlencoded') ? queryAction(text) : undefined,
        body: text,
      };
      try {
        recordRequest(call);
      } catch {
        // not a body we understand: forward it anyway
      }
      const message = decide?.(call);
      if (message !== undefined) {
        refused.push({
          call: call.target ?? call.action ?? `${req.method} ${req.url}`,
          carriedSecret: secrets.some((s) => text.includes(s.value)),
        });
        const answer = JSON.stringify({ __type: 'AccessDeniedException', Message: message });
        res.writeHead(400, {
          'content-type': 'application/x-amz-json-1.1',
          'x-amzn-errortype': 'AccessDeniedException',
          'x-amzn-requestid': randomUUID(),
          'content-length': Buffer.byteLength(answer),
        });
        res.end(answer);
        return;
      }
      const headers: IncomingHttpHeaders = { ...req.headers, host: upstream.host };
      const out = httpRequest(
        {
          protocol: upstream.protocol,
          hostname: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: req.url,
          headers,
        },
        (answer) => {
          const parts: Buffer[] = [];
          answer.on('data', (c: Buffer) => parts.push(c));
          answer.on('end', () => {
            const payload = Buffer.concat(parts);
            forwarded++;
            try {
              recordAnswer(call, payload.toString('utf8'));
            } catch {
              // an answer we do not parse holds nothing we record
            }
            const { 'transfer-encoding': _chunked, ...rest } = answer.headers;
            res.writeHead(answer.statusCode ?? 502, { ...rest, 'content-length': payload.length });
            res.end(payload);
          });
        },
      );
      out.on('error', (error) => {
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(`recorder could not reach ${target}: ${error.message}`);
      });
      out.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    get secrets() {
      return secrets;
    },
    get refused() {
      return refused;
    },
    get forwarded() {
      return forwarded;
    },
    refuse(next) {
      decide = next;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
