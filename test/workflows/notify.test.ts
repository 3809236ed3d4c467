/**
 * Notifications from workflows (time-skipping server, activity doubles; patch `notify`): which events each run
 * sends to which targets and what they state, that a receiver that never answers neither blocks nor fails a run
 * (its failure is a step in `progress`), and that a catalog without targets schedules nothing and records no marker.
 */
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { DiffSummary, NotificationEvent, NotificationEventKind } from '../../domain/index.ts';
import { NOTIFICATION_FAILED } from '../../domain/index.ts';
import { approveUpdate, progressQuery, rejectUpdate } from '../../workflows/messages.ts';
import { promoteEnvironment, remediateDrift, rolloutEnvironment } from '../../workflows/index.ts';
import type { DoubleWorld } from './doubles.ts';
import { REV } from './fixtures.ts';
import { failureOf, settle, useHarness, waitUntil, wid, type Step } from './harness.ts';

/** Latches not released yet: released after each test whatever happened. */
const held: (() => void)[] = [];
afterEach(() => {
  for (let release = held.pop(); release; release = held.pop()) release();
});

function latch(): { promise: Promise<void>; release: () => void } {
  let release!: () => void;
  const promise = new Promise<void>((resolve) => (release = resolve));
  held.push(release);
  return { promise, release };
}

/** dev: two targets (Slack from a worker variable, generic with a plain URL); production: Teams from a secret. */
function withTargets(world: DoubleWorld): void {
  world.editCatalog((doc) => {
    for (const env of doc.environments) {
      if (env.name === 'dev') {
        env.notifications = [
          { name: 'ops', format: 'slack', urlFrom: { env: 'LOGSTACK_NOTIFY_OPS' } },
          { format: 'generic', url: 'https://events.example.com/logstack' },
        ];
      }
      if (env.name === 'production') env.notifications = [{ name: 'approvers', format: 'teams', urlFrom: { secretsManager: 'logstack/production/notify' } }];
    }
  });
}

const destructiveDiff: DiffSummary = {
  created: ['ConfigMap/openshift-logging/limits'],
  changed: ['LokiStack/openshift-logging/logging-loki'],
  unchanged: 10,
  toBeDeleted: ['PersistentVolumeClaim/openshift-logging/storage-logging-loki-ingester-0'],
  destructive: ['PersistentVolumeClaim/openshift-logging/storage-logging-loki-ingester-0'],
  digest: `sha256:${'7'.repeat(64)}`,
};

