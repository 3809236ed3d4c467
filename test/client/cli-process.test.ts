/**
 * The CLI as users start it, in child processes: the `logstack` bin on Node 24 (its own type stripping), the same
 * CLI on Deno (`deno run client/cli.ts`, what `deno task logstack` runs), real exit codes, and the
 * codec server command serving HTTP until SIGTERM. Needs the sandbox's Temporal for `status`.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { requireSandbox } from '../../sandbox/status.ts';
import { DENO, NODE24, REPO, codecKey, suffix } from './helpers.ts';

const sandbox = requireSandbox();

interface Proc {
  code: number | null;
  signal: string | null;
  out: string;
  err: string;
}

function exec(cmd: string, args: string[], env: Record<string, string | undefined> = {}): Promise<Proc> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: REPO, env: { ...process.env, TEMPORAL_ADDRESS: sandbox.temporal.address, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, out, err }));
  });
}

const RUNTIMES = [
  { name: 'Node 24 bin (client/bin.js)', argv: (args: string[]): [string, string[]] => [NODE24, ['client/bin.js', ...args]] },
  { name: 'Deno (deno run client/cli.ts)', argv: (args: string[]): [string, string[]] => [DENO, ['run', '--allow-all', 'client/cli.ts', ...args]] },
];

for (const runtime of RUNTIMES) {
  describe(`logstack CLI process on ${runtime.name}`, () => {
    it('prints help (exit 0), exits 2 on a usage error, and reads status from Temporal as JSON (exit 0)', async () => {
      const help = await exec(...runtime.argv(['--help']));
      assert.equal(help.code, 0, help.err);
      assert.match(help.out, /Usage: logstack/);
      const usage = await exec(...runtime.argv(['rollout', 'dev']));
      assert.equal(usage.code, 2);
      assert.match(usage.err, /required option '--revision <rev>'/);
      const status = await exec(...runtime.argv(['status', '--task-queue', `clitest-empty-${suffix()}`, '--output', 'json']));
      assert.equal(status.code, 0, status.err);
      assert.deepEqual(JSON.parse(status.out), []);
      const unreachable = await exec(...runtime.argv(['--address', '127.0.0.1:1', 'status']));
      assert.equal(unreachable.code, 1);
      assert.match(unreachable.err, /cannot reach Temporal at 127\.0\.0\.1:1/);
    });

    it('codec-server serves /encode and /decode until SIGTERM, then exits 0', async () => {
      const [cmd, args] = runtime.argv(['codec-server', '--port', '0', '--origin', 'http://127.0.0.1:8233', '--output', 'json']);
      const child = spawn(cmd, args, { cwd: REPO, env: { ...process.env, LOGSTACK_CODEC_KEYS: codecKey('p1'), LOGSTACK_CODEC_TOKEN: 't0k-t0k-t0k-t0k-t0k' }, stdio: ['ignore', 'pipe', 'pipe'] });
      let err = '';
      let out = '';
      child.stderr.on('data', (c: Buffer) => (err += c.toString()));
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      const closed = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
      const info = await new Promise<{ url: string; tokenRequired: boolean; activeKey: string }>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`codec server did not start: ${err}`)), 30_000);
        child.stdout.on('data', () => {
          const line = out.split('\n')[0];
          if (out.includes('\n') && line) {
            clearTimeout(timer);
            resolve(JSON.parse(line) as { url: string; tokenRequired: boolean; activeKey: string });
          }
        });
      });
      try {
        assert.equal(info.tokenRequired, true);
        assert.equal(info.activeKey, 'p1');
        const payloads = [{ metadata: { encoding: btoa('json/plain') }, data: btoa('"hello"') }];
        const headers = { 'Content-Type': 'application/json', Authorization: 'Bearer t0k-t0k-t0k-t0k-t0k', 'X-Namespace': 'default' };
        const encoded = (await (await fetch(`${info.url}/encode`, { method: 'POST', headers, body: JSON.stringify({ payloads }) })).json()) as { payloads: unknown[] };
        const decoded = (await (await fetch(`${info.url}/decode`, { method: 'POST', headers, body: JSON.stringify(encoded) })).json()) as { payloads: unknown[] };
        assert.deepEqual(decoded.payloads, payloads);
      } finally {
        child.kill('SIGTERM');
      }
      const end = await closed;
      // It stops cleanly: says so and exits 0. (A Deno parent reports a child it signalled as killed by
      // that signal, code null, even when the child exited 0 itself — so there the line is the proof.)
      assert.match(out, /\{"stopped":true\}/, err);
      if ('Deno' in globalThis) assert.ok(end.code === 0 || end.signal === 'SIGTERM', JSON.stringify(end));
      else assert.equal(end.code, 0, err);
    });
  });
}
