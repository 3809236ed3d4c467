/**
 * The Loki bucket: created when absent, then each setting (public-access block, default encryption,
 * versioning, lifecycle, TLS-only policy, tags) read, compared with the desired configuration and
 * written only when it differs. A bucket this account does not own is never touched.
 */
import {
  CreateBucketCommand,
  GetBucketEncryptionCommand,
  GetBucketLifecycleConfigurationCommand,
  GetBucketPolicyCommand,
  GetBucketTaggingCommand,
  GetBucketVersioningCommand,
  GetPublicAccessBlockCommand,
  HeadBucketCommand,
  ListBucketsCommand,
  PutBucketEncryptionCommand,
  PutBucketLifecycleConfigurationCommand,
  PutBucketPolicyCommand,
  PutBucketTaggingCommand,
  PutBucketVersioningCommand,
  PutPublicAccessBlockCommand,
  type BucketLocationConstraint,
  type LifecycleRule,
  type PublicAccessBlockConfiguration,
  type S3Client,
  type Tag,
} from '@aws-sdk/client-s3';
import {
  ACCEPTED_ENCRYPTION,
  FailureType,
  INCOMPLETE_UPLOAD_DAYS,
  NONCURRENT_VERSION_DAYS,
  PUBLIC_ACCESS_FLAGS,
  RETENTION_RULE_ID,
  retentionRule,
  TLS_ONLY_SID,
  tlsOnlyStatement,
  type Environment,
} from '../../domain/index.ts';
import { awsCall, awsHttpStatus, hasAwsCode, mapAwsError, nonRetryable } from '../errors.ts';
import { Context } from '@temporalio/activity';
import { canonicalJson, decideOwnership, managedTags, sendOptions, type AwsResourceRef, type OwnershipDecision } from './common.ts';

/** Names of the bucket settings, as reported in `changed`. */
export const BucketSettings = {
  publicAccessBlock: 'public-access-block',
  encryption: 'encryption',
  versioning: 'versioning',
  lifecycle: 'lifecycle',
  policy: 'policy',
  tags: 'tags',
} as const;
/** One bucket setting name. */
export type BucketSetting = (typeof BucketSettings)[keyof typeof BucketSettings];

/** Names and numbers of the desired bucket, defined with the AWS plan (`domain/aws-plan.ts`) so plan and apply agree. */
export { INCOMPLETE_UPLOAD_DAYS, NONCURRENT_VERSION_DAYS, RETENTION_RULE_ID, TLS_ONLY_SID, tlsOnlyStatement } from '../../domain/index.ts';

/** What every bucket call needs. */
export interface BucketScope {
  readonly s3: S3Client;
  readonly env: Environment;
  readonly accountId: string;
  readonly signal: AbortSignal | undefined;
}

/** One setting's comparison: what differs (empty when in shape) and how to fix it. */
interface SettingCheck {
  readonly drift: string[];
  readonly apply: () => Promise<void>;
}

/** The bucket whose settings are inspected; `created` when this very call created it (so it holds none of them yet). */
interface SettingsScope extends BucketScope {
  readonly created?: boolean;
}

type SettingInspector = (scope: SettingsScope) => Promise<SettingCheck>;

/**
 * Reads one setting ({@link readOptional}), or nothing for a bucket this call has just created: its settings are then
 * known to be absent (or a default equal to what logstack writes), so they are all written without a read.
 */
function readSetting<T>(scope: SettingsScope, action: string, call: () => Promise<T>, ...absentCodes: string[]): Promise<T | undefined> {
  return scope.created ? Promise.resolve(undefined) : readOptional(action, call, ...absentCodes);
}

function bucketOf(scope: BucketScope): string {
  return scope.env.aws.bucket;
}

/** Reads an optional bucket sub-resource: the "not configured" error codes give `undefined`. */
export async function readOptional<T>(action: string, call: () => Promise<T>, ...absentCodes: string[]): Promise<T | undefined> {
  try {
    return await call();
  } catch (error) {
    if (hasAwsCode(error, ...absentCodes)) return undefined;
    throw mapAwsError(error, action);
  }
}

