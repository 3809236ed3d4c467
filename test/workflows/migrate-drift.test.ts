import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { DriftFinding } from '../../domain/index.ts';
import { progressQuery } from '../../workflows/messages.ts';
import { migrateProduction, remediateDrift, rolloutEnvironment } from '../../workflows/index.ts';
import { isSideEffect, type DoubleWorld } from './doubles.ts';
import { REV } from './fixtures.ts';
import { failureOf, settle, useHarness, waitUntil, type Step } from './harness.ts';

const INVENTORY = {
  objects: [
    { ref: 'Secret/openshift-logging/logging-loki-s3', managedBy: 'script' as const },
    { ref: 'LokiStack/openshift-logging/logging-loki', managedBy: 'client-side-apply' as const },
    { ref: 'Namespace/openshift-logging', managedBy: 'logstack' as const },
    { ref: 'ExternalSecret/openshift-logging/logging-loki-s3', managedBy: 'absent' as const },
  ],
};

const finding = (environment: string, cls: DriftFinding['class'], object: string, safe: boolean): DriftFinding => ({
  environment,
  class: cls,
  object,
  detail: `${object} drifted`,
  safeToRemediate: safe,
});

describe('migrateProduction', () => {
  const h = useHarness({
    seed: (world) => {
      world.inventory = INVENTORY;
    },
  });

  it('refuses, changing nothing, when the verified revision moved while it waited for the lock', async () => {
    h.world.verified('production', REV.v1);
    let release!: () => void;
    const latch = new Promise<void>((resolve) => (release = resolve));
    h.world.overrides.waitForLokiStackReady = async () => {
      await latch;
      return { gate: 'lokistack-ready', ok: true, detail: 'Ready', waitedMs: 1 };
    };
    try {
      const rollout = await h.start(rolloutEnvironment, [{ environment: 'production', revision: REV.v2 }]);
      await waitUntil(
        () => rollout.query(progressQuery),
        (p) => p.phase === 'verifying',
      );
      const migration = await h.start(migrateProduction, [{ requestedBy: 'alice' }]);
      await waitUntil(
        () => migration.query(progressQuery),
        (p) => p.phase === 'waiting-for-lock',
      );
      release();
      assert.equal((await settle<{ revision: string }>(rollout)).revision, REV.v2);
      const failure = await failureOf(settle(migration));
      assert.equal(failure.type, 'RevisionNotVerified');
      assert.match(failure.message, /moved from 1a1a1a1 to 2b2b2b2 while this migration waited for the lock/);
      assert.ok(!h.world.calls.some((c) => c.workflowId === migration.workflowId && isSideEffect(c)), 'the migration changed nothing');
    } finally {
      release();
    }
  });

  it('shows the plan on dryRun and changes nothing', async () => {
    const handle = await h.start(migrateProduction, [{ dryRun: true }]);
    assert.deepEqual(await handle.result(), {
      adopted: ['Secret/openshift-logging/logging-loki-s3', 'LokiStack/openshift-logging/logging-loki'],
      unchanged: ['Namespace/openshift-logging'],
      skipped: ['ExternalSecret/openshift-logging/logging-loki-s3'],
      gates: [],
    });
    assert.deepEqual(h.world.calls.filter(isSideEffect), []);
    assert.equal((await handle.query(progressQuery)).phase, 'planned');
  });

  it('adopts with ESO Merge first (the merge pass creating the absent ExternalSecret and delivering the overlay), keeps pruning off until every gate is green, then owns and prunes', async () => {
    const handle = await h.start(migrateProduction, [{ requestedBy: 'alice' }]);
    const result = await handle.result();
    assert.deepEqual(result.adopted, [
      'Secret/openshift-logging/logging-loki-s3',
      'LokiStack/openshift-logging/logging-loki',
    ]);
    assert.deepEqual(result.unchanged, ['Namespace/openshift-logging']);
    assert.deepEqual(result.skipped, ['ExternalSecret/openshift-logging/logging-loki-s3']);
    assert.deepEqual(
      result.gates.map((g) => g.gate),
      ['external-secrets-synced', 'operators-succeeded', 'lokistack-ready', 'log-forwarder-ready'],
    );
    const sequence = h.world.calls
      .filter(isSideEffect)
      .map((c) =>
        c.name === 'adoptObjects'
          ? `adopt:${String(c.input['phase'])}`
          : c.name === 'applyOverlay'
            ? `apply:prune=${String(c.input['prune'])}`
            : c.name,
      );
    assert.deepEqual(sequence, [
      // The environment's ESO reader exists before ESO is asked to take anything over.
      'ensureStoreCredential',
      'adopt:merge',
      'waitForExternalSecretSynced',
      'recordDeployedState',
      'waitForExternalSecretSynced',
      'approvePinnedInstallPlans',
      'waitForOperatorsSucceeded',
      'waitForLokiStackReady',
      'waitForLogForwarderReady',
      'adopt:own',
      'waitForExternalSecretSynced',
      'apply:prune=true',
      'recordDeployedState',
    ]);
    const passes = h.world.calls
      .filter((c) => c.name === 'adoptObjects')
      .map((c) => [...(c.input['objects'] as string[])].sort());
    assert.deepEqual(
      passes,
      [INVENTORY.objects.map((o) => o.ref).sort(), INVENTORY.objects.map((o) => o.ref).sort()],
      'both passes cover every rendered object',
    );
    assert.equal(h.world.deployed.get('production')?.revision, REV.main);
    assert.equal(h.world.deployed.get('production')?.verified, true);
  });

  it('never prunes nor hands ownership over when a gate fails', async () => {
    h.world.gateFails = (gate) => gate === 'log-forwarder-ready';
    const failure = await failureOf(h.execute(migrateProduction, [{ requestedBy: 'alice' }]));
    assert.equal(failure.type, 'GateFailed');
    assert.ok(!h.world.calls.some((c) => c.name === 'applyOverlay' && c.input['prune'] === true));
    assert.ok(!h.world.calls.some((c) => c.name === 'adoptObjects' && c.input['phase'] === 'own'));
  });

  it('refuses a plan that would delete or replace live objects', async () => {
    h.world.diff = {
      created: [],
      changed: [],
      unchanged: 3,
      toBeDeleted: [],
      destructive: ['LokiStack/openshift-logging/logging-loki (storage class)'],
      digest: `sha256:${'3'.repeat(64)}`,
    };
    const failure = await failureOf(h.execute(migrateProduction, [{ requestedBy: 'alice' }]));
    assert.equal(failure.type, 'ManifestRejected');
    assert.deepEqual(h.world.calls.filter(isSideEffect), []);
  });

  it('only migrates production', async () => {
    const failure = await failureOf(h.execute('migrateProduction', [{ environment: 'dev' }]));
    assert.equal(failure.type, 'InvalidInput');
    assert.deepEqual(h.world.calls, []);
  });
});

