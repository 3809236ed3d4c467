/**
 * The AWS desired state logstack converges for an environment, and the plan: how what AWS holds now differs
 * from it, setting by setting and policy statement by policy statement, with the changes that lose data or
 * access flagged destructive. Pure: the builders are the ones the AWS activities write (`activities/aws/s3.ts`,
 * `iam.ts`, `store-reader.ts`, `secrets-manager.ts` import them from here), so the plan and the apply cannot
 * diverge; the reading is `activities/aws/plan.ts` (`planAws`, read-only). Names, settings and key names only —
 * never a secret value.
 */
import { GITOPS_NAMES } from './gitops.ts';
import { LOKI_SECRET_KEYS, principalName, type Environment } from './environments.ts';

// ── shared builders: ARNs and canonical JSON ─────────────────────────────────────────────────

/** The ARN partition of a region (`aws`, `aws-us-gov`, `aws-cn`). */
export function partitionOf(region: string): string {
  if (region.startsWith('us-gov-')) return 'aws-us-gov';
  if (region.startsWith('cn-')) return 'aws-cn';
  return 'aws';
}

/** `arn:<partition>:s3:::<bucket>` — the bucket itself. */
export function bucketArn(env: Environment): string {
  return `arn:${partitionOf(env.aws.region)}:s3:::${env.aws.bucket}`;
}

/** `arn:<partition>:s3:::<bucket>/*` — every object of the bucket. */
export function bucketObjectsArn(env: Environment): string {
  return `${bucketArn(env)}/*`;
}

/** JSON with object keys sorted at every level: equal values give equal text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return Object.fromEntries(entries.map(([k, v]) => [k, sortKeys(v)]));
  }
  return value;
}

// ── the bucket ───────────────────────────────────────────────────────────────────────────────

/** Lifecycle rule id owned by logstack; other rules on the bucket are kept as they are. */
export const RETENTION_RULE_ID = 'logstack-retention';
/** Bucket-policy statement id owned by logstack; other statements are kept as they are. */
export const TLS_ONLY_SID = 'DenyInsecureTransport';
/** Days a replaced or deleted object version is kept before S3 expires it. */
export const NONCURRENT_VERSION_DAYS = 7;
/** Days an unfinished multipart upload is kept. */
export const INCOMPLETE_UPLOAD_DAYS = 1;
/** The four public-access-block settings; logstack sets every one to true. */
export const PUBLIC_ACCESS_FLAGS = ['BlockPublicAcls', 'IgnorePublicAcls', 'BlockPublicPolicy', 'RestrictPublicBuckets'] as const;
/** A public-access-block setting. */
export type PublicAccessFlag = (typeof PUBLIC_ACCESS_FLAGS)[number];
/** Default-encryption algorithms logstack accepts as they are; anything else (or none) is replaced by `AES256`. */
export const ACCEPTED_ENCRYPTION: readonly string[] = ['AES256', 'aws:kms', 'aws:kms:dsse'];
/** The algorithm logstack sets when the bucket has none it accepts (SSE-S3). */
export const DEFAULT_ENCRYPTION = 'AES256';

/** The lifecycle rule logstack owns: expire objects after the environment's retention (as S3's API spells it). */
export function retentionRule(env: Environment) {
  return {
    ID: RETENTION_RULE_ID,
    Status: 'Enabled' as const,
    Filter: { Prefix: '' },
    Expiration: { Days: env.retentionDays },
    NoncurrentVersionExpiration: { NoncurrentDays: NONCURRENT_VERSION_DAYS },
    AbortIncompleteMultipartUpload: { DaysAfterInitiation: INCOMPLETE_UPLOAD_DAYS },
  };
}

/** The bucket-policy statement logstack owns: deny every request made without TLS. */
export function tlsOnlyStatement(env: Environment): Record<string, unknown> {
  return {
    Sid: TLS_ONLY_SID,
    Effect: 'Deny',
    Principal: '*',
    Action: 's3:*',
    Resource: [bucketArn(env), bucketObjectsArn(env)],
    Condition: { Bool: { 'aws:SecureTransport': 'false' } },
  };
}

// ── IAM ──────────────────────────────────────────────────────────────────────────────────────

/** Name of the inline policy logstack puts on the Loki user or role. */
export const LOKI_BUCKET_POLICY_NAME = 'logstack-loki-bucket';
/** The audience Loki's projected service-account token carries for AWS (the Loki Operator's default). */
export const LOKI_WEB_IDENTITY_AUDIENCE = 'sts.amazonaws.com';

