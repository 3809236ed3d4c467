import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Client, type WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter, type ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createLockActivities } from '../../activities/lock/lock.ts';
import { approveUpdate, progressQuery } from '../../workflows/messages.ts';
import { environmentLock, promoteEnvironment, remediateDrift, rolloutEnvironment } from '../../workflows/index.ts';
import { lockAcquireUpdate, lockGrantedSignal, lockReleaseSignal, lockStateQuery } from '../../workflows/lock.ts';
import type { DiffSummary, LockRequest } from '../../domain/index.ts';
import { isSideEffect, type DoubleWorld } from './doubles.ts';
import { REV } from './fixtures.ts';
import { doublesWorker, failureOf, settle, useHarness, waitUntil, wid, type Step } from './harness.ts';

/** Latches not released yet: released after each test whatever happened, so the worker can always drain. */
const held: (() => void)[] = [];
afterEach(() => {
  for (let release = held.pop(); release; release = held.pop()) release();
});

/** Keeps every LokiStack gate of `environment` waiting until the returned function is called. */
function holdGate(world: DoubleWorld, environment: string): () => void {
  let release!: () => void;
  const latch = new Promise<void>((resolve) => (release = resolve));
  held.push(release);
  world.overrides.waitForLokiStackReady = async (input) => {
    if (input.environment.name === environment) await latch;
    return { gate: 'lokistack-ready', ok: true, detail: 'Ready', waitedMs: 1 };
  };
  return release;
}

const diffWith = (digit: string, changed: string[]): DiffSummary => ({
  created: [],
  changed,
  unchanged: 10,
  toBeDeleted: [],
  destructive: [],
  digest: `sha256:${digit.repeat(64)}`,
});

