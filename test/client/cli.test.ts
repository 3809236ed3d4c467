/**
 * The logstack CLI without a Temporal server: help on every command, usage errors (exit 2) before any
 * connection, `validate` on good and broken catalogs, exit-code mapping of workflow failures, settings
 * precedence, progress rendering, and the message when Temporal cannot be reached. Runs on Node and Deno.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveSettings, unreachableHint, workflowUrl } from '../../client/connection.ts';
import { describeError, ExitCode, failureInfo } from '../../client/errors.ts';
import { parse as parseYaml } from 'yaml';
import { lockDetailLines, type EnvironmentStatus } from '../../client/commands/status.ts';
import { approvalLines, formatStep, lockLines, ProgressPrinter } from '../../client/follow.ts';
import { shortDigest, since, type LockView } from '../../client/lock.ts';
import { printableYaml } from '../../client/printable.ts';
import { environmentQuery, quote } from '../../client/visibility.ts';
import { DomainError } from '../../domain/index.ts';
import { cli, REPO } from './helpers.ts';

const COMMANDS = ['bootstrap', 'rollout', 'promote', 'approve', 'reject', 'status', 'watch', 'drift', 'schedule', 'migrate', 'render', 'validate', 'codec-server'];
const offline: Record<string, string | undefined> = { ...process.env, TEMPORAL_ADDRESS: '127.0.0.1:1' };

describe('logstack CLI: help and usage (no server needed)', () => {
  it('prints help listing every command and the global options, exit 0', async () => {
    const res = await cli(['--help']);
    assert.equal(res.code, 0);
    assert.match(res.out, /^Usage: logstack \[options\] \[command\]/);
    for (const c of COMMANDS) assert.match(res.out, new RegExp(`^  ${c}\\b`, 'm'), c);
    for (const o of ['--output <format>', '--address <host:port>', '--namespace <name>', '--task-queue <name>']) assert.ok(res.out.includes(o), o);
    assert.match(res.out, /Exit codes: 0 done, 1 failed, 2 usage, 3 rejected/);
  });

  it('has --help on every command and subcommand, exit 0', async () => {
    for (const c of [...COMMANDS.map((x) => [x]), ['schedule', 'drift']]) {
      const res = await cli([...c, '--help']);
      assert.equal(res.code, 0, c.join(' '));
      assert.match(res.out, new RegExp(`^Usage: logstack ${c.join(' ')}`), c.join(' '));
    }
    assert.match((await cli(['help', 'promote'])).out, /--requested-by <name>/);
  });

  it('exits 2 on usage errors, before connecting to anything', async () => {
    const cases: [string[], RegExp][] = [
      [[], /Usage: logstack/],
      [['bogus'], /unknown command 'bogus'/],
      [['rollout', 'dev'], /required option '--revision <rev>' not specified/],
      [['rollout', '--revision', 'x'], /missing required argument 'env'/],
      [['--output', 'xml', 'status'], /Allowed choices are table, json, yaml/],
      [['approve', 'production', '--by', 'bob', '--digest', 'sha256:abc'], /sha256:<64 hex digits>/],
      [['rollout', 'Dev!', '--revision', 'x'], /an environment name/],
      [['rollout', 'dev', '--revision', '..bad'], /revision/],
      [['promote', '--from', 'dev'], /required option '--to <env>'/],
      [['promote', '--from', 'dev', '--to', 'staging', '--approval-timeout', '0'], /a whole number of seconds/],
      [['approve', 'production'], /required option '--by <name>'/],
      [['reject', 'production', '--by', 'bob'], /required option '--reason <text>'/],
      [['migrate', 'dev'], /migrateProduction input is invalid/],
      [['drift', '--mode', 'fix'], /Allowed choices are report, remediate/],
      [['schedule', 'drift'], /required option '--every <interval>'/],
      [['schedule', 'drift', '--every', '0m'], /an interval like 15m/],
      [['codec-server', '--port', '70000'], /a port number/],
      [['status', 'Prod'], /an environment name/],
      [['rollout', 'dev', '--revision', 'abc', '--unknown'], /unknown option '--unknown'/],
    ];
    for (const [args, message] of cases) {
      const res = await cli(args, offline);
      assert.equal(res.code, ExitCode.usage, `${args.join(' ')} → ${res.code}: ${res.err}`);
      assert.match(res.err, message, args.join(' '));
    }
  });

  it('codec-server without keys exits 2 saying what to set', async () => {
    const res = await cli(['codec-server'], { ...offline, LOGSTACK_CODEC_KEYS: undefined });
    assert.equal(res.code, 2);
    assert.match(res.err, /set LOGSTACK_CODEC_KEYS=id:base64key/);
    const bad = await cli(['codec-server'], { ...offline, LOGSTACK_CODEC_KEYS: 'k1:short' });
    assert.equal(bad.code, 2);
    assert.match(bad.err, /AES-256 needs exactly 32/);
  });

  it('codec-server without a token, or with --no-auth off loopback, exits 2 before listening', async () => {
    const keys = { ...offline, LOGSTACK_CODEC_KEYS: `k1:${btoa('k'.repeat(32))}`, LOGSTACK_CODEC_TOKEN: undefined };
    const none = await cli(['codec-server', '--port', '0'], keys);
    assert.equal(none.code, 2);
    assert.match(none.err, /needs a bearer token: set LOGSTACK_CODEC_TOKEN/);
    const open = await cli(['codec-server', '--port', '0', '--host', '0.0.0.0', '--no-auth'], keys);
    assert.equal(open.code, 2);
    assert.match(open.err, /--no-auth is only allowed on a loopback address/);
    const short = await cli(['codec-server', '--port', '0'], { ...keys, LOGSTACK_CODEC_TOKEN: 'abc' });
    assert.equal(short.code, 2);
    assert.match(short.err, /at least 16 characters/);
  });

  it('says how to fix an unreachable Temporal, exit 1', async () => {
    const viaFlag = await cli(['--address', '127.0.0.1:1', 'status']);
    assert.equal(viaFlag.code, 1);
    assert.match(viaFlag.err, /cannot reach Temporal at 127\.0\.0\.1:1 — check --address \/ TEMPORAL_ADDRESS/);
    const defaults = resolveSettings({}, {});
    assert.equal(defaults.source, 'default');
    assert.match(unreachableHint(defaults), /^cannot reach Temporal at localhost:7233 \(the default\) — set --address \/ TEMPORAL_ADDRESS or a Temporal profile/);
    assert.match(unreachableHint(defaults), /npm run sandbox -- exec -- <command>/);
  });
});

describe('logstack validate (local catalog files)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'logstack-validate-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('accepts the repository catalogs', async () => {
    const res = await cli(['validate', `${REPO}gitops/environments.yaml`, `${REPO}sandbox/environments.yaml`]);
    assert.equal(res.code, 0, res.out + res.err);
    assert.match(res.out, /✓ .*gitops\/environments\.yaml: 3 environments \(dev → staging → production\)/);
    const json = await cli(['validate', `${REPO}gitops/environments.yaml`, '-o', 'json']);
    assert.deepEqual(JSON.parse(json.out), [{ file: `${REPO}gitops/environments.yaml`, valid: true, environments: ['dev', 'staging', 'production'], promotionOrder: ['dev', 'staging', 'production'] }]);
  });

  it('prints each problem of a broken catalog with its path, exit 1', async () => {
    const good = readFileSync(`${REPO}gitops/environments.yaml`, 'utf8');
    const gitopsDir = join(dir, 'gitops');
    const broken = join(dir, 'broken.yaml');
    writeFileSync(broken, good.replace(/retentionDays: \d+/, 'retentionDays: 90').replace('credentialMode: static', 'credentialMode: keys'));
    const res = await cli(['validate', broken]);
    assert.equal(res.code, 1);
    assert.match(res.out, /✗ .*broken\.yaml: 2 problem\(s\)/);
    assert.match(res.out, /- environments\.0\.retentionDays: Too big: expected number to be <=30/);
    assert.match(res.out, /- environments\.0\.aws\.credentialMode: Invalid option/);
    const order = join(dir, 'order.yaml');
    writeFileSync(order, good.replace('promotionOrder: [dev, staging, production]', 'promotionOrder: [dev, staging, production, qa]'));
    const orderRes = await cli(['validate', order]);
    assert.equal(orderRes.code, 1);
    assert.match(orderRes.out, /- promotionOrder: promotionOrder names "qa", which has no entry in environments/);
    writeFileSync(join(dir, 'syntax.yaml'), 'a: [1,\n');
    const syntax = await cli(['validate', join(dir, 'syntax.yaml'), '-o', 'json']);
    assert.equal(syntax.code, 1);
    const [entry] = JSON.parse(syntax.out) as { valid: boolean; problems: { path: string }[] }[];
    assert.equal(entry?.valid, false);
    assert.equal(entry?.problems[0]?.path, '(yaml)');
    const missing = await cli(['validate', join(gitopsDir, 'none.yaml')]);
    assert.equal(missing.code, 1);
    assert.match(missing.out, /cannot read: ENOENT/);
  });

  it('reports overlays that do not exist next to the catalog', async () => {
    const file = join(dir, 'cat', 'environments.yaml');
    rmSync(join(dir, 'cat'), { recursive: true, force: true });
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(dir, 'cat'), { recursive: true });
    writeFileSync(file, readFileSync(`${REPO}gitops/environments.yaml`, 'utf8'));
    const res = await cli(['validate', file]);
    assert.equal(res.code, 1);
    assert.match(res.out, /environments\.0\.overlay: gitops\/overlays\/dev does not exist/);
  });
});

describe('logstack CLI building blocks', () => {
  it('maps workflow failures to exit codes: rejected and timed out → 3, others → 1, bad input → 2', () => {
    const wf = (type: string): Error => Object.assign(new Error('Workflow execution failed'), { name: 'WorkflowFailedError', cause: { name: 'ApplicationFailure', type, message: `${type} happened` } });
    assert.equal(describeError(wf('ApprovalRejected')).exitCode, 3);
    assert.equal(describeError(wf('ApprovalTimedOut')).exitCode, 3);
    assert.deepEqual(describeError(wf('GateFailed')), { exitCode: 1, message: 'workflow failed (GateFailed): GateFailed happened' });
    assert.equal(describeError(new DomainError({ type: 'InvalidInput', message: 'x' })).exitCode, 2);
    const nested = { name: 'ActivityFailure', message: 'activity failed', cause: { name: 'ApplicationFailure', type: 'ManifestRejected', message: 'bad manifest' } };
    assert.deepEqual(failureInfo({ name: 'WorkflowFailedError', message: 'wf', cause: nested }), { type: 'ManifestRejected', message: 'bad manifest' });
    assert.deepEqual(failureInfo({ name: 'WorkflowFailedError', message: 'wf', cause: { name: 'TerminatedFailure', message: 'terminated' } }).type, 'Terminated');
  });

  it('resolves settings: flags over environment over defaults; builds Web UI links', () => {
    const s = resolveSettings({ address: 'temporal:7233', taskQueue: 'q' }, { TEMPORAL_ADDRESS: 'env:7233', TEMPORAL_NAMESPACE: 'ns', LOGSTACK_UI_URL: 'https://ui.example/' });
    assert.deepEqual([s.address, s.namespace, s.taskQueue, s.uiBase, s.source], ['temporal:7233', 'ns', 'q', 'https://ui.example', 'flag']);
    const e = resolveSettings({}, { TEMPORAL_ADDRESS: 'env:7233', TEMPORAL_API_KEY: 'k' });
    assert.deepEqual([e.address, e.namespace, e.taskQueue, e.source, e.apiKey], ['env:7233', 'default', 'logstack', 'env', 'k']);
    assert.equal(workflowUrl({ ...e, uiBase: 'http://127.0.0.1:8233' }, 'promote-production'), 'http://127.0.0.1:8233/namespaces/default/workflows/promote-production');
    assert.throws(() => resolveSettings({}, { TEMPORAL_TLS_CERT: '/c.pem' }), /TEMPORAL_TLS_CLIENT_KEY_PATH \(unset\): both halves of the mTLS pair/);
  });

  it('builds visibility queries only from safe values', () => {
    assert.equal(
      environmentQuery('logstack', { environment: 'production', running: true }),
      "TaskQueue = 'logstack' AND WorkflowType IN ('bootstrapEnvironment', 'rolloutEnvironment', 'promoteEnvironment', 'migrateProduction') AND LogstackEnvironment = 'production' AND ExecutionStatus = 'Running'",
    );
    assert.throws(() => quote("x' OR 1=1"), /may hold only/);
  });

  it('prints only step transitions, and the approval block once with the exact commands', () => {
    const printer = new ProgressPrinter();
    const first = printer.changes({ phase: 'delivering', steps: [{ name: 'apply', status: 'running', startedAt: '2026-01-01T10:00:00Z' }, { name: 'verify', status: 'pending' }] });
    assert.equal(first.phase, 'delivering');
    assert.deepEqual(first.steps.map(formatStep), ['10:00:00 ▸ apply — running']);
    assert.deepEqual(printer.changes({ phase: 'delivering', steps: [{ name: 'apply', status: 'running', startedAt: '2026-01-01T10:00:00Z' }, { name: 'verify', status: 'pending' }] }).steps, []);
    const approval = { environment: 'production', requestedBy: 'alice', approvers: ['alice', 'bob'], diff: { created: ['A/a'], changed: [], unchanged: 3, toBeDeleted: ['B/b'], destructive: ['B/b'], digest: 'sha256:' + '1'.repeat(64) } };
    const third = printer.changes({ phase: 'awaiting-approval', steps: [{ name: 'apply', status: 'succeeded', endedAt: '2026-01-01T10:01:00Z', detail: '3 objects' }], awaitingApproval: approval });
    assert.deepEqual(third.steps.map(formatStep), ['10:01:00 ✓ apply — succeeded: 3 objects']);
    assert.ok(third.approval);
    assert.equal(printer.changes({ phase: 'awaiting-approval', steps: [], awaitingApproval: approval }).approval, undefined);
    assert.deepEqual(approvalLines('promote-production', approval, 'production'), [
      '⏸ promote-production is waiting for approval to change production (requested by alice); approvers: alice, bob',
      '  diff: 1 created, 0 changed, 3 unchanged, 1 to delete, 1 destructive',
      '    + A/a',
      '    - B/b',
      '    ! B/b',
      `  digest: sha256:${'1'.repeat(64)}`,
      `  approve: logstack approve production --by bob --digest sha256:${'1'.repeat(64)}`,
      '  reject:  logstack reject production --by bob --reason "<why>"',
    ]);
  });

  it('shows the approval again when the change waiting moves on (new digest, changed since approval)', () => {
    const printer = new ProgressPrinter();
    const diff = { created: [], changed: ['A/a'], unchanged: 1, toBeDeleted: [], destructive: [], digest: 'sha256:' + '1'.repeat(64) };
    const first = { environment: 'production', approvers: ['bob'], diff, digest: diff.digest, deadline: '2026-01-02T00:00:00Z' };
    assert.ok(printer.changes({ phase: 'awaiting-approval', steps: [], awaitingApproval: first }).approval);
    assert.equal(printer.changes({ phase: 'awaiting-approval', steps: [], awaitingApproval: first }).approval, undefined);
    const moved = { ...first, diff: { ...diff, digest: 'sha256:' + '2'.repeat(64) }, digest: 'sha256:' + '2'.repeat(64), changedSinceApproval: true };
    const again = printer.changes({ phase: 'awaiting-approval', steps: [], awaitingApproval: moved }).approval;
    assert.ok(again);
    const lines = approvalLines('promote-production', again, 'production', ' --task-queue q');
    assert.equal(lines[0], '⏸ promote-production is waiting for approval to change production; approvers: bob; deadline 2026-01-02T00:00:00Z');
    assert.deepEqual(lines.slice(-4), [
      `  digest: sha256:${'2'.repeat(64)}`,
      '  changed since approval: the change approved earlier is no longer what would be applied; decide again on this diff',
      `  approve: logstack approve production --by bob --digest sha256:${'2'.repeat(64)} --task-queue q`,
      '  reject:  logstack reject production --by bob --reason "<why>" --task-queue q',
    ]);
  });

  it('describes the lock: holder since when, the queue in order, supersessions; history text escaped', () => {
    const now = Date.parse('2026-01-01T10:05:00Z');
    const lock: LockView = {
      state: 'held',
      workflowId: 'lock-production',
      holder: { workflowId: 'rollout-production', runId: 'r1', workflowType: 'rolloutEnvironment', requestedAt: '2026-01-01T10:00:00Z', grantedAt: '2026-01-01T10:00:00Z', purpose: 'rollout\u202e of 3f2c1a9' },
      queue: [
        { workflowId: 'drift-production', runId: 'r2', workflowType: 'remediateDrift', requestedAt: '2026-01-01T10:04:30Z' },
        { workflowId: 'promote-production', runId: 'r3', workflowType: 'promoteEnvironment', requestedAt: '2026-01-01T10:04:50Z', purpose: 'promotion of 3f2c1a9' },
      ],
      superseded: [{ workflowId: 'drift-old', workflowType: 'remediateDrift', by: 'drift-production', at: '2026-01-01T10:04:30Z' }],
      grants: 7,
    };
    const wait = { workflowId: 'promote-production', runId: 'r3', type: 'promoteEnvironment', requestedBy: 'alice', approvers: ['bob', 'carol'], approvals: 'signed' as const, deadline: '2026-01-02T10:00:00Z', digest: 'sha256:' + 'ab'.repeat(32), changedSinceApproval: true };
    const row: EnvironmentStatus = { environment: 'production', pinnedRevision: null, verifiedRevision: null, health: 'healthy', running: null, latest: null, lock, awaitingApproval: [wait] };
    assert.deepEqual(lockDetailLines(row, now), [
      'production:',
      '  lock: rolloutEnvironment rollout-production (rollout\\u{202e} of 3f2c1a9), held since 2026-01-01 10:00:00Z (5m ago)',
      '  queue:',
      '    1. remediateDrift drift-production, waiting since 2026-01-01 10:04:30Z (30s ago)',
      '    2. promoteEnvironment promote-production (promotion of 3f2c1a9), waiting since 2026-01-01 10:04:50Z (10s ago)',
      '  awaiting approval (outside the lock):',
      '    promote-production requested by alice; approvers bob, carol (signed approvals); deadline 2026-01-02 10:00:00Z (in 24h); diff sha256:abababababab…; changed since approval',
      '  superseded recently:',
      '    remediateDrift drift-old replaced by drift-production at 2026-01-01 10:04:30Z (30s ago)',
    ]);
    const free: LockView = { state: 'free', workflowId: 'lock-dev', holder: null, queue: [], superseded: [], grants: 0, note: 'lock-dev does not exist yet' };
    assert.deepEqual(lockDetailLines({ ...row, environment: 'dev', lock: free, awaitingApproval: [] }, now), []);
    const unknown: LockView = { ...free, state: 'unknown', note: 'no worker answered' };
    assert.deepEqual(lockDetailLines({ ...row, environment: 'dev', lock: unknown, awaitingApproval: [] }, now), ['dev:', '  lock: unknown — no worker answered']);
    const watched = lockLines('production', lock, 'promote-production', Date.parse('2026-01-01T10:04:00Z'), now);
    assert.match(watched[0] ?? '', /^\d\d:\d\d:\d\d lock of production: rolloutEnvironment rollout-production \(rollout\\u\{202e\} of 3f2c1a9\), held since/);
    assert.equal(watched[2], '  queue 2. promoteEnvironment promote-production (promotion of 3f2c1a9), waiting since 2026-01-01 10:04:50Z (10s ago)  ← this workflow');
    assert.equal(watched[3], '  superseded: remediateDrift drift-old replaced by drift-production at 2026-01-01 10:04:30Z (30s ago)');
    assert.equal(lockLines('production', lock, 'x', now, now).length, 3, 'supersessions before the watch began are not shown');
    assert.equal(shortDigest('sha256:' + 'ab'.repeat(32)), 'sha256:abababababab…');
    assert.equal(shortDigest(null), '—');
    assert.equal(since('not a time\u001b[2J', now), 'not a time\\u{001b}[2J');
  });

  it('prints YAML that parses to the same value, with controls and bidirectional characters escaped', () => {
    const value = [{ name: 'a\u202eb', detail: 'line\nbreak\u001b[31m', c1: 'x\u0085y', plain: 'ok', n: null, list: ['p', 'q\u2066'] }];
    const text = printableYaml(value);
    assert.ok(!/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/u.test(text), text);
    assert.deepEqual(parseYaml(text), value);
    assert.match(text, /^  plain: ok$/m);
  });
});
