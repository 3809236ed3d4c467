/**
 * Adversarial rows for notifications: a receiver URL must never reach the catalog or history
 * when it carries a token, a notification must never carry a secret, and the worker must send nothing but a
 * notification, only to a receiver it may use. Each row asserts its typed refusal; rows that read moto compare
 * the part of the inventory they could touch — the Secrets Manager entries named `notify-test-<suffix>` of this
 * process (other helpers run on the sandbox at the same time, on their own names and clusters) — and rows that
 * go through the local receiver assert it got no request. No cluster and no Git ref is touched by any row.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { CreateSecretCommand, DeleteSecretCommand } from '@aws-sdk/client-secrets-manager';
import { createNotifyActivities } from '../../activities/notify/notify.ts';
import type { AwsClients } from '../../activities/aws/index.ts';
import {
  DomainError,
  parseCatalog,
  renderNotification,
  type CatalogInput,
  type Environment,
  type NotificationEvent,
  type NotificationTarget,
} from '../../domain/index.ts';
import { requireSandbox, type SandboxRuntime } from '../../sandbox/status.ts';
import { motoClients, rejection, testEnvironment } from '../activities/aws-moto.ts';
import { diffInventory, takeInventory } from './inventory.ts';

const SUFFIX = randomBytes(4).toString('hex');
/** The activities' expected failures are the rows' subject, not log noise. */
const quiet = new DefaultLogger('ERROR');
const REGION = 'us-east-1';
const CREDENTIALS_SECRET = `notify-test-${SUFFIX}-credentials`;
const USERINFO_SECRET = `notify-test-${SUFFIX}-userinfo`;
const KEY_SECRET = `wJalrXUtnFEMI${SUFFIX}bPxRfiCYEXAMPLEKEY`;

const catalogWith = (notifications: unknown): CatalogInput =>
  ({
    apiVersion: 'logstack.io/v1',
    kind: 'EnvironmentCatalog',
    promotionOrder: ['production'],
    gitops: { remote: 'file:///srv/gitops.git' },
    environments: [
      {
        name: 'production',
        cluster: { context: 'ctx-production' },
        aws: { region: REGION, bucket: 'logstack-production-loki', secretName: 'logstack/production/loki-s3', credentialMode: 'static' },
        overlay: 'gitops/overlays/production',
        delivery: 'direct',
        loki: { size: '1x.small' },
        retentionDays: 7,
        notifications,
      },
    ],
  }) as CatalogInput;

/** The catalog's refusal: type and message. */
function catalogRefusal(notifications: unknown): { type: string; message: string } {
  try {
    parseCatalog(catalogWith(notifications));
  } catch (err) {
    assert.ok(err instanceof DomainError);
    return { type: err.type, message: err.message };
  }
  throw new Error('the catalog was accepted');
}

const event: NotificationEvent = {
  kind: 'gate-failed',
  environment: 'production',
  workflow: { type: 'rolloutEnvironment', id: `rollout-production-${SUFFIX}`, runId: '0f0e0d0c-0000-4000-8000-000000000002', namespace: 'default' },
  at: '2026-12-02T17:00:00.000Z',
  revision: '2b2b2b2'.padEnd(40, '0'),
  failureType: 'GateFailed',
  failure: 'lokistack-ready did not become ready',
  rollingBackTo: null,
  rollbackFailed: false,
};

