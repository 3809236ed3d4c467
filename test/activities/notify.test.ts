/**
 * `notify` against real parts: an HTTP receiver started by this test on 127.0.0.1 (it answers, fails, refuses,
 * redirects or never answers, per path) and the sandbox's moto for URLs kept in Secrets Manager (secrets named
 * `notify-test-<suffix>`, created and deleted here; moto is shared, never reset). Every event kind is delivered in
 * every format, with the URL from a worker variable (Slack), a Secrets Manager secret (Teams) and the catalog
 * (generic); a receiver that answers 500 then 200 gets the notification on the retry, inside a real workflow run
 * on the time-skipping server, while one that never answers fails its step and the run still completes.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { CreateSecretCommand, DeleteSecretCommand } from '@aws-sdk/client-secrets-manager';
import { createNotifyActivities } from '../../activities/notify/notify.ts';
import type { AwsClients } from '../../activities/aws/index.ts';
import {
  eventDiff,
  findingList,
  GENERIC_NOTIFICATION_SCHEMA,
  NOTIFICATION_FAILED,
  NotificationEventKind,
  renderNotification,
  type Environment,
  type NotificationEvent,
  type NotificationTarget,
} from '../../domain/index.ts';
import { progressQuery } from '../../workflows/messages.ts';
import { remediateDrift } from '../../workflows/index.ts';
import { startHarness, type Harness } from '../workflows/harness.ts';
import { motoClients, motoEndpoint, rejection, testEnvironment } from './aws-moto.ts';

const SUFFIX = randomBytes(4).toString('hex');
/** The activities' expected failures are the rows' subject, not log noise. */
const quiet = new DefaultLogger('ERROR');
/** A token in every receiver path: it must never show in a result, a failure or a body. */
const TOKEN = `T0KEN${randomBytes(6).toString('hex')}`;
const REGION = 'us-east-1';
const SECRET = `notify-test-${SUFFIX}`;
const ENV_VAR = `LOGSTACK_NOTIFY_TEST_${SUFFIX.toUpperCase()}`;

/** What the receiver got. */
interface Received {
  readonly path: string;
  readonly contentType: string | undefined;
  readonly body: string;
}

/** The receiver: `/ok/…` 200, `/flaky/…` 500 then 200 (per path), `/busy/…` 429, `/refuse/…` 404, `/redirect/…` 302, `/hang/…` never answers. */
function startReceiver(): Promise<{ server: Server; base: string; received: Received[] }> {
  const received: Received[] = [];
  const seen = new Map<string, number>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = req.url ?? '';
      received.push({ path, contentType: req.headers['content-type'], body: Buffer.concat(chunks).toString('utf8') });
      const count = (seen.get(path) ?? 0) + 1;
      seen.set(path, count);
      const kind = path.split('/')[1];
      if (kind === 'hang') return; // never answers
      if (kind === 'flaky' && count === 1) return void res.writeHead(500).end('try again');
      if (kind === 'busy') return void res.writeHead(429).end('slow down');
      if (kind === 'refuse') return void res.writeHead(404).end('no such hook');
      if (kind === 'redirect') return void res.writeHead(302, { location: `http://127.0.0.1:${(server.address() as AddressInfo).port}/ok/redirected` }).end();
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received })));
}

const workflow = { type: 'promoteEnvironment', id: `promote-notify-${SUFFIX}`, runId: '0f0e0d0c-0000-4000-8000-000000000001', namespace: 'default' };
const base = { environment: 'production', workflow, at: '2026-12-02T17:00:00.000Z' };
const REV = '2b2b2b2'.padEnd(40, '0');
const PREV = '1a1a1a1'.padEnd(40, '0');