/** Two safe findings (dev, production) and one a person must fix (dev). */
function seedFindings(world: DoubleWorld): void {
  world.findings.set('dev', [
    finding('dev', 'aws', 'bucket logstack-dev-loki: versioning Suspended', true),
    finding('dev', 'operators', 'Subscription loki-operator', false),
  ]);
  world.findings.set('production', [finding('production', 'external-secrets', 'ExternalSecret logging-loki-s3', true)]);
}

describe('remediateDrift', () => {
  const h = useHarness({
    taskQueue: 'logstack-drift-test',
    seed: seedFindings,
  });

  it('reports findings of every environment and touches nothing', async () => {
    const handle = await h.start(remediateDrift, [{}]);
    const result = await handle.result();
    assert.deepEqual(
      result.findings.map((f) => f.object),
      [
        'bucket logstack-dev-loki: versioning Suspended',
        'Subscription loki-operator',
        'ExternalSecret logging-loki-s3',
      ],
    );
    assert.deepEqual(result.remediated, []);
    assert.deepEqual(h.world.calls.filter(isSideEffect), []);
    assert.deepEqual(
      ((await handle.query(progressQuery)).steps as readonly Step[]).map((s) => s.name),
      ['load environment catalog', 'scan drift in dev', 'scan drift in staging', 'scan drift in production'],
    );
  });

  it('remediates only safe findings, and skips an environment another change holds', async () => {
    h.world.verified('production', REV.v1);
    let release!: () => void;
    const latch = new Promise<void>((resolve) => (release = resolve));
    h.world.overrides.waitForLokiStackReady = async () => {
      await latch; // the rollout holds production's lock inside its gate while the drift run comes by
      return { gate: 'lokistack-ready', ok: true, detail: 'Ready', waitedMs: 1 };
    };
    const rollout = await h.start(rolloutEnvironment, [{ environment: 'production', revision: REV.v2 }]);
    await waitUntil(
      () => rollout.query(progressQuery),
      (p) => p.phase === 'verifying',
    );

    const handle = await h.start(remediateDrift, [{ mode: 'remediate' }]);
    const result = await settle<Awaited<ReturnType<typeof remediateDrift>>>(handle);
    assert.deepEqual(
      result.remediated.map((f) => f.object),
      ['bucket logstack-dev-loki: versioning Suspended'],
    );
    assert.deepEqual(
      h.world.calls.filter((c) => c.name === 'remediateFinding').map((c) => c.environment),
      ['dev'],
    );
    const skipped = ((await handle.query(progressQuery)).steps as readonly Step[]).find(
      (s) => s.kind === 'remediate-finding' && s.status === 'skipped',
    );
    assert.match(skipped?.detail ?? '', /not touched: production is locked by rolloutEnvironment/);
    release();
    assert.equal((await settle<{ revision: string }>(rollout)).revision, REV.v2);
  });
});

// A server of its own: the block above leaves lock workflows that the time-skipping server fast-forwards
// (renewals, a cancelled promotion's release); this block starts from none.
describe('remediateDrift: continue-as-new and input checks', () => {
  const h = useHarness({
    taskQueue: 'logstack-drift-can-test',
    seed: seedFindings,
  });

  it('continues as new between environments when its history grows, keeping what it found', async () => {
    const first = await h.start(remediateDrift, [
      { mode: 'remediate' },
      { findings: [], remediated: [], continueAsNewAfterEvents: 10 },
    ]);
    const result = await first.result();
    assert.equal(result.findings.length, 3);
    assert.equal(result.remediated.length, 2);
    const latest = await h.env.client.workflow.getHandle(first.workflowId).describe();
    assert.notEqual(latest.runId, first.firstExecutionRunId);
  });

  it('rejects an unknown environment before scanning anything', async () => {
    const failure = await failureOf(h.execute(remediateDrift, [{ environments: ['dev', 'qa'] }]));
    assert.equal(failure.type, 'UnknownEnvironment');
    assert.deepEqual(
      h.world.calls.map((c) => c.name),
      ['loadCatalog'],
    );
  });
});