// ── ownership ────────────────────────────────────────────────────────────────────────────────

function conflictNotOurs(scope: BucketScope, why: string): Error {
  const bucket = bucketOf(scope);
  return nonRetryable(
    FailureType.Conflict,
    `S3 bucket "${bucket}" ${why}; logstack only manages buckets owned by account ${scope.accountId}. ` +
      `Choose another name for aws.bucket of environment "${scope.env.name}" in the catalog, or run with credentials of the owning account`,
    { bucket, accountId: scope.accountId },
  );
}

function conflictRegion(scope: BucketScope, actual: string | undefined): Error {
  const bucket = bucketOf(scope);
  return nonRetryable(
    FailureType.Conflict,
    `S3 bucket "${bucket}" exists in region ${actual ?? '(another region)'}, but the catalog says ${scope.env.aws.region}; ` +
      `set aws.region of environment "${scope.env.name}" to the bucket's region or choose another bucket name`,
    { bucket, region: scope.env.aws.region, actualRegion: actual },
  );
}

function regionHeader(error: unknown): string | undefined {
  const headers = (error as { $response?: { headers?: Record<string, string | undefined> } }).$response?.headers;
  return headers?.['x-amz-bucket-region'];
}

/**
 * Whether this account's bucket exists: `absent`, or `owned`. A bucket that exists under another
 * account, or in another region than the catalog's, throws `Conflict` before anything is written.
 * HeadBucket carries `ExpectedBucketOwner` (S3 answers 403 for another owner); when the caller may
 * list its buckets, the bucket must also be among them.
 */
export async function locateBucket(scope: BucketScope): Promise<'absent' | 'owned'> {
  const bucket = bucketOf(scope);
  let region: string | undefined;
  try {
    const head = await scope.s3.send(new HeadBucketCommand({ Bucket: bucket, ExpectedBucketOwner: scope.accountId }), sendOptions(scope.signal));
    region = head.BucketRegion;
  } catch (error) {
    const status = awsHttpStatus(error);
    if (status === 404 || hasAwsCode(error, 'NotFound', 'NoSuchBucket')) return 'absent';
    if (status === 403) throw conflictNotOurs(scope, 'exists but is not accessible: it belongs to another account, or these credentials may not read it (s3:ListBucket)');
    if (status === 301) throw conflictRegion(scope, regionHeader(error));
    throw mapAwsError(error, `s3:HeadBucket on ${bucket}`);
  }
  if (region !== undefined && region !== scope.env.aws.region) throw conflictRegion(scope, region);
  if ((await listedForCaller(scope)) === false) throw conflictNotOurs(scope, 'exists but belongs to another account');
  return 'owned';
}

/** Whether the bucket is among the caller's own buckets; undefined when the caller may not list them. */
async function listedForCaller(scope: BucketScope): Promise<boolean | undefined> {
  const listed = await listedBucket(scope);
  return listed === undefined ? undefined : listed !== false;
}

/** The caller's listing entry of the bucket (with its creation date), false when not listed, undefined when the caller may not list. */
async function listedBucket(scope: BucketScope): Promise<{ created: Date | undefined } | false | undefined> {
  const bucket = bucketOf(scope);
  let token: string | undefined;
  try {
    do {
      const page = await scope.s3.send(new ListBucketsCommand({ Prefix: bucket, ContinuationToken: token }), sendOptions(scope.signal));
      const found = (page.Buckets ?? []).find((b) => b.Name === bucket);
      if (found !== undefined) return { created: found.CreationDate };
      token = page.ContinuationToken;
    } while (token !== undefined);
    return false;
  } catch (error) {
    if (awsHttpStatus(error) === 403) return undefined;
    throw mapAwsError(error, 's3:ListBuckets');
  }
}

/** The bucket as a resource logstack would write, for ownership messages. */
export function bucketRef(env: Environment): AwsResourceRef {
  return { kind: 'bucket', label: 'S3 bucket', name: env.aws.bucket, field: 'aws.bucket' };
}