/** One event of every kind. */
const EVENTS: NotificationEvent[] = [
  {
    ...base,
    kind: 'approval-requested',
    revision: REV,
    requestedBy: 'alice',
    approvers: ['alice', 'bob'],
    approvals: 'signed',
    deadline: '2026-12-03T17:00:00.000Z',
    changedSinceApproval: false,
    diff: eventDiff({ created: [], changed: ['LokiStack/openshift-logging/logging-loki'], toBeDeleted: ['PersistentVolumeClaim/openshift-logging/wal-0'], destructive: ['PersistentVolumeClaim/openshift-logging/wal-0'], unchanged: 9, digest: `sha256:${'7'.repeat(64)}` }),
  },
  { ...base, kind: 'approved', revision: REV, by: 'bob', signed: true, comment: null },
  { ...base, kind: 'rejected', revision: REV, by: 'bob', reason: 'wrong window' },
  { ...base, kind: 'approval-timed-out', revision: REV, deadline: '2026-12-03T17:00:00.000Z', approvers: ['alice', 'bob'] },
  { ...base, kind: 'superseded', revision: REV, supersededBy: { workflowType: 'promoteEnvironment', workflowId: 'promote-production-2' } },
  { ...base, kind: 'gate-failed', revision: REV, failureType: 'GateFailed', failure: 'lokistack-ready did not become ready', rollingBackTo: PREV, rollbackFailed: false },
  { ...base, kind: 'rolled-back', revision: REV, rolledBackTo: PREV, failure: 'GateFailed: lokistack-ready did not become ready' },
  { ...base, kind: 'drift-found', findings: findingList([{ class: 'aws', object: 'bucket logstack-production-loki', detail: 'versioning Suspended', safeToRemediate: true }]) },
  { ...base, kind: 'drift-remediated', remediated: findingList([{ class: 'aws', object: 'bucket logstack-production-loki', detail: 'versioning Suspended', safeToRemediate: true }]), remaining: findingList([]) },
];

