/** Activities registered before their modules load: every contract name, one load, retried after a failure. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { LogstackActivities } from '../../domain/activity-contract.ts';
import { ACTIVITY_NAMES } from '../../domain/activity-names.ts';
import { lazyActivities } from '../../worker/lazy-activities.ts';

/** A double of the activity implementation: only `resolveRevision` is used. */
function implementationDouble(calls: string[]): LogstackActivities {
  return {
    resolveRevision: (input: { revision: string }) => {
      calls.push(input.revision);
      return Promise.resolve({ commit: `${input.revision}-resolved` });
    },
  } as unknown as LogstackActivities;
}

describe('lazyActivities', () => {
  it('registers every activity of the contract without loading anything', () => {
    let loads = 0;
    const lazy = lazyActivities(() => {
      loads++;
      return Promise.resolve(implementationDouble([]));
    });
    assert.deepEqual(Object.keys(lazy.activities).sort(), [...ACTIVITY_NAMES].sort());
    assert.equal(loads, 0);
  });

  it('loads once, forwards arguments and results, and shares the load with preload()', async () => {
    let loads = 0;
    const calls: string[] = [];
    const lazy = lazyActivities(async () => {
      loads++;
      await new Promise((r) => setTimeout(r, 10));
      return implementationDouble(calls);
    });
    const [preloaded, a, b] = await Promise.all([
      lazy.preload(),
      lazy.activities.resolveRevision({ revision: 'main' }),
      lazy.activities.resolveRevision({ revision: 'v1' }),
    ]);
    assert.equal(typeof preloaded.scanDrift, 'undefined', 'preload() returns the loaded double itself');
    assert.deepEqual([a, b], [{ commit: 'main-resolved' }, { commit: 'v1-resolved' }]);
    assert.deepEqual(calls, ['main', 'v1']);
    assert.equal(loads, 1);
  });

  it('fails the activity when loading fails, and loads again on the next call', async () => {
    let loads = 0;
    const lazy = lazyActivities(() => {
      loads++;
      return loads === 1 ? Promise.reject(new Error('cannot load')) : Promise.resolve(implementationDouble([]));
    });
    await assert.rejects(lazy.activities.resolveRevision({ revision: 'main' }), /cannot load/);
    assert.deepEqual(await lazy.activities.resolveRevision({ revision: 'main' }), { commit: 'main-resolved' });
    assert.equal(loads, 2);
  });

  it('names a function the loaded modules lack', async () => {
    const lazy = lazyActivities(() => Promise.resolve({} as LogstackActivities));
    await assert.rejects(lazy.activities.scanDrift({} as never), /do not export scanDrift/);
  });
});
