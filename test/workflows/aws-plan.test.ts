/**
 * The AWS plan in the promotion preview (patch `aws-plan`), on the time-skipping server with activity doubles: a
 * promotion to protected production runs `planAws` (read-only) after the dry-run diff and shows its plan —
 * destructive changes flagged — in `progress.awaitingApproval.aws`, beside the Kubernetes diff whose digest alone
 * the approval names; `logstack watch` prints it; a plan that cannot be read says why and does not stop the
 * promotion; a change asked again after "changed since approval" shows a plan read again.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ApplicationFailure } from '@temporalio/common';
import type { WorkflowHandle } from '@temporalio/client';
import { FailureType, type AwsPlan, type Progress } from '../../domain/index.ts';
import { approveUpdate, progressQuery } from '../../workflows/messages.ts';
import { promoteEnvironment } from '../../workflows/index.ts';
import { cli } from '../client/helpers.ts';
import { isSideEffect } from './doubles.ts';
import { REV } from './fixtures.ts';
import { useHarness, waitUntil, type Step } from './harness.ts';

/** A plan with retention shortened and a policy statement removed (both destructive), and one harmless change. */
function destructivePlan(environment: string, revision: string): AwsPlan {
  const changes = [
    { resource: 's3://logstack-production-loki', item: 'lifecycle logstack-retention', action: 'change', detail: 'expiration 90 days → 30 days (retention shortened)', destructive: true },
    { resource: 'iam role logstack-production-loki', item: 'policy logstack-loki-bucket statement Legacy', action: 'remove', detail: 'statement removed', destructive: true },
    { resource: 's3://logstack-production-loki', item: 'versioning', action: 'change', detail: 'Suspended → Enabled', destructive: false },
  ] as const;
  return {
    environment,
    revision,
    changes,
    destructive: changes.filter((c) => c.destructive).map((c) => `${c.resource} ${c.item}: ${c.detail}`),
    unchanged: 11,
  };
}

describe('promoteEnvironment: the AWS plan in the approval request', () => {
  const h = useHarness();

  const waiting = async (): Promise<{ handle: WorkflowHandle<typeof promoteEnvironment>; progress: Progress }> => {
    h.world.verified('staging', REV.v2);
    h.world.verified('production', REV.v1);
    const handle = await h.start(promoteEnvironment, [{ from: 'staging', to: 'production', requestedBy: 'alice' }]);
    const progress = await waitUntil(
      () => handle.query(progressQuery),
      (p) => p.awaitingApproval !== undefined,
    );
    return { handle, progress };
  };

  it('shows the plan with its destructive changes beside the diff; the approval still names the diff digest only', async () => {
    h.world.awsPlan = destructivePlan;
    const { handle, progress } = await waiting();
    const approval = progress.awaitingApproval;
    assert.ok(approval);
    assert.deepEqual(approval.aws, destructivePlan('production', REV.v2));
    assert.equal(approval.digest, h.world.diff.digest, 'the digest is the Kubernetes diff digest, as before the patch');
    // The plan was read once, for the target and the revision, and nothing was written before the approval.
    const calls = h.world.calls.filter((c) => c.workflowId === handle.workflowId);
    assert.deepEqual(
      calls.filter((c) => c.name === 'planAws').map((c) => [c.environment, c.revision]),
      [['production', REV.v2]],
    );
    assert.deepEqual(calls.filter(isSideEffect).map((c) => c.name), []);
    const steps = progress.steps as readonly Step[];
    const plan = steps.find((s) => s.kind === 'plan-aws');
    assert.equal(plan?.status, 'succeeded');
    assert.equal(plan?.detail, 'AWS: +0 ~2 -1 =11; destructive: 2');
    assert.ok(
      steps.findIndex((s) => s.kind === 'diff-overlay') < steps.findIndex((s) => s.kind === 'plan-aws') &&
        steps.findIndex((s) => s.kind === 'plan-aws') < steps.findIndex((s) => s.kind === 'await-approval'),
      'planned between the dry-run diff and the approval',
    );

    // `logstack watch` prints the plan while the promotion waits, then follows it to the end.
    const watched = cli(['watch', handle.workflowId, '--interval', '200'], {
      PATH: process.env['PATH'],
      TEMPORAL_ADDRESS: h.env.address,
      TEMPORAL_NAMESPACE: h.env.namespace ?? 'default',
      LOGSTACK_TASK_QUEUE: h.taskQueue,
    });
    await new Promise((r) => setTimeout(r, 2500)); // watch polls every 200 ms: it has shown the request by then
    await handle.executeUpdate(approveUpdate, { args: [{ by: 'bob', digest: approval.digest }] });
    const result = await handle.result();
    assert.equal(result.approvedBy, 'bob');
    const { code, out } = await watched;
    assert.equal(code, 0, out);
    assert.match(out, /aws: 0 to create, 2 to change, 1 to remove, 11 unchanged, 2 destructive \(shown, not part of the digest\)/);
    assert.match(out, /~ s3:\/\/logstack-production-loki lifecycle logstack-retention: expiration 90 days → 30 days \(retention shortened\)/);
    assert.match(out, /! iam role logstack-production-loki policy logstack-loki-bucket statement Legacy: statement removed/);
  });

  it('says why the plan is missing when AWS refuses it, and the promotion goes on', async () => {
    h.world.overrides.planAws = () => {
      throw ApplicationFailure.nonRetryable('iam:GetRole logstack-production-loki was refused', FailureType.AccessDenied);
    };
    const { handle, progress } = await waiting();
    assert.deepEqual(progress.awaitingApproval?.aws, {
      environment: 'production',
      revision: REV.v2,
      unavailable: 'AccessDenied: iam:GetRole logstack-production-loki was refused',
    });
    const plan = (progress.steps as readonly Step[]).find((s) => s.kind === 'plan-aws');
    assert.equal(plan?.status, 'failed');
    await handle.executeUpdate(approveUpdate, { args: [{ by: 'bob', digest: progress.awaitingApproval?.digest }] });
    assert.equal((await handle.result()).rolledBack, false);
    assert.equal(h.world.live.get('production'), REV.v2);
  });

  it('reads the plan again when the change is asked again after it changed since approval', async () => {
    let reads = 0;
    h.world.awsPlan = (environment, revision) => {
      reads++;
      return reads === 1 ? destructivePlan(environment, revision) : { environment, revision, changes: [], destructive: [], unchanged: 14 };
    };
    const { handle, progress } = await waiting();
    assert.equal(progress.awaitingApproval?.aws && 'destructive' in progress.awaitingApproval.aws ? progress.awaitingApproval.aws.destructive.length : -1, 2);
    // The environment moves on before the approver decides: the diff under the lock differs, so approval is asked again.
    const first = h.world.diff;
    h.world.diff = { ...first, changed: [...first.changed, 'ConfigMap/openshift-logging/moved'], digest: `sha256:${'7'.repeat(64)}` };
    await handle.executeUpdate(approveUpdate, { args: [{ by: 'bob', digest: first.digest }] });
    const again = await waitUntil(
      () => handle.query(progressQuery),
      (p) => p.awaitingApproval?.changedSinceApproval === true,
    );
    assert.deepEqual(again.awaitingApproval?.aws, { environment: 'production', revision: REV.v2, changes: [], destructive: [], unchanged: 14 });
    assert.equal(reads, 2);
    await handle.executeUpdate(approveUpdate, { args: [{ by: 'bob', digest: h.world.diff.digest }] });
    assert.equal((await handle.result()).approvedBy, 'bob');
  });
});
