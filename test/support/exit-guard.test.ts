/**
 * The test scripts' exit guard (`test/support/exit-guard.ts`), run as they run it: Node's test runner with the guard
 * preloaded, on fixture files. A file that leaves a handle open is ended after the grace period and the next file
 * runs; a failure in such a file still fails the run; a file of many asynchronous tests in nested suites runs them
 * all (what `--test-force-exit` did not guarantee).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { ROOT } from './processes.ts';

const fixture = (name: string): string => `test/support/fixtures/${name}.ts`;

/** Runs Node's test runner on `files` with the guard preloaded and a 1 s grace period. */
function runGuarded(...files: string[]): { code: number | null; out: string } {
  // Without the variable by which the runner marks this process as a test file, the child runs as a runner of its own.
  const { NODE_TEST_CONTEXT: _context, ...env } = process.env;
  const run = spawnSync(process.execPath, ['--test', '--test-concurrency=1', '--import', './test/support/exit-guard.ts', ...files], {
    cwd: ROOT,
    env: { ...env, LOGSTACK_TEST_EXIT_GRACE_MS: '1000' },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: run.status, out: run.stdout + run.stderr };
}

describe('the test exit guard', () => {
  it('ends a file that leaves a handle open, and the next file runs', () => {
    const { code, out } = runGuarded(fixture('leaks-a-handle'), fixture('many-async-tests'));
    assert.equal(code, 0, out);
    assert.match(out, /exit guard: this test file's process was still alive 1 s after its last test/);
    assert.match(out, /ℹ tests 101\n/, out);
    assert.match(out, /ℹ pass 101\n/, out);
  });

  it('keeps the failure of a file it ends', () => {
    const { code, out } = runGuarded(fixture('fails-and-leaks'));
    assert.equal(code, 1, out);
    assert.match(out, /ℹ fail 1\n/, out);
  });
});
