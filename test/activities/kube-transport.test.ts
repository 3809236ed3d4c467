/**
 * The Kubernetes transport's credentials against a real kube-apiserver (the sandbox's dev cluster): a token
 * file read again once the server refuses the old token, exec credential plugins (run once and shared, run
 * again at expiry and after a 401, typed failures when they cannot run), a connection reset mid-watch and
 * mid-request (through a fault proxy), and a DELETE with a body followed by another request on the same
 * kept-alive connection. Runs on Node and on Deno (`deno task test:sandbox`).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { deleteObject, readObject, serverSideApply } from '../../activities/kubernetes/apply.ts';
import { createKubeClusters } from '../../activities/kubernetes/cluster.ts';
import { loadKubeconfigFiles } from '../../activities/kubernetes/kubeconfig.ts';
import { KubeApiError } from '../../activities/kubernetes/rest.ts';
import { isServerUnavailable } from '../../activities/kubernetes/watch.ts';
import { startFaultProxy } from '../reliability/fault-proxy.ts';
import { requireSandbox } from '../../sandbox/status.ts';

const sandbox = requireSandbox();
const CONTEXT = 'logstack-dev';
const admin = loadKubeconfigFiles([sandbox.kubeconfig]).connection(CONTEXT);
const adminToken = admin.auth.kind === 'token' ? admin.auth.token : assert.fail('the sandbox kubeconfig carries a token');

let dir: string;

/** A kubeconfig of one context on the dev cluster whose user is `user`, written to `name` in the test directory. */
function kubeconfigWith(name: string, user: Record<string, unknown>): string {
  const path = join(dir, name);
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'dev', cluster: { server: admin.server, 'certificate-authority-data': Buffer.from(admin.tls.ca ?? '').toString('base64') } }],
    users: [{ name: 'u', user }],
    contexts: [{ name: CONTEXT, context: { cluster: 'dev', user: 'u' } }],
  };
  writeFileSync(path, stringify(doc));
  return path;
}

/** A credential plugin (a shell script) that counts its runs in `<name>.runs` and prints the tokens of `tokens.<name>` in turn. */
function plugin(name: string, tokens: readonly string[], expiresInS?: number): string {
  writeFileSync(join(dir, `tokens.${name}`), `${tokens.join('\n')}\n`);
  const expiry = expiresInS === undefined ? '' : `,"expirationTimestamp":"'"$(date -u -d "+${expiresInS} seconds" +%Y-%m-%dT%H:%M:%SZ)"'"`;
  const script = `#!/bin/sh
set -e
here=$(dirname "$0")
echo "$KUBERNETES_EXEC_INFO" >> "$here/${name}.info"
n=$(wc -l < "$here/${name}.runs" 2>/dev/null || echo 0)
echo run >> "$here/${name}.runs"
total=$(wc -l < "$here/tokens.${name}")
line=$(( n + 1 )); [ "$line" -gt "$total" ] && line=$total
token=$(sed -n "\${line}p" "$here/tokens.${name}")
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s"${expiry}}}' "$token"
`;
  const path = join(dir, `${name}.sh`);
  writeFileSync(path, script);
  chmodSync(path, 0o755);
  return path;
}

const runs = (name: string): number => {
  try {
    return readFileSync(join(dir, `${name}.runs`), 'utf8').trim().split('\n').length;
  } catch {
    return 0;
  }
};

const listNamespaces = (kubeconfig: string) =>
  createKubeClusters(kubeconfig).forContext(CONTEXT).request<{ items: unknown[] }>({ method: 'GET', path: '/api/v1/namespaces', query: { limit: 1 } });