/** The Loki principal's inline policy: list the bucket, read/write/delete its objects — that bucket only. */
export function lokiBucketPolicy(env: Environment): Record<string, unknown> {
  return {
    Version: '2012-10-17',
    Statement: [
      { Sid: 'LokiListBucket', Effect: 'Allow', Action: ['s3:ListBucket'], Resource: [bucketArn(env)] },
      { Sid: 'LokiObjects', Effect: 'Allow', Action: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'], Resource: [bucketObjectsArn(env)] },
    ],
  };
}

/** The Kubernetes service accounts of the LokiStack that assume the role (ingesters/queriers and the ruler). */
export function lokiServiceAccounts(env: Environment): string[] {
  return [`system:serviceaccount:${env.loki.namespace}:${env.loki.stackName}`, `system:serviceaccount:${env.loki.namespace}:${env.loki.stackName}-ruler`];
}

/**
 * A web-identity trust policy: `sts:AssumeRoleWithWebIdentity` from exactly the OIDC provider of `issuer` in
 * `accountId`, for exactly `subjects` (`:sub`) presenting exactly `audience` (`:aud`), both as `StringEquals`.
 */
export function webIdentityTrustPolicy(
  env: Environment,
  accountId: string,
  trust: { readonly issuer: string; readonly subjects: readonly string[]; readonly audience: string },
): Record<string, unknown> {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Principal: { Federated: `arn:${partitionOf(env.aws.region)}:iam::${accountId}:oidc-provider/${trust.issuer}` },
        Action: 'sts:AssumeRoleWithWebIdentity',
        Condition: { StringEquals: { [`${trust.issuer}:sub`]: [...trust.subjects], [`${trust.issuer}:aud`]: trust.audience } },
      },
    ],
  };
}

/** The one inline policy of the ESO reader. */
export const STORE_READER_POLICY_NAME = 'logstack-secrets-read';
/** The Secrets Manager secret the bootstrap overlay's ExternalSecret reads (Argo CD's repository key); shared by every environment. */
export const GITOPS_REPOSITORY_SECRET = 'logstack/gitops/repository';
/** The audience of the service-account token ESO trades for the reader role (ESO v0.16's default). */
export const STORE_READER_AUDIENCE = 'sts.amazonaws.com';
/** The only subject the reader role trusts: the store's service account. */
export const STORE_READER_SUBJECT = `system:serviceaccount:${GITOPS_NAMES.storeServiceAccount.namespace}:${GITOPS_NAMES.storeServiceAccount.name}`;
/** The actions the reader may perform, and nothing else. */
export const STORE_READER_ACTIONS = ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'] as const;

/** `logstack-<env>-secrets-reader`: the ESO reader user (static) or role (sts) of an environment. */
export function storeReaderName(env: Environment): string {
  return `logstack-${env.name}-secrets-reader`;
}

/** The reader's read policy: the two read actions on exactly these secret ARNs (sorted, no wildcard account or region). */
export function storeReaderPolicy(secretArns: readonly string[]): Record<string, unknown> {
  return {
    Version: '2012-10-17',
    Statement: [{ Sid: 'ReadEnvironmentSecrets', Effect: 'Allow', Action: [...STORE_READER_ACTIONS], Resource: [...new Set(secretArns)].sort() }],
  };
}

/** The ARN a secret that does not exist yet will match: its name and `-??????` (Secrets Manager's six random characters). */
export function pendingSecretArn(env: Environment, accountId: string, name: string): string {
  return `arn:${partitionOf(env.aws.region)}:secretsmanager:${env.aws.region}:${accountId}:secret:${name}-??????`;
}

// ── the desired state ────────────────────────────────────────────────────────────────────────

/** Which IAM principal logstack manages: the Loki principal or the ESO reader. */
export type ManagedPrincipalRole = 'loki' | 'reader';

/** What logstack wants of one IAM principal. */
export interface DesiredPrincipal {
  readonly role: ManagedPrincipalRole;
  readonly kind: 'user' | 'role';
  readonly name: string;
  /** Inline policies logstack writes, by name. */
  readonly policies: Readonly<Record<string, Record<string, unknown>>>;
  /** The role's trust policy (sts), or undefined for a user or when the catalog has no usable OIDC issuer. */
  readonly trust?: Record<string, unknown> | undefined;
  /** The catalog's permissions boundary, when it names one (an existing boundary is otherwise left in place). */
  readonly boundary?: string | undefined;
  /** True when every other policy and group of the principal is removed (the reader). */
  readonly exclusive: boolean;
}

