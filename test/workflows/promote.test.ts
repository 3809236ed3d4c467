import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { WorkflowHandle } from '@temporalio/client';
import type { Progress } from '../../domain/index.ts';
import { approveUpdate, progressQuery, rejectUpdate } from '../../workflows/messages.ts';
import { promoteEnvironment } from '../../workflows/index.ts';
import { isSideEffect } from './doubles.ts';
import { REV } from './fixtures.ts';
import { failureOf, useHarness, waitUntil, type Step } from './harness.ts';

/** The failure type a refused update carries. */
async function refusal(promise: Promise<unknown>): Promise<{ type?: string; message?: string }> {
  try {
    await promise;
  } catch (err) {
    const cause = (err as { cause?: { type?: string; message?: string } }).cause;
    return { type: cause?.type, message: cause?.message };
  }
  throw new Error('expected the update to be refused');
}

describe('promoteEnvironment', () => {
  const h = useHarness();

  const promote = (args: Record<string, unknown>): Promise<WorkflowHandle<typeof promoteEnvironment>> =>
    h.start(promoteEnvironment, [args]);
  const awaitingApproval = (handle: WorkflowHandle): Promise<Progress> =>
    waitUntil(
      () => handle.query(progressQuery),
      (p) => p.awaitingApproval !== undefined,
    );

  it('moves the revision verified in dev to staging without approval (not protected)', async () => {
    h.world.verified('dev', REV.v2, REV.v1);
    h.world.verified('staging', REV.v1);
    const handle = await promote({ from: 'dev', to: 'staging' });
    assert.deepEqual(await handle.result(), {
      from: 'dev',
      to: 'staging',
      revision: REV.v2,
      previousRevision: REV.v1,
      rolledBack: false,
    });
    assert.equal(h.world.pinned.get('staging'), REV.v2);
    const steps = (await handle.query(progressQuery)).steps as readonly Step[];
    assert.ok(!steps.some((s) => s.kind === 'await-approval'));
    assert.match(steps.find((s) => s.kind === 'diff-overlay')?.detail ?? '', /^\+0 ~1 -0 =11$/);
  });

  it('waits for an allowed second person on a protected environment, showing the diff', async () => {
    h.world.verified('staging', REV.v2);
    h.world.verified('production', REV.v1);
    h.world.diff = {
      created: [],
      changed: ['LokiStack/openshift-logging/logging-loki'],
      unchanged: 20,
      toBeDeleted: ['ConfigMap/openshift-logging/old'],
      destructive: ['ConfigMap/openshift-logging/old'],
      digest: `sha256:${'4'.repeat(64)}`,
    };
    const handle = await promote({ from: 'staging', to: 'production', requestedBy: 'alice' });
    const progress = await awaitingApproval(handle);
    assert.equal(progress.phase, 'awaiting-approval');
    assert.deepEqual(
      { ...progress.awaitingApproval, deadline: undefined, runId: undefined, shownAt: undefined },
      {
        environment: 'production',
        requestedBy: 'alice',
        approvers: ['alice', 'bob', 'carol'],
        diff: h.world.diff,
        digest: h.world.diff.digest,
        deadline: undefined,
        approvals: 'named',
        workflowId: handle.workflowId,
        runId: undefined,
        revision: REV.v2,
        shownAt: undefined,
        // Patch aws-plan: the double's plan has nothing to change (test/workflows/aws-plan.test.ts shows one that has).
        aws: { environment: 'production', revision: REV.v2, changes: [], destructive: [], unchanged: 14 },
      },
    );
    assert.ok(Date.parse(progress.awaitingApproval?.deadline ?? '') > Date.now());
    assert.equal(h.world.calls.filter(isSideEffect).length, 0, 'nothing changes before approval');

    const self = await refusal(handle.executeUpdate(approveUpdate, { args: [{ by: 'alice' }] }));
    assert.equal(self.type, 'NotAuthorized');
    assert.match(self.message ?? '', /four-eyes/);
    const stranger = await refusal(handle.executeUpdate(approveUpdate, { args: [{ by: 'mallory' }] }));
    assert.equal(stranger.type, 'NotAuthorized');
    assert.match(stranger.message ?? '', /allowed approvers: alice, bob, carol/);
    const malformed = await refusal(handle.executeUpdate(approveUpdate, { args: [{ by: '' }] }));
    assert.equal(malformed.type, 'InvalidInput');

    assert.deepEqual(await handle.executeUpdate(approveUpdate, { args: [{ by: 'bob', comment: 'diff reviewed' }] }), {
      approvedBy: 'bob',
    });
    assert.deepEqual(await handle.result(), {
      from: 'staging',
      to: 'production',
      revision: REV.v2,
      previousRevision: REV.v1,
      approvedBy: 'bob',
      rolledBack: false,
    });
    const steps = (await handle.query(progressQuery)).steps as readonly Step[];
    assert.equal(steps.find((s) => s.kind === 'await-approval')?.detail, 'approved by bob: diff reviewed');
    // Refused updates never reach history: exactly one update was accepted.
    const history = await handle.fetchHistory();
    assert.equal((history.events ?? []).filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes).length, 1);
  });

  it('ends with ApprovalRejected on reject, changing nothing', async () => {
    h.world.verified('staging', REV.v2);
    const handle = await promote({ from: 'staging', to: 'production', requestedBy: 'alice' });
    await awaitingApproval(handle);
    assert.equal(
      (await refusal(handle.executeUpdate(rejectUpdate, { args: [{ by: 'alice', reason: 'changed my mind' }] }))).type,
      'NotAuthorized',
    );
    assert.deepEqual(
      await handle.executeUpdate(rejectUpdate, { args: [{ by: 'carol', reason: 'retention change needs a ticket' }] }),
      { rejectedBy: 'carol' },
    );
    const failure = await failureOf(handle.result());
    assert.equal(failure.type, 'ApprovalRejected');
    assert.match(failure.message, /carol rejected the change to production: retention change needs a ticket/);
    assert.deepEqual(h.world.calls.filter(isSideEffect), []);
    assert.equal((await handle.query(progressQuery)).phase, 'failed');
  });

  it('ends with ApprovalTimedOut after 24 h by default', async () => {
    h.world.verified('staging', REV.v2);
    const handle = await promote({ from: 'staging', to: 'production', requestedBy: 'alice' });
    await awaitingApproval(handle);
    const failure = await failureOf(handle.result()); // time skips
    assert.equal(failure.type, 'ApprovalTimedOut');
    const history = await handle.fetchHistory();
    const timers = (history.events ?? []).flatMap((e) =>
      e.timerStartedEventAttributes ? [Number(e.timerStartedEventAttributes.startToFireTimeout?.seconds)] : [],
    );
    assert.ok(timers.includes(24 * 3600), JSON.stringify(timers));
    assert.deepEqual(h.world.calls.filter(isSideEffect), []);
  });

  it('honours approvalTimeoutSeconds', async () => {
    h.world.verified('staging', REV.v2);
    const handle = await promote({ from: 'staging', to: 'production', requestedBy: 'alice', approvalTimeoutSeconds: 600 });
    const failure = await failureOf(handle.result());
    assert.equal(failure.type, 'ApprovalTimedOut');
    const history = await handle.fetchHistory();
    const summary = (data: Uint8Array | null | undefined): string =>
      data ? (JSON.parse(Buffer.from(data).toString('utf8')) as string) : '';
    const approvalTimer = (history.events ?? []).find(
      (e) => e.timerStartedEventAttributes && summary(e.userMetadata?.summary?.data).startsWith('wait for approval'),
    );
    assert.equal(Number(approvalTimer?.timerStartedEventAttributes?.startToFireTimeout?.seconds), 600);
  });

  it('does not let autoApprove bypass approval on a protected environment', async () => {
    h.world.verified('staging', REV.v2);
    const handle = await promote({ from: 'staging', to: 'production', autoApprove: true, requestedBy: 'alice' });
    const progress = await awaitingApproval(handle);
    assert.match(
      (progress.steps as readonly Step[]).find((s) => s.kind === 'auto-approve')?.detail ?? '',
      /ignored: production is protected/,
    );
    await handle.executeUpdate(rejectUpdate, { args: [{ by: 'bob', reason: 'test over' }] });
    assert.equal((await failureOf(handle.result())).type, 'ApprovalRejected');
  });

  it('rolls back automatically when a gate fails after approval', async () => {
    h.world.verified('staging', REV.v2);
    h.world.verified('production', REV.v1);
    h.world.gateFails = (gate, env, live) => env === 'production' && gate === 'log-forwarder-ready' && live === REV.v2;
    const handle = await promote({ from: 'staging', to: 'production', requestedBy: 'alice' });
    await awaitingApproval(handle);
    await handle.executeUpdate(approveUpdate, { args: [{ by: 'carol' }] });
    assert.deepEqual(await handle.result(), {
      from: 'staging',
      to: 'production',
      revision: REV.v2,
      previousRevision: REV.v1,
      approvedBy: 'carol',
      rolledBack: true,
    });
    assert.equal(h.world.live.get('production'), REV.v1);
    assert.equal(h.world.deployed.get('production')?.revision, REV.v1);
  });

  it('refuses a change when a freeze window began while it waited for approval', async () => {
    h.world.verified('staging', REV.v2);
    const now = await h.env.currentTimeMs();
    h.world.editCatalog((doc) => {
      const production = doc.environments.find((e) => e.name === 'production');
      production!.freezeWindows = [
        {
          start: new Date(now + 3600_000).toISOString(),
          end: new Date(now + 48 * 3600_000).toISOString(),
          reason: 'peak season',
        },
      ];
    });
    const handle = await promote({ from: 'staging', to: 'production', requestedBy: 'alice' });
    await awaitingApproval(handle);
    await h.env.sleep('2 hours');
    await handle.executeUpdate(approveUpdate, { args: [{ by: 'bob' }] });
    const failure = await failureOf(handle.result());
    assert.equal(failure.type, 'ChangeFreeze');
    assert.match(failure.message, /peak season/);
    assert.deepEqual(h.world.calls.filter(isSideEffect), []);
  });

  it('does nothing when the target already runs the revision, verified', async () => {
    h.world.verified('dev', REV.v2);
    h.world.verified('staging', REV.v2, REV.v1);
    const result = await (await promote({ from: 'dev', to: 'staging' })).result();
    assert.deepEqual(result, {
      from: 'dev',
      to: 'staging',
      revision: REV.v2,
      previousRevision: REV.v1,
      rolledBack: false,
    });
    assert.deepEqual(h.world.calls.filter(isSideEffect), []);
  });

  for (const [title, args, type, setup] of [
    [
      'skipping a stage',
      { from: 'dev', to: 'production' },
      'PromotionOrderViolation',
      () => h.world.verified('dev', REV.v2),
    ],
    [
      'promoting backwards',
      { from: 'production', to: 'staging' },
      'PromotionOrderViolation',
      () => h.world.verified('production', REV.v2),
    ],
    ['from = to', { from: 'staging', to: 'staging' }, 'InvalidInput', () => undefined],
    ['an unknown stage', { from: 'dev', to: 'qa' }, 'UnknownEnvironment', () => undefined],
    ['nothing verified in from', { from: 'dev', to: 'staging' }, 'RevisionNotVerified', () => undefined],
    [
      'a revision deployed in from but not verified',
      { from: 'dev', to: 'staging' },
      'RevisionNotVerified',
      () =>
        h.world.deployed.set('dev', {
          environment: 'dev',
          revision: REV.v3,
          verified: false,
          verifiedAt: null,
          previousRevision: REV.v2,
        }),
    ],
    [
      'a revision other than the verified one',
      { from: 'dev', to: 'staging', revision: 'v1.0.0' },
      'RevisionNotVerified',
      () => h.world.verified('dev', REV.v2),
    ],
    [
      'a protected target inside a freeze window',
      { from: 'staging', to: 'production', requestedBy: 'alice' },
      'ChangeFreeze',
      async () => {
        h.world.verified('staging', REV.v2);
        // Around the server's clock, which the time-skipping server moves on between tests (to the run
        // deadlines of workflows that wait for nothing but a message, such as the locks).
        const now = await h.env.currentTimeMs();
        h.world.editCatalog((doc) => {
          doc.environments.find((e) => e.name === 'production')!.freezeWindows = [
            { start: new Date(now - 3600_000).toISOString(), end: new Date(now + 365 * 24 * 3600_000).toISOString(), reason: 'audit' },
          ];
        });
      },
    ],
  ] as const) {
    it(`fails with ${type} for ${title}, before any side effect`, async () => {
      await setup();
      const failure = await failureOf((await promote(args)).result());
      assert.equal(failure.type, type, failure.message);
      assert.deepEqual(h.world.calls.filter(isSideEffect), []);
    });
  }

  it('accepts a revision given as a tag or SHA when it is the verified one', async () => {
    h.world.verified('dev', REV.v2);
    const result = await (await promote({ from: 'dev', to: 'staging', revision: '2b2b2b2' })).result();
    assert.equal(result.revision, REV.v2);
  });
});