async function bucketTags(scope: BucketScope): Promise<Tag[] | undefined> {
  const bucket = bucketOf(scope);
  const current = await readOptional(
    `s3:GetBucketTagging on ${bucket}`,
    () => scope.s3.send(new GetBucketTaggingCommand({ Bucket: bucket, ExpectedBucketOwner: scope.accountId }), sendOptions(scope.signal)),
    'NoSuchTagSet',
  );
  return current?.TagSet;
}

/** Clock difference tolerated between the worker and S3 when dating a bucket against the activity. */
const CLOCK_SKEW_MS = 5_000;

/**
 * True when an untagged bucket is the one an earlier attempt of THIS activity created and could not tag
 * (the worker died between CreateBucket and PutBucketTagging): only inside an activity retried after
 * its first attempt, for a bucket with no tags at all created after the activity was first scheduled.
 */
async function createdByEarlierAttempt(scope: BucketScope, tags: Tag[] | undefined): Promise<boolean> {
  if ((tags ?? []).length > 0) return false;
  let info: { attempt: number; scheduledTimestampMs: number };
  try {
    info = Context.current().info;
  } catch {
    return false;
  }
  if (info.attempt < 2) return false;
  const listed = await listedBucket(scope);
  const created = listed === undefined || listed === false ? undefined : listed.created;
  return created !== undefined && created.getTime() >= info.scheduledTimestampMs - CLOCK_SKEW_MS;
}

/**
 * The owned-or-absent rule for the bucket (read-only): `absent`, `owned` (tagged for this environment),
 * or `adopt` (untagged and adopted by the catalog, or left untagged by an interrupted create of this
 * activity). `Conflict` when it belongs to another account, lives in another region, carries another
 * environment's tag, or is someone else's and not adopted.
 */
export async function bucketOwnership(scope: BucketScope): Promise<'absent' | OwnershipDecision> {
  if ((await locateBucket(scope)) === 'absent') return 'absent';
  const tags = await bucketTags(scope);
  if (await createdByEarlierAttempt(scope, tags)) return 'adopt';
  return decideOwnership(bucketRef(scope.env), tags, scope.env);
}

/** Creates the bucket in the catalog's region. Returns false when it already was ours (a retried create). */
async function createBucket(scope: BucketScope): Promise<boolean> {
  const bucket = bucketOf(scope);
  const region = scope.env.aws.region;
  const configuration = region === 'us-east-1' ? undefined : { LocationConstraint: region as BucketLocationConstraint };
  try {
    await scope.s3.send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: configuration }), sendOptions(scope.signal));
    return true;
  } catch (error) {
    if (hasAwsCode(error, 'BucketAlreadyOwnedByYou')) return false;
    if (hasAwsCode(error, 'BucketAlreadyExists')) throw conflictNotOurs(scope, 'is taken: bucket names are global and another account owns it');
    throw mapAwsError(error, `s3:CreateBucket ${bucket} in ${region}`);
  }
}

// ── settings ─────────────────────────────────────────────────────────────────────────────────

const inspectPublicAccessBlock: SettingInspector = async (scope) => {
  const bucket = bucketOf(scope);
  const current = await readSetting(
    scope,
    `s3:GetBucketPublicAccessBlock on ${bucket}`,
    () => scope.s3.send(new GetPublicAccessBlockCommand({ Bucket: bucket, ExpectedBucketOwner: scope.accountId }), sendOptions(scope.signal)),
    'NoSuchPublicAccessBlockConfiguration',
  );
  const config = current?.PublicAccessBlockConfiguration;
  const drift = config
    ? PUBLIC_ACCESS_FLAGS.filter((flag) => config[flag] !== true).map((flag) => `public access block ${flag} is ${String(config[flag] ?? false)}, want true`)
    : ['public access block is not configured, want all four settings true'];
  const desired: PublicAccessBlockConfiguration = Object.fromEntries(PUBLIC_ACCESS_FLAGS.map((flag) => [flag, true]));
  return {
    drift,
    apply: () =>
      awsCall(`s3:PutBucketPublicAccessBlock on ${bucket}`, async () => {
        await scope.s3.send(
          new PutPublicAccessBlockCommand({ Bucket: bucket, ExpectedBucketOwner: scope.accountId, PublicAccessBlockConfiguration: desired }),
          sendOptions(scope.signal),
        );
      }),
  };
};