describe('notify activity: a local receiver, URLs from a variable, a secret and the catalog', () => {
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let aws: AwsClients;
  let environment: Environment;
  const env: Record<string, string> = {};
  let notify: ReturnType<typeof createNotifyActivities>['notify'];
  const run = (target: NotificationTarget, event: NotificationEvent, attempt = 1) =>
    new MockActivityEnvironment({ attempt, heartbeatTimeoutMs: 10_000 }, { logger: quiet }).run(notify, { environment, target, event });

  before(async () => {
    receiver = await startReceiver();
    aws = motoClients(motoEndpoint());
    environment = testEnvironment({ name: `notify-${SUFFIX}`, region: REGION });
    env[ENV_VAR] = `${receiver.base}/ok/slack/${TOKEN}`;
    await aws.secretsManager(REGION).send(new CreateSecretCommand({ Name: SECRET, SecretString: JSON.stringify({ url: `${receiver.base}/ok/teams/${TOKEN}` }) }));
    notify = createNotifyActivities({ aws, env, uiBase: 'https://temporal.example.com', timeoutMs: 1000 }).notify;
  });
  after(async () => {
    await aws.secretsManager(REGION).send(new DeleteSecretCommand({ SecretId: SECRET, ForceDeleteWithoutRecovery: true })).catch(() => undefined);
    aws.destroy();
    receiver.server.closeAllConnections();
    await new Promise((resolve) => receiver.server.close(resolve));
  });

  it('delivers every event kind in every format: Slack from a variable, Teams from a secret, generic from the catalog', async () => {
    assert.deepEqual(EVENTS.map((e) => e.kind).sort(), Object.values(NotificationEventKind).sort());
    const targets: NotificationTarget[] = [
      { name: 'ops', format: 'slack', urlFrom: { env: ENV_VAR } },
      { name: 'approvers', format: 'teams', urlFrom: { secretsManager: SECRET } },
      { name: 'events', format: 'generic', url: `${receiver.base}/ok/generic/catalog` },
    ];
    receiver.received.length = 0;
    for (const event of EVENTS) {
      for (const target of targets) {
        const outcome = await run(target, event);
        assert.deepEqual(outcome, { status: 200, attempt: 1 });
        assert.doesNotMatch(JSON.stringify(outcome), new RegExp(TOKEN));
      }
    }
    assert.equal(receiver.received.length, EVENTS.length * targets.length);
    for (const [i, got] of receiver.received.entries()) {
      const event = EVENTS[Math.floor(i / targets.length)] as NotificationEvent;
      const format = targets[i % targets.length]?.format ?? 'generic';
      assert.equal(got.path, format === 'generic' ? '/ok/generic/catalog' : `/ok/${format}/${TOKEN}`);
      assert.equal(got.contentType, 'application/json; charset=utf-8');
      const body = JSON.parse(got.body) as Record<string, unknown>;
      assert.deepEqual(body, renderNotification(event, format, { uiBase: 'https://temporal.example.com' }), `${event.kind} as ${format}`);
      if (format === 'slack') assert.ok(typeof body['text'] === 'string' && Array.isArray(body['blocks']));
      if (format === 'teams') assert.equal(body['@type'], 'MessageCard');
      if (format === 'generic') assert.deepEqual([body['schema'], body['kind']], [GENERIC_NOTIFICATION_SCHEMA, event.kind]);
      assert.doesNotMatch(got.body, new RegExp(TOKEN), 'no receiver URL in any body');
    }
    const approval = JSON.parse(receiver.received[1]?.body ?? '{}') as { sections: { text?: string }[] };
    assert.match(JSON.stringify(approval), /logstack approve promote-notify-\w+ --by <NAME> --key ~\/\.ssh\/id_ed25519 --digest sha256:7{64}/);
  });

  it('500 then 200: the first attempt fails retryable (status only, no URL), the retry delivers; 429 is retryable, 404 and a redirect are not', async () => {
    const event = EVENTS[5] as NotificationEvent;
    const flaky: NotificationTarget = { name: 'flaky', format: 'generic', url: `${receiver.base}/flaky/${SUFFIX}` };
    const first = await rejection(run(flaky, event, 1));
    assert.deepEqual([first.type, first.nonRetryable], [NOTIFICATION_FAILED, false]);
    assert.equal(first.message, 'generic receiver (URL from the catalog) answered HTTP 500');
    assert.deepEqual(await run(flaky, event, 2), { status: 200, attempt: 2 });
    const busy = await rejection(run({ format: 'generic', url: `${receiver.base}/busy/${TOKEN}` }, event));
    assert.deepEqual([busy.type, busy.nonRetryable], [NOTIFICATION_FAILED, false]);
    env['LOGSTACK_NOTIFY_REFUSED'] = `${receiver.base}/refuse/${TOKEN}`;
    const notFound = await rejection(run({ format: 'slack', urlFrom: { env: 'LOGSTACK_NOTIFY_REFUSED' } }, event));
    assert.deepEqual([notFound.type, notFound.nonRetryable], [NOTIFICATION_FAILED, true]);
    assert.match(notFound.message, /^slack receiver \(URL from worker variable LOGSTACK_NOTIFY_REFUSED\) answered HTTP 404; it refuses this notification/);
    const redirected = await rejection(run({ format: 'generic', url: `${receiver.base}/redirect/${SUFFIX}` }, event));
    assert.deepEqual([redirected.nonRetryable, /HTTP 302/.test(redirected.message)], [true, true]);
    assert.ok(!receiver.received.some((r) => r.path === '/ok/redirected'), 'the redirect is not followed');
    for (const f of [first, busy, notFound, redirected]) assert.doesNotMatch(f.message, new RegExp(`${TOKEN}|127\\.0\\.0\\.1`));
  });

  it('a receiver that never answers: the attempt ends at the timeout, retryable, saying so', async () => {
    const started = Date.now();
    const hung = await rejection(run({ name: 'hang', format: 'teams', url: `${receiver.base}/hang/${SUFFIX}` }, EVENTS[0] as NotificationEvent));
    assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
    assert.deepEqual([hung.type, hung.nonRetryable], [NOTIFICATION_FAILED, false]);
    assert.equal(hung.message, 'teams receiver (URL from the catalog): no answer within the timeout (1 s)');
  });

  it('a variable that is not set, a secret that does not exist, a URL that may not be used: InvalidInput, naming the source only', async () => {
    const event = EVENTS[1] as NotificationEvent;
    const unset = await rejection(run({ format: 'slack', urlFrom: { env: 'LOGSTACK_NOTIFY_UNSET_X' } }, event));
    assert.deepEqual([unset.type, unset.nonRetryable], ['InvalidInput', true]);
    assert.match(unset.message, /^worker variable LOGSTACK_NOTIFY_UNSET_X is not set on the worker/);
    const missing = await rejection(run({ format: 'teams', urlFrom: { secretsManager: `${SECRET}-absent` } }, event));
    assert.deepEqual([missing.type, missing.nonRetryable], ['InvalidInput', true]);
    assert.match(missing.message, new RegExp(`^Secrets Manager secret ${SECRET}-absent does not exist \\(region ${REGION}\\)`));
    env['LOGSTACK_NOTIFY_REMOTE_HTTP'] = `http://events.example.com/${TOKEN}`;
    const remote = await rejection(run({ format: 'generic', urlFrom: { env: 'LOGSTACK_NOTIFY_REMOTE_HTTP' } }, event));
    assert.equal(remote.type, 'InvalidInput');
    assert.match(remote.message, /^the receiver URL from worker variable LOGSTACK_NOTIFY_REMOTE_HTTP cannot be used: http is allowed only to a loopback address/);
    for (const f of [unset, missing, remote]) assert.doesNotMatch(f.message, new RegExp(TOKEN));
  });
});