/** What logstack wants of the bucket. */
export interface DesiredBucket {
  readonly name: string;
  readonly versioning: 'Enabled' | 'Suspended';
  /** Algorithms kept as they are; `setTo` is written when the bucket has none of them. */
  readonly encryption: { readonly accepted: readonly string[]; readonly setTo: string };
  readonly publicAccessBlock: Readonly<Record<PublicAccessFlag, boolean>>;
  readonly retention: { readonly days: number; readonly noncurrentDays: number; readonly abortUploadDays: number };
  readonly tlsStatement: Record<string, unknown>;
}

/** Everything logstack converges in AWS for one environment. */
export interface AwsDesiredState {
  readonly bucket: DesiredBucket;
  readonly principals: readonly DesiredPrincipal[];
  readonly secret: { readonly name: string; readonly keys: readonly string[] };
}

/**
 * The desired state of `env` — the same builders the activities write. `accountId` and `readerSecretArns`
 * (the exact ARNs of the Loki secret and the GitOps repository secret, or their pending forms) come from AWS;
 * `oidcIssuer` is the checked issuer for sts mode (undefined leaves the trust out).
 */
export function desiredAwsState(env: Environment, facts: { readonly accountId: string; readonly readerSecretArns: readonly string[]; readonly oidcIssuer?: string | undefined }): AwsDesiredState {
  const kind = env.aws.credentialMode === 'static' ? 'user' : 'role';
  const issuer = kind === 'role' ? facts.oidcIssuer : undefined;
  const boundary = env.aws.permissionsBoundary;
  return {
    bucket: {
      name: env.aws.bucket,
      versioning: 'Enabled',
      encryption: { accepted: ACCEPTED_ENCRYPTION, setTo: DEFAULT_ENCRYPTION },
      publicAccessBlock: Object.fromEntries(PUBLIC_ACCESS_FLAGS.map((f) => [f, true])) as Record<PublicAccessFlag, boolean>,
      retention: { days: env.retentionDays, noncurrentDays: NONCURRENT_VERSION_DAYS, abortUploadDays: INCOMPLETE_UPLOAD_DAYS },
      tlsStatement: tlsOnlyStatement(env),
    },
    principals: [
      {
        role: 'loki',
        kind,
        name: principalName(env),
        policies: { [LOKI_BUCKET_POLICY_NAME]: lokiBucketPolicy(env) },
        trust: issuer === undefined ? undefined : webIdentityTrustPolicy(env, facts.accountId, { issuer, subjects: lokiServiceAccounts(env), audience: LOKI_WEB_IDENTITY_AUDIENCE }),
        boundary,
        exclusive: false,
      },
      {
        role: 'reader',
        kind,
        name: storeReaderName(env),
        policies: { [STORE_READER_POLICY_NAME]: storeReaderPolicy(facts.readerSecretArns) },
        trust: issuer === undefined ? undefined : webIdentityTrustPolicy(env, facts.accountId, { issuer, subjects: [STORE_READER_SUBJECT], audience: STORE_READER_AUDIENCE }),
        boundary,
        exclusive: true,
      },
    ],
    secret: { name: env.aws.secretName, keys: [...LOKI_SECRET_KEYS[env.aws.credentialMode]] },
  };
}

// ── what AWS holds (read by planAws) ─────────────────────────────────────────────────────────

/** A resource that exists but is not logstack's for this environment: the convergence would refuse it (`Conflict`). */
export interface ObservedConflict {
  readonly conflict: string;
}

/** The bucket as read: absent, in conflict, or its settings (undefined: not configured). */
export type ObservedBucket =
  | { readonly exists: false }
  | ({ readonly exists: true } & ObservedConflict)
  | {
      readonly exists: true;
      /** `adopt`: untagged and listed in `aws.adopt` — it is tagged before anything else. */
      readonly ownership: 'owned' | 'adopt';
      readonly versioning: 'Enabled' | 'Suspended' | undefined;
      readonly encryption: string | undefined;
      readonly publicAccessBlock: Partial<Record<PublicAccessFlag, boolean>> | undefined;
      /** logstack's lifecycle rule, or undefined when the bucket has none of that id. */
      readonly retention:
        | { readonly enabled: boolean; readonly wholeBucket: boolean; readonly days: number | undefined; readonly noncurrentDays: number | undefined; readonly abortUploadDays: number | undefined }
        | undefined;
      /** logstack's TLS-only statement of the bucket policy, or undefined. */
      readonly tlsStatement: unknown;
    };

