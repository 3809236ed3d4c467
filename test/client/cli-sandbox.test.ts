/**
 * The logstack CLI against the sandbox's real Temporal, with test-double workflows (fixtures/) run by a
 * Node worker on a test task queue: status, watch, rollout/promote --wait, approve/reject with four-eyes,
 * exit codes, JSON output, Schedules, encrypted payloads in history, and render. Runs on Node and Deno.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Client, Connection } from '@temporalio/client';
import { parse as parseYaml } from 'yaml';
import type { LockState } from '../../domain/index.ts';
import { dataConverterFromEnv } from '../../codec/codec.ts';
import { requireSandbox } from '../../sandbox/status.ts';
import { cli, codecKey, startFixtureWorker, suffix, waitFor, type FixtureWorker } from './helpers.ts';

const sandbox = requireSandbox();
const id = suffix();
const tq = `clitest-${id}`;
const keys = codecKey('test1');
const env: Record<string, string | undefined> = { ...process.env, TEMPORAL_ADDRESS: sandbox.temporal.address, LOGSTACK_CODEC_KEYS: keys };
const envName = (name: string): string => `t${id}-${name}`;
const run = (...args: string[]): ReturnType<typeof cli> => cli(['--task-queue', tq, ...args], env);

interface StatusRow {
  environment: string;
  pinnedRevision: string | null;
  verifiedRevision: string | null;
  health: string;
  running: { workflowId: string; awaitingApproval: boolean; phase: string | null; url: string } | null;
  latest: { workflowId: string; status: string; url: string } | null;
  lock: { state: string; workflowId: string; holder: { workflowId: string; purpose?: string; grantedAt: string } | null; queue: { workflowId: string }[]; superseded: { workflowId: string; by: string }[]; note?: string };
  awaitingApproval: { workflowId: string; requestedBy: string | null; approvers: string[]; approvals: string; deadline: string | null; digest: string | null; changedSinceApproval: boolean }[];
}

async function statusOf(name: string): Promise<StatusRow | undefined> {
  const res = await run('status', name, '--output', 'json');
  assert.equal(res.code, 0, res.err);
  return (JSON.parse(res.out) as StatusRow[])[0];
}

describe('logstack CLI on the sandbox Temporal (test-double workflows on a test task queue)', () => {
  let worker: FixtureWorker;
  let connection: Connection;
  let client: Client;

  before(async () => {
    worker = await startFixtureWorker(tq, env);
    connection = await Connection.connect({ address: sandbox.temporal.address });
    // Reads what the worker wrote, so it decrypts with the same keys.
    const dataConverter = await dataConverterFromEnv(env, 'default');
    client = new Client({ connection, ...(dataConverter ? { dataConverter } : {}) });
  });
  after(async () => {
    await worker?.stop();
    await connection?.close();
  });

  it('status on a task queue without workflows says so; --output json prints []', async () => {
    const table = await run('status');
    assert.equal(table.code, 0, table.err);
    assert.match(table.out, new RegExp(`no logstack workflows on task queue ${tq}`));
    const json = await run('status', '-o', 'json');
    assert.deepEqual(JSON.parse(json.out), []);
  });

  it('rollout --wait prints each step transition, the result, and exits 0; history holds only ciphertext', async () => {
    const name = envName('roll');
    const res = await run('rollout', name, '--revision', 'abc1234', '--wait');
    assert.equal(res.code, 0, res.err + res.out);
    assert.match(res.out, new RegExp(`started rolloutEnvironment rollout-${name} on task queue ${tq}`));
    assert.match(res.out, new RegExp(`web UI: http://127\\.0\\.0\\.1:8233/namespaces/default/workflows/rollout-${name}`));
    for (const line of [/✓ render overlay — succeeded: 14 objects/, /✓ apply overlay — succeeded/, /✓ verify gates — succeeded/, /phase: verifying/]) {
      assert.match(res.out, line);
    }
    assert.match(res.out, new RegExp(`✓ rollout-${name} completed`));
    assert.match(res.out, /abc1234000000000000000000000000000000000/);

    const history = await client.workflow.getHandle(`rollout-${name}`).fetchHistory();
    const started = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
    assert.equal(new TextDecoder().decode(started?.metadata?.['encoding'] ?? new Uint8Array()), 'binary/encrypted');
    assert.equal(new TextDecoder().decode(started?.metadata?.['encryption-key-id'] ?? new Uint8Array()), 'test1');
    const completed = history.events?.find((e) => e.workflowExecutionCompletedEventAttributes)?.workflowExecutionCompletedEventAttributes?.result?.payloads?.[0];
    assert.ok(!new TextDecoder().decode(completed?.data ?? new Uint8Array()).includes(name), 'result is not readable in history');
  });

  it('rollout --wait --output json streams one parseable event per line', async () => {
    const name = envName('json');
    const res = await run('rollout', name, '--revision', 'feed', '--wait', '--output', 'json');
    assert.equal(res.code, 0, res.err);
    const events = res.out.trim().split('\n').map((l) => JSON.parse(l) as { event: string; name?: string; status?: string; result?: { revision: string } });
    assert.equal(events[0]?.event, 'started');
    assert.ok(events.some((e) => e.event === 'step' && e.name === 'verify gates' && e.status === 'succeeded'));
    const last = events.at(-1);
    assert.equal(last?.event, 'completed');
    assert.equal(last?.result?.revision, 'feed000000000000000000000000000000000000');
  });

  it('a failing gate makes rollout --wait exit 1 naming the failure type', async () => {
    const res = await run('rollout', envName('fail'), '--revision', 'fail-gates', '--wait');
    assert.equal(res.code, 1);
    assert.match(res.out, /✗ verify gates — failed: lokistack-ready/);
    assert.match(res.out, /failed \(GateFailed\): lokistack-ready: LokiStack not Ready/);
  });

  it('promote --wait shows the diff and the approve command; status shows it; four-eyes refusal exits 1; approval completes it', async () => {
    const name = envName('prod');
    const promoting = run('promote', '--from', envName('roll'), '--to', name, '--requested-by', 'alice', '--wait');
    const row = await waitFor(async () => {
      const s = await statusOf(name);
      return s?.running?.awaitingApproval ? s : undefined;
    }, 30_000, 'the promotion to wait for approval');
    assert.equal(row.running?.workflowId, `promote-${name}`);
    assert.equal(row.running?.url, `http://127.0.0.1:8233/namespaces/default/workflows/promote-${name}`);
    assert.equal(row.pinnedRevision, 'c0ffee0000000000000000000000000000000000');

    const table = await run('status', name);
    assert.equal(table.code, 0);
    assert.match(table.out, /environment.*pinned.*verified.*health.*running workflow.*web UI/);
    assert.match(table.out, new RegExp(`${name}.*c0ffee0.*promote-${name} \\(awaiting approval\\).*http://127\\.0\\.0\\.1:8233/namespaces/default/workflows/promote-${name}`));

    const self = await run('approve', name, '--by', 'alice');
    assert.equal(self.code, 1);
    assert.match(self.err, /NotAuthorized.*four-eyes/);
    const outsider = await run('approve', `promote-${name}`, '--by', 'mallory');
    assert.equal(outsider.code, 1);
    assert.match(outsider.err, /mallory is not an approver/);

    const ok = await run('approve', name, '--by', 'bob', '--comment', 'diff reviewed');
    assert.equal(ok.code, 0, ok.err);
    assert.match(ok.out, new RegExp(`approved promote-${name} \\(by bob\\)`));

    const done = await promoting;
    assert.equal(done.code, 0, done.err);
    assert.match(done.out, /⏸ promote-.* is waiting for approval to change .* \(requested by alice\); approvers: alice, bob, carol/);
    assert.match(done.out, /diff: 1 created, 1 changed, 12 unchanged, 0 to delete, 0 destructive/);
    assert.match(done.out, /~ LokiStack\/openshift-logging\/logging-loki/);
    assert.ok(done.out.includes(`  digest: sha256:${'2'.repeat(64)}`), done.out);
    assert.ok(done.out.includes(`approve: logstack approve ${name} --by bob --digest sha256:${'2'.repeat(64)} --task-queue ${tq}`), done.out);
    assert.match(ok.out, new RegExp(`digest: sha256:${'2'.repeat(64)}`));
    assert.match(done.out, /✓ wait for approval — succeeded: approved by bob/);
    assert.match(done.out, new RegExp(`✓ promote-${name} completed`));
  });

  it('status shows the lock (holder, queue, supersessions) and the approvals awaited outside it; approve names the digest it showed and a change that moved on is refused', async () => {
    const name = envName('lock');
    const shown = `sha256:${'2'.repeat(64)}`;
    const movedOn = `sha256:${'3'.repeat(64)}`;
    const t0 = new Date(Date.now() - 90_000).toISOString();
    const state: LockState = {
      environment: name,
      holder: { workflowId: `rollout-${name}`, runId: 'run-1', workflowType: 'rolloutEnvironment', requestedAt: t0, grantedAt: t0, purpose: 'rollout of abc\u202e1234' },
      queue: [
        { workflowId: `drift-${name}`, runId: 'run-2', workflowType: 'remediateDrift', requestedAt: t0 },
        { workflowId: `migrate-${name}`, runId: 'run-3', workflowType: 'migrateProduction', requestedAt: t0, purpose: 'takeover' },
      ],
      grants: 3,
      superseded: [{ workflowId: `rollout-old-${name}`, workflowType: 'rolloutEnvironment', by: `rollout-${name}`, at: t0 }],
    };
    const lock = await client.workflow.start('environmentLock', { taskQueue: tq, workflowId: `lock-${name}`, args: [state] });
    try {
      const promoting = run('promote', '--from', 'dev', '--to', name, '--requested-by', 'alice', '--wait');
      const row = await waitFor(async () => {
        const s = await statusOf(name);
        return s?.awaitingApproval.length ? s : undefined;
      }, 30_000, 'the promotion to wait for approval');
      assert.equal(row.lock.state, 'held');
      assert.equal(row.lock.holder?.workflowId, `rollout-${name}`);
      assert.equal(row.lock.holder?.purpose, 'rollout of abc\u202e1234');
      assert.deepEqual(row.lock.queue.map((q) => q.workflowId), [`drift-${name}`, `migrate-${name}`]);
      assert.deepEqual(row.lock.superseded.map((e) => [e.workflowId, e.by]), [[`rollout-old-${name}`, `rollout-${name}`]]);
      const [wait] = row.awaitingApproval;
      assert.equal(wait?.workflowId, `promote-${name}`);
      assert.deepEqual([wait?.requestedBy, wait?.approvers, wait?.approvals, wait?.digest, wait?.changedSinceApproval], ['alice', ['alice', 'bob', 'carol'], 'named', shown, false]);
      assert.ok(wait?.deadline && new Date(wait.deadline).getTime() > Date.now());

      const table = await run('status', name);
      assert.equal(table.code, 0, table.err);
      assert.match(table.out, /environment.*pinned.*verified.*health.*lock.*running workflow.*web UI/);
      assert.match(table.out, new RegExp(`${name}.*held by rollout-${name} \\+2 queued.*promote-${name} \\(awaiting approval\\)`));
      assert.ok(!table.out.includes('\u202e'), 'the bidi override from history is escaped');
      assert.match(table.out, new RegExp(`^  lock: rolloutEnvironment rollout-${name} \\(rollout of abc\\\\u\\{202e\\}1234\\), held since \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\dZ \\(\\d+[sm] ago\\)$`, 'm'));
      assert.match(table.out, new RegExp(`^    1\\. remediateDrift drift-${name}, waiting since .*\\n    2\\. migrateProduction migrate-${name} \\(takeover\\), waiting since`, 'm'));
      assert.match(table.out, new RegExp(`^    promote-${name} requested by alice; approvers alice, bob, carol; deadline .* \\(in .*\\); diff sha256:222222222222…$`, 'm'));
      assert.match(table.out, new RegExp(`^    rolloutEnvironment rollout-old-${name} replaced by rollout-${name} at `, 'm'));

      const yaml = await run('status', name, '-o', 'yaml');
      assert.equal(yaml.code, 0, yaml.err);
      assert.ok(!yaml.out.includes('\u202e'), yaml.out);
      const fromYaml = parseYaml(yaml.out) as StatusRow[];
      assert.equal(fromYaml[0]?.lock.holder?.purpose, 'rollout of abc\u202e1234');
      assert.deepEqual(fromYaml[0]?.awaitingApproval, row.awaitingApproval);

      // The change moves on after the approver read it: an approval of what they saw is refused.
      await client.workflow.getHandle(`promote-${name}`).signal('fixtureChangeDiff');
      const stale = await run('approve', name, '--by', 'bob', '--digest', shown);
      assert.equal(stale.code, 1, stale.out);
      assert.match(stale.out, new RegExp(`digest: ${shown} \\(given with --digest; the workflow shows ${movedOn}\\)`));
      assert.match(stale.err, /not approved: .*changed since that diff was shown/);
      assert.match(stale.err, new RegExp(`nothing was approved; read the new diff .*then approve again: logstack approve ${name} --by bob`));
      const bad = await run('approve', name, '--by', 'bob', '--digest', 'sha256:nothex');
      assert.equal(bad.code, 2);
      assert.match(bad.err, /sha256:<64 hex digits>/);
      const moved = await statusOf(name);
      assert.deepEqual([moved?.awaitingApproval[0]?.digest, moved?.awaitingApproval[0]?.changedSinceApproval], [movedOn, true]);
      assert.match((await run('status', name)).out, /diff sha256:333333333333…; changed since approval$/m);

      const ok = await run('approve', name, '--by', 'bob');
      assert.equal(ok.code, 0, ok.err);
      assert.match(ok.out, new RegExp(`approving promote-${name}: change to ${name} requested by alice\\n  diff: 1 created, 2 changed, 12 unchanged, 0 to delete, 0 destructive\\n  changed since an earlier approval: this is a new diff\\n  digest: ${movedOn}\\n`));
      const done = await promoting;
      assert.equal(done.code, 0, done.err);
      assert.match(done.out, /✓ wait for approval — succeeded: approved by bob/);
    } finally {
      await lock.terminate('test done');
    }
    // A lock workflow that no longer runs means free.
    const after = await statusOf(name);
    assert.deepEqual([after?.lock.state, after?.lock.holder, after?.lock.note], ['free', null, `lock-${name} is not running (terminated)`]);
  });

  it('reject makes promote --wait exit 3 (ApprovalRejected); approving an ended workflow exits 1', async () => {
    const name = envName('rej');
    const promoting = run('promote', '--from', 'dev', '--to', name, '--requested-by', 'alice', '--wait', '-o', 'json');
    await waitFor(async () => ((await statusOf(name))?.running?.awaitingApproval ? true : undefined), 30_000, 'approval wait');
    const rejected = await run('reject', name, '--by', 'carol', '--reason', 'retention change not agreed', '-o', 'json');
    assert.equal(rejected.code, 0, rejected.err);
    assert.deepEqual(JSON.parse(rejected.out), { workflowId: `promote-${name}`, rejectedBy: 'carol', reason: 'retention change not agreed', signed: false });
    const done = await promoting;
    assert.equal(done.code, 3);
    const events = done.out.trim().split('\n').map((l) => JSON.parse(l) as { event: string; failureType?: string });
    assert.ok(events.some((e) => e.event === 'awaiting-approval'));
    assert.deepEqual(
      events.filter((e) => e.event === 'failed').map((e) => e.failureType),
      ['ApprovalRejected'],
    );
    const late = await run('approve', `promote-${name}`, '--by', 'bob');
    assert.equal(late.code, 1);
    assert.match(late.err, /has already ended \(failed\)/);
    const nothing = await run('approve', envName('nothing-here'), '--by', 'bob');
    assert.equal(nothing.code, 1);
    assert.match(nothing.err, /no running workflow for environment/);
  });

  it('starting a workflow whose ID is running exits 1 and says how to follow it', async () => {
    const name = envName('dup');
    const first = await run('promote', '--from', 'dev', '--to', name, '--requested-by', 'alice');
    assert.equal(first.code, 0, first.err);
    assert.match(first.out, new RegExp(`follow: logstack watch promote-${name}`));
    const second = await run('promote', '--from', 'dev', '--to', name, '--requested-by', 'alice');
    assert.equal(second.code, 1);
    assert.match(second.err, new RegExp(`promote-${name} is already running; follow it with \`logstack watch promote-${name}\``));
    await waitFor(async () => ((await statusOf(name))?.running?.awaitingApproval ? true : undefined), 30_000, 'approval wait');
    assert.equal((await run('reject', name, '--by', 'bob', '--reason', 'test cleanup')).code, 0);
  });

  it('watch follows a finished workflow to its result (exit 0) and names a missing one (exit 1)', async () => {
    const name = envName('roll');
    const res = await run('watch', `rollout-${name}`);
    assert.equal(res.code, 0, res.err);
    assert.match(res.out, /✓ verify gates — succeeded/);
    assert.match(res.out, new RegExp(`✓ rollout-${name} completed`));
    const failed = await run('watch', `promote-${envName('rej')}`);
    assert.equal(failed.code, 3);
    assert.match(failed.out, /was not approved \(ApprovalRejected\): rejected by carol/);
    const missing = await run('watch', `rollout-${envName('never')}`);
    assert.equal(missing.code, 1);
    assert.match(missing.err, /no workflow rollout-t.* in namespace default/);
  });

  it('status reports pinned and verified revisions, gate health and links for every environment', async () => {
    const boot = await run('bootstrap', envName('boot'), '--revision', 'b0075', '--wait');
    assert.equal(boot.code, 0, boot.err);
    assert.match(boot.out, /✓ external-secrets-synced/);
    const res = await run('status', '-o', 'json');
    assert.equal(res.code, 0, res.err);
    const rows = new Map((JSON.parse(res.out) as StatusRow[]).map((r) => [r.environment, r]));
    assert.equal(rows.get(envName('boot'))?.health, 'healthy (2/2 gates)');
    assert.equal(rows.get(envName('boot'))?.verifiedRevision, 'b007500000000000000000000000000000000000');
    assert.equal(rows.get(envName('roll'))?.verifiedRevision, 'abc1234000000000000000000000000000000000');
    assert.equal(rows.get(envName('roll'))?.health, 'healthy');
    assert.equal(rows.get(envName('fail'))?.health, 'failed (GateFailed)');
    assert.equal(rows.get(envName('prod'))?.verifiedRevision, 'c0ffee0000000000000000000000000000000000');
    // A rejected promotion changed nothing: it says nothing about health.
    assert.equal(rows.get(envName('rej'))?.health, 'unknown');
    assert.equal(rows.get(envName('roll'))?.latest?.url, `http://127.0.0.1:8233/namespaces/default/workflows/rollout-${envName('roll')}`);
    const table = await run('status');
    assert.match(table.out, new RegExp(`${envName('boot')}.*b007500.*b007500.*healthy \\(2/2 gates\\).*—`));
  });

  it('without the codec keys, reading an encrypted result fails with a message saying which variable to set', async () => {
    const res = await cli(['--task-queue', tq, 'watch', `rollout-${envName('roll')}`], { ...env, LOGSTACK_CODEC_KEYS: undefined });
    assert.equal(res.code, 1);
    assert.match(res.err, /encrypted; set LOGSTACK_CODEC_KEYS/);
    const wrongKey = await cli(['--task-queue', tq, 'watch', `rollout-${envName('roll')}`], { ...env, LOGSTACK_CODEC_KEYS: codecKey('other') });
    assert.equal(wrongKey.code, 1);
    assert.match(wrongKey.err, /key id "test1", which LOGSTACK_CODEC_KEYS does not hold/);
  });

  it('schedule drift creates, then updates, a Schedule with overlap SKIP that starts remediateDrift', async () => {
    const scheduleId = `drift-remediation-${tq}`;
    try {
      const created = await run('schedule', 'drift', '--every', '15m', '--paused', '--id', scheduleId, '-o', 'json');
      assert.equal(created.code, 0, created.err);
      const first = JSON.parse(created.out) as { created: boolean; overlap: string; paused: boolean; every: string };
      assert.deepEqual([first.created, first.overlap, first.paused, first.every], [true, 'SKIP', true, '15m']);
      const updated = await run('schedule', 'drift', '--every', '1h', '--mode', 'report', '--paused', '--id', scheduleId);
      assert.equal(updated.code, 0, updated.err);
      assert.match(updated.out, new RegExp(`updated schedule ${scheduleId}: remediateDrift \\(report\\) every 1h, overlap SKIP, paused`));
      const description = await client.schedule.getHandle(scheduleId).describe();
      assert.equal(description.policies.overlap, 'SKIP');
      assert.equal(description.spec.intervals?.[0]?.every, 3_600_000);
      assert.equal(description.action.type, 'startWorkflow');
      assert.equal(description.action.workflowType, 'remediateDrift');
      assert.equal(description.action.taskQueue, tq);
    } finally {
      await client.schedule.getHandle(scheduleId).delete().catch(() => undefined);
    }
    const bad = await run('schedule', 'drift', '--every', '15x');
    assert.equal(bad.code, 2);
    assert.match(bad.err, /an interval like 15m/);
  });

  it('render prints kubectl kustomize of the overlay (YAML, or JSON objects); an unknown environment exits 2', async () => {
    const yaml = await run('render', 'dev', '--catalog', 'sandbox/environments.yaml');
    assert.equal(yaml.code, 0, yaml.err);
    assert.match(yaml.out, /^kind: LokiStack$/m);
    const json = await run('render', 'staging', '--catalog', 'sandbox/environments.yaml', '-o', 'json');
    const objects = JSON.parse(json.out) as { kind: string }[];
    assert.ok(objects.some((o) => o.kind === 'ClusterLogForwarder'));
    const unknown = await run('render', 'nope', '--catalog', 'sandbox/environments.yaml');
    assert.equal(unknown.code, 2);
    assert.match(unknown.err, /unknown environment "nope"; the catalog knows: dev, staging, production/);
  });
});
