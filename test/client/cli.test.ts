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
import { approvalLines, formatStep, ProgressPrinter } from '../../client/follow.ts';
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
      [['--output', 'xml', 'status'], /Allowed choices are table, json/],
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
    assert.deepEqual(JSON.parse(json.out), [{ file: `${REPO}gitops/environments.yaml`, valid: true, environments: ['dev', 'staging', 'production'] }]);
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
      '  approve: logstack approve production --by bob',
      '  reject:  logstack reject production --by bob --reason "<why>"',
    ]);
  });
});
