/**
 * Notifications: where an environment's events are sent (the catalog's `notifications` targets), the events
 * themselves, and how one event object is rendered for each receiver format — `slack` (incoming-webhook JSON,
 * `text` + Block Kit `blocks`), `teams` (an Office 365 connector MessageCard) and `generic` (logstack's own
 * JSON event). Pure: no I/O, runs on Node, Deno and in the workflow sandbox.
 *
 * What never goes into a notification: a receiver URL (the catalog names where it comes from, `urlFrom`),
 * Secret data, credentials in URLs (redacted), and text with control or bidirectional characters (replaced,
 * the rules of `text.ts`). Events hold names, revisions, digests, counts and messages the workflow already
 * shows in `progress`; lists are bounded.
 */
import { z } from 'zod';
import { once } from './once.ts';
import { hasUnsafeCharacters } from './text.ts';
import { secretsManagerName } from './names.ts';
import type { AwsPlan, AwsPlanUnavailable } from './aws-plan.ts';

/** The receiver formats a target may take. */
export const NOTIFICATION_FORMATS = ['slack', 'teams', 'generic'] as const;
/** One receiver format. */
export type NotificationFormat = (typeof NOTIFICATION_FORMATS)[number];

/** At most this many targets per environment. */
export const MAX_NOTIFICATION_TARGETS = 10;
/** Longest receiver URL accepted. */
export const MAX_RECEIVER_URL_LENGTH = 2048;
/** A worker variable a target's URL may come from must start with this, so a catalog cannot send any other variable's value anywhere. */
export const NOTIFY_ENV_PREFIX = 'LOGSTACK_NOTIFY_';
/** The failure type of a notification the receiver did not take (retryable unless the receiver refused it with a 4xx other than 429). */
export const NOTIFICATION_FAILED = 'NotificationFailed';
/** The `schema` of a `generic` notification body. */
export const GENERIC_NOTIFICATION_SCHEMA = 'https://logstack.io/notification/v1';

/** Hosts whose webhook URLs carry their token in the path or query: such a URL belongs in `urlFrom`, never in the catalog. */
const TOKEN_BEARING_HOSTS: readonly RegExp[] = [
  /^hooks\.slack\.com$/,
  /(^|\.)webhook\.office\.com$/,
  /^outlook\.office(365)?\.com$/,
  /(^|\.)logic\.azure\.com$/,
  /(^|\.)discord(app)?\.com$/,
  /^chat\.googleapis\.com$/,
];
/** Query parameter names that carry a credential. */
const TOKEN_PARAMETER = /^(sig|signature|token|access_token|key|apikey|api_key|secret|code|auth|password|sv|se|sp)$/i;

/** True for a loopback host name as `URL.hostname` gives it. */
export function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

/**
 * What is wrong with a receiver URL, or undefined when it may be used: https (http only to a loopback
 * address), no user name or password in it, at most {@link MAX_RECEIVER_URL_LENGTH} characters. With
 * `inCatalog` (a plain `url`, which reaches history with the catalog) also no token: not a known
 * token-bearing webhook host, no credential-named query parameter. The answer never repeats the URL.
 */
export function receiverUrlProblem(url: string, inCatalog: boolean): string | undefined {
  if (url.length > MAX_RECEIVER_URL_LENGTH) return `longer than ${MAX_RECEIVER_URL_LENGTH} characters`;
  if (hasUnsafeCharacters(url) || /\s/.test(url)) return 'not a URL (it holds spaces or control characters)';
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'not an absolute URL';
  }
  if (parsed.protocol !== 'https:' && !(parsed.protocol === 'http:' && isLoopbackHost(parsed.hostname))) {
    return `${parsed.protocol === 'http:' ? 'http is allowed only to a loopback address (127.0.0.1, ::1, localhost)' : `scheme ${parsed.protocol} is not allowed`}; use https`;
  }
  if (parsed.username !== '' || parsed.password !== '') return 'it carries a user name or password; receivers take no credentials in the URL';
  if (inCatalog) {
    const hint = 'name where it comes from instead (urlFrom: {env: LOGSTACK_NOTIFY_…} or urlFrom: {secretsManager: <name>}), so it never reaches the catalog or history';
    if (TOKEN_BEARING_HOSTS.some((host) => host.test(parsed.hostname))) return `${parsed.hostname} webhook URLs carry their token; ${hint}`;
    const param = [...parsed.searchParams.keys()].find((k) => TOKEN_PARAMETER.test(k));
    if (param !== undefined) return `its query parameter "${param}" carries a credential; ${hint}`;
  }
  return undefined;
}