/** One IAM principal as read. Policy documents parsed (IAM returns them URL-encoded). */
export type ObservedPrincipal =
  | { readonly exists: false }
  | ({ readonly exists: true } & ObservedConflict)
  | {
      readonly exists: true;
      readonly ownership: 'owned' | 'adopt';
      readonly boundary: string | undefined;
      /** The role's trust policy (roles only). */
      readonly trust: unknown;
      /** The inline policies logstack manages, by name: the document, or null when the principal lacks it. */
      readonly policies: Readonly<Record<string, unknown>>;
      /** Other rights (the reader loses them): `inline:<name>`, `attached:<arn>`, `group:<name>`. */
      readonly otherRights: readonly string[];
    };

/** The Loki secret as read: key names, and the names of keys whose value the seed would replace. Never a value. */
export type ObservedSecret =
  | { readonly exists: false }
  | ({ readonly exists: true } & ObservedConflict)
  | {
      readonly exists: true;
      readonly ownership: 'owned' | 'adopt';
      /** Key names of the current JSON object; null when the current value is not a JSON object. */
      readonly keys: readonly string[] | null;
      /** Keys present in both whose value the seed would write anew (names only). */
      readonly valueChanges: readonly string[];
    };

/** What {@link planAwsChanges} compares the desired state with. Principals in the desired state's order. */
export interface AwsObservedState {
  readonly bucket: ObservedBucket;
  readonly principals: readonly ObservedPrincipal[];
  readonly secret: ObservedSecret;
}

// ── the plan ─────────────────────────────────────────────────────────────────────────────────

/** What the convergence would do to one item. `conflict`: it would refuse the resource and write nothing. */
export type AwsChangeAction = 'create' | 'change' | 'remove' | 'conflict';

/** One planned AWS change: names and settings only. */
export interface AwsChange {
  /** The resource, e.g. `s3://logstack-dev-loki`, `iam user logstack-dev-loki`, `secretsmanager logstack/dev/loki`. */
  readonly resource: string;
  /** The item of the resource, e.g. `lifecycle logstack-retention`, `policy logstack-loki-bucket statement LokiObjects`. */
  readonly item: string;
  readonly action: AwsChangeAction;
  /** What changes, e.g. `expiration 30 → 7 days`. */
  readonly detail: string;
  /** True when it loses data or access: retention shortened, versioning suspended, a policy statement or key removed, encryption weakened, public access opened. */
  readonly destructive: boolean;
}

/** The AWS plan shown with a promotion's approval request. */
export interface AwsPlan {
  readonly environment: string;
  /** The revision being promoted (the AWS desired state comes from the catalog, not from the revision). */
  readonly revision: string;
  readonly changes: readonly AwsChange[];
  /** One line per destructive change, `<resource> <item>: <detail>` (like `DiffSummary.destructive`). */
  readonly destructive: readonly string[];
  /** Items compared and found as desired. */
  readonly unchanged: number;
}

/**
 * The AWS plan could not be read (AWS unreachable, the worker's identity refused, the catalog unusable): the
 * approval request says so instead of showing a plan, and the promotion goes on — the plan is shown, not enforced.
 */
export interface AwsPlanUnavailable {
  readonly environment: string;
  readonly revision: string;
  /** The failure, `<type>: <message>` (no secret material: AWS messages name actions and resources). */
  readonly unavailable: string;
}

/** A statement-level diff of two IAM policy documents: statements by `Sid`, or by canonical form without one. */
export interface StatementDiff {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  readonly changed: readonly string[];
  readonly unchanged: number;
}

function statementsOf(document: unknown): Record<string, unknown>[] {
  if (document === null || typeof document !== 'object') return [];
  const statements = (document as { Statement?: unknown }).Statement;
  if (statements === undefined) return [];
  const list = Array.isArray(statements) ? statements : [statements];
  return list.filter((s): s is Record<string, unknown> => s !== null && typeof s === 'object');
}

/** A scalar or a list of scalars as text; anything else as its canonical JSON. */
function textOf(value: unknown): string {
  if (Array.isArray(value)) return value.map(textOf).join(',');
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? String(value) : canonicalJson(value ?? null);
}

