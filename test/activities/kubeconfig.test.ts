/**
 * Reading kubeconfigs (merging, relative paths, refusals that say what to fix), and the transport's TLS
 * against a real TLS server with its own CA: client certificates, `tls-server-name`, and one kept-alive
 * connection for many requests. The server is Node's HTTPS server in its own process
 * (`test/support/client-cert-server.ts`), not an API server: the sandbox's API servers authenticate by token
 * only. Runs on Node and on Deno (`deno task test`).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { WORKER_SECRET_VARIABLES, childEnvironment } from '../../activities/child-env.ts';
import { createKubeClusters } from '../../activities/kubernetes/cluster.ts';
import { loadDefaultKubeconfig, loadKubeconfigFiles, parseKubeconfig } from '../../activities/kubernetes/kubeconfig.ts';
import { createTransport } from '../../activities/kubernetes/rest.ts';
import { isServerUnavailable } from '../../activities/kubernetes/watch.ts';

let dir: string;

const write = (name: string, doc: unknown): string => {
  const path = join(dir, name);
  writeFileSync(path, typeof doc === 'string' ? doc : stringify(doc));
  return path;
};

const config = (clusters: unknown[], users: unknown[], contexts: unknown[]) => ({ apiVersion: 'v1', kind: 'Config', clusters, users, contexts });

/** The failure a call throws. */
function failureOf(fn: () => unknown): Error & { type?: string } {
  try {
    fn();
  } catch (error) {
    return error as Error & { type?: string };
  }
  return assert.fail('expected a failure');
}

describe('kubeconfig: read as kubectl reads it, refused where it cannot work', () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'logstack-kubeconfig-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('merges a KUBECONFIG list first-wins and resolves relative files against the file that names them', () => {
    writeFileSync(join(dir, 'ca.pem'), 'CA FROM FILE');
    const first = write('first.yaml', config(
      [{ name: 'a', cluster: { server: 'https://a.example:6443/', 'certificate-authority': 'ca.pem' } }],
      [{ name: 'u', user: { token: 'first-token' } }],
      [{ name: 'one', context: { cluster: 'a', user: 'u', namespace: 'logging' } }],
    ));
    const second = write('second.yaml', config(
      [{ name: 'a', cluster: { server: 'https://ignored.example' } }, { name: 'b', cluster: { server: 'https://b.example' } }],
      [{ name: 'u', user: { token: 'ignored' } }],
      [{ name: 'two', context: { cluster: 'b', user: 'u' } }],
    ));
    const merged = loadDefaultKubeconfig({ KUBECONFIG: [first, join(dir, 'absent.yaml'), second].join(delimiter) });
    assert.deepEqual(merged.contexts, ['one', 'two']);
    const one = merged.connection('one');
    assert.equal(one.server, 'https://a.example:6443');
    assert.equal(one.namespace, 'logging');
    assert.equal(one.tls.ca, 'CA FROM FILE');
    assert.deepEqual(one.auth, { kind: 'token', token: 'first-token' });
    const two = merged.connection('two');
    assert.equal(two.server, 'https://b.example');
    assert.equal(two.namespace, 'default');
    assert.deepEqual(two.auth, { kind: 'token', token: 'first-token' }, 'the first file defines user u');
  });

  it('refuses, with InvalidInput saying what to fix: an unknown context, removed auth providers, proxies, broken credentials', () => {
    const kc = parseKubeconfig(
      stringify(config(
        [{ name: 'c', cluster: { server: 'https://c.example' } }, { name: 'proxied', cluster: { server: 'https://p.example', 'proxy-url': 'http://proxy:3128' } }, { name: 'ftp', cluster: { server: 'ftp://x' } }],
        [
          { name: 'oidc', user: { 'auth-provider': { name: 'oidc' } } },
          { name: 'split', user: { token: 'abc\r\nX-Injected: 1' } },
          { name: 'half', user: { 'client-certificate-data': Buffer.from('CERT').toString('base64') } },
          { name: 'ok', user: { token: 't' } },
        ],
        [
          { name: 'oidc', context: { cluster: 'c', user: 'oidc' } },
          { name: 'split', context: { cluster: 'c', user: 'split' } },
          { name: 'half', context: { cluster: 'c', user: 'half' } },
          { name: 'proxied', context: { cluster: 'proxied', user: 'ok' } },
          { name: 'ftp', context: { cluster: 'ftp', user: 'ok' } },
          { name: 'nouser', context: { cluster: 'c', user: 'ghost' } },
        ],
      )),
      'test kubeconfig',
    );
    const cases: [string, RegExp][] = [
      ['oidc', /auth-provider.*exec credential plugin/],
      ['split', /token contains control characters/],
      ['half', /client certificate without its key/],
      ['proxied', /proxy-url/],
      ['ftp', /must be https/],
      ['nouser', /user "ghost", which it does not define/],
      ['absent', /has no context "absent" \(it has: oidc, split/],
    ];
    for (const [context, message] of cases) {
      const error = failureOf(() => kc.connection(context));
      assert.equal(error.type, 'InvalidInput', context);
      assert.match(error.message, message, context);
    }
    assert.match(failureOf(() => parseKubeconfig('clusters: {', 'broken')).message, /broken: is not YAML/);
    assert.equal(failureOf(() => loadKubeconfigFiles([join(dir, 'nothing-here')])).type, 'InvalidInput');
    assert.match(failureOf(() => createKubeClusters(write('one.yaml', config([], [], []))).forContext('dev')).message, /no context "dev"/);
  });

  it('gives up on a server that accepted the request and stays silent: ETIMEDOUT, a transient error', async () => {
    const silent = createServer((socket) => socket.on('error', () => undefined)); // reads, never answers
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = silent.address() as { port: number };
      const kc = parseKubeconfig(stringify(config([{ name: 'c', cluster: { server: `http://127.0.0.1:${port}` } }], [], [{ name: 'ctx', context: { cluster: 'c' } }])), 'silent');
      const transport = createTransport(kc.connection('ctx'), undefined, { requestIdleMs: 300 });
      const started = performance.now();
      const error = (await transport.request({ method: 'GET', path: '/api/v1/namespaces' }).then(
        () => assert.fail('a silent server cannot answer'),
        (e: unknown) => e,
      )) as Error & { code?: string };
      assert.equal(error.code, 'ETIMEDOUT');
      assert.match(error.message, /no answer from http:\/\/127\.0\.0\.1:\d+ for 300 ms \(GET \/api\/v1\/namespaces\)/);
      assert.ok(isServerUnavailable(error));
      assert.ok(performance.now() - started < 5_000);
    } finally {
      silent.close();
    }
  });
});