describe('notify in a workflow run: a receiver that recovers and one that never answers', () => {
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let h: Harness;
  let aws: AwsClients;

  before(async () => {
    receiver = await startReceiver();
    h = await startHarness('logstack-notify-activity');
    aws = motoClients(motoEndpoint());
  });
  after(async () => {
    await h.stop();
    aws.destroy();
    receiver.server.closeAllConnections();
    await new Promise((resolve) => receiver.server.close(resolve));
  });

  it('the recovering one gets it on attempt 2; the silent one fails its step after 4 attempts; the drift run completes', async () => {
    h.world.reset();
    const real = createNotifyActivities({ aws, env: {}, timeoutMs: 1000 }).notify;
    h.world.overrides.notify = (input) => real(input);
    h.world.editCatalog((doc) => {
      const dev = doc.environments.find((e) => e.name === 'dev');
      if (dev) {
        dev.notifications = [
          { name: 'flaky', format: 'slack', url: `${receiver.base}/flaky/${SUFFIX}` },
          { name: 'silent', format: 'generic', url: `${receiver.base}/hang/${SUFFIX}` },
        ];
      }
    });
    h.world.findings.set('dev', [{ environment: 'dev', class: 'aws', object: 'bucket logstack-dev-loki', detail: 'versioning Suspended', safeToRemediate: true }]);
    const handle = await h.start(remediateDrift, [{ mode: 'report', environments: ['dev'] }]);
    const result = await handle.result();
    assert.equal(result.findings.length, 1, 'the run ends as it would without notifications');
    const steps = (await handle.query(progressQuery)).steps.filter((s) => s.name.startsWith('notify '));
    assert.deepEqual(steps.map((s) => [s.name, s.status]), [
      ['notify flaky (slack): drift-found', 'succeeded'],
      ['notify silent (generic): drift-found', 'failed'],
    ]);
    assert.equal(steps[0]?.detail, 'delivered to flaky (slack): HTTP 200 (attempt 2)');
    assert.match(steps[1]?.detail ?? '', /^notification to silent \(generic\) failed: .*no answer within the timeout \(1 s\)$/);
    assert.equal(receiver.received.filter((r) => r.path.startsWith('/hang/')).length, 4, 'four attempts, then no more');
    assert.equal((await handle.query(progressQuery)).phase, 'succeeded');
  });
});
