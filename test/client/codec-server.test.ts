/**
 * The codec server over real HTTP on 127.0.0.1 (no Temporal needed): the Temporal codec-server JSON
 * shape, CORS for the Web UI origin including preflight, X-Namespace choosing the namespace payloads are
 * bound to, the required bearer token (`noAuth` only on loopback), and clear errors. Runs on Node and Deno.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AesGcmCodec, parseCodecKeys } from '../../codec/codec.ts';
import { CodecServerConfigError, isLoopbackHost, startCodecServer, type JsonPayload, type RunningCodecServer } from '../../client/codec-server.ts';

const UI = 'http://127.0.0.1:8233';
const TOKEN = 's3cret-s3cret-s3cret';
const b64 = (s: string): string => btoa(s);
const unb64 = (s: string | undefined): string => (s ? atob(s) : '');
const key = btoa(String.fromCharCode(...new Uint8Array(32).fill(7)));
const jsonPayload = (value: unknown): JsonPayload => ({ metadata: { encoding: b64('json/plain') }, data: b64(JSON.stringify(value)) });

interface Reply {
  status: number;
  headers: Headers;
  body: { payloads?: JsonPayload[]; error?: string } | null;
}

async function call(base: string, path: string, init: { method?: string; headers?: Record<string, string>; body?: unknown } = {}): Promise<Reply> {
  const res = await fetch(`${base}${path}`, {
    method: init.method ?? 'POST',
    headers: { 'Content-Type': 'application/json', 'X-Namespace': 'default', ...init.headers },
    ...(init.body === undefined ? {} : { body: typeof init.body === 'string' ? init.body : JSON.stringify(init.body) }),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? (JSON.parse(text) as Reply['body']) : null };
}

describe('codec server (HTTP)', () => {
  let open: RunningCodecServer;
  let secured: RunningCodecServer;

  before(async () => {
    const codec = await AesGcmCodec.create(parseCodecKeys(`k1:${key}`), { namespace: 'default' });
    open = await startCodecServer({ codec, origins: [UI, 'http://localhost:8233/'], noAuth: true, port: 0 });
    secured = await startCodecServer({ codec, origins: [UI], token: TOKEN, port: 0 });
  });
  after(async () => {
    await open.close();
    await secured.close();
  });

  it('encodes then decodes the codec-server JSON shape, with X-Namespace', async () => {
    const payloads = [jsonPayload({ environment: 'production', revision: 'abc' }), jsonPayload('two')];
    const encoded = await call(open.url, '/encode', { headers: { 'X-Namespace': 'default' }, body: { payloads } });
    assert.equal(encoded.status, 200);
    const sealed = encoded.body?.payloads ?? [];
    assert.equal(sealed.length, 2);
    assert.equal(unb64(sealed[0]?.metadata?.['encoding']), 'binary/encrypted');
    assert.equal(unb64(sealed[0]?.metadata?.['encryption-key-id']), 'k1');
    assert.ok(!unb64(sealed[0]?.data).includes('production'));
    const decoded = await call(open.url, '/decode', { headers: { 'X-Namespace': 'default' }, body: { payloads: sealed } });
    assert.equal(decoded.status, 200);
    assert.deepEqual(decoded.body?.payloads, payloads);
  });

  it('answers a CORS preflight from the UI origin, allowing X-Namespace and Authorization', async () => {
    const res = await fetch(`${open.url}/decode`, {
      method: 'OPTIONS',
      headers: { Origin: UI, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type,x-namespace' },
    });
    await res.text();
    assert.equal(res.status, 204);
    assert.equal(res.headers.get('access-control-allow-origin'), UI);
    assert.equal(res.headers.get('access-control-allow-credentials'), 'true');
    assert.match(res.headers.get('access-control-allow-methods') ?? '', /POST/);
    assert.match(res.headers.get('access-control-allow-headers') ?? '', /X-Namespace/i);
    assert.match(res.headers.get('access-control-allow-headers') ?? '', /Authorization/i);
  });

  it('sends CORS headers on the actual POST for an allowed origin (trailing slash in config ignored)', async () => {
    const res = await call(open.url, '/decode', { headers: { Origin: 'http://localhost:8233' }, body: { payloads: [] } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('access-control-allow-origin'), 'http://localhost:8233');
    assert.deepEqual(res.body, { payloads: [] });
  });

  it('refuses other origins, on preflight and on POST, without CORS headers', async () => {
    const pre = await fetch(`${open.url}/decode`, { method: 'OPTIONS', headers: { Origin: 'http://evil.example', 'Access-Control-Request-Method': 'POST' } });
    await pre.text();
    assert.equal(pre.status, 403);
    assert.equal(pre.headers.get('access-control-allow-origin'), null);
    const post = await call(open.url, '/decode', { headers: { Origin: 'http://evil.example' }, body: { payloads: [] } });
    assert.equal(post.status, 403);
  });

  it('requires the bearer token, with or without an Origin header; preflight needs none', async () => {
    const none = await call(secured.url, '/decode', { body: { payloads: [] } });
    assert.equal(none.status, 401);
    assert.match(none.headers.get('www-authenticate') ?? '', /Bearer/);
    const noneFromUi = await call(secured.url, '/decode', { headers: { Origin: UI }, body: { payloads: [] } });
    assert.equal(noneFromUi.status, 401);
    const wrong = await call(secured.url, '/decode', { headers: { Authorization: 'Bearer nope' }, body: { payloads: [] } });
    assert.equal(wrong.status, 401);
    const prefix = await call(secured.url, '/decode', { headers: { Authorization: `Bearer ${TOKEN.slice(0, -1)}` }, body: { payloads: [] } });
    assert.equal(prefix.status, 401);
    const longer = await call(secured.url, '/decode', { headers: { Authorization: `Bearer ${TOKEN}x` }, body: { payloads: [] } });
    assert.equal(longer.status, 401);
    const basic = await call(secured.url, '/decode', { headers: { Authorization: `Basic ${TOKEN}` }, body: { payloads: [] } });
    assert.equal(basic.status, 401);
    const right = await call(secured.url, '/encode', { headers: { Authorization: `Bearer ${TOKEN}` }, body: { payloads: [jsonPayload(1)] } });
    assert.equal(right.status, 200);
    const pre = await fetch(`${secured.url}/encode`, { method: 'OPTIONS', headers: { Origin: UI, 'Access-Control-Request-Method': 'POST' } });
    await pre.text();
    assert.equal(pre.status, 204);
  });

  it('explains bad requests: wrong shape, not JSON, wrong route or method, unknown key id', async () => {
    assert.equal((await call(open.url, '/decode', { body: { nope: 1 } })).status, 400);
    const notJson = await call(open.url, '/decode', { body: '{' });
    assert.equal(notJson.status, 400);
    assert.match(notJson.body?.error ?? '', /not JSON/);
    assert.equal((await call(open.url, '/other', { body: { payloads: [] } })).status, 404);
    assert.equal((await call(open.url, '/decode', { method: 'GET' })).status, 405);
    const foreign = { metadata: { encoding: b64('binary/encrypted'), 'encryption-key-id': b64('k9') }, data: b64('x'.repeat(40)) };
    const unknown = await call(open.url, '/decode', { body: { payloads: [foreign] } });
    assert.equal(unknown.status, 422);
    assert.match(unknown.body?.error ?? '', /key id "k9"/);
  });

  it('binds payloads to the X-Namespace namespace: sealed for one, refused in another; no X-Namespace is 400', async () => {
    const sealed = await call(open.url, '/encode', { headers: { 'X-Namespace': 'team-a' }, body: { payloads: [jsonPayload('a')] } });
    assert.equal(sealed.status, 200);
    const same = await call(open.url, '/decode', { headers: { 'X-Namespace': 'team-a' }, body: { payloads: sealed.body?.payloads } });
    assert.deepEqual(same.body?.payloads, [jsonPayload('a')]);
    const other = await call(open.url, '/decode', { headers: { 'X-Namespace': 'team-b' }, body: { payloads: sealed.body?.payloads } });
    assert.equal(other.status, 422);
    assert.match(other.body?.error ?? '', /namespace "team-b"/);
    const res = await fetch(`${open.url}/decode`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"payloads":[]}' });
    assert.equal(res.status, 400);
    assert.match(((await res.json()) as { error: string }).error, /X-Namespace/);
    const bad = await call(open.url, '/decode', { headers: { 'X-Namespace': '../x' }, body: { payloads: [] } });
    assert.equal(bad.status, 400);
  });

  it('refuses to start without a token, with a short one, or with noAuth off loopback', async () => {
    const codec = await AesGcmCodec.create(parseCodecKeys(`k1:${key}`), { namespace: 'default' });
    await assert.rejects(startCodecServer({ codec, origins: [UI], port: 0 }), CodecServerConfigError);
    await assert.rejects(startCodecServer({ codec, origins: [UI], token: 'short', port: 0 }), /at least 16 characters/);
    await assert.rejects(startCodecServer({ codec, origins: [UI], noAuth: true, host: '0.0.0.0', port: 0 }), /only allowed on a loopback address/);
    await assert.rejects(startCodecServer({ codec, origins: [UI], noAuth: true, host: '::', port: 0 }), /only allowed on a loopback address/);
    await assert.rejects(startCodecServer({ codec, origins: [UI], noAuth: true, token: TOKEN, port: 0 }), /not both/);
  });

  it('knows which addresses are loopback', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost', 'LOCALHOST', '::ffff:127.0.0.1']) assert.ok(isLoopbackHost(host), host);
    for (const host of ['0.0.0.0', '::', '10.0.0.1', '192.168.1.1', 'example.com', '128.0.0.1', '::2', 'localhost.evil.example']) assert.ok(!isLoopbackHost(host), host);
  });

  it('serves a health check', async () => {
    const res = await call(open.url, '/healthz', { method: 'GET' });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { ok: true });
  });
});