describe('the transport over TLS with a CA of its own (a Node HTTPS server process)', () => {
  let server: ChildProcess;
  let port = 0;
  let ca = '';
  let clientCert = '';
  let clientKey = '';

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'logstack-kube-tls-'));
    const openssl = (...args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=test CA', '-keyout', 'ca.key', '-out', 'ca.pem');
    writeFileSync(join(dir, 'server.ext'), 'subjectAltName=DNS:api.logstack.test\n');
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=api.logstack.test', '-keyout', 'server.key', '-out', 'server.csr');
    openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-extfile', 'server.ext', '-out', 'server.pem');
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=logstack-worker', '-keyout', 'client.key', '-out', 'client.csr');
    openssl('x509', '-req', '-in', 'client.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-out', 'client.pem');
    ca = readFileSync(join(dir, 'ca.pem'), 'utf8');
    clientCert = readFileSync(join(dir, 'client.pem'), 'utf8');
    clientKey = readFileSync(join(dir, 'client.key'), 'utf8');
    // On Deno, `node` from PATH (npm puts the project's Node 24 first); on Node, this very binary.
    const node = 'deno' in process.versions ? 'node' : process.execPath;
    server = spawn(node, [join(import.meta.dirname ?? '.', '../support/client-cert-server.ts'), dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    const first = await new Promise<string>((resolve, reject) => {
      createInterface({ input: server.stdout! }).once('line', resolve);
      server.once('exit', (code) => reject(new Error(`the TLS server exited (${code})`)));
    });
    port = (JSON.parse(first) as { port: number }).port;
  });
  after(() => {
    server.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  });

  const kubeconfig = (cluster: Record<string, unknown>, user: Record<string, unknown>): string =>
    write(`kc-${Math.random().toString(36).slice(2)}.yaml`, config(
      [{ name: 'c', cluster: { server: `https://127.0.0.1:${port}`, 'certificate-authority-data': Buffer.from(ca).toString('base64'), ...cluster } }],
      [{ name: 'u', user }],
      [{ name: 'ctx', context: { cluster: 'c', user: 'u' } }],
    ));

  it('authenticates with a client certificate from files, over one kept-alive connection for many requests', async () => {
    writeFileSync(join(dir, 'worker.pem'), clientCert);
    writeFileSync(join(dir, 'worker.key'), clientKey);
    const cluster = createKubeClusters(kubeconfig({ 'tls-server-name': 'api.logstack.test' }, { 'client-certificate': 'worker.pem', 'client-key': 'worker.key' })).forContext('ctx');
    const seen = new Set<number>();
    for (let i = 0; i < 10; i++) {
      const answer = await cluster.request<{ user: string; connections: number }>({ method: 'GET', path: '/api/v1/namespaces' });
      assert.equal(answer.user, 'logstack-worker');
      seen.add(answer.connections);
    }
    assert.equal(seen.size, 1, 'ten requests, one TLS connection');
  });

  it('authenticates with the client certificate an exec plugin prints; the plugin never sees the worker\'s key variables', async () => {
    const script = join(dir, 'cert-plugin.sh');
    writeFileSync(join(dir, 'plugin-cert.pem'), clientCert);
    writeFileSync(join(dir, 'plugin-key.pem'), clientKey);
    writeFileSync(
      script,
      `#!/bin/sh
env > "$(dirname "$0")/plugin.env"
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"clientCertificateData":%s,"clientKeyData":%s}}' \\
  "$(node -e 'process.stdout.write(JSON.stringify(require("fs").readFileSync(process.argv[1],"utf8")))' "$(dirname "$0")/plugin-cert.pem")" \\
  "$(node -e 'process.stdout.write(JSON.stringify(require("fs").readFileSync(process.argv[1],"utf8")))' "$(dirname "$0")/plugin-key.pem")"
`,
    );
    chmodSync(script, 0o755);
    const saved = Object.fromEntries(WORKER_SECRET_VARIABLES.map((name) => [name, process.env[name]]));
    for (const name of WORKER_SECRET_VARIABLES) process.env[name] = `worker-secret-${name}`;
    try {
      const cluster = createKubeClusters(
        kubeconfig({ 'tls-server-name': 'api.logstack.test' }, { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: script, env: [{ name: 'PLUGIN_SETTING', value: 'on' }] } }),
      ).forContext('ctx');
      assert.equal((await cluster.request<{ user: string }>({ method: 'GET', path: '/api/v1/namespaces' })).user, 'logstack-worker');
    } finally {
      for (const [name, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
    const seen = readFileSync(join(dir, 'plugin.env'), 'utf8');
    assert.match(seen, /^PLUGIN_SETTING=on$/m);
    assert.match(seen, /^PATH=/m);
    for (const name of WORKER_SECRET_VARIABLES) assert.ok(!seen.includes(`worker-secret-${name}`), `${name} reached the plugin`);
    assert.deepEqual(Object.keys(childEnvironment({ X: '1' }, { PATH: '/bin', LOGSTACK_STATE_KEYS: 'k', LOGSTACK_CATALOG: 'c' })).sort(), ['LOGSTACK_CATALOG', 'PATH', 'X']);
  });

  it('checks the server certificate: refused for the wrong name, accepted with tls-server-name or insecure-skip-tls-verify', async () => {
    const user = { 'client-certificate-data': Buffer.from(clientCert).toString('base64'), 'client-key-data': Buffer.from(clientKey).toString('base64') };
    const wrongName = createKubeClusters(kubeconfig({}, user)).forContext('ctx');
    const error = await wrongName.request({ method: 'GET', path: '/api/v1/namespaces' }).then(
      () => assert.fail('a certificate for another name must be refused'),
      (e: unknown) => e as Error & { code?: string },
    );
    assert.equal(error.code, 'ERR_TLS_CERT_ALTNAME_INVALID');
    const insecure = createKubeClusters(kubeconfig({ 'insecure-skip-tls-verify': true, 'certificate-authority-data': undefined }, user)).forContext('ctx');
    const answer = insecure.request<{ user: string }>({ method: 'GET', path: '/' });
    const deno = (globalThis as { Deno?: { permissions: { querySync(d: { name: 'sys' }): { state: string } } } }).Deno;
    if (deno && process.env['NODE_EXTRA_CA_CERTS'] && deno.permissions.querySync({ name: 'sys' }).state !== 'granted') {
      // Deno 2.9 reads the extra CA file for a connection that names no CA, and asks for a sys permission no
      // --allow-sys list can name, only a bare --allow-sys (docs/architecture.md, Runtimes): the limitation, as a
      // user of a named sys list meets it.
      await assert.rejects(answer, /Requires sys access to "ca"/);
    } else {
      assert.equal((await answer).user, 'logstack-worker');
    }
  });
});