describe('the Kubernetes transport on a real kube-apiserver: credentials and connection reuse', () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'logstack-kube-transport-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads a token file again after the server refused the token it held (a rotated token)', async () => {
    writeFileSync(join(dir, 'token'), 'not-a-valid-token\n');
    const cluster = createKubeClusters(kubeconfigWith('token-file.yaml', { tokenFile: 'token' })).forContext(CONTEXT);
    const refused = await cluster.request({ method: 'GET', path: '/api/v1/namespaces' }).then(
      () => assert.fail('an unknown token must be refused'),
      (e: unknown) => e,
    );
    assert.ok(refused instanceof KubeApiError && refused.status === 401, String(refused));
    writeFileSync(join(dir, 'token'), `${adminToken}\n`);
    const list = await cluster.request<{ items: unknown[] }>({ method: 'GET', path: '/api/v1/namespaces', query: { limit: 1 } });
    assert.equal(list.items.length, 1);
  });

  it('runs an exec credential plugin once for concurrent requests, with KUBERNETES_EXEC_INFO, and keeps its token', async () => {
    const command = plugin('once', [adminToken]);
    const kubeconfig = kubeconfigWith('exec-once.yaml', {
      exec: { apiVersion: 'client.authentication.k8s.io/v1', command: `./${command.split('/').at(-1) ?? ''}`, provideClusterInfo: true, interactiveMode: 'Never' },
    });
    const cluster = createKubeClusters(kubeconfig).forContext(CONTEXT);
    await Promise.all(Array.from({ length: 8 }, () => cluster.request({ method: 'GET', path: '/api/v1/namespaces', query: { limit: 1 } })));
    await cluster.request({ method: 'GET', path: '/api/v1/namespaces', query: { limit: 1 } });
    assert.equal(runs('once'), 1, 'one run served every request');
    const info = JSON.parse(readFileSync(join(dir, 'once.info'), 'utf8')) as { kind: string; spec: { interactive: boolean; cluster?: { server: string } } };
    assert.equal(info.kind, 'ExecCredential');
    assert.equal(info.spec.interactive, false);
    assert.equal(info.spec.cluster?.server, admin.server);
  });

  it('runs the plugin again when its credential expires, and when the server refuses the token it gave', async () => {
    const expiring = kubeconfigWith('exec-expiring.yaml', { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: plugin('expiring', [adminToken], 2) } });
    const cluster = createKubeClusters(expiring).forContext(CONTEXT);
    await cluster.request({ method: 'GET', path: '/api/v1/namespaces', query: { limit: 1 } });
    await cluster.request({ method: 'GET', path: '/api/v1/namespaces', query: { limit: 1 } });
    assert.equal(runs('expiring'), 1);
    await new Promise((r) => setTimeout(r, 3_000));
    await cluster.request({ method: 'GET', path: '/api/v1/namespaces', query: { limit: 1 } });
    assert.equal(runs('expiring'), 2, 'an expired credential is not sent');

    const revoked = kubeconfigWith('exec-revoked.yaml', { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: plugin('revoked', ['revoked-token', adminToken]) } });
    const list = await listNamespaces(revoked);
    assert.equal(list.items.length, 1);
    assert.equal(runs('revoked'), 2, 'a 401 ran the plugin once more and the request was sent again');
  });

  it('fails InvalidInput with the install hint when the plugin cannot be run, and retryably when it fails', async () => {
    const missing = kubeconfigWith('exec-missing.yaml', {
      exec: { apiVersion: 'client.authentication.k8s.io/v1', command: 'logstack-no-such-credential-plugin', installHint: 'install the cloud CLI' },
    });
    const error = (await listNamespaces(missing).then(
      () => assert.fail('a missing plugin cannot authenticate'),
      (e: unknown) => e,
    )) as Error & { type?: string; nonRetryable?: boolean };
    assert.equal(error.type, 'InvalidInput');
    assert.equal(error.nonRetryable, true);
    assert.match(error.message, /logstack-no-such-credential-plugin.*install the cloud CLI/);

    const script = join(dir, 'failing.sh');
    writeFileSync(script, '#!/bin/sh\necho "token endpoint unreachable" >&2\nexit 3\n');
    chmodSync(script, 0o755);
    const failing = await listNamespaces(kubeconfigWith('exec-failing.yaml', { exec: { apiVersion: 'client.authentication.k8s.io/v1beta1', command: script } })).then(
      () => assert.fail('a failing plugin cannot authenticate'),
      (e: unknown) => e as Error & { type?: string },
    );
    assert.equal(failing.type, undefined, 'a plain error: the activity retries');
    assert.match(failing.message, /exit 3.*token endpoint unreachable/);
  });

  it('a connection reset mid-watch and mid-request ends them with a transient error; the process carries on', async () => {
    const target = new URL(admin.server);
    const proxy = await startFaultProxy({ host: target.hostname, port: Number(target.port) });
    try {
      const proxied = join(dir, 'proxied.yaml');
      writeFileSync(proxied, readFileSync(sandbox.kubeconfig, 'utf8').replaceAll(`:${target.port}`, `:${proxy.port}`));
      const cluster = createKubeClusters(proxied).forContext(CONTEXT);
      let events = 0;
      const watching = cluster.watch('/api/v1/namespaces', { timeoutSeconds: 20 }, () => events++, new AbortController().signal, 30_000).then(
        () => assert.fail('a reset watch does not end cleanly'),
        (e: unknown) => e,
      );
      while (events === 0) await new Promise((r) => setTimeout(r, 20));
      proxy.cut();
      const watchError = await watching;
      assert.ok(isServerUnavailable(watchError), `transient: ${String(watchError)}`);
      const listError = await cluster.request({ method: 'GET', path: '/api/v1/namespaces' }).then(
        () => assert.fail('no answer while cut'),
        (e: unknown) => e,
      );
      assert.ok(isServerUnavailable(listError), `transient: ${String(listError)}`);
      proxy.restore();
      const list = await cluster.request<{ items: unknown[] }>({ method: 'GET', path: '/api/v1/namespaces', query: { limit: 1 } });
      assert.equal(list.items.length, 1, 'answered again once restored');
    } finally {
      await proxy.close();
    }
  });

  it('sends a DELETE with a body framed by its length: the next request on the kept-alive connection is answered', async () => {
    const cluster = createKubeClusters(sandbox.kubeconfig).forContext(CONTEXT);
    const name = `t-transport-${randomBytes(3).toString('hex')}`;
    await serverSideApply(cluster, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default' }, data: { k: 'v' } });
    assert.equal(await deleteObject(cluster, { apiVersion: 'v1', kind: 'ConfigMap', name, namespace: 'default' }), true);
    // The same connection serves the next request; a body the server could not frame would be read as a request.
    assert.equal(await readObject(cluster, { apiVersion: 'v1', kind: 'ConfigMap', name, namespace: 'default' }), undefined);
    assert.equal(await deleteObject(cluster, { apiVersion: 'v1', kind: 'ConfigMap', name, namespace: 'default' }), false);
  });

  it('a watch stopped while its request is in flight on a kept-alive connection ends at once, not at the server\'s timeout', async () => {
    // A gate whose condition already holds at its first list stops its watches while they are being opened. On a
    // runtime that does not end an answered request on its signal, such a watch ran until the server closed it.
    const cluster = createKubeClusters(sandbox.kubeconfig).forContext(CONTEXT);
    const slow: string[] = [];
    for (let i = 0; i < 120; i++) {
      await cluster.request({ method: 'GET', path: '/api/v1/namespaces', query: { limit: 1 } }); // leaves a kept-alive connection free
      const stop = new AbortController();
      const started = performance.now();
      const watching = cluster.watch('/api/v1/namespaces/default/configmaps', { timeoutSeconds: 5 }, () => undefined, stop.signal, 15_000);
      await new Promise((resolve) => setTimeout(resolve, i % 6));
      for (let turn = 0; turn < i % 4; turn++) await new Promise((resolve) => setImmediate(resolve));
      stop.abort();
      await watching;
      const ms = performance.now() - started;
      if (ms > 1_000) slow.push(`#${i}: ${Math.round(ms)} ms`);
    }
    assert.deepEqual(slow, [], 'every stopped watch ends within a second');
  });
});