const inspectEncryption: SettingInspector = async (scope) => {
  const bucket = bucketOf(scope);
  const current = await readSetting(
    scope,
    `s3:GetEncryptionConfiguration on ${bucket}`,
    () => scope.s3.send(new GetBucketEncryptionCommand({ Bucket: bucket, ExpectedBucketOwner: scope.accountId }), sendOptions(scope.signal)),
    'ServerSideEncryptionConfigurationNotFoundError',
  );
  const algorithm = current?.ServerSideEncryptionConfiguration?.Rules?.[0]?.ApplyServerSideEncryptionByDefault?.SSEAlgorithm;
  const drift =
    algorithm === undefined
      ? ['default encryption is not configured, want SSE-S3 (AES256) or SSE-KMS']
      : ACCEPTED_ENCRYPTION.includes(algorithm)
        ? []
        : [`default encryption is ${algorithm}, want SSE-S3 (AES256) or SSE-KMS`];
  return {
    drift,
    apply: () =>
      awsCall(`s3:PutEncryptionConfiguration on ${bucket}`, async () => {
        await scope.s3.send(
          new PutBucketEncryptionCommand({
            Bucket: bucket,
            ExpectedBucketOwner: scope.accountId,
            ServerSideEncryptionConfiguration: { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
          }),
          sendOptions(scope.signal),
        );
      }),
  };
};

const inspectVersioning: SettingInspector = async (scope) => {
  const bucket = bucketOf(scope);
  const current = await readSetting(scope, `s3:GetBucketVersioning on ${bucket}`, () =>
    scope.s3.send(new GetBucketVersioningCommand({ Bucket: bucket, ExpectedBucketOwner: scope.accountId }), sendOptions(scope.signal)),
  );
  const drift = current?.Status === 'Enabled' ? [] : [`versioning is ${current?.Status ?? 'not enabled'}, want Enabled`];
  return {
    drift,
    apply: () =>
      awsCall(`s3:PutBucketVersioning on ${bucket}`, async () => {
        await scope.s3.send(
          new PutBucketVersioningCommand({ Bucket: bucket, ExpectedBucketOwner: scope.accountId, VersioningConfiguration: { Status: 'Enabled' } }),
          sendOptions(scope.signal),
        );
      }),
  };
};

/** The lifecycle rule logstack owns: expire objects after the environment's retention (`retentionRule` of `domain/aws-plan.ts`). */
export function desiredRetentionRule(env: Environment): LifecycleRule {
  return retentionRule(env);
}

function retentionRuleDrift(rule: LifecycleRule | undefined, env: Environment): string[] {
  if (rule === undefined) return [`lifecycle rule ${RETENTION_RULE_ID} is missing, want expiration after ${env.retentionDays} days`];
  const drift: string[] = [];
  if (rule.Status !== 'Enabled') drift.push(`lifecycle rule ${RETENTION_RULE_ID} is ${rule.Status ?? 'without status'}, want Enabled`);
  const prefix = rule.Filter?.Prefix ?? rule.Prefix;
  const filterKeys = Object.keys(rule.Filter ?? {}).filter((k) => k !== 'Prefix');
  if ((prefix !== undefined && prefix !== '') || filterKeys.length > 0) drift.push(`lifecycle rule ${RETENTION_RULE_ID} is filtered, want it to cover the whole bucket`);
  const days = rule.Expiration?.Days;
  if (days !== env.retentionDays) drift.push(`lifecycle expiration is ${days === undefined ? 'not set' : `${days} days`}, want ${env.retentionDays} days (retentionDays)`);
  const noncurrent = rule.NoncurrentVersionExpiration?.NoncurrentDays;
  if (noncurrent !== NONCURRENT_VERSION_DAYS) {
    drift.push(`noncurrent version expiration is ${noncurrent === undefined ? 'not set' : `${noncurrent} days`}, want ${NONCURRENT_VERSION_DAYS} days`);
  }
  const uploads = rule.AbortIncompleteMultipartUpload?.DaysAfterInitiation;
  if (uploads !== INCOMPLETE_UPLOAD_DAYS) drift.push(`incomplete multipart uploads are not aborted after ${INCOMPLETE_UPLOAD_DAYS} day, want them aborted`);
  return drift;
}

const inspectLifecycle: SettingInspector = async (scope) => {
  const bucket = bucketOf(scope);
  const current = await readSetting(
    scope,
    `s3:GetLifecycleConfiguration on ${bucket}`,
    () => scope.s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: bucket, ExpectedBucketOwner: scope.accountId }), sendOptions(scope.signal)),
    'NoSuchLifecycleConfiguration',
  );
  const rules = current?.Rules ?? [];
  const others = rules.filter((r) => r.ID !== RETENTION_RULE_ID);
  const drift = retentionRuleDrift(
    rules.find((r) => r.ID === RETENTION_RULE_ID),
    scope.env,
  );
  return {
    drift,
    apply: () =>
      awsCall(`s3:PutLifecycleConfiguration on ${bucket}`, async () => {
        await scope.s3.send(
          new PutBucketLifecycleConfigurationCommand({
            Bucket: bucket,
            ExpectedBucketOwner: scope.accountId,
            LifecycleConfiguration: { Rules: [...others, desiredRetentionRule(scope.env)] },
          }),
          sendOptions(scope.signal),
        );
      }),
  };
};

