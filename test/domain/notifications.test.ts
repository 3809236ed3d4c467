/**
 * Notifications (domain/notifications.ts): the catalog's `notifications` schema (refusals with their path), and the
 * JSON of each format rendered from one event object — Slack (text + blocks), Teams (MessageCard) and generic —
 * with the approve/reject commands (`--key` where approvals are signed), the destructive changes flagged, the Web
 * UI link, and hostile text and credentials kept out. Pure; runs on Node and Deno.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  approvalCommands,
  DomainError,
  eventAws,
  eventDiff,
  findingList,
  GENERIC_NOTIFICATION_SCHEMA,
  MAX_EVENT_LIST,
  NotificationEventKind,
  parseCatalog,
  receiverUrlProblem,
  renderNotification,
  type CatalogInput,
  type NotificationEvent,
} from '../../domain/index.ts';

const catalog = (notifications: unknown): CatalogInput =>
  ({
    apiVersion: 'logstack.io/v1',
    kind: 'EnvironmentCatalog',
    promotionOrder: ['dev'],
    gitops: { remote: 'file:///srv/gitops.git' },
    environments: [
      {
        name: 'dev',
        cluster: { context: 'ctx-dev' },
        aws: { region: 'eu-west-1', bucket: 'logstack-dev-loki', secretName: 'logstack/dev/loki-s3', credentialMode: 'static' },
        overlay: 'gitops/overlays/dev',
        delivery: 'direct',
        loki: { size: '1x.pico' },
        retentionDays: 7,
        notifications,
      },
    ],
  }) as CatalogInput;

/** The refusal message of a catalog, or '' when it parses. */
function refusal(notifications: unknown): string {
  try {
    parseCatalog(catalog(notifications));
    return '';
  } catch (err) {
    assert.ok(err instanceof DomainError);
    assert.equal(err.type, 'InvalidInput');
    return err.message;
  }
}

describe('catalog: notification targets', () => {
  it('accepts url (no token), urlFrom env and urlFrom Secrets Manager (name or ARN)', () => {
    const parsed = parseCatalog(
      catalog([
        { name: 'ops', format: 'slack', urlFrom: { env: 'LOGSTACK_NOTIFY_OPS' } },
        { format: 'teams', urlFrom: { secretsManager: 'logstack/dev/teams-webhook' } },
        { format: 'teams', urlFrom: { secretsManager: 'arn:aws:secretsmanager:eu-central-1:123456789012:secret:notify-AbCdEf' } },
        { format: 'generic', url: 'https://events.example.com/logstack' },
        { name: 'local', format: 'generic', url: 'http://127.0.0.1:8089/hook' },
      ]),
    );
    assert.equal(parsed.environments[0]?.notifications?.length, 5);
    assert.equal(parseCatalog(catalog(undefined)).environments[0]?.notifications, undefined);
  });

  const rows: [string, unknown, RegExp][] = [
    ['plain http to a remote host', [{ format: 'generic', url: 'http://events.example.com/x' }], /notifications\.0\.url: receiver URL refused: http is allowed only to a loopback address/],
    ['credentials in the URL', [{ format: 'generic', url: 'https://user:pw@events.example.com/x' }], /notifications\.0\.url: .*user name or password/],
    ['a Slack webhook URL in the catalog', [{ format: 'slack', url: 'https://hooks.slack.com/services/T000/B000/XXXX' }], /notifications\.0\.url: .*hooks\.slack\.com webhook URLs carry their token; name where it comes from instead/],
    ['a Teams webhook URL in the catalog', [{ format: 'teams', url: 'https://contoso.webhook.office.com/webhookb2/abc' }], /carry their token/],
    ['a token query parameter', [{ format: 'generic', url: 'https://events.example.com/x?sig=abc' }], /query parameter "sig" carries a credential/],
    ['another scheme', [{ format: 'generic', url: 'file:///etc/passwd' }], /scheme file: is not allowed/],
    ['both url and urlFrom', [{ format: 'generic', url: 'https://a.example.com/', urlFrom: { env: 'LOGSTACK_NOTIFY_X' } }], /notifications\.0: give exactly one of url/],
    ['neither', [{ format: 'generic' }], /give exactly one of url/],
    ['a variable outside LOGSTACK_NOTIFY_', [{ format: 'slack', urlFrom: { env: 'AWS_SECRET_ACCESS_KEY' } }], /must start with LOGSTACK_NOTIFY_/],
    ['a hostile secret name', [{ format: 'slack', urlFrom: { secretsManager: '../other' } }], /notifications\.0\.urlFrom/],
    ['an unknown format', [{ format: 'email', url: 'https://a.example.com/' }], /notifications\.0\.format/],
    ['an unknown key', [{ format: 'generic', url: 'https://a.example.com/', headers: { authorization: 'x' } }], /notifications\.0: Unrecognized key/],
    ['a name used twice', [{ name: 'a', format: 'generic', url: 'https://a.example.com/' }, { name: 'a', format: 'slack', url: 'https://b.example.com/' }], /notifications\.1\.name: target name "a" is used twice/],
    ['more than ten targets', Array.from({ length: 11 }, (_, i) => ({ name: `t${i}`, format: 'generic', url: 'https://a.example.com/' })), /at most 10 notification targets/],
  ];
  for (const [what, notifications, expected] of rows) {
    it(`refuses ${what}, naming the field`, () => {
      const message = refusal(notifications);
      assert.match(message, expected);
      assert.match(message, /environments\.0\.notifications/);
      // The refusal never repeats a URL's token.
      assert.doesNotMatch(message, /XXXX|pw@|sig=abc/);
    });
  }

  it('receiverUrlProblem: loopback http and any https pass; resolved URLs may carry their token', () => {
    assert.equal(receiverUrlProblem('http://localhost:9/x', true), undefined);
    assert.equal(receiverUrlProblem('http://[::1]:9/x', true), undefined);
    assert.match(receiverUrlProblem('http://127.0.0.1.nip.io/x', true) ?? '', /loopback/);
    assert.equal(receiverUrlProblem('https://hooks.slack.com/services/T/B/X', false), undefined);
    assert.match(receiverUrlProblem('https://u:p@hooks.slack.com/services/T/B/X', false) ?? '', /user name or password/);
    assert.match(receiverUrlProblem('not a url', false) ?? '', /not a URL/);
    assert.match(receiverUrlProblem(`https://a.example.com/${'x'.repeat(2100)}`, false) ?? '', /longer than 2048/);
  });
});

