/**
 * The worker's module compile cache (worker/compile-cache.ts), on real Node processes: a second start reuses the
 * code the first one compiled; a directory that is not this user's own and private is never used; the operator's
 * `NODE_COMPILE_CACHE` and `NODE_DISABLE_COMPILE_CACHE=1` are followed. On Deno it is off and says so.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { enableCompileCache, unsafeCacheDirectory } from '../../worker/compile-cache.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const onDeno = 'Deno' in globalThis;

/** Runs a fresh Node that enables the cache as the worker does, then loads the configuration modules; returns its state, the NODE_COMPILE_CACHE its worker threads inherit, and Node's cache log. */
function start(env: NodeJS.ProcessEnv): { readonly state: string; readonly inherited: string | null; readonly log: string } {
  const script = `
    import { enableCompileCache } from './worker/compile-cache.ts';
    const state = enableCompileCache();
    await import('./config/index.ts');
    process.stdout.write(JSON.stringify({ state, inherited: process.env.NODE_COMPILE_CACHE ?? null }));`;
  const childEnv: NodeJS.ProcessEnv = { ...process.env, NODE_DEBUG_NATIVE: 'COMPILE_CACHE', ...env };
  for (const name of ['NODE_COMPILE_CACHE', 'NODE_DISABLE_COMPILE_CACHE']) if (!(name in env)) delete childEnv[name];
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: REPO,
    env: childEnv,
    encoding: 'utf8',
  });
  assert.equal(run.status, 0, run.stderr);
  const { state, inherited } = JSON.parse(run.stdout) as { state: string; inherited: string | null };
  return { state, inherited, log: run.stderr };
}

if (onDeno) {
  describe('the worker module compile cache on Deno', () => {
    it('is off, says so, and does not throw', () => {
      assert.equal(enableCompileCache({}), 'off: not on Node');
    });
  });
} else {
  describe('the worker module compile cache', () => {
    it('creates a private directory of this user under TMPDIR, and a second start accepts the code the first one wrote', () => {
      const temp = mkdtempSync(join(tmpdir(), 'logstack-cc-test-'));
      try {
        const expected = join(temp, `logstack-compile-cache-${process.getuid?.() ?? -1}`);
        const first = start({ TMPDIR: temp });
        assert.equal(first.state, expected);
        assert.equal(first.inherited, expected, 'worker threads (the workflow thread) inherit the cache through NODE_COMPILE_CACHE');
        assert.equal(statSync(expected).mode & 0o777, 0o700);
        assert.match(first.log, /writing cache for ESM file:\/\/\S+\/config\/index\.ts[^\n]*success/);
        const second = start({ TMPDIR: temp });
        assert.equal(second.state, expected);
        assert.match(second.log, /V8 code cache for ESM file:\/\/\S+\/config\/index\.ts was accepted/);
        assert.match(
          second.log,
          /retrieving transpile cache for StrippedTypeScript file:\/\/\S+\/config\/index\.ts\.\.\.success/,
        );
        assert.doesNotMatch(second.log, /writing cache for \w+ file:\/\/\S+\/config\/index\.ts/);
      } finally {
        rmSync(temp, { recursive: true, force: true });
      }
    });

    it('leaves the cache off when its directory is writable by others, a link, or someone else’s, and says why', () => {
      const temp = mkdtempSync(join(tmpdir(), 'logstack-cc-test-'));
      const uid = process.getuid?.() ?? -1;
      const dir = join(temp, `logstack-compile-cache-${uid}`);
      try {
        mkdirSync(dir);
        chmodSync(dir, 0o777);
        assert.equal(start({ TMPDIR: temp }).state, `off: ${dir} is writable by others (mode 777)`);
        assert.deepEqual(readdirSync(dir), [], 'nothing was written into it');
        rmSync(dir, { recursive: true });

        mkdirSync(join(temp, 'elsewhere'), { mode: 0o700 });
        symlinkSync(join(temp, 'elsewhere'), dir);
        assert.equal(start({ TMPDIR: temp }).state, `off: ${dir} is not a directory of its own`);
        assert.deepEqual(readdirSync(join(temp, 'elsewhere')), []);
        rmSync(dir);

        // Someone else's: as root, a directory handed to another uid; otherwise the root directory, which is root's.
        if (uid === 0) {
          mkdirSync(dir, { mode: 0o700 });
          chownSync(dir, 4242, 4242);
          assert.equal(start({ TMPDIR: temp }).state, `off: ${dir} belongs to uid 4242, not to this process (uid 0)`);
        } else {
          assert.equal(unsafeCacheDirectory('/', uid), `/ belongs to uid 0, not to this process (uid ${uid})`);
        }
      } finally {
        rmSync(temp, { recursive: true, force: true });
      }
    });

    it('uses NODE_COMPILE_CACHE when set, and is off with NODE_DISABLE_COMPILE_CACHE=1', () => {
      const temp = mkdtempSync(join(tmpdir(), 'logstack-cc-test-'));
      try {
        const chosen = join(temp, 'chosen');
        assert.equal(start({ TMPDIR: temp, NODE_COMPILE_CACHE: chosen }).state, chosen);
        assert.ok(readdirSync(chosen).length > 0, 'the cache went where the operator said');
        assert.equal(
          start({ TMPDIR: temp, NODE_DISABLE_COMPILE_CACHE: '1' }).state,
          'off: NODE_DISABLE_COMPILE_CACHE=1',
        );
        assert.deepEqual(
          readdirSync(temp).filter((name) => name.startsWith('logstack-compile-cache-')),
          [],
          'no default directory was made',
        );
      } finally {
        rmSync(temp, { recursive: true, force: true });
      }
    });
  });
}
