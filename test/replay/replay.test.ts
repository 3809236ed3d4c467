/**
 * Determinism check: every recorded history (see `record.ts`) must replay against the current workflow code.
 * A failure here means a change would break running executions — version it with `patched()` instead.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { WorkflowTypes } from '../../domain/index.ts';
import { WORKFLOW_INTERCEPTOR_MODULES } from '../../worker/bundle.ts';
import { WORKFLOWS_PATH } from '../workflows/harness.ts';
import { historyFromPlain } from './history-json.ts';

Runtime.install({ logger: new DefaultLogger('ERROR') });

const dir = new URL('./histories/', import.meta.url);
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .sort();
const histories = files.map((file) => ({
  workflowId: file.replace(/\.json$/, ''),
  history: historyFromPlain(JSON.parse(readFileSync(new URL(file, dir), 'utf8'))),
}));

describe('replay of recorded histories', () => {
  it('has at least one history of every workflow type, and of the lock', () => {
    const types = new Set(
      histories.map((h) => h.history.events?.[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name),
    );
    for (const type of [...Object.values(WorkflowTypes), 'environmentLock'])
      assert.ok(types.has(type), `no recorded history of ${type}`);
  });

  it('replays every history without a determinism violation', async () => {
    const failures: string[] = [];
    // With the interceptors the worker bundles, so the replay runs the code production runs.
    const options = {
      workflowsPath: WORKFLOWS_PATH,
      interceptors: { workflowModules: [...WORKFLOW_INTERCEPTOR_MODULES] },
      replayName: 'logstack-replay',
    };
    for await (const result of Worker.runReplayHistories(options, histories)) {
      if (result.error) failures.push(`${result.workflowId}: ${result.error.name}: ${result.error.message}`);
    }
    assert.deepEqual(failures, []);
    assert.ok(histories.length >= 10, `${histories.length} histories`);
  });
});
