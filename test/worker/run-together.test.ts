/**
 * The worker process runs two SDK workers when `LOGSTACK_LOCK_TASK_QUEUE` names another queue: when one stops,
 * the other must stop too, and the process must end with the failure — never keep polling one queue alone.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { State } from '@temporalio/worker';
import { runTogether, type RunnableWorker } from '../../worker/run.ts';

/** A double of an SDK worker: runs until shut down, or until `fail` is called. */
class WorkerDouble implements RunnableWorker {
  state: State = 'INITIALIZED';
  shutdowns = 0;
  #end: ((error?: Error) => void) | undefined;

  getState(): State {
    return this.state;
  }

  run(): Promise<void> {
    assert.equal(this.state, 'INITIALIZED', 'run once');
    this.state = 'RUNNING';
    return new Promise<void>((resolve, reject) => {
      this.#end = (error) => {
        this.state = error ? 'FAILED' : 'STOPPED';
        if (error) reject(error);
        else resolve();
      };
    });
  }

  shutdown(): void {
    if (this.state !== 'RUNNING') throw new Error(`Not running. Current state: ${this.state}`);
    this.shutdowns++;
    this.state = 'DRAINING';
    // Draining takes a moment, as it does for a real worker.
    setTimeout(() => this.#end?.(), 20);
  }

  fail(error: Error): void {
    this.#end?.(error);
  }
}

const settled = (p: Promise<void>): Promise<string> =>
  p.then(
    () => 'resolved',
    (e: unknown) => `rejected: ${(e as Error).message}`,
  );

describe('runTogether', { timeout: 5_000 }, () => {
  it('shuts the other worker down when one fails, and rejects with the failure once both have stopped', async () => {
    const [main, locks] = [new WorkerDouble(), new WorkerDouble()];
    const running = settled(runTogether([main, locks]));
    await new Promise((r) => setTimeout(r, 10));
    locks.fail(new Error('lock queue poller failed'));
    assert.equal(await running, 'rejected: lock queue poller failed');
    assert.equal(main.shutdowns, 1, 'the surviving worker was shut down');
    assert.equal(main.getState(), 'STOPPED', 'and had drained before runTogether ended');
  });

  it('shuts the other worker down when one is shut down, and resolves', async () => {
    const [main, locks] = [new WorkerDouble(), new WorkerDouble()];
    const running = settled(runTogether([main, locks]));
    main.shutdown();
    assert.equal(await running, 'resolved');
    assert.equal(locks.shutdowns, 1);
    assert.equal(main.shutdowns, 1, 'a worker already stopping is not shut down twice');
    assert.deepEqual([main.getState(), locks.getState()], ['STOPPED', 'STOPPED']);
  });

  it('runs a single worker until it stops', async () => {
    const only = new WorkerDouble();
    const running = settled(runTogether([only]));
    only.fail(new Error('boom'));
    assert.equal(await running, 'rejected: boom');
    assert.equal(only.shutdowns, 0);
  });
});