/** A statement's label: `Sid`, else `<Effect> <Action>` (its canonical form is the identity). */
function statementLabel(statement: Record<string, unknown>): string {
  const sid = statement['Sid'];
  if (typeof sid === 'string' && sid !== '') return sid;
  return `(no Sid) ${textOf(statement['Effect'] ?? '?')} ${textOf(statement['Action'] ?? statement['NotAction'] ?? '?')}`;
}

function statementKey(statement: Record<string, unknown>): string {
  const sid = statement['Sid'];
  return typeof sid === 'string' && sid !== '' ? `sid:${sid}` : `json:${canonicalJson(statement)}`;
}

/** Statement-level diff of `current` (undefined/null: no document) against `desired`. */
export function diffPolicyStatements(current: unknown, desired: unknown): StatementDiff {
  const before = new Map(statementsOf(current).map((s) => [statementKey(s), s]));
  const after = new Map(statementsOf(desired).map((s) => [statementKey(s), s]));
  const added: string[] = [];
  const removed: string[] = [];
  const changed: string[] = [];
  let unchanged = 0;
  for (const [key, s] of after) {
    const old = before.get(key);
    if (old === undefined) added.push(statementLabel(s));
    else if (canonicalJson(old) !== canonicalJson(s)) changed.push(statementLabel(s));
    else unchanged++;
  }
  for (const [key, s] of before) if (!after.has(key)) removed.push(statementLabel(s));
  return { added, removed, changed, unchanged };
}

/** Ranks default encryption: none < unknown < SSE-S3 < SSE-KMS < DSSE-KMS. */
function encryptionRank(algorithm: string | undefined): number {
  if (algorithm === undefined) return 0;
  const i = ['AES256', 'aws:kms', 'aws:kms:dsse'].indexOf(algorithm);
  return i < 0 ? 1 : i + 2;
}

/** Collects changes and counts the items found as desired (pass one to several `plan*` calls to build one plan). */
export class PlanBuilder {
  readonly changes: AwsChange[] = [];
  unchanged = 0;
  add(resource: string, item: string, action: AwsChangeAction, detail: string, destructive = false): void {
    this.changes.push({ resource, item, action, detail, destructive });
  }
  same(): void {
    this.unchanged++;
  }
}

