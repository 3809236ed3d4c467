/**
 * Signed approvals on the sandbox's real parts (production cluster, its moto names, the Git remote): a real worker
 * whose catalog is the sandbox's signed catalog (`LOGSTACK_SIGNED_CATALOG`: production approvers with the sandbox's
 * generated SSH keys, `approvals: signed`), promotions staging → production.
 *
 * Adversarial rows: each forged, misdirected or malformed decision is refused by the workflow's validator with its
 * typed failure, never reaches history, and leaves production as it was — the inventory compared is the part these
 * rows could touch (the production cluster's objects and production's AWS names; production is delivered directly,
 * so no Git ref), because other tests run at the same time on the dev and staging clusters and push to the remote.
 *
 * End to end: one promotion approved through the plain Temporal CLI with a signature made by `ssh-keygen -Y sign`
 * over the statement `logstack approval statement` printed, and one approved by `logstack approve --key`.
 * Production is moved off staging's revision first when it already runs it (a rollout), so each promotion has
 * something to approve.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { approvalStatement, type ApprovalStatementFields, type Progress, type PromoteResult } from '../../domain/index.ts';
import { signedSandboxCatalog, APPROVER_KEYS_DIR } from '../../sandbox/inputs.ts';
import { approveUpdate, progressQuery } from '../../workflows/messages.ts';
import { startE2E, type E2E } from '../e2e/harness.ts';
import { endOrphanedLocks } from '../worker/sandbox-runs.ts';
import { diffInventory, takeInventory, type Inventory } from './inventory.ts';

const ssh = (name: string): string => join(process.env['LOGSTACK_APPROVER_KEYS'] ?? APPROVER_KEYS_DIR, name);
/** `ssh-keygen -Y sign -n logstack-approval` over `statement` with the sandbox key of `name`. */
const sign = (name: string, statement: string): string =>
  execFileSync('ssh-keygen', ['-q', '-Y', 'sign', '-n', 'logstack-approval', '-f', ssh(name)], { input: statement, encoding: 'utf8' });

/**
 * The inventory lines these rows could touch: production's cluster objects and production's AWS names. Production
 * is delivered directly (no pin commit), so no Git ref is the rows' to touch; other tests push at the same time.
 */
function productionChanges(before: Inventory, after: Inventory): string[] {
  return diffInventory(before, after).filter((line) => /cluster production |production/.test(line) && !line.startsWith('git '));
}

/** Update events in a history (a validator's refusal writes none). */
async function updateEvents(handle: WorkflowHandle): Promise<number> {
  const history = await handle.fetchHistory();
  return (history.events ?? []).filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes || e.workflowExecutionUpdateRejectedEventAttributes).length;
}

/** The failure type and message of a refused update. */
async function refusal(promise: Promise<unknown>): Promise<{ type: string; message: string }> {
  try {
    await promise;
  } catch (err) {
    const cause = (err as { cause?: { type?: string; message?: string } }).cause;
    return { type: cause?.type ?? '(none)', message: cause?.message ?? String(err) };
  }
  return { type: '(accepted)', message: 'the update was accepted' };
}