/** A Secrets Manager secret ARN. */
export const SECRET_ARN = /^arn:aws(-cn|-us-gov)?:secretsmanager:([a-z]{2}(-gov)?-[a-z]+-\d):\d{12}:secret:[A-Za-z0-9/_+=.@-]{1,512}$/;

/** The region of a Secrets Manager ARN, or undefined for a plain name. */
export function secretRegion(nameOrArn: string): string | undefined {
  return SECRET_ARN.exec(nameOrArn)?.[2];
}

/** Builds the notification targets' schemas; see {@link notificationTargetsSchema}. */
function buildTargetSchemas() {
  const urlFromSchema = z.union([
    z.strictObject({
      /** A worker environment variable holding the URL. */
      env: z
        .string()
        .regex(/^[A-Z_][A-Z0-9_]{0,127}$/, 'an environment variable name: upper-case letters, digits and _')
        .refine((v) => v.startsWith(NOTIFY_ENV_PREFIX) && v.length > NOTIFY_ENV_PREFIX.length, {
          message: `must start with ${NOTIFY_ENV_PREFIX} (the worker sends no other variable's value anywhere)`,
        }),
    }),
    z.strictObject({
      /** A Secrets Manager secret (name, or ARN in any region) whose value is the URL, or JSON `{"url": "…"}`. */
      secretsManager: z.union([z.string().regex(SECRET_ARN, 'a Secrets Manager ARN'), secretsManagerName()]),
    }),
  ]);

  /** One notification target of an environment. */
  const notificationTargetSchema = z
    .strictObject({
      /** A short name shown in progress ("notification to ops-slack failed: …"); default `<format>-<position>`. */
      name: z
        .string()
        .regex(/^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$/, 'lowercase letters, digits and dashes, ≤ 40 characters')
        .optional(),
      format: z.enum(NOTIFICATION_FORMATS),
      /** Only for receivers whose URL is no secret (it reaches history with the catalog). */
      url: z
        .string()
        .superRefine((url, ctx) => {
          const problem = receiverUrlProblem(url, true);
          if (problem !== undefined) ctx.addIssue({ code: 'custom', message: `receiver URL refused: ${problem}` });
        })
        .optional(),
      /** Where the worker reads the URL at delivery time. */
      urlFrom: urlFromSchema.optional(),
    })
    .superRefine((target, ctx) => {
      if ((target.url === undefined) === (target.urlFrom === undefined)) {
        ctx.addIssue({ code: 'custom', message: 'give exactly one of url (a receiver without a token) or urlFrom ({env: …} or {secretsManager: …})' });
      }
    });

  /** The `notifications` list of an environment: bounded, names unique. */
  const notificationTargetsSchema = z
    .array(notificationTargetSchema)
    .max(MAX_NOTIFICATION_TARGETS, `at most ${MAX_NOTIFICATION_TARGETS} notification targets per environment`)
    .superRefine((targets, ctx) => {
      const names = targets.map((t, i) => targetName(t, i));
      names.forEach((n, i) => {
        if (names.indexOf(n) !== i) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `target name "${n}" is used twice` });
      });
    });
  return { notificationTargetSchema, notificationTargetsSchema };
}

const targetSchemas = once(buildTargetSchemas);

