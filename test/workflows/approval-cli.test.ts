/**
 * The approver's commands end to end on the time-skipping server: the real CLI (in process) against the real
 * workflow bundle with activity doubles, production with `approvals: signed`, keys and signatures from the real
 * `ssh-keygen` and `ssh-agent`. `approval statement` prints exactly what the validator verifies; `approve --key`,
 * `approve --key <.pub>` through the agent, `approve --signature-file --time` and `reject --key` are accepted;
 * `approve` without a key is refused by the workflow.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { approvalStatement, type Progress } from '../../domain/index.ts';
import { progressQuery } from '../../workflows/messages.ts';
import { promoteEnvironment } from '../../workflows/index.ts';
import { cli } from '../client/helpers.ts';
import { generateTestKeys, type TestKeys } from '../support/ssh-keys.ts';
import { REV } from './fixtures.ts';
import { failureOf, useHarness, waitUntil, type Step } from './harness.ts';

describe('logstack approval statement / approve --key / reject --key (approvals: signed)', () => {
  const h = useHarness();
  let keys: TestKeys;
  let agent: ChildProcess | undefined;
  let agentSocket: string;
  before(async () => {
    keys = generateTestKeys(['alice', 'bob', 'carol']);
    agentSocket = join(keys.dir, 'agent.sock');
    agent = spawn('ssh-agent', ['-D', '-a', agentSocket], { stdio: 'ignore' });
    await waitUntil(
      () => Promise.resolve(existsSync(agentSocket)),
      (ready) => ready,
      10_000,
    );
  });
  after(() => {
    agent?.kill();
    keys.close();
  });

  const env = (): Record<string, string | undefined> => ({
    PATH: process.env['PATH'],
    HOME: keys.dir,
    TEMPORAL_ADDRESS: h.env.address,
    TEMPORAL_NAMESPACE: h.env.namespace ?? 'default',
    LOGSTACK_TASK_QUEUE: h.taskQueue,
    SSH_AUTH_SOCK: agentSocket,
  });
  const run = (...args: string[]) => cli(args, env());

  const waitingPromotion = async (): Promise<{ handle: WorkflowHandle<typeof promoteEnvironment>; waiting: NonNullable<Progress['awaitingApproval']> }> => {
    h.world.editCatalog((doc) => {
      const production = doc.environments.find((e) => e.name === 'production');
      assert.ok(production);
      production.approvers = ['alice', 'bob', 'carol'].map((name) => ({ name, key: keys.publicKey(name) }));
      production.approvals = 'signed';
    });
    h.world.verified('staging', REV.v2);
    h.world.verified('production', REV.v1);
    const handle = await h.start(promoteEnvironment, [{ from: 'staging', to: 'production', requestedBy: 'alice' }]);
    const progress = await waitUntil(
      () => handle.query(progressQuery),
      (p) => p.awaitingApproval !== undefined,
    );
    assert.ok(progress.awaitingApproval);
    return { handle, waiting: progress.awaitingApproval };
  };
  const approvalStep = async (handle: WorkflowHandle): Promise<string> =>
    ((await handle.query(progressQuery)).steps as readonly Step[]).find((s) => s.kind === 'await-approval')?.detail ?? '';

  it('prints the exact statement; ssh-keygen signs it; approve --signature-file --time is accepted', async () => {
    const { handle, waiting } = await waitingPromotion();
    const time = new Date(Date.parse(waiting.shownAt ?? '') + 2000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const printed = await run('approval', 'statement', handle.workflowId, '--by', 'bob', '--time', time);
    assert.equal(printed.code, 0, printed.err);
    assert.equal(
      printed.out,
      approvalStatement({ workflowId: handle.workflowId, runId: waiting.runId ?? '', environment: 'production', revision: REV.v2, digest: waiting.digest ?? '', decision: 'approve', by: 'bob', time }),
    );
    assert.match(printed.out, /^logstack-approval\/v1\nworkflow-id: ".*"\nrun-id: ".*"\nenvironment: "production"\nrevision: "2b2b2b2[0]{33}"\ndigest: "sha256:[0-9a-f]{64}"\ndecision: "approve"\napprover: "bob"\ntime: ".*"\n$/);
    const file = join(keys.dir, 'bob.sig');
    writeFileSync(file, keys.sign('bob', printed.out));

    const unsigned = await run('approve', handle.workflowId, '--by', 'bob');
    assert.equal(unsigned.code, 1, unsigned.out);
    assert.match(unsigned.out, /production takes signed approvals: without --key or --signature-file the workflow will refuse this one/);
    assert.match(unsigned.err, /NotAuthorized|takes signed approvals only/);
    const noTime = await run('approve', handle.workflowId, '--by', 'bob', '--signature-file', file);
    assert.equal(noTime.code, 2);
    assert.match(noTime.err, /--signature-file needs --time/);
    const otherTime = await run('approve', handle.workflowId, '--by', 'bob', '--signature-file', file, '--time', new Date(Date.parse(time) + 1000).toISOString());
    assert.equal(otherTime.code, 1, otherTime.out);
    assert.match(otherTime.err, /does not verify over the statement of this request/);

    const approved = await run('approve', handle.workflowId, '--by', 'bob', '--signature-file', file, '--time', time);
    assert.equal(approved.code, 0, approved.err);
    assert.match(approved.out, /approved .* \(by bob, signed\)/);
    assert.equal((await handle.result()).approvedBy, 'bob');
    assert.match(await approvalStep(handle), /^approved by bob \(signed, key SHA256:/);
  });

  it('approve --key signs with the private key file in one step; the requester’s key is refused', async () => {
    const { handle } = await waitingPromotion();
    const self = await run('approve', handle.workflowId, '--by', 'alice', '--key', keys.privateKeyPath('alice'));
    assert.equal(self.code, 1);
    assert.match(self.err, /four-eyes/);
    const approved = await run('approve', handle.workflowId, '--by', 'carol', '--key', keys.privateKeyPath('carol'), '--comment', 'diff reviewed');
    assert.equal(approved.code, 0, approved.err);
    assert.equal((await handle.result()).approvedBy, 'carol');
    assert.match(await approvalStep(handle), /^approved by carol \(signed, key SHA256:.*\): diff reviewed$/);
  });

  it('approve --key <public key> signs through ssh-agent', async () => {
    const added = await new Promise<number | null>((resolve) => {
      spawn('ssh-add', ['-q', keys.privateKeyPath('bob')], { stdio: 'ignore', env: { ...process.env, SSH_AUTH_SOCK: agentSocket } }).on('close', resolve);
    });
    assert.equal(added, 0);
    const { handle } = await waitingPromotion();
    const approved = await run('approve', handle.workflowId, '--by', 'bob', '--key', `${keys.privateKeyPath('bob')}.pub`);
    assert.equal(approved.code, 0, approved.err);
    assert.equal((await handle.result()).approvedBy, 'bob');
  });

  it('reject --key sends a signed rejection naming the reason; the workflow ends ApprovalRejected', async () => {
    const { handle } = await waitingPromotion();
    const rejected = await run('reject', handle.workflowId, '--by', 'bob', '--reason', 'not this week', '--key', keys.privateKeyPath('bob'));
    assert.equal(rejected.code, 0, rejected.err);
    assert.match(rejected.out, /rejected .* \(by bob, signed\): not this week/);
    const failure = await failureOf(handle.result());
    assert.equal(failure.type, 'ApprovalRejected');
  });
});