describe('per-environment lock', () => {
  const h = useHarness();

  const rollout = (args: Record<string, unknown>, prefix = 'rollout'): Promise<WorkflowHandle<typeof rolloutEnvironment>> =>
    h.start(rolloutEnvironment, [args], wid(prefix));
  const phase = (handle: WorkflowHandle, wanted: string) =>
    waitUntil(
      () => handle.query(progressQuery),
      (p) => p.phase === wanted,
    );
  const lockState = (environment: string) => h.env.client.workflow.getHandle(`lock-${environment}`).query(lockStateQuery);
  /** Side-effect calls in order, as the workflow IDs that made them, runs collapsed. */
  const sideEffectRuns = (): string[] =>
    h.world.calls.filter(isSideEffect).reduce<string[]>((runs, c) => (runs.at(-1) === c.workflowId ? runs : [...runs, c.workflowId]), []);
  const lockDetail = async (handle: WorkflowHandle): Promise<string> =>
    ((await handle.query(progressQuery)).steps as readonly Step[]).find((s) => s.kind === 'acquire-lock')?.detail ?? '';

  it('serialises workflows on one environment in FIFO order, whatever their IDs — they never interleave', async () => {
    h.world.verified('dev', REV.v1);
    const release = holdGate(h.world, 'dev');
    const a = await rollout({ environment: 'dev', revision: REV.v2 }, 'a');
    await phase(a, 'verifying');
    const b = await rollout({ environment: 'dev', revision: REV.v3, supersede: false }, 'b');
    await waitUntil(() => lockDetail(b), (d) => d.includes('position 1'));
    const c = await rollout({ environment: 'dev', revision: REV.v1, supersede: false }, 'c');
    await waitUntil(() => lockDetail(c), (d) => d.includes('position 2'));
    assert.match(await lockDetail(b), /^waiting behind rolloutEnvironment a-\d+-\d+ \(position 1\)$/);
    const state = await lockState('dev');
    assert.equal(state.holder?.workflowId, a.workflowId);
    assert.equal(state.holder?.purpose, `rolloutEnvironment of ${REV.v2.slice(0, 7)}`);
    assert.deepEqual(state.queue.map((q) => q.workflowId), [b.workflowId, c.workflowId]);
    assert.doesNotMatch(JSON.stringify(state), /token|requestId/, 'the query shows no secret of a lease');
    release();

    const results = await Promise.all([settle(a), settle(b), settle(c)]);
    assert.deepEqual(results.map((r) => (r as { revision: string }).revision), [REV.v2, REV.v3, REV.v1]);
    assert.deepEqual(sideEffectRuns(), [a.workflowId, b.workflowId, c.workflowId]);
    // Each one saw the revision its predecessor verified.
    assert.deepEqual(results.map((r) => (r as { previousRevision: string }).previousRevision), [REV.v1, REV.v2, REV.v3]);
    const after = await lockState('dev');
    assert.equal(after.holder, null);
    assert.deepEqual(after.queue, []);
    assert.equal(after.grants, 3);
    assert.match(await lockDetail(b), /^granted after waiting behind rolloutEnvironment a-/);
  });

  it('supersedes a queued request when a newer one of the same kind arrives: only the newest revision is applied', async () => {
    h.world.verified('dev', REV.v1);
    const release = holdGate(h.world, 'dev');
    const holder = await rollout({ environment: 'dev', revision: REV.v2 }, 'holder');
    await phase(holder, 'verifying');
    const older = await rollout({ environment: 'dev', revision: REV.v3 }, 'older');
    await waitUntil(() => lockDetail(older), (d) => d.includes('position 1'));
    const kept = await rollout({ environment: 'dev', revision: REV.v3, supersede: false }, 'kept');
    await waitUntil(() => lockDetail(kept), (d) => d.includes('position 2'));
    const newer = await rollout({ environment: 'dev', revision: REV.v1 }, 'newer');

    const superseded = await failureOf(settle(older));
    assert.equal(superseded.type, 'Superseded');
    assert.match(superseded.message, new RegExp(`rolloutEnvironment ${newer.workflowId} \\(rolloutEnvironment of ${REV.v1.slice(0, 7)}\\)`));
    const progress = await older.query(progressQuery);
    assert.equal(progress.phase, 'failed');
    assert.match((progress.steps as readonly Step[]).find((s) => s.kind === 'acquire-lock')?.detail ?? '', /^superseded while waiting for dev/);
    const state = await lockState('dev');
    assert.deepEqual(state.queue.map((q) => q.workflowId), [kept.workflowId, newer.workflowId], 'the opted-out request keeps its place');
    assert.deepEqual(state.superseded.map((s) => [s.workflowId, s.by]), [[older.workflowId, newer.workflowId]]);
    release();
    await Promise.all([settle(holder), settle(kept), settle(newer)]);
    assert.deepEqual(sideEffectRuns(), [holder.workflowId, kept.workflowId, newer.workflowId]);
    assert.ok(!h.world.calls.some((c) => c.workflowId === older.workflowId && isSideEffect(c)), 'the superseded run changed nothing');
  });

  it('fails fast with EnvironmentLocked when failIfLocked, naming the holder; approve is refused while waiting; a cancelled waiter withdraws', async () => {
    h.world.verified('production', REV.v1);
    const release = holdGate(h.world, 'production');
    const holder = await rollout({ environment: 'production', revision: REV.v2 }, 'holder');
    await phase(holder, 'verifying');

    const eager = await rollout({ environment: 'production', revision: REV.v2, failIfLocked: true }, 'eager');
    const failure = await failureOf(settle(eager));
    assert.equal(failure.type, 'EnvironmentLocked');
    assert.match(failure.message, new RegExp(`production is locked by rolloutEnvironment ${holder.workflowId}`));

    const patient = await rollout({ environment: 'production', revision: REV.v3, supersede: false }, 'patient');
    await phase(patient, 'waiting-for-lock');
    const refused = await failureOf(patient.executeUpdate(approveUpdate, { args: [{ by: 'bob' }] }));
    assert.equal(refused.type, 'InvalidInput');
    assert.match(refused.message, /rolloutEnvironment is not waiting for approval \(phase waiting-for-lock\)/);
    await patient.cancel();
    assert.equal((await failureOf(settle(patient))).name, 'CancelledFailure');
    await waitUntil(() => lockState('production'), (s) => s.queue.length === 0);

    release();
    assert.equal((await settle<{ revision: string }>(holder)).revision, REV.v2);
    assert.deepEqual(sideEffectRuns(), [holder.workflowId], 'neither the refused nor the withdrawn run changed anything');
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

  it('grants the next in line as soon as a holder is terminated by hand', async () => {
    h.world.verified('production', REV.v1);
    const release = holdGate(h.world, 'production');
    try {
      const holder = await rollout({ environment: 'production', revision: REV.v2 }, 'doomed');
      await phase(holder, 'verifying');
      const waiter = await rollout({ environment: 'production', revision: REV.v3 }, 'waiter');
      await phase(waiter, 'waiting-for-lock');
      // Only the doomed holder's gate stays held: the waiter's passes.
      h.world.overrides.waitForLokiStackReady = () => ({ gate: 'lokistack-ready', ok: true, detail: 'Ready', waitedMs: 1 });
      await holder.terminate('operator gave up');
      assert.equal((await waiter.result()).revision, REV.v3);
      assert.equal((await lockState('production')).holder, null);
    } finally {
      release(); // the terminated run's gate double ends too, so the worker can drain
    }
  });

  it('keeps serving and excluding after forged releases and grants, and refuses null and 1 MB acquires', async () => {
    h.world.verified('dev', REV.v1);
    const release = holdGate(h.world, 'dev');
    const holder = await rollout({ environment: 'dev', revision: REV.v2 }, 'holder');
    await phase(holder, 'verifying');
    const waiter = await rollout({ environment: 'dev', revision: REV.v3 }, 'waiter');
    await waitUntil(() => lockDetail(waiter), (d) => d.includes('position 1'));
    const lock = h.env.client.workflow.getHandle('lock-dev');
    const before = await lockState('dev');
    const holderRun = { workflowId: before.holder?.workflowId ?? '', runId: before.holder?.runId ?? '' };

    // A release naming the holder's run (which lockState shows) but not its token; and malformed ones.
    await lock.signal(lockReleaseSignal, { ...holderRun, requestId: '00000000-0000-4000-8000-000000000000', token: '00000000-0000-4000-8000-000000000000' });
    await lock.signal(lockReleaseSignal, holderRun);
    await lock.signal(lockReleaseSignal, null);
    // A grant sent to the waiting rollout, for a request it never made.
    await waiter.signal(lockGrantedSignal, { environment: 'dev', requestId: '00000000-0000-4000-8000-000000000001', token: '00000000-0000-4000-8000-000000000002' });
    await waiter.signal(lockGrantedSignal, 'let me in');
    // Acquires the validator refuses: nothing reaches the lock's state or history.
    const valid: LockRequest = {
      workflowId: 'intruder',
      runId: 'run',
      workflowType: 'rolloutEnvironment',
      environment: 'dev',
      requestId: '00000000-0000-4000-8000-000000000003',
      failIfLocked: false,
      supersede: true,
      requestedAt: new Date().toISOString(),
    };
    for (const forged of [null, { ...valid, purpose: 'x'.repeat(1024 * 1024) }, { ...valid, environment: 'production' }]) {
      const refused = await lock.executeUpdate(lockAcquireUpdate, { args: [forged as LockRequest] }).then(
        () => 'accepted',
        (error: unknown) => (error as Error).name,
      );
      assert.equal(refused, 'WorkflowUpdateFailedError');
    }
    const historyBytes = JSON.stringify((await lock.fetchHistory()).events ?? []).length;
    assert.ok(historyBytes < 200_000, `refused acquires left the lock's history small (${historyBytes} bytes)`);

    await new Promise((r) => setTimeout(r, 500));
    const after = await lockState('dev');
    assert.equal(after.holder?.workflowId, holder.workflowId, 'the holder keeps its lease');
    assert.deepEqual(after.queue.map((q) => q.workflowId), [waiter.workflowId], 'the waiter still waits');
    assert.equal((await waiter.query(progressQuery)).phase, 'waiting-for-lock');
    assert.deepEqual(sideEffectRuns(), [holder.workflowId], 'only the holder changed anything');
    release();
    assert.equal((await settle<{ revision: string }>(waiter)).revision, REV.v3);
    assert.deepEqual(sideEffectRuns(), [holder.workflowId, waiter.workflowId]);
  });

  it('keeps granting across continue-as-new of the lock workflow', async () => {
    const lock = await h.start(environmentLock, [{ environment: 'staging', continueAsNewAfterEvents: 25 }], 'lock-staging');
    for (const revision of [REV.v1, REV.v2, REV.v3]) {
      assert.equal((await settle<{ revision: string }>(await rollout({ environment: 'staging', revision }))).revision, revision);
    }
    const current = h.env.client.workflow.getHandle('lock-staging');
    const state = await current.query(lockStateQuery);
    assert.ok(state.grants >= 3);
    assert.notEqual((await current.describe()).runId, lock.firstExecutionRunId, 'the lock continued as new');
  });

  it('grants every run while each holds a workflow task slot: runs asking for their leases at once, as many as the worker has slots, all finish', async () => {
    // A worker with two workflow task slots serves two rollouts of two environments and their locks. A workflow task
    // holds its slot while its local activities run, and every answer from a lock is a workflow task of the lock on
    // this worker: with the asks as local activities in the runs' first workflow tasks (after the local opening steps),
    // the two runs waited for the worker's workflow task heartbeat before the locks could answer.
    const taskQueue = `${h.taskQueue}-two-slots`;
    const worker = await doublesWorker(h.env.nativeConnection, h.world, { taskQueue, maxConcurrentWorkflowTaskExecutions: 2 });
    const running = worker.run();
    try {
      const environments = ['dev', 'staging'];
      for (const environment of environments) h.world.verified(environment, REV.v1);
      // Both asks are in flight before either reaches the lock.
      const lockActivities = createLockActivities();
      let asking = 0;
      let bothAsking!: () => void;
      const together = new Promise<void>((resolve) => (bothAsking = resolve));
      held.push(bothAsking);
      h.world.overrides.acquireLock = async (input) => {
        if (++asking === environments.length) bothAsking();
        await together;
        return lockActivities.acquireLock(input);
      };
      const handles = await Promise.all(
        environments.map((environment) =>
          h.env.client.workflow.start(rolloutEnvironment, { taskQueue, workflowId: wid(`two-slots-${environment}`), args: [{ environment, revision: REV.v2 }] }),
        ),
      );
      const deadline = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the runs did not finish within 30 s: their leases never came')), 30_000).unref());
      const results = await Promise.race([Promise.all(handles.map((handle) => handle.result())), deadline]);
      assert.deepEqual(results.map((r) => r.revision), [REV.v2, REV.v2]);
      // No run kept a workflow task open past its heartbeat (the worker completes a task still running after 80% of its
      // timeout and takes a new one, so the history shows a completed task followed at once by the next): none waited for
      // its lease inside a workflow task, holding the slot its lock's answer needed.
      for (const handle of handles) {
        const events = (await handle.fetchHistory()).events ?? [];
        const heartbeats = events.filter((e, i) => e.workflowTaskCompletedEventAttributes && events[i + 1]?.workflowTaskScheduledEventAttributes);
        assert.equal(heartbeats.length, 0, `${handle.workflowId} held a workflow task through ${heartbeats.length} heartbeat(s)`);
      }
    } finally {
      worker.shutdown();
      await running;
    }
  });

  it('releases through the releaseLock activity: a malformed release is refused before anything is sent, a missing lock is no-lock, a release sent twice frees nothing the second time', async () => {
    const lockActivities = createLockActivities();
    const release = (input: unknown) =>
      new MockActivityEnvironment({}, { client: h.env.client }).run(lockActivities.releaseLock, input as Parameters<typeof lockActivities.releaseLock>[0]);
    const someRun = { workflowId: 'w', runId: 'r', requestId: '00000000-0000-4000-8000-000000000009' };
    for (const malformed of [{ environment: '', release: someRun }, { environment: 'dev', release: { ...someRun, token: 'not-a-uuid' } }, { environment: 'dev', release: null }]) {
      const failure = await release(malformed).then(() => undefined, (error: unknown) => error as ApplicationFailure);
      assert.equal(failure?.type, 'InvalidInput', JSON.stringify(malformed));
      assert.equal(failure?.nonRetryable, true);
    }
    assert.equal(await release({ environment: 'nowhere', release: someRun }), 'no-lock');

    h.world.verified('dev', REV.v1);
    holdGate(h.world, 'dev');
    const holder = await rollout({ environment: 'dev', revision: REV.v2 }, 'holder');
    await phase(holder, 'verifying');
    const waiter = await rollout({ environment: 'dev', revision: REV.v3 }, 'waiter');
    await waitUntil(() => lockDetail(waiter), (d) => d.includes('position 1'));
    // The holder's lease as its history shows it: the acquireLock activity's completion carries the answer.
    const events = (await holder.fetchHistory()).events ?? [];
    const asked = events.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'acquireLock');
    const answered = events.find((e) => asked && String(e.activityTaskCompletedEventAttributes?.scheduledEventId) === String(asked.eventId));
    const answer = answered?.activityTaskCompletedEventAttributes?.result?.payloads?.[0];
    assert.ok(answer, 'the holder recorded its acquireLock answer');
    const { token } = defaultPayloadConverter.fromPayload<{ token: string }>(answer);
    const lease = { environment: 'dev', release: { workflowId: holder.workflowId, runId: (await holder.describe()).runId, requestId: '00000000-0000-4000-8000-00000000000a', token } };
    assert.equal(await release(lease), 'sent');
    await waitUntil(() => lockState('dev'), (s) => s.holder?.workflowId === waiter.workflowId);
    // Sent again (a retry after a lost answer): the token is spent, the new holder keeps the lease.
    assert.equal(await release(lease), 'sent');
    const lock = h.env.client.workflow.getHandle('lock-dev');
    await waitUntil(
      async () => (await lock.fetchHistory()).events ?? [],
      (all) => all.filter((e) => e.workflowExecutionSignaledEventAttributes?.signalName === lockReleaseSignal.name).length >= 2 && all.at(-1)?.workflowTaskCompletedEventAttributes != null,
    );
    assert.equal((await lockState('dev')).holder?.workflowId, waiter.workflowId);
  });

  it('ends the watch of a lease whose holder released it and runs on by asking the lock, first after 5 s rather than every 2 s', async () => {
    // An approved promotion takes the lock of production, finds the change differs from the one approved, releases the
    // lock and waits for approval again: a holder that released its lease and runs on.
    h.world.verified('staging', REV.v2);
    h.world.verified('production', REV.v1);
    h.world.diff = diffWith('c', ['LokiStack/openshift-logging/logging-loki']);
    const promotion = await h.start(promoteEnvironment, [{ from: 'staging', to: 'production', requestedBy: 'alice' }], wid('released-holder'));
    await phase(promotion, 'awaiting-approval');
    h.world.diff = diffWith('d', ['LokiStack/openshift-logging/logging-loki', 'ConfigMap/openshift-logging/hotfix']);
    await promotion.executeUpdate(approveUpdate, { args: [{ by: 'bob', digest: `sha256:${'c'.repeat(64)}` }] });
    await waitUntil(
      () => promotion.query(progressQuery),
      (p) => p.phase === 'awaiting-approval' && p.awaitingApproval?.changedSinceApproval === true,
    );
    const released = await lockState('production');
    assert.ok(released.grants >= 1 && released.holder === null, 'the promotion held production and released it to wait for approval again');
    // A client that does not let the time-skipping server jump to the approval's deadline while the watch long-polls.
    const plain = new Client({ connection: h.env.client.connection, namespace: h.env.client.options.namespace });
    const holder = { workflowId: promotion.workflowId, runId: (await promotion.describe()).runId, workflowType: 'promoteEnvironment', grantedAt: new Date().toISOString() };
    const t0 = performance.now();
    const outcome = await new MockActivityEnvironment({}, { client: plain }).run(createLockActivities().awaitLockHolderClose, { environment: 'production', holder });
    const elapsedMs = performance.now() - t0;
    assert.equal(outcome, 'released', 'the lock no longer shows the lease');
    assert.equal((await promotion.describe()).status.name, 'RUNNING', 'the watch ended by its ask, not by the holder closing');
    assert.ok(elapsedMs >= 5_000 && elapsedMs < 15_000, `the first ask came after 5 s and answered (ended after ${Math.round(elapsedMs)} ms)`);
    await promotion.terminate('test done');
  });
});

describe('approval outside the lock', () => {
  const h = useHarness({ taskQueue: 'logstack-approval-lock-test' });
  const phase = (handle: WorkflowHandle, wanted: string) =>
    waitUntil(
      () => handle.query(progressQuery),
      (p) => p.phase === wanted,
    );

  it('lets a rollout and a drift remediation of production run while a promotion waits; asks again when the change differs from the one approved', async () => {
    h.world.verified('staging', REV.v2);
    h.world.verified('production', REV.v1);
    h.world.diff = diffWith('a', ['LokiStack/openshift-logging/logging-loki']);
    h.world.findings.set('production', [
      { environment: 'production', class: 'external-secrets', object: 'ExternalSecret logging-loki-s3', detail: 'not synced', safeToRemediate: true },
    ]);
    const promotion = await h.start(promoteEnvironment, [{ from: 'staging', to: 'production', requestedBy: 'alice' }]);
    const waiting = await phase(promotion, 'awaiting-approval');
    assert.equal(waiting.awaitingApproval?.digest, `sha256:${'a'.repeat(64)}`);
    assert.equal((await h.env.client.workflow.getHandle('lock-production').query(lockStateQuery).catch(() => null))?.holder ?? null, null, 'nothing holds production');

    // Production is not blocked by the approver's absence. (settle() waits without letting the time-skipping server
    // jump to the approval's deadline.)
    const hotfix = await h.start(rolloutEnvironment, [{ environment: 'production', revision: REV.v3, failIfLocked: true }]);
    assert.equal((await settle<{ revision: string }>(hotfix)).revision, REV.v3);
    const drift = await settle<{ remediated: unknown[] }>(await h.start(remediateDrift, [{ mode: 'remediate', environments: ['production'] }]));
    assert.equal(drift.remediated.length, 1);
    assert.equal((await promotion.query(progressQuery)).phase, 'awaiting-approval', 'the promotion still waits for its approver');

    // The hotfix changed production: the approved diff is no longer what would be applied.
    h.world.diff = diffWith('b', ['LokiStack/openshift-logging/logging-loki', 'ConfigMap/openshift-logging/hotfix']);
    assert.deepEqual(await promotion.executeUpdate(approveUpdate, { args: [{ by: 'bob', digest: `sha256:${'a'.repeat(64)}` }] }), { approvedBy: 'bob' });
    const again = await waitUntil(
      () => promotion.query(progressQuery),
      (p) => p.phase === 'awaiting-approval' && p.awaitingApproval?.changedSinceApproval === true,
    );
    assert.equal(again.awaitingApproval?.digest, `sha256:${'b'.repeat(64)}`);
    assert.ok(!h.world.calls.some((c) => c.workflowId === promotion.workflowId && c.name === 'applyOverlay' && c.input['dryRun'] !== true), 'nothing was applied on the old approval');
    const stale = await failureOf(promotion.executeUpdate(approveUpdate, { args: [{ by: 'bob', digest: `sha256:${'a'.repeat(64)}` }] }));
    assert.equal(stale.type, 'InvalidInput');
    assert.match(stale.message, /changed since that diff was shown/);

    await promotion.executeUpdate(approveUpdate, { args: [{ by: 'carol', digest: `sha256:${'b'.repeat(64)}` }] });
    const result = await settle<{ revision: string; approvedBy: string }>(promotion);
    assert.equal(result.revision, REV.v2);
    assert.equal(result.approvedBy, 'carol');
    const steps = ((await promotion.query(progressQuery)).steps as readonly Step[]).map((s) => s.name);
    assert.ok(steps.some((n) => n.startsWith('changed since approval: await approval again')), steps.join('\n'));
  });
});