/** A validated notification target. */
export type NotificationTarget = z.output<ReturnType<typeof buildTargetSchemas>['notificationTargetSchema']>;

/** The schema of an environment's `notifications` list (bounded, names unique): built on first use and kept. */
export function notificationTargetsSchema(): ReturnType<typeof buildTargetSchemas>['notificationTargetsSchema'] {
  return targetSchemas().notificationTargetsSchema;
}

/** The name a target is shown under: its `name`, else `<format>-<position from 1>`. */
export function targetName(target: Pick<NotificationTarget, 'name' | 'format'>, index: number): string {
  return target.name ?? `${target.format}-${index + 1}`;
}

/** Where a target's URL comes from, in words (never the URL itself). */
export function targetSource(target: NotificationTarget): string {
  if (target.urlFrom === undefined) return 'the catalog';
  return 'env' in target.urlFrom ? `worker variable ${target.urlFrom.env}` : `Secrets Manager secret ${target.urlFrom.secretsManager}`;
}

// ── events ───────────────────────────────────────────────────────────────────────────────────

/** Every event kind, as sent in `generic` bodies. */
export const NotificationEventKind = {
  approvalRequested: 'approval-requested',
  approved: 'approved',
  rejected: 'rejected',
  approvalTimedOut: 'approval-timed-out',
  superseded: 'superseded',
  gateFailed: 'gate-failed',
  rolledBack: 'rolled-back',
  driftFound: 'drift-found',
  driftRemediated: 'drift-remediated',
} as const;
/** One event kind. */
export type NotificationEventKind = (typeof NotificationEventKind)[keyof typeof NotificationEventKind];

/** At most this many names per list in an event (the counts stay exact). */
export const MAX_EVENT_LIST = 20;

/** The run an event is about. */
export interface EventWorkflow {
  readonly type: string;
  readonly id: string;
  readonly runId: string;
  readonly namespace: string;
}

interface EventBase {
  readonly environment: string;
  readonly workflow: EventWorkflow;
  /** Workflow time of the event (ISO-8601). */
  readonly at: string;
}

/** A bounded list of names with its full length. */
export interface NameList {
  readonly names: readonly string[];
  readonly total: number;
}

/** The diff of an approval request: names bounded, counts exact, destructive changes flagged. */
export interface EventDiff {
  readonly created: NameList;
  readonly changed: NameList;
  readonly toBeDeleted: NameList;
  readonly destructive: NameList;
  readonly unchanged: number;
  readonly digest: string;
}

/**
 * The AWS plan of an approval request (shown, not signed): each change as `<resource> <item>: <detail>`, names
 * bounded and counts exact, destructive ones flagged; or why it could not be read.
 */
export type EventAws =
  | { readonly changes: NameList; readonly destructive: NameList; readonly unchanged: number }
  | { readonly unavailable: string };

/** A drift finding as a notification lists it. */
export interface EventFinding {
  readonly class: string;
  readonly object: string;
  readonly detail: string;
  readonly safeToRemediate: boolean;
}

/** A bounded list of findings with its full length. */
export interface FindingList {
  readonly items: readonly EventFinding[];
  readonly total: number;
}