const workflow = { type: 'promoteEnvironment', id: 'promote-production', runId: '0f0e0d0c-0000-4000-8000-000000000001', namespace: 'default' };
const base = { environment: 'production', workflow, at: '2026-12-02T17:00:00.000Z' };
const REV = '2b2b2b2'.padEnd(40, '0');
const DIGEST = `sha256:${'7'.repeat(64)}`;

const requested = (approvals: 'signed' | 'named'): NotificationEvent => ({
  ...base,
  kind: 'approval-requested',
  revision: REV,
  requestedBy: 'alice',
  approvers: ['alice', 'bob', 'carol'],
  approvals,
  deadline: '2026-12-03T17:00:00.000Z',
  changedSinceApproval: false,
  diff: eventDiff({
    created: ['ConfigMap/openshift-logging/limits'],
    changed: ['LokiStack/openshift-logging/logging-loki'],
    toBeDeleted: ['PersistentVolumeClaim/openshift-logging/storage-0'],
    destructive: ['PersistentVolumeClaim/openshift-logging/storage-0'],
    unchanged: 10,
    digest: DIGEST,
  }),
});

/** One event of every kind. */
const EVERY_EVENT: NotificationEvent[] = [
  requested('named'),
  { ...base, kind: 'approved', revision: REV, by: 'bob', signed: true, comment: 'diff reviewed' },
  { ...base, kind: 'rejected', revision: REV, by: 'carol', reason: 'needs a change ticket' },
  { ...base, kind: 'approval-timed-out', revision: REV, deadline: '2026-12-03T17:00:00.000Z', approvers: ['alice', 'bob'] },
  { ...base, kind: 'superseded', revision: REV, supersededBy: { workflowType: 'rolloutEnvironment', workflowId: 'rollout-production-2' } },
  { ...base, kind: 'gate-failed', revision: REV, failureType: 'GateFailed', failure: 'lokistack-ready did not become ready', rollingBackTo: '1a1a1a1'.padEnd(40, '0'), rollbackFailed: false },
  { ...base, kind: 'rolled-back', revision: REV, rolledBackTo: '1a1a1a1'.padEnd(40, '0'), failure: 'GateFailed: lokistack-ready did not become ready' },
  { ...base, kind: 'drift-found', findings: findingList([{ class: 'aws', object: 'bucket logstack-production-loki', detail: 'versioning Suspended', safeToRemediate: true }]) },
  { ...base, kind: 'drift-remediated', remediated: findingList([{ class: 'aws', object: 'bucket b', detail: 'versioning Suspended', safeToRemediate: true }]), remaining: findingList([]) },
];

