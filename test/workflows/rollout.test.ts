import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { progressQuery } from '../../workflows/messages.ts';
import { rolloutEnvironment } from '../../workflows/index.ts';
import { isSideEffect, rejectApplyOf, watchWhileLive } from './doubles.ts';
import { REV } from './fixtures.ts';
import { failureOf, useHarness, waitUntil, type Step } from './harness.ts';

describe('rolloutEnvironment', () => {
  const h = useHarness();

  const rollout = (args: Record<string, unknown>) => h.start(rolloutEnvironment, [args]);

  it('delivers a revision, passes the gates and records it verified over the previous one', async () => {
    h.world.verified('dev', REV.v1);
    const handle = await rollout({ environment: 'dev', revision: 'v2.0.0', reason: 'new retention' });
    assert.deepEqual(await handle.result(), {
      environment: 'dev',
      revision: REV.v2,
      previousRevision: REV.v1,
      rolledBack: false,
    });
    assert.deepEqual(h.world.deployed.get('dev'), {
      ...h.world.deployed.get('dev'),
      revision: REV.v2,
      verified: true,
      previousRevision: REV.v1,
    });
    assert.equal(h.world.live.get('dev'), REV.v2);
  });

  it('rolls back to the previous verified revision when a gate fails, and waits for it to be healthy', async () => {
    h.world.verified('dev', REV.v1, REV.main);
    h.world.gateFails = (gate, _env, live) => gate === 'lokistack-ready' && live === REV.v2;
    const handle = await rollout({ environment: 'dev', revision: REV.v2 });
    assert.deepEqual(await handle.result(), {
      environment: 'dev',
      revision: REV.v2,
      previousRevision: REV.v1,
      rolledBack: true,
    });
    assert.equal(h.world.live.get('dev'), REV.v1);
    assert.deepEqual(h.world.deployed.get('dev'), {
      ...h.world.deployed.get('dev'),
      revision: REV.v1,
      verified: true,
      previousRevision: REV.main,
    });
    const applies = h.world.calls
      .filter((c) => c.workflowId === handle.workflowId && c.name === 'applyOverlay')
      .map((c) => [c.revision, c.input['prune']]);
    assert.deepEqual(applies, [
      [REV.v2, false],
      [REV.v1, false],
      [REV.v1, true],
    ]);
    const progress = await handle.query(progressQuery);
    assert.equal(progress.phase, 'rolled-back');
    const steps = progress.steps as readonly Step[];
    assert.equal(steps.find((s) => s.kind === 'wait-lokistack-ready')?.status, 'failed');
    assert.ok(steps.filter((s) => s.name.startsWith('rollback: ')).every((s) => s.status === 'succeeded'));
    assert.deepEqual(
      steps.filter((s) => s.name.startsWith('rollback: ')).map((s) => s.kind),
      [
        'apply-overlay',
        'record-deployed-state',
        'wait-external-secret-synced',
        'wait-lokistack-ready',
        'prune-overlay',
        'record-deployed-state',
      ],
    );
  });

  it('fails ManifestRejected without rolling back when the API server rejects the delivery (nothing was applied)', async () => {
    h.world.verified('dev', REV.v1);
    h.world.overrides.applyOverlay = rejectApplyOf(REV.v2);
    const handle = await rollout({ environment: 'dev', revision: REV.v2 });
    const failure = await failureOf(handle.result());
    assert.equal(failure.type, 'ManifestRejected');
    assert.match(failure.message, /spec\.size: Unsupported value .*nothing was applied to dev/);
    const applies = h.world.calls
      .filter((c) => c.workflowId === handle.workflowId && c.name === 'applyOverlay')
      .map((c) => c.revision);
    assert.deepEqual(applies, [REV.v2], 'no rollback delivery');
    assert.deepEqual(
      h.world.calls.filter((c) => c.workflowId === handle.workflowId && c.name === 'recordDeployedState'),
      [],
      'the record is untouched',
    );
    assert.equal(h.world.deployed.get('dev')?.revision, REV.v1);
  });

  it('surfaces a failed rollback clearly and never rolls back the rollback', async () => {
    h.world.verified('dev', REV.v1);
    h.world.gateFails = (gate) => gate === 'lokistack-ready';
    const handle = await rollout({ environment: 'dev', revision: REV.v2 });
    const failure = await failureOf(handle.result());
    assert.equal(failure.type, 'GateFailed');
    assert.match(failure.message, /^ROLLBACK FAILED: dev could not return to 1a1a1a1 .* after 2b2b2b2 failed/);
    assert.deepEqual(failure.details, [
      { environment: 'dev', revision: REV.v2, rollbackRevision: REV.v1, rolledBack: false, rollbackFailed: true },
    ]);
    const applies = h.world.calls
      .filter((c) => c.name === 'applyOverlay' && c.input['prune'] === false)
      .map((c) => c.revision);
    assert.deepEqual(applies, [REV.v2, REV.v1], 'one rollout, one rollback, nothing more');
    assert.equal((await handle.query(progressQuery)).phase, 'rollback-failed');
  });

  it('fails with GateFailed when there is no earlier verified revision to roll back to', async () => {
    h.world.gateFails = (gate) => gate === 'external-secrets-synced';
    const failure = await failureOf((await rollout({ environment: 'dev', revision: REV.v2 })).result());
    assert.equal(failure.type, 'GateFailed');
    assert.match(failure.message, /no earlier verified revision to roll back to/);
    assert.equal(h.world.calls.filter((c) => c.name === 'applyOverlay').length, 1);
  });

  it('rolls back in a non-cancellable scope when cancelled mid-gate, then ends cancelled', async () => {
    h.world.verified('dev', REV.v1);
    h.world.overrides.waitForLokiStackReady = watchWhileLive(h.world, 'lokistack-ready', REV.v2);
    const handle = await rollout({ environment: 'dev', revision: REV.v2 });
    await waitUntil(
      () => handle.query(progressQuery),
      (p) => (p.steps as readonly Step[]).some((s) => s.kind === 'wait-lokistack-ready' && s.status === 'running'),
    );
    await handle.cancel();
    const failure = await failureOf(handle.result());
    assert.equal(failure.name, 'CancelledFailure');
    assert.equal(h.world.live.get('dev'), REV.v1);
    assert.equal(h.world.deployed.get('dev')?.revision, REV.v1);
    assert.equal(h.world.deployed.get('dev')?.verified, true);
    // The lock was released: the next rollout on dev runs at once.
    delete h.world.overrides.waitForLokiStackReady;
    const next = await (await rollout({ environment: 'dev', revision: REV.v3 })).result();
    assert.equal(next.revision, REV.v3);
  });

  it('refuses a protected environment inside a freeze window before any side effect', async () => {
    h.world.editCatalog((doc) => {
      const production = doc.environments.find((e) => e.name === 'production');
      production!.freezeWindows = [
        { start: '2000-01-01T00:00:00Z', end: '2100-01-01T00:00:00Z', reason: 'year-end freeze' },
      ];
    });
    const failure = await failureOf((await rollout({ environment: 'production', revision: REV.v2 })).result());
    assert.equal(failure.type, 'ChangeFreeze');
    assert.match(failure.message, /year-end freeze/);
    assert.deepEqual(h.world.calls.filter(isSideEffect), []);
  });

  it('requires a revision', async () => {
    const failure = await failureOf((await rollout({ environment: 'dev' })).result());
    assert.equal(failure.type, 'InvalidInput');
    assert.match(failure.message, /revision/);
    assert.deepEqual(
      h.world.calls.map((c) => c.name),
      [],
    );
  });
});