describe('adversarial: notifications', () => {
  let sandbox: SandboxRuntime;
  let aws: AwsClients;
  let server: Server;
  let receiverBase: string;
  const requests: string[] = [];
  const env: Record<string, string> = {};
  let environment: Environment;
  let notify: ReturnType<typeof createNotifyActivities>['notify'];
  const run = (target: NotificationTarget) => new MockActivityEnvironment({ heartbeatTimeoutMs: 10_000 }, { logger: quiet }).run(notify, { environment, target, event });
  /** This process's Secrets Manager entries in the inventory. */
  const ours = async (): Promise<Record<string, string>> =>
    Object.fromEntries(Object.entries((await takeInventory(sandbox, { regions: [REGION] })).aws).filter(([k]) => k.includes(`notify-test-${SUFFIX}`)));
  const unchanged = (before: Record<string, string>, after: Record<string, string>): void =>
    assert.deepEqual(diffInventory({ takenAt: '', tookMs: 0, aws: before, clusters: {}, git: {} }, { takenAt: '', tookMs: 0, aws: after, clusters: {}, git: {} }), []);

  before(async () => {
    sandbox = requireSandbox();
    aws = motoClients(sandbox.aws.endpoint);
    server = createServer((req, res) => {
      requests.push(req.url ?? '');
      res.writeHead(req.url?.startsWith('/redirect') ? 302 : 200, req.url?.startsWith('/redirect') ? { location: `http://127.0.0.1:${(server.address() as AddressInfo).port}/stolen` } : {}).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    receiverBase = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    environment = testEnvironment({ name: 'production', region: REGION });
    const sm = aws.secretsManager(REGION);
    // A secret that holds credentials, not a URL (what a catalog naming the Loki secret would point at).
    await sm.send(new CreateSecretCommand({ Name: CREDENTIALS_SECRET, SecretString: JSON.stringify({ access_key_id: 'AKIAEXAMPLE', access_key_secret: KEY_SECRET, bucketnames: 'b', endpoint: `${receiverBase}/`, region: REGION }) }));
    await sm.send(new CreateSecretCommand({ Name: USERINFO_SECRET, SecretString: `http://admin:${KEY_SECRET}@127.0.0.1:${(server.address() as AddressInfo).port}/hook` }));
    notify = createNotifyActivities({ aws, env, timeoutMs: 2000 }).notify;
  });
  after(async () => {
    for (const name of [CREDENTIALS_SECRET, USERINFO_SECRET]) {
      await aws.secretsManager(REGION).send(new DeleteSecretCommand({ SecretId: name, ForceDeleteWithoutRecovery: true })).catch(() => undefined);
    }
    aws.destroy();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('adversarial: a Slack webhook URL (token in its path) written into the catalog is refused, with its path, token not repeated', () => {
    const refused = catalogRefusal([{ format: 'slack', url: 'https://hooks.slack.com/services/T0001/B0001/s3cr3tT0ken' }]);
    assert.equal(refused.type, 'InvalidInput');
    assert.match(refused.message, /environments\.0\.notifications\.0\.url: receiver URL refused: hooks\.slack\.com webhook URLs carry their token; name where it comes from instead/);
    assert.doesNotMatch(refused.message, /s3cr3tT0ken/);
  });

  it('adversarial: a Logic Apps / Teams Workflows URL with its sig= token in the catalog is refused', () => {
    const refused = catalogRefusal([{ format: 'teams', url: 'https://prod-01.westeurope.logic.azure.com/workflows/abc/triggers/manual/paths/invoke?api-version=2016-06-01&sig=s3cr3tSig' }]);
    assert.equal(refused.type, 'InvalidInput');
    assert.match(refused.message, /notifications\.0\.url: receiver URL refused: .*logic\.azure\.com webhook URLs carry their token/);
    assert.doesNotMatch(refused.message, /s3cr3tSig/);
  });

  it('adversarial: a target naming a worker variable other than LOGSTACK_NOTIFY_… is refused by the catalog, and by the activity when it comes around the schema; nothing is sent', async () => {
    const refused = catalogRefusal([{ format: 'generic', urlFrom: { env: 'AWS_SECRET_ACCESS_KEY' } }]);
    assert.equal(refused.type, 'InvalidInput');
    assert.match(refused.message, /notifications\.0\.urlFrom\.env: must start with LOGSTACK_NOTIFY_/);
    env['AWS_SECRET_ACCESS_KEY'] = `${receiverBase}/exfiltrate`;
    const before = requests.length;
    const failure = await rejection(run({ format: 'generic', urlFrom: { env: 'AWS_SECRET_ACCESS_KEY' } }));
    assert.deepEqual([failure.type, failure.nonRetryable], ['InvalidInput', true]);
    assert.match(failure.message, /^worker variable AWS_SECRET_ACCESS_KEY is not a notification variable/);
    assert.equal(requests.length, before, 'the receiver got no request');
  });

  it('adversarial: a target naming a secret that holds credentials (not a URL) is refused without repeating any of it; moto unchanged', async () => {
    const inventory = await ours();
    assert.ok(Object.keys(inventory).some((k) => k.includes(CREDENTIALS_SECRET)), `the inventory sees the secret: ${Object.keys(inventory).join(', ')}`);
    const before = requests.length;
    const failure = await rejection(run({ format: 'generic', urlFrom: { secretsManager: CREDENTIALS_SECRET } }));
    assert.deepEqual([failure.type, failure.nonRetryable], ['InvalidInput', true]);
    assert.equal(failure.message, `Secrets Manager secret ${CREDENTIALS_SECRET} holds no URL: its value must be the receiver's URL, or JSON {"url": "…"}`);
    assert.doesNotMatch(failure.message, new RegExp(`${KEY_SECRET}|AKIAEXAMPLE`));
    assert.equal(requests.length, before, 'the receiver (the secret’s endpoint) got no request');
    unchanged(inventory, await ours());
  });

  it('adversarial: a secret URL carrying a user name and password is refused before any request; moto unchanged', async () => {
    const inventory = await ours();
    assert.ok(Object.keys(inventory).some((k) => k.includes(USERINFO_SECRET)), 'the inventory sees the secret');
    const before = requests.length;
    const failure = await rejection(run({ format: 'slack', urlFrom: { secretsManager: USERINFO_SECRET } }));
    assert.deepEqual([failure.type, failure.nonRetryable], ['InvalidInput', true]);
    assert.match(failure.message, new RegExp(`^the receiver URL from Secrets Manager secret ${USERINFO_SECRET} cannot be used: it carries a user name or password`));
    assert.doesNotMatch(failure.message, new RegExp(`${KEY_SECRET}|admin`));
    assert.equal(requests.length, before);
    unchanged(inventory, await ours());
  });

  it('adversarial: a variable pointing at the instance metadata service over http is refused before any request', async () => {
    env['LOGSTACK_NOTIFY_METADATA'] = 'http://169.254.169.254/latest/meta-data/iam/security-credentials/';
    const failure = await rejection(run({ format: 'generic', urlFrom: { env: 'LOGSTACK_NOTIFY_METADATA' } }));
    assert.deepEqual([failure.type, failure.nonRetryable], ['InvalidInput', true]);
    assert.match(failure.message, /^the receiver URL from worker variable LOGSTACK_NOTIFY_METADATA cannot be used: http is allowed only to a loopback address/);
    assert.doesNotMatch(failure.message, /169\.254/);
  });

  it('adversarial: a receiver that redirects elsewhere is not followed: NotificationFailed, non-retryable, the other address gets nothing', async () => {
    const failure = await rejection(run({ format: 'generic', url: `${receiverBase}/redirect` }));
    assert.deepEqual([failure.type, failure.nonRetryable], ['NotificationFailed', true]);
    assert.match(failure.message, /answered HTTP 302/);
    assert.ok(requests.includes('/redirect'));
    assert.ok(!requests.includes('/stolen'), 'the redirect target never got the body');
  });

  it('adversarial: hostile text in an event (terminal escapes, bidi override, credentials in a URL, a Slack @channel) reaches no receiver as such', () => {
    const hostile: NotificationEvent = { ...event, failure: `clone https://bot:${KEY_SECRET}@git.example.com/x failed \u001b]8;;https://evil.example\u0007 \u202eevil <!channel>` };
    for (const format of ['slack', 'teams', 'generic'] as const) {
      const body = JSON.stringify(renderNotification(hostile, format));
      assert.doesNotMatch(body, new RegExp(KEY_SECRET), format);
      assert.doesNotMatch(body, /\\u001b|\\u0007|\u202e/, format);
    }
    assert.doesNotMatch(JSON.stringify(renderNotification(hostile, 'slack')), /<!channel>/);
  });
});