/** Every event a workflow notifies. */
export type NotificationEvent =
  | (EventBase & {
      readonly kind: 'approval-requested';
      readonly revision: string;
      readonly requestedBy: string | null;
      readonly approvers: readonly string[];
      readonly approvals: 'signed' | 'named';
      readonly deadline: string;
      readonly changedSinceApproval: boolean;
      readonly diff: EventDiff;
      /** The AWS plan shown beside the diff, when the promotion read one. */
      readonly aws?: EventAws;
    })
  | (EventBase & { readonly kind: 'approved'; readonly revision: string; readonly by: string; readonly signed: boolean; readonly comment: string | null })
  | (EventBase & { readonly kind: 'rejected'; readonly revision: string; readonly by: string; readonly reason: string })
  | (EventBase & { readonly kind: 'approval-timed-out'; readonly revision: string; readonly deadline: string; readonly approvers: readonly string[] })
  | (EventBase & { readonly kind: 'superseded'; readonly revision: string; readonly supersededBy: { readonly workflowType: string; readonly workflowId: string } | null })
  | (EventBase & {
      readonly kind: 'gate-failed';
      readonly revision: string;
      readonly failureType: string | null;
      readonly failure: string;
      /** The revision a rollback goes back to now, when there is one. */
      readonly rollingBackTo: string | null;
      readonly rollbackFailed: boolean;
    })
  | (EventBase & { readonly kind: 'rolled-back'; readonly revision: string; readonly rolledBackTo: string; readonly failure: string })
  | (EventBase & { readonly kind: 'drift-found'; readonly findings: FindingList })
  | (EventBase & { readonly kind: 'drift-remediated'; readonly remediated: FindingList; readonly remaining: FindingList });

/** A bounded name list. */
export function nameList(names: readonly string[]): NameList {
  return { names: names.slice(0, MAX_EVENT_LIST), total: names.length };
}

/** A bounded finding list. */
export function findingList(findings: readonly EventFinding[]): FindingList {
  return {
    items: findings.slice(0, MAX_EVENT_LIST).map((f) => ({ class: f.class, object: f.object, detail: f.detail, safeToRemediate: f.safeToRemediate })),
    total: findings.length,
  };
}

/** The event form of an AWS plan (or of the reason it is unavailable). */
export function eventAws(plan: AwsPlan | AwsPlanUnavailable): EventAws {
  if ('unavailable' in plan) return { unavailable: plan.unavailable };
  return {
    changes: nameList(plan.changes.map((c) => `${c.resource} ${c.item}: ${c.detail}`)),
    destructive: nameList(plan.destructive),
    unchanged: plan.unchanged,
  };
}

/** The event diff of a dry-run diff summary. */
export function eventDiff(diff: { created: readonly string[]; changed: readonly string[]; toBeDeleted: readonly string[]; destructive: readonly string[]; unchanged: number; digest: string }): EventDiff {
  return {
    created: nameList(diff.created),
    changed: nameList(diff.changed),
    toBeDeleted: nameList(diff.toBeDeleted),
    destructive: nameList(diff.destructive),
    unchanged: diff.unchanged,
    digest: diff.digest,
  };
}

// ── text rules ───────────────────────────────────────────────────────────────────────────────

const UNSAFE_GLOBAL = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/gu;
const URL_USERINFO = /\b([A-Za-z][A-Za-z0-9+.-]*:\/\/)[^\s/'"@]+@/g;
const MAX_TEXT = 600;

/**
 * Text as a notification may carry it: controls, separators and bidirectional characters replaced by `�`
 * (the `text.ts` rules), the userinfo of any URL replaced by `***`, at most `max` characters.
 */
export function notificationText(text: string, max = MAX_TEXT): string {
  const clean = text.replace(URL_USERINFO, '$1***@').replace(UNSAFE_GLOBAL, '\uFFFD');
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean;
}

/** Every string of `value` through {@link notificationText}, recursively. */
function cleaned<T>(value: T): T {
  if (typeof value === 'string') return notificationText(value) as T;
  if (Array.isArray(value)) return value.map((v: unknown) => cleaned(v)) as T;
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, cleaned(v)])) as T;
  }
  return value;
}

// ── rendering ────────────────────────────────────────────────────────────────────────────────

/** What rendering knows beyond the event: the Web UI base URL (the worker's `LOGSTACK_UI_URL`), when known. */
export interface RenderContext {
  readonly uiBase?: string | undefined;
}

const short = (sha: string): string => sha.slice(0, 7);

/** The Web UI link of the event's run, when the base is known. */
export function eventLink(event: NotificationEvent, context: RenderContext): string | undefined {
  const base = context.uiBase?.replace(/\/+$/, '');
  if (base === undefined || base === '' || receiverUrlProblem(base, false) !== undefined) return undefined;
  const { namespace, id, runId } = event.workflow;
  return `${base}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(id)}/${encodeURIComponent(runId)}/history`;
}

