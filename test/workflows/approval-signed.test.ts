/**
 * Signed approvals on the time-skipping server with activity doubles: production with `approvals: signed`, keys
 * generated and statements signed by the real `ssh-keygen`. A valid signature approves; every forged, stale or
 * misdirected one is refused by the validator and never reaches history; `approvals: named` keeps names only.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { WorkflowHandle } from '@temporalio/client';
import { approvalStatement, type ApprovalStatementFields, type Progress } from '../../domain/index.ts';
import { approveUpdate, progressQuery, rejectUpdate } from '../../workflows/messages.ts';
import { promoteEnvironment } from '../../workflows/index.ts';
import { generateTestKeys, type TestKeys } from '../support/ssh-keys.ts';
import { isSideEffect } from './doubles.ts';
import { REV } from './fixtures.ts';
import { failureOf, useHarness, waitUntil, type Step } from './harness.ts';

/** The failure type and message a refused update carries. */
async function refusal(promise: Promise<unknown>): Promise<{ type?: string; message?: string }> {
  try {
    await promise;
  } catch (err) {
    const cause = (err as { cause?: { type?: string; message?: string } }).cause;
    return { type: cause?.type, message: cause?.message };
  }
  throw new Error('expected the update to be refused');
}

/** Update events in a history: accepted, rejected (validator refusals are never written) and completed. */
async function updateEvents(handle: WorkflowHandle): Promise<number> {
  const history = await handle.fetchHistory();
  return (history.events ?? []).filter(
    (e) => e.workflowExecutionUpdateAcceptedEventAttributes || e.workflowExecutionUpdateRejectedEventAttributes || e.workflowExecutionUpdateCompletedEventAttributes,
  ).length;
}

