/**
 * `mapLimited`: the bounded concurrency a drift scan's per-object calls go through. Pure timing of promises;
 * no sandbox part is involved.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { mapLimited } from '../../activities/limited.ts';

describe('mapLimited', () => {
  it('returns results in input order while calls finish out of order, never more than the limit in flight', async () => {
    let inFlight = 0;
    let peak = 0;
    const delays = [30, 5, 20, 1, 15, 2, 25, 3, 10, 4];
    const results = await mapLimited(delays, 3, async (delay, index) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await sleep(delay);
      inFlight--;
      return `${index}:${delay}`;
    });
    assert.deepEqual(results, delays.map((d, i) => `${i}:${d}`));
    assert.equal(peak, 3);
  });

  it('starts no call after a failure, and rejects with the first failure once the calls in flight settled', async () => {
    const started: number[] = [];
    let settled = 0;
    const error = await mapLimited([0, 1, 2, 3, 4, 5, 6, 7], 2, async (n) => {
      started.push(n);
      await sleep(n === 1 ? 1 : 10);
      settled++;
      if (n === 1) throw new Error('call 1 failed');
      return n;
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.match(String(error), /call 1 failed/);
    assert.deepEqual(started, [0, 1], 'only the calls in flight when call 1 failed ever started');
    assert.equal(settled, started.length, 'every call that started had settled when the promise rejected');
  });

  it('maps an empty list to an empty list', async () => {
    assert.deepEqual(await mapLimited([], 4, () => Promise.reject(new Error('never called'))), []);
  });
});
