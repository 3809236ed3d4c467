/**
 * The evidence step of rollouts and promotions (time-skipping server, activity doubles): which runs record
 * evidence, and the predicate each one states — built from what the run holds, with the gates' times, the
 * approval and its digest, the rollback, and the outcome.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EVIDENCE_PREDICATE_TYPE, STATEMENT_TYPE, type EvidenceStatement } from '../../domain/index.ts';
import { evidenceQuery } from '../../workflows/evidence-query.ts';
import { approveUpdate, progressQuery } from '../../workflows/messages.ts';
import { promoteEnvironment, rolloutEnvironment } from '../../workflows/index.ts';
import { rejectApplyOf } from './doubles.ts';
import { REV } from './fixtures.ts';
import { failureOf, useHarness, waitUntil } from './harness.ts';

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

describe('evidence of deliveries', () => {
  const h = useHarness();

  const only = (): EvidenceStatement => {
    assert.equal(h.world.evidence.length, 1, 'exactly one evidence record');
    return h.world.evidence[0] as EvidenceStatement;
  };

  it('a rollout records a statement about the delivered commit, with every gate and its time, after the verified record', async () => {
    h.world.verified('dev', REV.v1);
    h.world.editCatalog((doc) => {
      const dev = doc.environments.find((e) => e.name === 'dev');
      if (dev) dev.evidence = { bucket: 'logstack-dev-evidence', prefix: 'records' };
    });
    const handle = await h.start(rolloutEnvironment, [{ environment: 'dev', revision: 'v2.0.0' }]);
    await handle.result();
    const statement = only();
    assert.equal(statement._type, STATEMENT_TYPE);
    assert.equal(statement.predicateType, EVIDENCE_PREDICATE_TYPE);
    assert.deepEqual(statement.subject, [{ name: `file:///srv/gitops.git@${REV.v2}`, digest: { gitCommit: REV.v2 } }]);
    const p = statement.predicate;
    const { runId } = await handle.describe();
    assert.deepEqual(p.workflow, { type: 'rolloutEnvironment', id: handle.workflowId, runId });
    assert.deepEqual([p.environment, p.from, p.to, p.revision, p.previousRevision, p.outcome], ['dev', null, 'dev', REV.v2, REV.v1, 'succeeded']);
    assert.deepEqual(p.delivery, { mode: 'direct' });
    assert.equal(p.diffDigest, null);
    assert.deepEqual(p.approvals, []);
    assert.deepEqual(p.gates.map((g) => g.gate), ['external-secrets-synced', 'lokistack-ready']);
    for (const g of p.gates) assert.match(g.passedAt, ISO);
    assert.equal(p.rollback, null);
    assert.ok(p.startedAt <= p.finishedAt);
    // The record is the last side effect, after the verified deployed-state record; then the lock is released.
    const names = h.world.namesFor(handle.workflowId);
    assert.deepEqual(names.slice(-2), ['recordEvidence', 'releaseLock']);
    assert.ok(names.lastIndexOf('recordDeployedState') < names.indexOf('recordEvidence'));
    // The query answers with what the activity returned; progress names where it is.
    const answer = await handle.query(evidenceQuery);
    assert.equal(answer?.location.s3?.bucket, 'logstack-dev-evidence');
    const step = (await handle.query(progressQuery)).steps.find((s) => s.name.startsWith('record evidence'));
    assert.match(step?.detail ?? '', /s3:\/\/logstack-dev-evidence\//);
  });

  it('a rollout that rolled back states the rollback target and the gates it passed again', async () => {
    h.world.verified('dev', REV.v1, REV.main);
    h.world.gateFails = (gate, _env, live) => gate === 'lokistack-ready' && live === REV.v2;
    const handle = await h.start(rolloutEnvironment, [{ environment: 'dev', revision: REV.v2 }]);
    assert.equal((await handle.result()).rolledBack, true);
    const p = only().predicate;
    assert.equal(p.outcome, 'rolled-back');
    assert.deepEqual(p.gates.map((g) => g.gate), ['external-secrets-synced']);
    assert.deepEqual(p.rollback?.to, REV.v1);
    assert.deepEqual(p.rollback?.gates.map((g) => g.gate), ['external-secrets-synced', 'lokistack-ready']);
  });

  it('a rollout whose rollback failed records outcome failed with the failure, and still fails GateFailed', async () => {
    h.world.verified('dev', REV.v1);
    h.world.gateFails = () => true;
    const handle = await h.start(rolloutEnvironment, [{ environment: 'dev', revision: REV.v2 }]);
    const failure = await failureOf(handle.result());
    assert.equal(failure.type, 'GateFailed');
    const p = only().predicate;
    assert.equal(p.outcome, 'failed');
    assert.match(p.failure ?? '', /^GateFailed: ROLLBACK FAILED/);
  });

  it('a delivery the API server rejected before writing anything records no evidence (nothing changed)', async () => {
    h.world.verified('dev', REV.v1);
    h.world.overrides.applyOverlay = rejectApplyOf(REV.v2);
    const handle = await h.start(rolloutEnvironment, [{ environment: 'dev', revision: REV.v2 }]);
    assert.equal((await failureOf(handle.result())).type, 'ManifestRejected');
    assert.equal(h.world.evidence.length, 0);
    assert.ok(!h.world.namesFor(handle.workflowId).includes('recordEvidence'));
  });

  it('a protected promotion states from/to, the approved diff digest and the approval with its time', async () => {
    h.world.verified('staging', REV.v2);
    h.world.verified('production', REV.v1);
    const handle = await h.start(promoteEnvironment, [{ from: 'staging', to: 'production', requestedBy: 'alice' }]);
    const waiting = await waitUntil(() => handle.query(progressQuery), (p) => p.phase === 'awaiting-approval');
    const digest = waiting.awaitingApproval?.digest ?? '';
    await handle.executeUpdate(approveUpdate, { args: [{ by: 'bob', comment: 'diff reviewed', digest }] });
    await handle.result();
    const statement = only();
    const p = statement.predicate;
    assert.deepEqual([p.from, p.to, p.revision, p.previousRevision, p.outcome, p.diffDigest], ['staging', 'production', REV.v2, REV.v1, 'succeeded', digest]);
    assert.equal(p.approvals.length, 1);
    const [approval] = p.approvals;
    assert.deepEqual({ ...approval, at: undefined }, { name: 'bob', decision: 'approve', at: undefined, digest, comment: 'diff reviewed' });
    assert.match(approval?.at ?? '', ISO);
    assert.deepEqual(p.gates.map((g) => g.gate), ['external-secrets-synced', 'operators-succeeded', 'lokistack-ready', 'log-forwarder-ready']);
    assert.ok(p.gates.every((g) => (approval?.at ?? '') <= g.passedAt), 'every gate passed after the approval');
  });

  it('a promotion to an environment already at the revision records nothing', async () => {
    h.world.verified('dev', REV.v2);
    h.world.verified('staging', REV.v2);
    const handle = await h.start(promoteEnvironment, [{ from: 'dev', to: 'staging' }]);
    await handle.result();
    assert.equal(h.world.evidence.length, 0);
  });

  it('an Argo CD delivered promotion records evidence after the pin', async () => {
    h.world.verified('dev', REV.v2);
    h.world.verified('staging', REV.v1);
    const handle = await h.start(promoteEnvironment, [{ from: 'dev', to: 'staging' }]);
    await handle.result();
    const p = only().predicate;
    assert.deepEqual(p.delivery, { mode: 'argocd' });
    assert.equal(p.gates[0]?.gate, 'argocd-app-at-revision');
    const names = h.world.namesFor(handle.workflowId);
    assert.ok(names.indexOf('pinRevision') < names.indexOf('recordEvidence'));
  });
});