describe('signed approvals (approvals: signed)', () => {
  const h = useHarness();
  let keys: TestKeys;
  before(() => {
    keys = generateTestKeys(['alice', 'bob', 'carol', 'mallory']);
  });
  after(() => keys.close());

  const signedCatalog = (): void => {
    h.world.editCatalog((doc) => {
      const production = doc.environments.find((e) => e.name === 'production');
      assert.ok(production);
      production.approvers = ['alice', 'bob', 'carol'].map((name) => ({ name, key: keys.publicKey(name) }));
      production.approvals = 'signed';
    });
  };

  const awaiting = async (handle: WorkflowHandle): Promise<NonNullable<Progress['awaitingApproval']>> => {
    const progress = await waitUntil(
      () => handle.query(progressQuery),
      (p) => p.awaitingApproval !== undefined,
    );
    assert.ok(progress.awaitingApproval);
    return progress.awaitingApproval;
  };

  /** The statement fields of what `progress` shows, for a decision by `by` at `time`. */
  const fieldsOf = (
    waiting: NonNullable<Progress['awaitingApproval']>,
    by: string,
    time: string,
    decision: Partial<ApprovalStatementFields> = {},
  ): ApprovalStatementFields => ({
    workflowId: waiting.workflowId ?? '',
    runId: waiting.runId ?? '',
    environment: waiting.environment,
    revision: waiting.revision ?? '',
    digest: waiting.digest ?? '',
    decision: 'approve',
    by,
    time,
    ...decision,
  });

  it('approves with a valid signature, and refuses every forged, stale or misdirected one without touching history', async () => {
    signedCatalog();
    h.world.verified('staging', REV.v2);
    h.world.verified('production', REV.v1);
    h.world.diff = { created: [], changed: ['LokiStack/openshift-logging/logging-loki'], unchanged: 20, toBeDeleted: [], destructive: [], digest: `sha256:${'4'.repeat(64)}` };
    const handle = await h.start(promoteEnvironment, [{ from: 'staging', to: 'production', requestedBy: 'alice' }]);
    const waiting = await awaiting(handle);
    assert.equal(waiting.approvals, 'signed');
    assert.equal(waiting.workflowId, handle.workflowId);
    assert.equal(waiting.revision, REV.v2);
    assert.ok(waiting.runId && waiting.shownAt);
    const time = new Date(Date.parse(waiting.shownAt) + 1000).toISOString();
    const good = fieldsOf(waiting, 'bob', time);
    const sign = (signer: string, fields: ApprovalStatementFields, namespace?: string): string => keys.sign(signer, approvalStatement(fields), namespace);
    const send = (input: Record<string, unknown>) => refusal(handle.executeUpdate(approveUpdate, { args: [input as never] }));

    const refusals: [string, Record<string, unknown>, string, RegExp][] = [
      ['no signature', { by: 'bob' }, 'NotAuthorized', /takes signed approvals only/],
      ['wrong key (carol signs as bob)', { by: 'bob', signature: sign('carol', good), time }, 'NotAuthorized', /made with key .* not /],
      ['a key not in the catalog (mallory signs as bob)', { by: 'bob', signature: sign('mallory', good), time }, 'NotAuthorized', /made with key/],
      ['other run', { by: 'bob', signature: sign('bob', { ...good, runId: 'another-run' }), time }, 'NotAuthorized', /does not verify over the statement of this request/],
      ['other workflow', { by: 'bob', signature: sign('bob', { ...good, workflowId: 'promote-elsewhere' }), time }, 'NotAuthorized', /does not verify/],
      ['other revision', { by: 'bob', signature: sign('bob', { ...good, revision: REV.v3 }), time }, 'NotAuthorized', /does not verify/],
      ['stale diff digest, signed only', { by: 'bob', signature: sign('bob', { ...good, digest: `sha256:${'5'.repeat(64)}` }), time }, 'NotAuthorized', /does not verify/],
      [
        'stale diff digest, also named',
        { by: 'bob', digest: `sha256:${'5'.repeat(64)}`, signature: sign('bob', { ...good, digest: `sha256:${'5'.repeat(64)}` }), time },
        'NotAuthorized',
        /changed since that diff was shown/,
      ],
      ['tampered statement (comment added after signing)', { by: 'bob', comment: 'lgtm', signature: sign('bob', good), time }, 'NotAuthorized', /does not verify/],
      ['tampered time', { by: 'bob', signature: sign('bob', good), time: new Date(Date.parse(time) + 1000).toISOString() }, 'NotAuthorized', /does not verify/],
      ['other namespace', { by: 'bob', signature: sign('bob', good, 'git'), time }, 'NotAuthorized', /namespace "git"/],
      ['a reject signature sent as approval', { by: 'bob', signature: sign('bob', { ...good, decision: 'reject', reason: 'no' }), time }, 'NotAuthorized', /does not verify/],
      ['unknown approver with their own key', { by: 'mallory', signature: sign('mallory', fieldsOf(waiting, 'mallory', time)), time }, 'NotAuthorized', /"mallory" may not approve/],
      ['the requester’s own key', { by: 'alice', signature: sign('alice', fieldsOf(waiting, 'alice', time)), time }, 'NotAuthorized', /four-eyes/],
      ['the requester’s key, name in capitals', { by: 'ALICE', signature: sign('alice', fieldsOf(waiting, 'ALICE', time)), time }, 'NotAuthorized', /four-eyes/],
      ['signed before the request was shown', (() => {
        const early = new Date(Date.parse(waiting.shownAt ?? '') - 10 * 60_000).toISOString();
        return { by: 'bob', signature: sign('bob', fieldsOf(waiting, 'bob', early)), time: early };
      })(), 'NotAuthorized', /before this request was shown/],
      ['signed far in the future', (() => {
        const late = new Date(Date.now() + 60 * 60_000).toISOString();
        return { by: 'bob', signature: sign('bob', fieldsOf(waiting, 'bob', late)), time: late };
      })(), 'NotAuthorized', /ahead of workflow time/],
      ['signature without time', { by: 'bob', signature: sign('bob', good) }, 'InvalidInput', /needs "time"/],
      ['malformed signature', { by: 'bob', signature: '-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----', time }, 'InvalidInput', /SSHSIG|truncated/],
      ['not armored', { by: 'bob', signature: 'hello', time }, 'InvalidInput', /armored SSH signature/],
    ];
    for (const [row, input, type, says] of refusals) {
      const refused = await send(input);
      assert.equal(refused.type, type, `${row}: ${refused.message ?? ''}`);
      assert.match(refused.message ?? '', says, row);
    }
    assert.equal(await updateEvents(handle), 0, 'no refused decision reached history');
    assert.deepEqual(h.world.calls.filter(isSideEffect), [], 'nothing changed before approval');

    assert.deepEqual(await handle.executeUpdate(approveUpdate, { args: [{ by: 'bob', signature: sign('bob', good), time, digest: waiting.digest }] }), { approvedBy: 'bob' });
    const result = await handle.result();
    assert.equal(result.approvedBy, 'bob');
    assert.equal(h.world.live.get('production'), REV.v2);
    const steps = (await handle.query(progressQuery)).steps as readonly Step[];
    assert.match(steps.find((s) => s.kind === 'await-approval')?.detail ?? '', /^approved by bob \(signed, key SHA256:[A-Za-z0-9+/]{43}\)$/);
    assert.equal(await updateEvents(handle), 2, 'exactly one decision accepted and completed');
  });

  it('ends ApprovalRejected on a signed rejection whose statement names the reason', async () => {
    signedCatalog();
    h.world.verified('staging', REV.v2);
    const handle = await h.start(promoteEnvironment, [{ from: 'staging', to: 'production', requestedBy: 'alice' }]);
    const waiting = await awaiting(handle);
    const time = new Date(Date.parse(waiting.shownAt ?? '') + 1000).toISOString();
    const fields = fieldsOf(waiting, 'carol', time, { decision: 'reject', reason: 'not this week' });
    const signature = keys.sign('carol', approvalStatement(fields));
    const otherReason = await refusal(handle.executeUpdate(rejectUpdate, { args: [{ by: 'carol', reason: 'another reason', signature, time }] }));
    assert.equal(otherReason.type, 'NotAuthorized');
    assert.equal(await updateEvents(handle), 0);
    assert.deepEqual(await handle.executeUpdate(rejectUpdate, { args: [{ by: 'carol', reason: 'not this week', signature, time }] }), { rejectedBy: 'carol' });
    const failure = await failureOf(handle.result());
    assert.equal(failure.type, 'ApprovalRejected');
    assert.deepEqual(h.world.calls.filter(isSideEffect), []);
  });

  it('approvals: named keeps names only (keys listed or not), and says so in progress', async () => {
    h.world.editCatalog((doc) => {
      const production = doc.environments.find((e) => e.name === 'production');
      assert.ok(production);
      production.approvers = ['alice', { name: 'bob', key: keys.publicKey('bob') }, 'carol'];
      production.approvals = 'named';
    });
    h.world.verified('staging', REV.v2);
    const handle = await h.start(promoteEnvironment, [{ from: 'staging', to: 'production', requestedBy: 'alice' }]);
    const waiting = await awaiting(handle);
    assert.equal(waiting.approvals, 'named');
    assert.deepEqual(waiting.approvers, ['alice', 'bob', 'carol']);
    assert.equal((await refusal(handle.executeUpdate(approveUpdate, { args: [{ by: 'alice' }] }))).type, 'NotAuthorized');
    // A signature that is given is still checked, even where names suffice.
    assert.equal((await refusal(handle.executeUpdate(approveUpdate, { args: [{ by: 'bob', signature: keys.sign('carol', 'x'), time: waiting.shownAt }] }))).type, 'NotAuthorized');
    assert.deepEqual(await handle.executeUpdate(approveUpdate, { args: [{ by: 'carol' }] }), { approvedBy: 'carol' });
    assert.equal((await handle.result()).approvedBy, 'carol');
  });
});