describe('notifications from workflows', () => {
  const h = useHarness({ seed: withTargets });

  /** The events sent to one target, in order. */
  const sent = (target: string): NotificationEvent[] =>
    h.world.notifications.filter((n) => (n.target.name ?? `${n.target.format}-2`) === target && n.attempt === 1).map((n) => n.event);
  const kinds = (target: string): NotificationEventKind[] => sent(target).map((e) => e.kind);
  const of = <K extends NotificationEventKind>(target: string, kind: K): Extract<NotificationEvent, { kind: K }> => {
    const event = sent(target).find((e) => e.kind === kind);
    assert.ok(event, `no ${kind} sent to ${target}`);
    return event as Extract<NotificationEvent, { kind: K }>;
  };
  const steps = async (handle: WorkflowHandle): Promise<readonly Step[]> => (await handle.query(progressQuery)).steps as readonly Step[];
  const awaiting = async (handle: WorkflowHandle) =>
    (await waitUntil(() => handle.query(progressQuery), (p) => p.phase === 'awaiting-approval')).awaitingApproval;

  it('approval requested (diff, destructive flagged, approvers, deadline) and approved, to the production target only', async () => {
    h.world.verified('staging', REV.v2);
    h.world.verified('production', REV.v1);
    h.world.diff = destructiveDiff;
    const handle = await h.start(promoteEnvironment, [{ from: 'staging', to: 'production', requestedBy: 'alice' }]);
    const waiting = await awaiting(handle);
    await waitUntil(() => Promise.resolve(kinds('approvers')), (k) => k.includes('approval-requested'));
    const requested = of('approvers', 'approval-requested');
    const { runId } = await handle.describe();
    assert.deepEqual(requested.workflow, { type: 'promoteEnvironment', id: handle.workflowId, runId, namespace: 'default' });
    assert.deepEqual(
      [requested.environment, requested.revision, requested.requestedBy, requested.approvers, requested.approvals, requested.deadline, requested.changedSinceApproval],
      ['production', REV.v2, 'alice', ['alice', 'bob', 'carol'], 'named', waiting?.deadline, false],
    );
    assert.equal(requested.diff.digest, waiting?.digest);
    assert.deepEqual(requested.diff.destructive, { names: destructiveDiff.destructive, total: 1 });
    assert.deepEqual([requested.diff.created.total, requested.diff.changed.total, requested.diff.toBeDeleted.total, requested.diff.unchanged], [1, 1, 1, 10]);
    await handle.executeUpdate(approveUpdate, { args: [{ by: 'bob', comment: 'diff reviewed', digest: waiting?.digest }] });
    await settle(handle);
    assert.deepEqual(kinds('approvers'), ['approval-requested', 'approved']);
    const approved = of('approvers', 'approved');
    assert.deepEqual([approved.by, approved.signed, approved.comment, approved.revision], ['bob', false, 'diff reviewed', REV.v2]);
    assert.equal(h.world.notifications.filter((n) => n.event.environment !== 'production').length, 0, 'other environments’ targets hear nothing');
    const notifySteps = (await steps(handle)).filter((s) => s.name.startsWith('notify '));
    assert.deepEqual(notifySteps.map((s) => [s.name, s.status]), [
      ['notify approvers (teams): approval-requested', 'succeeded'],
      ['notify approvers (teams): approved', 'succeeded'],
    ]);
    assert.match(notifySteps[0]?.detail ?? '', /^delivered to approvers \(teams\): HTTP 200 \(attempt 1\)$/);
  });

  it('rejected', async () => {
    h.world.verified('staging', REV.v2);
    const handle = await h.start(promoteEnvironment, [{ from: 'staging', to: 'production', requestedBy: 'alice' }]);
    await awaiting(handle);
    await handle.executeUpdate(rejectUpdate, { args: [{ by: 'carol', reason: 'needs a change ticket' }] });
    assert.equal((await failureOf(settle(handle))).type, 'ApprovalRejected');
    assert.deepEqual(kinds('approvers'), ['approval-requested', 'rejected']);
    const rejected = of('approvers', 'rejected');
    assert.deepEqual([rejected.by, rejected.reason], ['carol', 'needs a change ticket']);
  });

  it('approval timed out', async () => {
    h.world.verified('staging', REV.v2);
    const handle = await h.start(promoteEnvironment, [{ from: 'staging', to: 'production', requestedBy: 'alice', approvalTimeoutSeconds: 600 }]);
    assert.equal((await failureOf(handle.result())).type, 'ApprovalTimedOut');
    assert.deepEqual(kinds('approvers'), ['approval-requested', 'approval-timed-out']);
    assert.deepEqual(of('approvers', 'approval-timed-out').approvers, ['alice', 'bob', 'carol']);
  });

  it('a receiver that hangs does not hold up the approval or the delivery: the promotion applies while it still waits', async () => {
    h.world.verified('staging', REV.v2);
    h.world.verified('production', REV.v1);
    const hang = latch();
    let appliedWhileHanging = false;
    let hanging = false;
    h.world.overrides.notify = async ({ event }) => {
      if (event.kind === 'approval-requested') {
        hanging = true;
        await hang.promise;
        hanging = false;
      }
      return { status: 200, attempt: 1 };
    };
    const apply = h.world.overrides.applyOverlay;
    h.world.overrides.applyOverlay = (input) => {
      if (input.dryRun !== true && hanging) appliedWhileHanging = true;
      return apply ? apply(input) : { commit: input.revision, digest: 'sha256:00', applied: 12, diff: { ...destructiveDiff, destructive: [] } };
    };
    const handle = await h.start(promoteEnvironment, [{ from: 'staging', to: 'production', requestedBy: 'alice' }]);
    const waiting = await awaiting(handle);
    await handle.executeUpdate(approveUpdate, { args: [{ by: 'bob', digest: waiting?.digest }] });
    await waitUntil(() => Promise.resolve(appliedWhileHanging), (v) => v);
    const running = (await steps(handle)).find((s) => s.name === 'notify approvers (teams): approval-requested');
    assert.equal(running?.status, 'running');
    hang.release();
    const result = await settle<{ revision: string; approvedBy: string }>(handle);
    assert.deepEqual([result.revision, result.approvedBy], [REV.v2, 'bob']);
  });

  it('gate failed (with the rollback target) and rolled back, to every target of the environment', async () => {
    h.world.verified('dev', REV.v1, REV.main);
    h.world.gateFails = (gate, _env, live) => gate === 'lokistack-ready' && live === REV.v2;
    const handle = await h.start(rolloutEnvironment, [{ environment: 'dev', revision: REV.v2 }]);
    assert.equal((await settle<{ rolledBack: boolean }>(handle)).rolledBack, true);
    for (const target of ['ops', 'generic-2']) assert.deepEqual(kinds(target), ['gate-failed', 'rolled-back'], target);
    const failed = of('ops', 'gate-failed');
    assert.deepEqual([failed.revision, failed.failureType, failed.rollingBackTo, failed.rollbackFailed], [REV.v2, 'GateFailed', REV.v1, false]);
    assert.match(failed.failure, /lokistack-ready did not become ready in dev/);
    const rolledBack = of('ops', 'rolled-back');
    assert.deepEqual([rolledBack.revision, rolledBack.rolledBackTo], [REV.v2, REV.v1]);
    assert.match(rolledBack.failure, /^GateFailed: lokistack-ready/);
    // The gate failure is sent as the rollback starts, not once it is over: its step comes before the rollback's.
    const names = (await steps(handle)).map((s) => s.name);
    const notified = names.indexOf('notify ops (slack): gate-failed');
    const rollbackApply = names.findIndex((n) => n.startsWith('rollback: apply'));
    assert.ok(notified >= 0 && rollbackApply > notified, names.join(' | '));
  });

  it('gate failed with the rollback failed too; and gate failed with nothing to roll back to', async () => {
    h.world.verified('dev', REV.v1);
    h.world.gateFails = () => true;
    const first = await h.start(rolloutEnvironment, [{ environment: 'dev', revision: REV.v2 }]);
    assert.equal((await failureOf(settle(first))).type, 'GateFailed');
    assert.deepEqual(sent('ops').map((e) => e.kind === 'gate-failed' && [e.rollingBackTo, e.rollbackFailed]), [
      [REV.v1, false],
      [null, true],
    ]);
    h.world.notifications.length = 0;
    h.world.deployed.clear();
    const second = await h.start(rolloutEnvironment, [{ environment: 'dev', revision: REV.v3 }]);
    assert.equal((await failureOf(settle(second))).type, 'GateFailed');
    assert.deepEqual(sent('ops').map((e) => e.kind === 'gate-failed' && [e.rollingBackTo, e.rollbackFailed]), [[null, false]]);
  });

  it('superseded: the queued run that a newer request replaced says by whom', async () => {
    h.world.verified('dev', REV.v1);
    const gate = latch();
    h.world.overrides.waitForLokiStackReady = async () => {
      await gate.promise;
      return { gate: 'lokistack-ready', ok: true, detail: 'Ready', waitedMs: 1 };
    };
    const holder = await h.start(rolloutEnvironment, [{ environment: 'dev', revision: REV.v2 }], wid('holder'));
    await waitUntil(() => holder.query(progressQuery), (p) => p.phase === 'verifying');
    const older = await h.start(rolloutEnvironment, [{ environment: 'dev', revision: REV.v3 }], wid('older'));
    await waitUntil(async () => (await steps(older)).find((s) => s.name.startsWith('acquire lock'))?.detail ?? '', (d) => d.includes('position 1'));
    const newer = await h.start(rolloutEnvironment, [{ environment: 'dev', revision: REV.v1 }], wid('newer'));
    assert.equal((await failureOf(settle(older))).type, 'Superseded');
    const superseded = sent('ops').filter((e) => e.workflow.id === older.workflowId);
    assert.deepEqual(superseded.map((e) => e.kind), ['superseded']);
    const event = superseded[0] as Extract<NotificationEvent, { kind: 'superseded' }>;
    assert.deepEqual([event.revision, event.supersededBy], [REV.v3, { workflowType: 'rolloutEnvironment', workflowId: newer.workflowId }]);
    gate.release();
    await Promise.all([settle(holder), settle(newer)]);
  });

  it('drift found (report mode) and drift remediated (remediate mode), per environment with findings', async () => {
    const findings = [
      { environment: 'dev', class: 'aws' as const, object: 'bucket logstack-dev-loki', detail: 'versioning Suspended', safeToRemediate: true },
      { environment: 'dev', class: 'operators' as const, object: 'Subscription loki-operator', detail: 'CSV Failed', safeToRemediate: false },
    ];
    h.world.findings.set('dev', findings);
    const report = await h.start(remediateDrift, [{ mode: 'report' }]);
    await settle(report);
    assert.deepEqual(kinds('ops'), ['drift-found']);
    const found = of('ops', 'drift-found');
    assert.equal(found.findings.total, 2);
    assert.deepEqual(found.findings.items.map((f) => [f.object, f.safeToRemediate]), [['bucket logstack-dev-loki', true], ['Subscription loki-operator', false]]);
    h.world.notifications.length = 0;
    const remediate = await h.start(remediateDrift, [{ mode: 'remediate' }]);
    await settle(remediate);
    assert.deepEqual(kinds('ops'), ['drift-remediated']);
    const fixed = of('ops', 'drift-remediated');
    assert.deepEqual([fixed.remediated.items.map((f) => f.object), fixed.remaining.items.map((f) => f.object)], [['bucket logstack-dev-loki'], ['Subscription loki-operator']]);
    assert.equal(h.world.notifications.filter((n) => n.event.environment !== 'dev').length, 0, 'no findings elsewhere, nothing sent there');
  });

  it('a receiver that never answers: the run completes as it would, and progress shows the failed notification', async () => {
    h.world.verified('dev', REV.v1);
    let attempts = 0;
    h.world.overrides.notify = ({ target }) => {
      if (target.name !== 'ops') return { status: 200, attempt: 1 };
      attempts++;
      throw ApplicationFailure.retryable('slack receiver (URL from worker variable LOGSTACK_NOTIFY_OPS): no answer within the timeout (10 s)', NOTIFICATION_FAILED);
    };
    h.world.gateFails = (gate, _env, live) => gate === 'lokistack-ready' && live === REV.v2;
    const handle = await h.start(rolloutEnvironment, [{ environment: 'dev', revision: REV.v2 }]);
    const result = await handle.result();
    assert.equal(result.rolledBack, true, 'the rollout ends exactly as without notifications');
    assert.equal(attempts, 2 * 4, 'two events, four attempts each (the notify profile)');
    const failed = (await steps(handle)).filter((s) => s.status === 'failed' && s.name.startsWith('notify '));
    assert.deepEqual(failed.map((s) => s.name), ['notify ops (slack): gate-failed', 'notify ops (slack): rolled-back']);
    for (const s of failed) assert.match(s.detail ?? '', /^notification to ops \(slack\) failed: .*no answer within the timeout/);
    const other = (await steps(handle)).filter((s) => s.name.startsWith('notify generic-2'));
    assert.ok(other.length === 2 && other.every((s) => s.status === 'succeeded'), 'the other target is unaffected');
    const progress = await handle.query(progressQuery);
    assert.equal(progress.phase, 'rolled-back');
  });

  it('a receiver that refuses (4xx) is not retried, and the promotion still succeeds', async () => {
    h.world.verified('staging', REV.v2);
    h.world.verified('production', REV.v1);
    let attempts = 0;
    h.world.overrides.notify = () => {
      attempts++;
      throw ApplicationFailure.nonRetryable('teams receiver (URL from Secrets Manager secret logstack/production/notify) answered HTTP 404', NOTIFICATION_FAILED, { status: 404 });
    };
    const handle = await h.start(promoteEnvironment, [{ from: 'staging', to: 'production', requestedBy: 'alice' }]);
    const waiting = await awaiting(handle);
    await handle.executeUpdate(approveUpdate, { args: [{ by: 'bob', digest: waiting?.digest }] });
    assert.equal((await settle<{ approvedBy: string }>(handle)).approvedBy, 'bob');
    assert.equal(attempts, 2);
    assert.equal((await handle.query(progressQuery)).phase, 'succeeded');
  });
});

describe('notifications: a catalog without targets', () => {
  const h = useHarness();

  it('schedules no notify activity and records no notify marker', async () => {
    h.world.verified('dev', REV.v1, REV.main);
    h.world.gateFails = (gate, _env, live) => gate === 'lokistack-ready' && live === REV.v2;
    const handle = await h.start(rolloutEnvironment, [{ environment: 'dev', revision: REV.v2 }]);
    await handle.result();
    assert.ok(!h.world.namesFor(handle.workflowId).includes('notify'));
    const events = (await handle.fetchHistory()).events ?? [];
    const markers = events.flatMap((e) => {
      const data = e.markerRecordedEventAttributes?.details?.['patch-data']?.payloads?.[0]?.data;
      return data ? [(JSON.parse(Buffer.from(data).toString('utf8')) as { id: string }).id] : [];
    });
    assert.ok(markers.includes('record-evidence'), 'the scan sees markers');
    assert.ok(!markers.includes('notify'));
  });
});
