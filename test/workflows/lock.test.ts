import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { WorkflowHandle } from '@temporalio/client';
import { approveUpdate, progressQuery } from '../../workflows/messages.ts';
import { environmentLock, promoteEnvironment, rolloutEnvironment } from '../../workflows/index.ts';
import { lockStateQuery } from '../../workflows/lock.ts';
import { isSideEffect } from './doubles.ts';
import { REV } from './fixtures.ts';
import { failureOf, settle, useHarness, waitUntil, wid, type Step } from './harness.ts';

describe('per-environment lock', () => {
  const h = useHarness();

  const rollout = (
    args: Record<string, unknown>,
    prefix = 'rollout',
  ): Promise<WorkflowHandle<typeof rolloutEnvironment>> => h.start(rolloutEnvironment, [args], wid(prefix));
  const promoteToProduction = (): Promise<WorkflowHandle<typeof promoteEnvironment>> =>
    h.start(promoteEnvironment, [{ from: 'staging', to: 'production', requestedBy: 'alice' }]);
  const phase = (handle: WorkflowHandle, wanted: string) =>
    waitUntil(
      () => handle.query(progressQuery),
      (p) => p.phase === wanted,
    );
  /** Side-effect calls in order, as the workflow IDs that made them, runs collapsed. */
  const sideEffectRuns = (): string[] =>
    h.world.calls
      .filter(isSideEffect)
      .reduce<string[]>((runs, c) => (runs.at(-1) === c.workflowId ? runs : [...runs, c.workflowId]), []);

  it('serialises workflows on one environment in FIFO order, whatever their IDs — they never interleave', async () => {
    h.world.verified('dev', REV.v1);
    let release!: () => void;
    const latch = new Promise<void>((resolve) => (release = resolve));
    h.world.overrides.waitForLokiStackReady = async () => {
      await latch; // the first holder stays inside its gate until the test has seen the others queue up
      return { gate: 'lokistack-ready', ok: true, detail: 'Ready', waitedMs: 1 };
    };
    const a = await rollout({ environment: 'dev', revision: REV.v2 }, 'a');
    await phase(a, 'verifying');
    const b = await rollout({ environment: 'dev', revision: REV.v3 }, 'b');
    await phase(b, 'waiting-for-lock');
    const c = await rollout({ environment: 'dev', revision: REV.v1 }, 'c');
    await phase(c, 'waiting-for-lock');
    const detail = async (handle: WorkflowHandle) =>
      ((await handle.query(progressQuery)).steps as readonly Step[]).find((s) => s.kind === 'acquire-lock')?.detail ??
      '';
    await waitUntil(
      () => detail(c),
      (d) => d.includes('position 2'),
    );
    assert.match(await detail(b), /^waiting behind rolloutEnvironment a-\d+-\d+ \(position 1\)$/);
    assert.match(await detail(c), /^waiting behind rolloutEnvironment a-\d+-\d+ \(position 2\)$/);
    const state = await h.env.client.workflow.getHandle('lock-dev').query(lockStateQuery);
    assert.equal(state.holder?.workflowId, a.workflowId);
    assert.deepEqual(
      state.queue.map((q) => q.workflowId),
      [b.workflowId, c.workflowId],
    );
    release();

    const results = await Promise.all([settle(a), settle(b), settle(c)]);
    assert.deepEqual(
      results.map((r) => (r as { revision: string }).revision),
      [REV.v2, REV.v3, REV.v1],
    );
    assert.deepEqual(sideEffectRuns(), [a.workflowId, b.workflowId, c.workflowId]);
    // Each one saw the revision its predecessor verified.
    assert.deepEqual(
      results.map((r) => (r as { previousRevision: string }).previousRevision),
      [REV.v1, REV.v2, REV.v3],
    );
    const after = await h.env.client.workflow.getHandle('lock-dev').query(lockStateQuery);
    assert.equal(after.holder, null);
    assert.deepEqual(after.queue, []);
    assert.match(await detail(b), /^granted after waiting behind rolloutEnvironment a-/);
  });

  it('fails fast with EnvironmentLocked when failIfLocked, naming the holder; approve is refused while waiting; cancellation releases', async () => {
    h.world.verified('staging', REV.v2);
    const holder = await promoteToProduction();
    await phase(holder, 'awaiting-approval');

    const eager = await rollout({ environment: 'production', revision: REV.v2, failIfLocked: true }, 'eager');
    const failure = await failureOf(settle(eager));
    assert.equal(failure.type, 'EnvironmentLocked');
    assert.match(failure.message, new RegExp(`production is locked by promoteEnvironment ${holder.workflowId}`));
    assert.deepEqual(h.world.calls.filter(isSideEffect), []);

    const patient = await rollout({ environment: 'production', revision: REV.v2 }, 'patient');
    await phase(patient, 'waiting-for-lock');
    const refused = await failureOf(patient.executeUpdate(approveUpdate, { args: [{ by: 'bob' }] }));
    assert.equal(refused.type, 'InvalidInput');
    assert.match(refused.message, /rolloutEnvironment is not waiting for approval \(phase waiting-for-lock\)/);

    await holder.cancel();
    assert.equal((await failureOf(settle(holder))).name, 'CancelledFailure');
    assert.equal((await settle<{ revision: string }>(patient)).revision, REV.v2);
    assert.deepEqual(sideEffectRuns(), [patient.workflowId]);
  });

  it('is released when the holder fails', async () => {
    h.world.overrides.ensureBucket = async () => {
      const { ApplicationFailure } = await import('@temporalio/common');
      throw ApplicationFailure.nonRetryable('AccessDenied: s3:CreateBucket', 'AccessDenied');
    };
    const failing = await h.start('bootstrapEnvironment', [{ environment: 'dev' }]);
    assert.equal((await failureOf(settle(failing))).type, 'AccessDenied');
    const next = await rollout({ environment: 'dev', revision: REV.v2, failIfLocked: true });
    assert.equal((await settle<{ revision: string }>(next)).revision, REV.v2);
  });

  it('takes the lease back from a holder that was terminated', async () => {
    h.world.verified('staging', REV.v2);
    const holder = await promoteToProduction();
    await phase(holder, 'awaiting-approval');
    const waiter = await rollout({ environment: 'production', revision: REV.v2 }, 'waiter');
    await phase(waiter, 'waiting-for-lock');
    await holder.terminate('operator gave up');
    // The lock notices within its lease-check interval (time skips while we wait for the result).
    assert.equal((await waiter.result()).revision, REV.v2);
    const state = await h.env.client.workflow.getHandle('lock-production').query(lockStateQuery);
    assert.equal(state.holder, null);
  });

  it('keeps granting across continue-as-new of the lock workflow', async () => {
    const lock = await h.start(
      environmentLock,
      [{ environment: 'staging', continueAsNewAfterEvents: 25 }],
      'lock-staging',
    );
    for (const revision of [REV.v1, REV.v2, REV.v3]) {
      assert.equal(
        (await settle<{ revision: string }>(await rollout({ environment: 'staging', revision }))).revision,
        revision,
      );
    }
    const current = h.env.client.workflow.getHandle('lock-staging');
    const state = await current.query(lockStateQuery);
    assert.equal(state.grants, 3);
    assert.notEqual((await current.describe()).runId, lock.firstExecutionRunId, 'the lock continued as new');
    assert.deepEqual(sideEffectRuns().length, 3);
  });
});