/** The exact CLI commands that answer an approval request (with `--key` where approvals are signed). */
export function approvalCommands(event: Extract<NotificationEvent, { kind: 'approval-requested' }>): { approve: string; reject: string } {
  const target = event.workflow.id;
  const key = event.approvals === 'signed' ? ' --key ~/.ssh/id_ed25519' : '';
  return {
    approve: `logstack approve ${target} --by <NAME>${key} --digest ${event.diff.digest}`,
    reject: `logstack reject ${target} --by <NAME> --reason "<why>"${key}`,
  };
}

/** One line saying what happened. */
export function eventTitle(event: NotificationEvent): string {
  const env = event.environment;
  switch (event.kind) {
    case 'approval-requested':
      return `${env}: approval ${event.changedSinceApproval ? 'requested again (the change moved on)' : 'requested'} for ${short(event.revision)}${event.requestedBy ? ` by ${event.requestedBy}` : ''}${destructiveCount(event) > 0 ? ` — ${destructiveCount(event)} DESTRUCTIVE` : ''}`;
    case 'approved':
      return `${env}: ${short(event.revision)} approved by ${event.by}${event.signed ? ' (signed)' : ''}`;
    case 'rejected':
      return `${env}: ${short(event.revision)} rejected by ${event.by}`;
    case 'approval-timed-out':
      return `${env}: nobody approved ${short(event.revision)} before ${event.deadline}`;
    case 'superseded':
      return `${env}: ${event.workflow.type} of ${short(event.revision)} superseded${event.supersededBy ? ` by ${event.supersededBy.workflowId}` : ''}`;
    case 'gate-failed':
      return event.rollbackFailed
        ? `${env}: ROLLBACK FAILED after ${short(event.revision)} failed`
        : `${env}: ${event.failureType === 'ManifestRejected' ? 'delivery rejected' : 'gate failed'} for ${short(event.revision)}${event.rollingBackTo ? `; rolling back to ${short(event.rollingBackTo)}` : ''}`;
    case 'rolled-back':
      return `${env}: rolled back from ${short(event.revision)} to ${short(event.rolledBackTo)}`;
    case 'drift-found':
      return `${env}: drift found (${event.findings.total} finding${event.findings.total === 1 ? '' : 's'})`;
    case 'drift-remediated':
      return `${env}: drift remediated (${event.remediated.total} fixed, ${event.remaining.total} left)`;
  }
}

/** Label/value facts of an event, in display order. */
export function eventFacts(event: NotificationEvent): [string, string][] {
  const facts: [string, string][] = [
    ['environment', event.environment],
    ['workflow', `${event.workflow.type} ${event.workflow.id}`],
  ];
  if ('revision' in event) facts.push(['revision', event.revision]);
  switch (event.kind) {
    case 'approval-requested': {
      facts.push(['requested by', event.requestedBy ?? '(not named)'], ['approvers', event.approvers.join(', ')], ['deadline', event.deadline]);
      facts.push(['approvals', event.approvals === 'signed' ? 'signed (SSH key required)' : 'named']);
      const d = event.diff;
      facts.push(['diff', `${d.created.total} created, ${d.changed.total} changed, ${d.toBeDeleted.total} to delete, ${d.unchanged} unchanged`]);
      facts.push(['digest', d.digest]);
      if (d.destructive.total > 0) facts.push(['DESTRUCTIVE', listText(d.destructive)]);
      break;
    }
    case 'approved':
      if (event.comment !== null) facts.push(['comment', event.comment]);
      break;
    case 'rejected':
      facts.push(['reason', event.reason]);
      break;
    case 'approval-timed-out':
      facts.push(['approvers', event.approvers.join(', ')]);
      break;
    case 'superseded':
      if (event.supersededBy) facts.push(['replaced by', `${event.supersededBy.workflowType} ${event.supersededBy.workflowId}`]);
      break;
    case 'gate-failed':
      facts.push(['failure', `${event.failureType ? `${event.failureType}: ` : ''}${event.failure}`]);
      if (event.rollingBackTo) facts.push(['rolling back to', event.rollingBackTo]);
      break;
    case 'rolled-back':
      facts.push(['back at', event.rolledBackTo], ['because', event.failure]);
      break;
    case 'drift-found':
      facts.push(['findings', findingsText(event.findings)]);
      break;
    case 'drift-remediated':
      facts.push(['remediated', findingsText(event.remediated)], ['left', findingsText(event.remaining)]);
      break;
  }
  return facts;
}

