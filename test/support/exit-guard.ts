/**
 * Preloaded into the process of every Node test file (`--import ./test/support/exit-guard.ts` in the test scripts).
 *
 * Node's test runner waits for a file's process to exit before it runs the next file, so one handle a test left
 * open (a socket, a timer, a worker that never finished its shutdown) would stop the whole suite. Once every test of
 * the file has finished — the root test's `after` hook, which runs only then — this starts a timer that ends a
 * process still alive 30 s later, with the exit code the runner set, and says why on stderr. The timer is unref'd:
 * a file whose process exits by itself is not delayed by it.
 *
 * Not `--test-force-exit`: that flag can end a file's process before all of its tests have run, and the tests it
 * never ran are not reported at all — a suite that passes with tests missing.
 */
import { after } from 'node:test';

/** How long a file's process may stay alive after its last test (`LOGSTACK_TEST_EXIT_GRACE_MS` for the guard's own test). */
const GRACE_MS = Number(process.env['LOGSTACK_TEST_EXIT_GRACE_MS'] ?? 30_000);

after(() => {
  setTimeout(() => {
    process.stderr.write(`exit guard: this test file's process was still alive ${GRACE_MS / 1000} s after its last test (a handle left open); ending it\n`);
    process.exit();
  }, GRACE_MS).unref();
});