interface PolicyDocument {
  Version?: string;
  Statement?: Record<string, unknown>[] | Record<string, unknown>;
  [key: string]: unknown;
}

function statementsOf(policy: PolicyDocument | undefined): Record<string, unknown>[] {
  const statements = policy?.Statement;
  if (statements === undefined) return [];
  return Array.isArray(statements) ? statements : [statements];
}

function parseBucketPolicy(text: string | undefined): PolicyDocument | undefined {
  if (text === undefined) return undefined;
  try {
    const parsed = JSON.parse(text) as unknown;
    return parsed !== null && typeof parsed === 'object' ? (parsed as PolicyDocument) : undefined;
  } catch {
    return undefined;
  }
}

const inspectPolicy: SettingInspector = async (scope) => {
  const bucket = bucketOf(scope);
  const current = await readSetting(
    scope,
    `s3:GetBucketPolicy on ${bucket}`,
    () => scope.s3.send(new GetBucketPolicyCommand({ Bucket: bucket, ExpectedBucketOwner: scope.accountId }), sendOptions(scope.signal)),
    'NoSuchBucketPolicy',
  );
  const policy = parseBucketPolicy(current?.Policy);
  const statements = statementsOf(policy);
  const desired = tlsOnlyStatement(scope.env);
  const ours = statements.find((s) => s['Sid'] === TLS_ONLY_SID);
  const drift =
    ours === undefined
      ? ['bucket policy does not deny requests without TLS (aws:SecureTransport=false)']
      : canonicalJson(ours) === canonicalJson(desired)
        ? []
        : [`bucket policy statement ${TLS_ONLY_SID} differs from the TLS-only deny logstack sets`];
  const next: PolicyDocument = {
    ...(policy ?? {}),
    Version: policy?.Version ?? '2012-10-17',
    Statement: [...statements.filter((s) => s['Sid'] !== TLS_ONLY_SID), desired],
  };
  return {
    drift,
    apply: () =>
      awsCall(`s3:PutBucketPolicy on ${bucket}`, async () => {
        await scope.s3.send(
          new PutBucketPolicyCommand({ Bucket: bucket, ExpectedBucketOwner: scope.accountId, Policy: JSON.stringify(next) }),
          sendOptions(scope.signal),
        );
      }),
  };
};