/** Destructive changes of an approval request, Kubernetes and AWS together. */
function destructiveCount(event: Extract<NotificationEvent, { kind: 'approval-requested' }>): number {
  return event.diff.destructive.total + (event.aws && 'destructive' in event.aws ? event.aws.destructive.total : 0);
}

function listText(list: NameList): string {
  return `${list.names.join(', ')}${list.total > list.names.length ? `, … ${list.total - list.names.length} more` : ''}`;
}

function findingsText(list: FindingList): string {
  if (list.total === 0) return 'none';
  const lines = list.items.map((f) => `${f.safeToRemediate ? '' : '(needs a person) '}${f.class} ${f.object}: ${f.detail}`);
  return `${lines.join('; ')}${list.total > list.items.length ? `; … ${list.total - list.items.length} more` : ''}`;
}

/** The diff lines of an approval request, destructive changes first and marked. */
function diffLines(diff: EventDiff): string[] {
  const lines: string[] = [];
  const add = (mark: string, list: NameList): void => {
    for (const n of list.names) lines.push(`${mark} ${n}`);
    if (list.total > list.names.length) lines.push(`${mark} … ${list.total - list.names.length} more`);
  };
  add('! DESTRUCTIVE', diff.destructive);
  add('+', diff.created);
  add('~', diff.changed);
  add('-', diff.toBeDeleted);
  return lines;
}

/** The AWS plan lines of an approval request (shown, not signed): destructive changes first and marked. */
function awsLines(aws: EventAws): string[] {
  if ('unavailable' in aws) return [`unavailable: ${aws.unavailable}`];
  if (aws.changes.total === 0) return [`no changes (${aws.unchanged} as desired)`];
  const lines = aws.destructive.names.map((n) => `! DESTRUCTIVE ${n}`);
  if (aws.destructive.total > aws.destructive.names.length) lines.push(`! DESTRUCTIVE … ${aws.destructive.total - aws.destructive.names.length} more`);
  lines.push(...aws.changes.names.map((n) => `• ${n}`));
  if (aws.changes.total > aws.changes.names.length) lines.push(`• … ${aws.changes.total - aws.changes.names.length} more`);
  return lines;
}

const SLACK_SECTION_MAX = 2900;
const slackEscape = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const cap = (text: string, max: number): string => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

/** Slack incoming-webhook JSON: `text` (the fallback line) and Block Kit `blocks`. */
function renderSlack(event: NotificationEvent, link: string | undefined): Record<string, unknown> {
  const title = eventTitle(event);
  const blocks: Record<string, unknown>[] = [
    { type: 'header', text: { type: 'plain_text', text: cap(title, 150), emoji: false } },
    {
      type: 'section',
      fields: eventFacts(event)
        .slice(0, 10)
        .map(([k, v]) => ({ type: 'mrkdwn', text: cap(`*${slackEscape(k)}*\n${slackEscape(v)}`, 1900) })),
    },
  ];
  if (event.kind === 'approval-requested') {
    const lines = diffLines(event.diff);
    if (lines.length > 0) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: cap(`\`\`\`${slackEscape(lines.join('\n'))}\`\`\``, SLACK_SECTION_MAX) } });
    if (event.aws) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: cap(`*AWS plan* (shown, not signed)\n\`\`\`${slackEscape(awsLines(event.aws).join('\n'))}\`\`\``, SLACK_SECTION_MAX) } });
    const { approve, reject } = approvalCommands(event);
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: cap(`*approve*\n\`${slackEscape(approve)}\`\n*reject*\n\`${slackEscape(reject)}\``, SLACK_SECTION_MAX) } });
  }
  if (link !== undefined) {
    blocks.push({ type: 'actions', elements: [{ type: 'button', text: { type: 'plain_text', text: 'Open in Temporal Web UI' }, url: link }] });
  }
  blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: slackEscape(`logstack · ${event.kind} · ${event.at}`) }] });
  return { text: slackEscape(title), blocks };
}