/** The bucket's planned changes against `desired` (exported for tests with other desired states). */
export function planBucket(desired: DesiredBucket, observed: ObservedBucket, plan = new PlanBuilder()): AwsChange[] {
  const r = `s3://${desired.name}`;
  const ret = desired.retention;
  const desiredRule = `expiration ${ret.days} days, noncurrent versions ${ret.noncurrentDays} days, unfinished uploads ${ret.abortUploadDays} day`;
  if (!observed.exists) {
    plan.add(r, 'bucket', 'create', 'create the bucket (tagged, in the catalog region)');
    plan.add(r, 'public-access-block', 'create', 'all four settings true');
    plan.add(r, 'encryption', 'create', `default encryption ${desired.encryption.setTo}`);
    plan.add(r, 'versioning', 'create', desired.versioning);
    plan.add(r, `lifecycle ${RETENTION_RULE_ID}`, 'create', desiredRule);
    plan.add(r, `policy statement ${TLS_ONLY_SID}`, 'create', 'deny requests without TLS');
    return plan.changes;
  }
  if ('conflict' in observed) {
    plan.add(r, 'bucket', 'conflict', observed.conflict);
    return plan.changes;
  }
  if (observed.ownership === 'adopt') plan.add(r, 'tags', 'change', 'adopt: tag app=logstack and the environment (aws.adopt lists bucket)');
  // public access block
  const pab = observed.publicAccessBlock;
  const pabChanges = PUBLIC_ACCESS_FLAGS.filter((f) => (pab?.[f] ?? false) !== desired.publicAccessBlock[f]);
  if (pabChanges.length === 0) plan.same();
  else {
    const opened = pabChanges.filter((f) => pab?.[f] === true && !desired.publicAccessBlock[f]);
    plan.add(
      r,
      'public-access-block',
      pab === undefined ? 'create' : 'change',
      pabChanges.map((f) => `${f} ${String(pab?.[f] ?? false)} → ${String(desired.publicAccessBlock[f])}`).join(', '),
      opened.length > 0,
    );
  }
  // encryption
  const alg = observed.encryption;
  if (alg !== undefined && desired.encryption.accepted.includes(alg)) plan.same();
  else {
    const to = desired.encryption.setTo;
    plan.add(r, 'encryption', alg === undefined ? 'create' : 'change', `default encryption ${alg ?? 'none'} → ${to}`, encryptionRank(to) < encryptionRank(alg));
  }
  // versioning
  if (observed.versioning === desired.versioning) plan.same();
  else {
    plan.add(
      r,
      'versioning',
      'change',
      `${observed.versioning ?? 'never enabled'} → ${desired.versioning}`,
      observed.versioning === 'Enabled' && desired.versioning === 'Suspended',
    );
  }
  // lifecycle (logstack's rule only; other rules are kept)
  const rule = observed.retention;
  const item = `lifecycle ${RETENTION_RULE_ID}`;
  if (rule === undefined) {
    plan.add(r, item, 'create', `${desiredRule}: objects older than ${ret.days} days are deleted from then on`, true);
  } else {
    const parts: string[] = [];
    let destructive = false;
    if (!rule.enabled) {
      parts.push('Disabled → Enabled');
      destructive = true;
    }
    if (!rule.wholeBucket) {
      parts.push('filtered → whole bucket');
      destructive = true;
    }
    if (rule.days !== ret.days) {
      parts.push(`expiration ${rule.days === undefined ? 'none' : `${rule.days} days`} → ${ret.days} days${rule.days === undefined || rule.days > ret.days ? ' (retention shortened)' : ''}`);
      if (rule.days === undefined || rule.days > ret.days) destructive = true;
    }
    if (rule.noncurrentDays !== ret.noncurrentDays) {
      parts.push(`noncurrent versions ${rule.noncurrentDays === undefined ? 'kept' : `${rule.noncurrentDays} days`} → ${ret.noncurrentDays} days`);
      if (rule.noncurrentDays === undefined || rule.noncurrentDays > ret.noncurrentDays) destructive = true;
    }
    if (rule.abortUploadDays !== ret.abortUploadDays) {
      parts.push(`unfinished uploads ${rule.abortUploadDays === undefined ? 'kept' : `${rule.abortUploadDays} days`} → ${ret.abortUploadDays} day`);
    }
    if (parts.length === 0) plan.same();
    else plan.add(r, item, 'change', parts.join(', '), destructive);
  }
  // bucket policy: logstack's statement only
  if (observed.tlsStatement === undefined) plan.add(r, `policy statement ${TLS_ONLY_SID}`, 'create', 'deny requests without TLS');
  else if (canonicalJson(observed.tlsStatement) === canonicalJson(desired.tlsStatement)) plan.same();
  else plan.add(r, `policy statement ${TLS_ONLY_SID}`, 'change', 'rewritten to the TLS-only deny on the bucket and its objects');
  return plan.changes;
}

function planPolicyDocument(plan: PlanBuilder, resource: string, item: string, current: unknown, desired: Record<string, unknown>): void {
  if (current === null || current === undefined) {
    const statements = statementsOf(desired).map(statementLabel);
    plan.add(resource, item, 'create', `statements ${statements.join(', ')}`);
    return;
  }
  const diff = diffPolicyStatements(current, desired);
  for (const s of diff.added) plan.add(resource, `${item} statement ${s}`, 'create', 'statement added');
  for (const s of diff.changed) plan.add(resource, `${item} statement ${s}`, 'change', 'statement rewritten');
  for (const s of diff.removed) plan.add(resource, `${item} statement ${s}`, 'remove', 'statement removed', true);
  const version = (v: unknown) => (v !== null && typeof v === 'object' ? (v as { Version?: unknown }).Version : undefined);
  if (version(current) !== version(desired)) plan.add(resource, `${item} Version`, 'change', `${textOf(version(current) ?? 'none')} → ${textOf(version(desired))}`);
  if (diff.added.length + diff.changed.length + diff.removed.length === 0 && version(current) === version(desired)) plan.same();
}

