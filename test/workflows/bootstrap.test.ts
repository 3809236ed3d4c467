import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Progress } from '../../domain/index.ts';
import { progressQuery } from '../../workflows/messages.ts';
import { bootstrapEnvironment } from '../../workflows/index.ts';
import { environmentKey, revisionKey } from '../../workflows/search-attributes.ts';
import { isSideEffect } from './doubles.ts';
import { REV } from './fixtures.ts';
import { failureOf, useHarness, wid } from './harness.ts';

describe('bootstrapEnvironment', () => {
  const h = useHarness();

  it('provisions, delivers directly, passes the gates and records the verified revision', async () => {
    const workflowId = wid('bootstrap-dev');
    const handle = await h.start(bootstrapEnvironment, [{ environment: 'dev' }], workflowId);
    const result = await handle.result();
    assert.deepEqual(result, {
      environment: 'dev',
      bucket: 'logstack-dev-loki',
      secretArn: 'arn:aws:secretsmanager:eu-west-1:000000000000:secret:logstack/dev/loki-Ab12Cd',
      revision: REV.main,
      gates: [
        { gate: 'external-secrets-synced', ok: true, detail: 'ExternalSecret logging-loki-s3 SecretSynced; 5 keys' },
        { gate: 'lokistack-ready', ok: true, detail: 'LokiStack logging-loki Ready' },
      ],
    });
    assert.deepEqual(h.world.namesFor(workflowId), [
      'loadCatalog',
      'resolveRevision',
      'renderOverlay',
      'acquireLock',
      'readDeployedState',
      'ensureBucket',
      'ensureLokiCredentials',
      'seedLokiSecret',
      'ensureStoreCredential',
      'applyOverlay',
      'waitForSecretStoreReady',
      'applyOverlay',
      'recordDeployedState',
      'waitForExternalSecretSynced',
      'waitForLokiStackReady',
      'applyOverlay',
      'recordDeployedState',
      'releaseLock',
    ]);
    const applies = h.world.calls
      .filter((c) => c.workflowId === workflowId && c.name === 'applyOverlay')
      .map((c) => c.input);
    assert.deepEqual(applies, [
      { overlay: 'gitops/overlays/bootstrap', prune: false },
      { overlay: 'gitops/overlays/dev', prune: false },
      { overlay: 'gitops/overlays/dev', prune: true },
    ]);
    assert.deepEqual(h.world.deployed.get('dev'), {
      ...h.world.deployed.get('dev'),
      revision: REV.main,
      verified: true,
      previousRevision: null,
    });

    const progress: Progress = await handle.query(progressQuery);
    assert.equal(progress.phase, 'succeeded');
    assert.ok(
      progress.steps.every((s) => s.status === 'succeeded'),
      JSON.stringify(progress.steps),
    );
    assert.deepEqual(progress.steps.map((s) => s.name).slice(0, 7), [
      'load environment catalog',
      'resolve revision main',
      'render gitops/overlays/dev at 3f2c1a9 for dev',
      'acquire lock lock-dev',
      'read deployed state of dev',
      'ensure bucket logstack-dev-loki',
      'ensure IAM user logstack-dev-loki',
    ]);

    const description = await handle.describe();
    assert.equal(description.typedSearchAttributes.get(environmentKey), 'dev');
    assert.equal(description.typedSearchAttributes.get(revisionKey), REV.main);

    // Every activity carries a human summary in the Web UI, the lock's local activities (one marker each) too.
    const history = await handle.fetchHistory();
    const scheduled = (history.events ?? []).filter(
      (e) => e.activityTaskScheduledEventAttributes || e.markerRecordedEventAttributes?.markerName === 'core_local_activity',
    );
    assert.equal(scheduled.length, 18);
    const summaries = scheduled.map((e) => {
      const data = e.userMetadata?.summary?.data;
      return data ? (JSON.parse(Buffer.from(data).toString('utf8')) as string) : undefined;
    });
    assert.ok(
      summaries.every((s) => typeof s === 'string' && s.length > 0),
      JSON.stringify(summaries),
    );
    assert.ok(summaries.includes('ensure bucket logstack-dev-loki'));
    assert.ok(summaries.includes('ask lock-dev for the lease'));
    assert.ok(summaries.includes(`apply gitops/overlays/bootstrap at 3f2c1a9 to dev`));
  });

  it('delivers through Argo CD: pins the commit and waits for the Application at it', async () => {
    const workflowId = wid('bootstrap-staging');
    const result = await h.execute(bootstrapEnvironment, [{ environment: 'staging', revision: 'v1.0.0' }], workflowId);
    assert.equal(result.revision, REV.v1);
    assert.deepEqual(
      result.gates.map((g) => g.gate),
      ['argocd-app-at-revision', 'operators-succeeded', 'lokistack-ready', 'log-forwarder-ready'],
    );
    const names = h.world.namesFor(workflowId);
    assert.deepEqual(names.slice(names.indexOf('waitForSecretStoreReady') + 1), [
      'pinRevision',
      'waitForArgoAppAtRevision',
      'recordDeployedState',
      'approvePinnedInstallPlans',
      'waitForOperatorsSucceeded',
      'waitForLokiStackReady',
      'waitForLogForwarderReady',
      'recordDeployedState',
      'releaseLock',
    ]);
    assert.equal(h.world.pinned.get('staging'), REV.v1);
  });

  for (const [title, input, type] of [
    ['an unknown environment', { environment: 'qa' }, 'UnknownEnvironment'],
    ['an unknown field', { environment: 'dev', revison: 'main' }, 'InvalidInput'],
    ['a malformed revision', { environment: 'dev', revision: '../../etc' }, 'InvalidInput'],
    ['a revision that does not exist', { environment: 'dev', revision: 'no-such-tag' }, 'InvalidInput'],
    ['an input that is not an object', 'dev', 'InvalidInput'],
  ] as const) {
    it(`fails with ${type} for ${title}, before any side effect`, async () => {
      const failure = await failureOf(h.execute('bootstrapEnvironment', [input]));
      assert.equal(failure.type, type, failure.message);
      assert.deepEqual(h.world.calls.filter(isSideEffect), []);
    });
  }

  it('fails a local step the way a failed activity fails: the workflow failure names the activity, its retry state and the cause', async () => {
    const failed = await h.execute('bootstrapEnvironment', [{ environment: 'dev', revision: 'no-such-tag' }]).then(
      () => assert.fail('expected the bootstrap to fail'),
      (error: unknown) => error as { cause?: { type?: string; cause?: { name?: string; activityType?: string; retryState?: string; cause?: { type?: string; nonRetryable?: boolean } } } },
    );
    const top = failed.cause;
    assert.equal(top?.type, 'InvalidInput');
    assert.equal(top.cause?.name, 'ActivityFailure');
    assert.equal(top.cause.activityType, 'resolveRevision');
    assert.equal(top.cause.retryState, 'NON_RETRYABLE_FAILURE');
    assert.equal(top.cause.cause?.type, 'InvalidInput');
    assert.equal(top.cause.cause.nonRetryable, true);
  });

  it('retries a flaky local step inside its workflow task and carries on', async () => {
    let attempts = 0;
    h.world.overrides.resolveRevision = () => {
      if (++attempts < 2) throw new Error('the GitOps remote did not answer');
      return { commit: REV.main };
    };
    const result = await h.execute(bootstrapEnvironment, [{ environment: 'dev' }]);
    assert.equal(result.revision, REV.main);
    assert.deepEqual(
      h.world.calls.filter((c) => c.name === 'resolveRevision').map((c) => c.attempt),
      [1, 2],
    );
  });

  it('retries a flaky activity and carries on', async () => {
    let attempts = 0;
    h.world.overrides.ensureBucket = ({ environment }) => {
      if (++attempts < 3) throw new Error('SlowDown: please reduce your request rate');
      return { bucket: environment.aws.bucket, created: true, changed: [] };
    };
    const result = await h.execute(bootstrapEnvironment, [{ environment: 'dev' }]);
    assert.equal(result.bucket, 'logstack-dev-loki');
    assert.deepEqual(
      h.world.calls.filter((c) => c.name === 'ensureBucket').map((c) => c.attempt),
      [1, 2, 3],
    );
  });

  it('does not retry a non-retryable failure and reports it by type', async () => {
    h.world.overrides.ensureBucket = async () => {
      const { ApplicationFailure } = await import('@temporalio/common');
      throw ApplicationFailure.nonRetryable('bucket logstack-dev-loki is owned by another account', 'Conflict');
    };
    const workflowId = wid('bootstrap-conflict');
    const failure = await failureOf(h.execute(bootstrapEnvironment, [{ environment: 'dev' }], workflowId));
    assert.equal(failure.type, 'Conflict');
    assert.match(failure.message, /owned by another account/);
    assert.equal(h.world.calls.filter((c) => c.name === 'ensureBucket').length, 1);
    assert.ok(!h.world.namesFor(workflowId).includes('ensureLokiCredentials'));
  });

  it('fails with GateFailed when a gate fails, recording the revision unverified (nothing to roll back to)', async () => {
    h.world.gateFails = (gate) => gate === 'lokistack-ready';
    const handle = await h.start(bootstrapEnvironment, [{ environment: 'dev' }]);
    const failure = await failureOf(handle.result());
    assert.equal(failure.type, 'GateFailed');
    assert.equal(h.world.deployed.get('dev')?.verified, false);
    const progress = await handle.query(progressQuery);
    assert.equal(progress.phase, 'failed');
    const steps = progress.steps as unknown as readonly { kind: string; status: string; detail?: string }[];
    const failed = steps.find((s) => s.kind === 'wait-lokistack-ready');
    assert.equal(failed?.status, 'failed');
    assert.match(failed?.detail ?? '', /^GateFailed: lokistack-ready did not become ready/);
    assert.deepEqual(
      steps.filter((s) => s.status === 'skipped').map((s) => s.kind),
      ['prune-overlay', 'record-deployed-state'],
    );
  });
});
