/**
 * Reading kubeconfigs (merging, relative paths, refusals that say what to fix), and the transport's TLS
 * against a real TLS server with its own CA: client certificates, `tls-server-name`, and one kept-alive
 * connection for many requests. The server here is Node's HTTPS server, not an API server: the sandbox's
 * API servers authenticate by token only.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type Server, createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { createKubeClusters } from '../../activities/kubernetes/cluster.ts';
import { loadDefaultKubeconfig, loadKubeconfigFiles, parseKubeconfig } from '../../activities/kubernetes/kubeconfig.ts';

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
});

describe('the transport over TLS with a CA of its own (Node HTTPS server)', () => {
  let server: Server;
  let port = 0;
  let connections = 0;
  const clientNames: string[] = [];
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
    server = createServer(
      { key: readFileSync(join(dir, 'server.key')), cert: readFileSync(join(dir, 'server.pem')), ca, requestCert: true, rejectUnauthorized: false },
      (req, res) => {
        const peer = (req.socket as TLSSocket).getPeerCertificate();
        const name = (req.socket as TLSSocket).authorized ? String(peer.subject?.CN ?? '') : '';
        clientNames.push(name);
        res.writeHead(name ? 200 : 401, { 'content-type': 'application/json' });
        res.end(JSON.stringify(name ? { kind: 'NamespaceList', items: [], user: name } : { kind: 'Status', code: 401, message: 'Unauthorized', reason: 'Unauthorized' }));
      },
    );
    server.on('secureConnection', () => connections++);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
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
    const before = connections;
    for (let i = 0; i < 10; i++) {
      const answer = await cluster.request<{ user: string }>({ method: 'GET', path: '/api/v1/namespaces' });
      assert.equal(answer.user, 'logstack-worker');
    }
    assert.equal(connections - before, 1, 'ten requests, one TLS connection');
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
    assert.equal((await insecure.request<{ user: string }>({ method: 'GET', path: '/' })).user, 'logstack-worker');
  });
});