describe('signed approvals on the sandbox (production; controller statuses written by stand-ins)', { concurrency: false }, () => {
  let e2e: E2E;
  let staging = '';
  let seed = '';

  before(async () => {
    // The worker reads the signed sandbox catalog; everything else is the sandbox's published inputs.
    process.env['LOGSTACK_CATALOG'] = process.env['LOGSTACK_SIGNED_CATALOG'] ?? signedSandboxCatalog();
    e2e = await startE2E();
    // A lock of production left on a task queue nobody serves would hold this run's promotions forever.
    await endOrphanedLocks(e2e.client, ['production'], 'signed-approvals test start');
    seed = execFileSync('git', ['-C', e2e.sandbox.git.remote, 'rev-list', '--max-parents=0', 'HEAD'], { encoding: 'utf8' }).trim().split('\n')[0] ?? '';
    const state: Record<string, string> = await e2e.deployedState('staging').catch(() => ({}));
    assert.equal(state['verified'], 'true', 'staging must have a verified revision to promote (the sandbox after its main job has one)');
    // Production must exist (bucket, credentials, store) for its gates: bootstrap it when it has no record yet.
    const production: Record<string, string> = await e2e.deployedState('production').catch(() => ({}));
    if (production['verified'] !== 'true') {
      // At the remote's first commit: the branch head may hold another test's deliberately broken change.
      const bootstrap = await e2e.cli('bootstrap', 'production', '--revision', seed, '--wait');
      assert.equal(bootstrap.code, 0, bootstrap.err + bootstrap.out);
    }
    staging = state['revision'] ?? '';
  });
  after(async () => {
    await e2e?.stop();
  });

  /** Moves production off staging's revision when it runs it already (a rollout of another revision). */
  const productionOffStaging = async (): Promise<void> => {
    const production: Record<string, string> = await e2e.deployedState('production').catch(() => ({}));
    if (production['revision'] !== staging || production['verified'] !== 'true') return;
    const other =
      [production['previousRevision'], seed].find((c) => c !== undefined && c !== '' && c !== staging) ??
      // Staging runs the remote's first commit: a change of the annotation only, pushed as an engineer would.
      (await e2e.pushEdit('gitops/base/loki-stack/lokistack.yaml', (doc) => doc.setIn(['metadata', 'annotations', 'logstack.io/change'], `signed approvals ${Date.now()}`), 'Annotate the LokiStack (signed approvals test)'));
    const rollout = await e2e.cli('rollout', 'production', '--revision', other, '--reason', 'signed approvals test: something to promote', '--wait');
    assert.equal(rollout.code, 0, rollout.err + rollout.out);
  };

  /** Starts a promotion staging → production requested by alice and waits until it shows what to approve. */
  const waitingPromotion = async (workflowId: string): Promise<{ handle: WorkflowHandle; waiting: NonNullable<Progress['awaitingApproval']> }> => {
    const handle = e2e.client.workflow.getHandle(workflowId);
    for (let i = 0; i < 480; i++) {
      const progress = await handle.query(progressQuery).catch(() => undefined);
      if (progress?.awaitingApproval) return { handle, waiting: progress.awaitingApproval };
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`${workflowId} never waited for approval`);
  };

  const rowsId = `promote-production-signed-${process.pid}`;
  let rows: { handle: WorkflowHandle; waiting: NonNullable<Progress['awaitingApproval']> } | undefined;
  let inventoryBefore: Inventory | undefined;
  const fields = (by: string, time: string, change: Partial<ApprovalStatementFields> = {}): ApprovalStatementFields => {
    const waiting = rows?.waiting;
    assert.ok(waiting?.runId && waiting.revision && waiting.digest);
    return { workflowId: rowsId, runId: waiting.runId, environment: 'production', revision: waiting.revision, digest: waiting.digest, decision: 'approve', by, time, ...change };
  };
  /** Sends `input` as an approval of the waiting promotion; asserts the typed refusal and that nothing changed. */
  const row = async (input: Record<string, unknown>, type: string, says: RegExp): Promise<void> => {
    assert.ok(rows && inventoryBefore);
    const refused = await refusal(rows.handle.executeUpdate(approveUpdate, { args: [input as never] }));
    assert.equal(refused.type, type, refused.message);
    assert.match(refused.message, says);
    assert.equal(await updateEvents(rows.handle), 0, 'the refused decision is not in history');
    assert.deepEqual(productionChanges(inventoryBefore, await takeInventory(e2e.sandbox)), [], 'production and its AWS names are as they were');
  };
  const now = (): string => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

  it('a promotion of staging’s revision to production waits for a signed approval (approvals: signed)', async () => {
    await productionOffStaging();
    await e2e.client.workflow.start('promoteEnvironment', {
      taskQueue: e2e.taskQueue,
      workflowId: rowsId,
      args: [{ from: 'staging', to: 'production', requestedBy: 'alice' }],
    });
    rows = await waitingPromotion(rowsId);
    assert.equal(rows.waiting.approvals, 'signed');
    assert.equal(rows.waiting.revision, staging);
    inventoryBefore = await takeInventory(e2e.sandbox);
  });

  it('adversarial: an unsigned approval of signed production is NotAuthorized, nothing changes', async () => {
    await row({ by: 'bob' }, 'NotAuthorized', /takes signed approvals only/);
  });

  it('adversarial: bob’s approval signed with carol’s key is NotAuthorized, nothing changes', async () => {
    const time = now();
    await row({ by: 'bob', signature: sign('carol', approvalStatement(fields('bob', time))), time }, 'NotAuthorized', /made with key/);
  });

  it('adversarial: a signature over another run of the workflow is NotAuthorized, nothing changes', async () => {
    const time = now();
    await row({ by: 'bob', signature: sign('bob', approvalStatement(fields('bob', time, { runId: '00000000-0000-4000-8000-000000000000' }))), time }, 'NotAuthorized', /does not verify over the statement of this request/);
  });

  it('adversarial: a signature over another revision is NotAuthorized, nothing changes', async () => {
    const time = now();
    await row({ by: 'bob', signature: sign('bob', approvalStatement(fields('bob', time, { revision: seed }))), time }, 'NotAuthorized', /does not verify/);
  });

  it('adversarial: a signature over a stale diff digest is NotAuthorized, nothing changes', async () => {
    const time = now();
    const stale = `sha256:${'0'.repeat(64)}`;
    await row({ by: 'bob', digest: stale, signature: sign('bob', approvalStatement(fields('bob', time, { digest: stale }))), time }, 'NotAuthorized', /changed since that diff was shown/);
  });

  it('adversarial: a statement altered after signing (a comment added) is NotAuthorized, nothing changes', async () => {
    const time = now();
    await row({ by: 'bob', comment: 'approved by the board', signature: sign('bob', approvalStatement(fields('bob', time))), time }, 'NotAuthorized', /does not verify/);
  });

  it('adversarial: the requester approving with her own key is NotAuthorized (four-eyes), nothing changes', async () => {
    const time = now();
    await row({ by: 'alice', signature: sign('alice', approvalStatement(fields('alice', time))), time }, 'NotAuthorized', /four-eyes/);
  });

  it('adversarial: a malformed signature is InvalidInput, nothing changes', async () => {
    await row({ by: 'bob', signature: '-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----', time: now() }, 'InvalidInput', /truncated/);
  });

  it('e2e: approved through the plain Temporal CLI with a signature from ssh-keygen -Y sign over the printed statement', async () => {
    assert.ok(rows);
    const printed = await e2e.cli('approval', 'statement', rowsId, '--by', 'bob');
    assert.equal(printed.code, 0, printed.err);
    const time = /^time: "(.*)"$/m.exec(printed.out)?.[1] ?? '';
    // As a person pipes it: logstack approval statement … | ssh-keygen -Y sign -n logstack-approval -f <key>.
    const signature = sign('bob', printed.out);
    const update = await e2e.temporal('workflow', 'update', 'execute', '--workflow-id', rowsId, '--name', 'approve', '--input', JSON.stringify({ by: 'bob', signature, time }));
    assert.equal(update.code, 0, update.err + update.out);
    const result = (await rows.handle.result()) as PromoteResult;
    assert.deepEqual([result.approvedBy, result.revision, result.rolledBack], ['bob', staging, false]);
    assert.equal((await e2e.deployedState('production'))['revision'], staging);
    const steps = (await rows.handle.query(progressQuery)).steps;
    assert.match(steps.find((s) => s.detail?.startsWith('approved by') === true)?.detail ?? '', /^approved by bob \(signed, key SHA256:/);
  });

  it('e2e: approved by logstack approve --key with the approver’s own key', async () => {
    await productionOffStaging();
    const workflowId = `promote-production-key-${process.pid}`;
    const start = await e2e.temporal(
      'workflow', 'start', '--type', 'promoteEnvironment', '--task-queue', e2e.taskQueue, '--workflow-id', workflowId,
      '--input', JSON.stringify({ from: 'staging', to: 'production', requestedBy: 'alice' }),
    );
    assert.equal(start.code, 0, start.err);
    const { handle } = await waitingPromotion(workflowId);
    const approved = await e2e.cli('approve', workflowId, '--by', 'carol', '--key', ssh('carol'), '--comment', 'diff reviewed');
    assert.equal(approved.code, 0, approved.err + approved.out);
    assert.match(approved.out, /\(by carol, signed\)/);
    const result = (await handle.result()) as PromoteResult;
    assert.deepEqual([result.approvedBy, result.revision, result.rolledBack], ['carol', staging, false]);
  });
});
