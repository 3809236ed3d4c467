/**
 * On the sandbox: the worker and the CLI, started with `node` alone, and the worker on Deno as `deno task worker`
 * starts it, reach Temporal through a Temporal profile that uses TLS. A TLS-terminating loopback proxy with a CA of its own stands in front of the
 * sandbox's Temporal; the CA is given only as `TEMPORAL_TLS_CA` (the older variable name), so both
 * programs must honour it. Without it, both refuse the proxy's certificate.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server } from 'node:tls';
import { requireSandbox } from '../../sandbox/status.ts';
import { DENO_WORKER_COMMAND } from '../../worker/launch.ts';
import { DENO } from '../support/processes.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'logstack-tls-'));
const openssl = (...args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });

/** A CA, and a server certificate it signed for localhost and 127.0.0.1. */
function makeCertificates(): { ca: string; key: Buffer; cert: Buffer } {
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=logstack test CA', '-keyout', 'ca.key', '-out', 'ca.pem');
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-keyout', 'server.key', '-out', 'server.csr');
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-extfile', 'san.ext', '-out', 'server.pem');
  return { ca: join(dir, 'ca.pem'), key: readFileSync(join(dir, 'server.key')), cert: readFileSync(join(dir, 'server.pem')) };
}

/** Terminates TLS (HTTP/2 by ALPN, as gRPC asks) and pipes the bytes to the plaintext frontend. */
function startProxy(target: string, key: Buffer, cert: Buffer): Promise<Server> {
  const [host, port] = target.split(':');
  const server = createServer({ key, cert, ALPNProtocols: ['h2'] }, (socket) => {
    const upstream = connect(Number(port), host ?? '127.0.0.1');
    socket.pipe(upstream).pipe(socket);
    const close = () => {
      socket.destroy();
      upstream.destroy();
    };
    socket.on('error', close);
    upstream.on('error', close);
  });
  server.on('tlsClientError', () => undefined); // refused handshakes are the negative cases' point
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/** Runs `node <script> …args` with `env` and resolves with its exit code and output. */
const runNode = (script: string, args: string[], env: NodeJS.ProcessEnv, until?: RegExp) => run(process.execPath, [script, ...args], env, until);

/** Runs the worker on Deno as `deno task worker` starts it, with `env`; resolves with its exit code and output. */
const runDenoWorker = (env: NodeJS.ProcessEnv, until?: RegExp) => run(DENO, [...DENO_WORKER_COMMAND], env, until);

/** Runs `command …args` with `env`; SIGTERMs it once its output matches `until`; resolves with its exit code and output. */
function run(command: string, args: string[], env: NodeJS.ProcessEnv, until?: RegExp): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let stopping = false;
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (!stopping && until?.test(output)) {
        stopping = true; // once: a second SIGTERM would end the process before it drains
        child.kill('SIGTERM');
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe('a Temporal profile with TLS, CA from TEMPORAL_TLS_CA (worker and CLI on plain node, worker on Deno)', () => {
  let proxy: Server;
  let env: NodeJS.ProcessEnv;
  let withoutCa: NodeJS.ProcessEnv;

  before(async () => {
    const sandbox = requireSandbox();
    const { ca, key, cert } = makeCertificates();
    proxy = await startProxy(sandbox.temporal.address, key, cert);
    const port = (proxy.address() as AddressInfo).port;
    const profile = join(dir, 'temporal.toml');
    writeFileSync(profile, `[profile.tls]\naddress = "127.0.0.1:${port}"\nnamespace = "default"\n[profile.tls.tls]\nserver_name = "localhost"\n`);
    const { TEMPORAL_ADDRESS: _address, TEMPORAL_TLS_SERVER_CA_CERT_PATH: _ca, ...inherited } = process.env;
    withoutCa = { ...inherited, TEMPORAL_CONFIG_FILE: profile, TEMPORAL_PROFILE: 'tls', LOGSTACK_TASK_QUEUE: `tls-profile-${process.pid}` };
    env = { ...withoutCa, TEMPORAL_TLS_CA: ca };
  });
  after(() => {
    proxy?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the worker connects through the proxy, polls and drains on SIGTERM', async () => {
    const { code, output } = await runNode('worker/main.ts', [], env, /"state":"RUNNING"/);
    assert.match(output, /"message":"logstack worker started".*"profile":"tls \(/, output.slice(-3000));
    assert.match(output, /"tls":"on"/);
    assert.match(output, /"state":"RUNNING"/, output.slice(-3000));
    assert.equal(code, 0, output.slice(-3000));
  });

  it('the worker on Deno connects through the proxy, polls and drains on SIGTERM', async () => {
    const { code, output } = await runDenoWorker(env, /"state":"RUNNING"/);
    assert.match(output, /"runtime":"deno 2\.\d+\.\d+".*"profile":"tls \(|"profile":"tls \(.*"runtime":"deno 2\.\d+\.\d+"/, output.slice(-3000));
    assert.match(output, /"tls":"on"/);
    assert.match(output, /"state":"RUNNING"/, output.slice(-3000));
    assert.doesNotMatch(output, /NotCapable/);
    assert.equal(code, 0, output.slice(-3000));
  });

  it('the CLI reads the workflows through the proxy', async () => {
    const { code, output } = await runNode('client/cli.ts', ['status', '-o', 'json'], env);
    assert.equal(code, 0, output);
    assert.ok(Array.isArray(JSON.parse(output)), output);
  });

  it('without the CA the CLI and both workers refuse the proxy certificate and say where they tried', async () => {
    const cli = await runNode('client/cli.ts', ['status'], withoutCa);
    assert.equal(cli.code, 1, cli.output);
    assert.match(cli.output, /cannot reach Temporal at 127\.0\.0\.1:\d+ \(from profile "tls"/);
    const worker = await runNode('worker/main.ts', [], withoutCa);
    assert.equal(worker.code, 1, worker.output);
    assert.match(worker.output, /logstack worker: .*(certificate|Failed to connect|transport)/is);
    const deno = await runDenoWorker(withoutCa);
    assert.equal(deno.code, 1, deno.output);
    assert.match(deno.output, /logstack worker: .*(certificate|Failed to connect|transport)/is);
  });
});