describe('rendering: one event, three formats', () => {
  it('covers every event kind', () => {
    assert.deepEqual(EVERY_EVENT.map((e) => e.kind).sort(), Object.values(NotificationEventKind).sort());
  });

  it('slack: incoming-webhook JSON with text and blocks; approval requests list the diff and the exact commands', () => {
    const body = renderNotification(requested('named'), 'slack', { uiBase: 'https://temporal.example.com/' }) as { text: string; blocks: { type: string; text?: { text: string }; fields?: { text: string }[]; elements?: { url?: string; text?: unknown }[] }[] };
    assert.equal(body.text, 'production: approval requested for 2b2b2b2 by alice — 1 DESTRUCTIVE');
    assert.deepEqual(body.blocks.map((b) => b.type), ['header', 'section', 'section', 'section', 'actions', 'context']);
    const fields = body.blocks[1]?.fields?.map((f) => f.text) ?? [];
    assert.ok(fields.includes('*DESTRUCTIVE*\nPersistentVolumeClaim/openshift-logging/storage-0'), fields.join(' | '));
    assert.ok(fields.includes(`*digest*\n${DIGEST}`));
    assert.match(body.blocks[2]?.text?.text ?? '', /^```! DESTRUCTIVE PersistentVolumeClaim\/openshift-logging\/storage-0\n\+ ConfigMap\/openshift-logging\/limits\n~ LokiStack\/openshift-logging\/logging-loki\n- PersistentVolumeClaim/);
    assert.equal(
      body.blocks[3]?.text?.text,
      `*approve*\n\`logstack approve promote-production --by &lt;NAME&gt; --digest ${DIGEST}\`\n*reject*\n\`logstack reject promote-production --by &lt;NAME&gt; --reason "&lt;why&gt;"\``,
    );
    assert.equal(body.blocks[4]?.elements?.[0]?.url, `https://temporal.example.com/namespaces/default/workflows/promote-production/${workflow.runId}/history`);
  });

  it('signed approvals: the commands carry --key', () => {
    const commands = approvalCommands(requested('signed') as Extract<NotificationEvent, { kind: 'approval-requested' }>);
    assert.deepEqual(commands, {
      approve: `logstack approve promote-production --by <NAME> --key ~/.ssh/id_ed25519 --digest ${DIGEST}`,
      reject: 'logstack reject promote-production --by <NAME> --reason "<why>" --key ~/.ssh/id_ed25519',
    });
    const teams = JSON.stringify(renderNotification(requested('signed'), 'teams'));
    assert.match(teams, /--key ~\/\.ssh\/id_ed25519/);
    assert.match(teams, /signed \(SSH key required\)/);
  });

  it('teams: a MessageCard with facts, the diff, the commands and an OpenUri action', () => {
    const card = renderNotification(requested('named'), 'teams', { uiBase: 'https://temporal.example.com' }) as Record<string, unknown> & { sections: { facts?: { name: string; value: string }[]; title?: string; text?: string }[]; potentialAction: { targets: { uri: string }[] }[] };
    assert.equal(card['@type'], 'MessageCard');
    assert.equal(card['@context'], 'https://schema.org/extensions');
    assert.equal(card['themeColor'], 'FFA500');
    assert.equal(card['summary'], 'production: approval requested for 2b2b2b2 by alice — 1 DESTRUCTIVE');
    const facts = Object.fromEntries((card.sections[0]?.facts ?? []).map((f) => [f.name, f.value]));
    assert.equal(facts['DESTRUCTIVE'], 'PersistentVolumeClaim/openshift-logging/storage-0');
    assert.equal(facts['requested by'], 'alice');
    assert.deepEqual(card.sections.map((s) => s.title), [undefined, 'diff', 'decide']);
    assert.match(card.sections[2]?.text ?? '', /^approve: `logstack approve promote-production --by <NAME> --digest sha256:7{64}`<br>reject: /);
    assert.match(card.potentialAction[0]?.targets[0]?.uri ?? '', /^https:\/\/temporal\.example\.com\/namespaces\/default\/workflows\/promote-production\//);
  });

  it('the AWS plan of an approval request: its changes, its destructive ones counted in the title, or why it is unavailable', () => {
    const plan = {
      environment: 'production',
      revision: REV,
      changes: [
        { resource: 's3://logstack-production-loki', item: 'lifecycle logstack-retention', action: 'change' as const, detail: 'expiration 30 days → 14 days (retention shortened)', destructive: true },
        { resource: 'iam user logstack-production-loki', item: 'policy logstack-loki-bucket', action: 'create' as const, detail: 'statement LokiObjects added', destructive: false },
      ],
      destructive: ['s3://logstack-production-loki lifecycle logstack-retention: expiration 30 days → 14 days (retention shortened)'],
      unchanged: 11,
    };
    const event = { ...requested('named'), aws: eventAws(plan) } as NotificationEvent;
    const card = renderNotification(event, 'teams') as { summary: string; sections: { title?: string; text?: string }[] };
    assert.equal(card.summary, 'production: approval requested for 2b2b2b2 by alice — 2 DESTRUCTIVE', 'Kubernetes and AWS destructive changes together');
    const section = card.sections.find((x) => x.title === 'AWS plan (shown, not signed)');
    assert.equal(
      section?.text,
      [`! DESTRUCTIVE ${plan.destructive[0] ?? ''}`, ...plan.changes.map((c) => `• ${c.resource} ${c.item}: ${c.detail}`)].join('<br>'),
    );
    const slack = JSON.stringify(renderNotification(event, 'slack'));
    assert.match(slack, /\*AWS plan\* \(shown, not signed\)\\n```! DESTRUCTIVE s3:\/\/logstack-production-loki lifecycle logstack-retention/);
    const none = renderNotification({ ...requested('named'), aws: eventAws({ ...plan, changes: [], destructive: [] }) } as NotificationEvent, 'slack');
    assert.match(JSON.stringify(none), /no changes \(11 as desired\)/);
    const unavailable = renderNotification({ ...requested('named'), aws: eventAws({ environment: 'production', revision: REV, unavailable: 'AccessDenied: iam:GetUserPolicy' }) } as NotificationEvent, 'generic');
    assert.deepEqual((unavailable['event'] as { aws: unknown }).aws, { unavailable: 'AccessDenied: iam:GetUserPolicy' });
  });

  it('generic: the event itself, its title, the link and the commands', () => {
    const event = requested('named');
    const body = renderNotification(event, 'generic', { uiBase: 'https://temporal.example.com' });
    assert.equal(body['schema'], GENERIC_NOTIFICATION_SCHEMA);
    assert.equal(body['kind'], 'approval-requested');
    assert.deepEqual(body['event'], event);
    assert.deepEqual(body['commands'], approvalCommands(event as Extract<NotificationEvent, { kind: 'approval-requested' }>));
    assert.equal(typeof body['link'], 'string');
    assert.equal(renderNotification(event, 'generic')['link'], undefined, 'no base, no link');
  });

  it('every kind renders in every format, with a title saying what happened', () => {
    const titles: Record<string, RegExp> = {
      'approval-requested': /approval requested/,
      approved: /^production: 2b2b2b2 approved by bob \(signed\)$/,
      rejected: /^production: 2b2b2b2 rejected by carol$/,
      'approval-timed-out': /nobody approved 2b2b2b2 before/,
      superseded: /promoteEnvironment of 2b2b2b2 superseded by rollout-production-2/,
      'gate-failed': /^production: gate failed for 2b2b2b2; rolling back to 1a1a1a1$/,
      'rolled-back': /^production: rolled back from 2b2b2b2 to 1a1a1a1$/,
      'drift-found': /^production: drift found \(1 finding\)$/,
      'drift-remediated': /^production: drift remediated \(1 fixed, 0 left\)$/,
    };
    for (const event of EVERY_EVENT) {
      const slack = renderNotification(event, 'slack');
      const teams = renderNotification(event, 'teams');
      const generic = renderNotification(event, 'generic');
      assert.match(String(slack['text']), titles[event.kind] ?? /^$/, event.kind);
      assert.match(String(teams['summary']), titles[event.kind] ?? /^$/, event.kind);
      assert.match(String(generic['title']), titles[event.kind] ?? /^$/, event.kind);
      assert.equal(generic['commands'] !== undefined, event.kind === 'approval-requested');
      // Each body is plain JSON.
      assert.deepEqual(JSON.parse(JSON.stringify(generic)), generic);
    }
  });

  it('hostile text is neutralised: no control or bidi characters, no credentials in URLs, Slack markup escaped', () => {
    const event: NotificationEvent = {
      ...base,
      kind: 'gate-failed',
      revision: REV,
      failureType: 'GateFailed',
      failure: 'fetch https://user:s3cr3t@git.example.com/repo failed\u001b[31m <!channel> \u202eevil',
      rollingBackTo: null,
      rollbackFailed: false,
    };
    for (const format of ['slack', 'teams', 'generic'] as const) {
      // Teams escapes markdown (\*), which is not what this row looks at.
      const text = JSON.stringify(renderNotification(event, format)).replace(/\\\\/g, '');
      assert.doesNotMatch(text, /s3cr3t/, format);
      assert.doesNotMatch(text, /\\u001b|\u202e/, format);
      assert.match(text, /https:\/\/\*\*\*@git\.example\.com/, format);
    }
    assert.match(JSON.stringify(renderNotification(event, 'slack')), /&lt;!channel&gt;/);
  });

  it('lists are bounded, counts exact', () => {
    const many = Array.from({ length: 45 }, (_, i) => `ConfigMap/ns/c${i}`);
    const diff = eventDiff({ created: many, changed: [], toBeDeleted: [], destructive: [], unchanged: 0, digest: DIGEST });
    assert.deepEqual([diff.created.names.length, diff.created.total], [MAX_EVENT_LIST, 45]);
    const text = JSON.stringify(renderNotification({ ...(requested('named') as Extract<NotificationEvent, { kind: 'approval-requested' }>), diff }, 'slack'));
    assert.match(text, /\+ … 25 more/);
  });
});