const THEME: Record<NotificationEventKind, string> = {
  'approval-requested': 'FFA500',
  approved: '2EB886',
  rejected: 'D40E0D',
  'approval-timed-out': 'D40E0D',
  superseded: '808080',
  'gate-failed': 'D40E0D',
  'rolled-back': 'FFA500',
  'drift-found': 'FFA500',
  'drift-remediated': '2EB886',
};

/** Teams: an Office 365 connector MessageCard (what incoming webhooks and Workflows' "post a card" accept). */
function renderTeams(event: NotificationEvent, link: string | undefined): Record<string, unknown> {
  // MessageCard text is markdown: emphasis, code, links and HTML are escaped so text from history stays text.
  const escape = (text: string): string => text.replace(/([\\`*_[\]<>])/g, '\\$1');
  const sections: Record<string, unknown>[] = [
    { activityTitle: escape(eventTitle(event)), facts: eventFacts(event).map(([name, value]) => ({ name: escape(name), value: escape(value) })), markdown: true },
  ];
  if (event.kind === 'approval-requested') {
    const lines = diffLines(event.diff);
    const { approve, reject } = approvalCommands(event);
    sections.push({ title: 'diff', text: lines.length > 0 ? lines.map(escape).join('<br>') : 'no object changes', markdown: true });
    if (event.aws) sections.push({ title: 'AWS plan (shown, not signed)', text: awsLines(event.aws).map(escape).join('<br>'), markdown: true });
    sections.push({ title: 'decide', text: `approve: \`${approve}\`<br>reject: \`${reject}\``, markdown: true });
  }
  return {
    '@type': 'MessageCard',
    '@context': 'https://schema.org/extensions',
    summary: eventTitle(event),
    themeColor: THEME[event.kind],
    title: `logstack: ${event.kind}`,
    sections,
    ...(link !== undefined ? { potentialAction: [{ '@type': 'OpenUri', name: 'Open in Temporal Web UI', targets: [{ os: 'default', uri: link }] }] } : {}),
  };
}

/** logstack's own JSON: the event as it is, its title, the Web UI link and (approval requests) the commands. */
function renderGeneric(event: NotificationEvent, link: string | undefined): Record<string, unknown> {
  return {
    schema: GENERIC_NOTIFICATION_SCHEMA,
    kind: event.kind,
    title: eventTitle(event),
    event,
    ...(link !== undefined ? { link } : {}),
    ...(event.kind === 'approval-requested' ? { commands: approvalCommands(event) } : {}),
  };
}

/**
 * The JSON body of `event` for a receiver of `format`. Every string of the event passes
 * {@link notificationText} first (no control or bidirectional characters, no credentials in URLs), so all
 * three formats say the same thing from one event object.
 */
export function renderNotification(event: NotificationEvent, format: NotificationFormat, context: RenderContext = {}): Record<string, unknown> {
  const safe = cleaned(event);
  const link = eventLink(safe, context);
  switch (format) {
    case 'slack':
      return renderSlack(safe, link);
    case 'teams':
      return renderTeams(safe, link);
    case 'generic':
      return renderGeneric(safe, link);
  }
}