const inspectTags: SettingInspector = async (scope) => {
  const bucket = bucketOf(scope);
  const current = await readSetting(
    scope,
    `s3:GetBucketTagging on ${bucket}`,
    () => scope.s3.send(new GetBucketTaggingCommand({ Bucket: bucket, ExpectedBucketOwner: scope.accountId }), sendOptions(scope.signal)),
    'NoSuchTagSet',
  );
  const tags: Tag[] = current?.TagSet ?? [];
  const wanted = managedTags(scope.env);
  const drift = wanted.flatMap(({ Key, Value }) => {
    const found = tags.find((t) => t.Key === Key);
    if (found === undefined) return [`tag ${Key} is missing, want "${Value}"`];
    return found.Value === Value ? [] : [`tag ${Key} is "${found.Value ?? ''}", want "${Value}"`];
  });
  const next = [...tags.filter((t) => !wanted.some((w) => w.Key === t.Key)), ...wanted];
  return {
    drift,
    apply: () =>
      awsCall(`s3:PutBucketTagging on ${bucket}`, async () => {
        await scope.s3.send(
          new PutBucketTaggingCommand({ Bucket: bucket, ExpectedBucketOwner: scope.accountId, Tagging: { TagSet: next } }),
          sendOptions(scope.signal),
        );
      }),
  };
};

/** Settings in the order they are converged: lock the bucket down before anything else. */
const SETTINGS: readonly (readonly [BucketSetting, SettingInspector])[] = [
  [BucketSettings.publicAccessBlock, inspectPublicAccessBlock],
  [BucketSettings.encryption, inspectEncryption],
  [BucketSettings.versioning, inspectVersioning],
  [BucketSettings.lifecycle, inspectLifecycle],
  [BucketSettings.policy, inspectPolicy],
  [BucketSettings.tags, inspectTags],
];

// ── operations ───────────────────────────────────────────────────────────────────────────────

/**
 * Creates the bucket when absent and converges every setting; writes only the settings that differ
 * and names them in `changed` (empty on a second run). A bucket this call created is not read back: it holds
 * none of the settings (or defaults equal to logstack's), so all of them are written and named. `Conflict` (nothing written) when the bucket
 * belongs to another account, lives in another region, or is not tagged for this environment (unless
 * `aws.adopt` lists `bucket`: it is then tagged first and managed).
 */
export async function convergeBucket(scope: BucketScope): Promise<{ bucket: string; created: boolean; changed: string[] }> {
  const bucket = bucketOf(scope);
  const ownership = await bucketOwnership(scope);
  const created = ownership === 'absent' ? await createBucket(scope) : false;
  // A bucket logstack has just created (or adopts) is tagged before anything else, so an interruption
  // leaves it recognisably logstack's own.
  const ordered = ownership === 'owned' ? SETTINGS : [...SETTINGS.filter(([n]) => n === BucketSettings.tags), ...SETTINGS.filter(([n]) => n !== BucketSettings.tags)];
  const changed: string[] = [];
  for (const [name, inspect] of ordered) {
    const check = await inspect({ ...scope, created });
    if (check.drift.length === 0) continue;
    await check.apply();
    changed.push(name);
  }
  return { bucket, created, changed };
}

/**
 * Reports how the bucket differs from the desired configuration, one sentence per difference.
 * Read-only. `Conflict` when the bucket belongs to another account or lives in another region.
 */
export async function reportBucketDrift(scope: BucketScope): Promise<{ bucket: string; exists: boolean; drift: string[] }> {
  const bucket = bucketOf(scope);
  if ((await locateBucket(scope)) === 'absent') return { bucket, exists: false, drift: [`bucket ${bucket} does not exist`] };
  const drift: string[] = [];
  for (const [, inspect] of SETTINGS) drift.push(...(await inspect(scope)).drift);
  return { bucket, exists: true, drift };
}