/** One principal's planned changes: existence, ownership, boundary, trust, inline policies (by statement), other rights. */
export function planPrincipal(desired: DesiredPrincipal, observed: ObservedPrincipal, plan = new PlanBuilder()): AwsChange[] {
  const r = `iam ${desired.kind} ${desired.name}`;
  if (!observed.exists) {
    plan.add(r, desired.kind, 'create', `create the ${desired.role === 'loki' ? 'Loki' : 'ESO reader'} ${desired.kind} (tagged${desired.boundary ? `, boundary ${desired.boundary}` : ''})`);
    if (desired.trust !== undefined) planPolicyDocument(plan, r, 'trust policy', undefined, desired.trust);
    for (const [name, doc] of Object.entries(desired.policies)) planPolicyDocument(plan, r, `policy ${name}`, undefined, doc);
    return plan.changes;
  }
  if ('conflict' in observed) {
    plan.add(r, desired.kind, 'conflict', observed.conflict);
    return plan.changes;
  }
  if (observed.ownership === 'adopt') plan.add(r, 'tags', 'change', 'adopt: tag app=logstack and the environment (aws.adopt lists principal)');
  if (desired.boundary !== undefined) {
    if (observed.boundary === desired.boundary) plan.same();
    else plan.add(r, 'permissions boundary', observed.boundary === undefined ? 'create' : 'change', `${observed.boundary ?? 'none'} → ${desired.boundary}`);
  }
  if (desired.trust !== undefined) planPolicyDocument(plan, r, 'trust policy', observed.trust, desired.trust);
  for (const [name, doc] of Object.entries(desired.policies)) planPolicyDocument(plan, r, `policy ${name}`, observed.policies[name], doc);
  if (desired.exclusive) {
    for (const right of observed.otherRights) plan.add(r, right, 'remove', 'removed: the reader keeps its read policy only', true);
  }
  return plan.changes;
}

/** The Loki secret's planned changes: key names added or removed, values written anew (names only). */
export function planSecret(desired: AwsDesiredState['secret'], observed: ObservedSecret, plan = new PlanBuilder()): AwsChange[] {
  const r = `secretsmanager ${desired.name}`;
  if (!observed.exists) {
    plan.add(r, 'secret', 'create', `create the secret with keys ${desired.keys.join(', ')}`);
    return plan.changes;
  }
  if ('conflict' in observed) {
    plan.add(r, 'secret', 'conflict', observed.conflict);
    return plan.changes;
  }
  if (observed.ownership === 'adopt') plan.add(r, 'tags', 'change', 'adopt: tag app=logstack and the environment (aws.adopt lists secret)');
  if (observed.keys === null) {
    plan.add(r, 'value', 'change', `the current value is not a JSON object; a new version holds keys ${desired.keys.join(', ')}`, true);
    return plan.changes;
  }
  const current = observed.keys;
  const added = desired.keys.filter((k) => !current.includes(k));
  const removed = current.filter((k) => !desired.keys.includes(k));
  for (const k of added) plan.add(r, `key ${k}`, 'create', 'key added');
  for (const k of removed) plan.add(r, `key ${k}`, 'remove', 'key removed from the new version', true);
  for (const k of observed.valueChanges) plan.add(r, `key ${k}`, 'change', 'value replaced in a new version');
  if (added.length + removed.length + observed.valueChanges.length === 0) plan.same();
  return plan.changes;
}

/**
 * The plan: every difference between what AWS holds (`observed`) and the desired state, with the destructive
 * ones also listed one line each. Deterministic: same inputs, same plan, in a fixed order (bucket, principals,
 * secret).
 */
export function planAwsChanges(context: { readonly environment: string; readonly revision: string }, desired: AwsDesiredState, observed: AwsObservedState): AwsPlan {
  const plan = new PlanBuilder();
  planBucket(desired.bucket, observed.bucket, plan);
  desired.principals.forEach((p, i) => planPrincipal(p, observed.principals[i] ?? { exists: false }, plan));
  planSecret(desired.secret, observed.secret, plan);
  return {
    environment: context.environment,
    revision: context.revision,
    changes: plan.changes,
    destructive: plan.changes.filter((c) => c.destructive).map((c) => `${c.resource} ${c.item}: ${c.detail}`),
    unchanged: plan.unchanged,
  };
}

/** One line for a plan: counts and the destructive changes. */
export function describeAwsPlan(plan: AwsPlan): string {
  if (plan.changes.length === 0) return `no AWS changes (${plan.unchanged} items as desired)`;
  const by = (a: AwsChangeAction) => plan.changes.filter((c) => c.action === a).length;
  const counts = `AWS: +${by('create')} ~${by('change')} -${by('remove')}${by('conflict') ? ` conflict ${by('conflict')}` : ''} =${plan.unchanged}`;
  return plan.destructive.length > 0 ? `${counts}; destructive: ${plan.destructive.length}` : counts;
}
