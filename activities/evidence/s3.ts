/**
 * The evidence location in S3: a bucket logstack owns (tagged for the environment, or absent and then
 * created), with versioning and object lock (governance retention by default), and one object per run at
 * `<prefix>/<env>/<workflowId>/<runId>.intoto.json`, written only when absent (`If-None-Match: *`). A
 * retried write finds its own bytes and succeeds; an object with other bytes under the key is `Conflict`.
 */
import {
  CreateBucketCommand,
  GetBucketTaggingCommand,
  GetBucketVersioningCommand,
  GetObjectCommand,
  GetObjectLockConfigurationCommand,
  HeadBucketCommand,
  PutBucketTaggingCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  PutObjectLockConfigurationCommand,
  PutPublicAccessBlockCommand,
  type BucketLocationConstraint,
  type S3Client,
} from '@aws-sdk/client-s3';
import { FailureType, type Environment } from '../../domain/index.ts';
import { awsCall, awsHttpStatus, hasAwsCode, mapAwsError, nonRetryable } from '../errors.ts';
import { decideOwnership, managedTags, sendOptions, type AwsResourceRef } from '../aws/common.ts';

/** The catalog's evidence location of an environment, with its defaults applied. */
export type EvidenceBucketConfig = NonNullable<Environment['evidence']>;

/** What the S3 calls of one record need. */
export interface EvidenceS3Scope {
  readonly s3: S3Client;
  readonly env: Environment;
  readonly location: EvidenceBucketConfig;
  readonly accountId: string;
  readonly signal: AbortSignal | undefined;
}

/** The evidence bucket as a resource logstack writes, for ownership messages (`aws.adopt: [bucket]` covers it). */
export function evidenceBucketRef(scope: Pick<EvidenceS3Scope, 'location'>): AwsResourceRef {
  return { kind: 'bucket', label: 'S3 evidence bucket', name: scope.location.bucket, field: 'evidence.bucket' };
}

/** Whether the bucket exists for this account: absent, or its tags (another account's bucket is `Conflict`). */
async function bucketTags(scope: EvidenceS3Scope): Promise<'absent' | { Key?: string; Value?: string }[]> {
  const Bucket = scope.location.bucket;
  try {
    await scope.s3.send(new HeadBucketCommand({ Bucket, ExpectedBucketOwner: scope.accountId }), sendOptions(scope.signal));
  } catch (error) {
    if (awsHttpStatus(error) === 404 || hasAwsCode(error, 'NotFound', 'NoSuchBucket')) return 'absent';
    if (awsHttpStatus(error) === 403) {
      throw nonRetryable(FailureType.Conflict, `S3 evidence bucket "${Bucket}" exists but is not this account's (${scope.accountId}); set evidence.bucket of environment "${scope.env.name}" to another name`, { bucket: Bucket });
    }
    throw mapAwsError(error, `s3:HeadBucket on ${Bucket}`);
  }
  try {
    const tags = await scope.s3.send(new GetBucketTaggingCommand({ Bucket, ExpectedBucketOwner: scope.accountId }), sendOptions(scope.signal));
    return tags.TagSet ?? [];
  } catch (error) {
    if (hasAwsCode(error, 'NoSuchTagSet')) return [];
    throw mapAwsError(error, `s3:GetBucketTagging on ${Bucket}`);
  }
}

async function tagBucket(scope: EvidenceS3Scope): Promise<void> {
  const Bucket = scope.location.bucket;
  await awsCall(`s3:PutBucketTagging on ${Bucket}`, () =>
    scope.s3.send(new PutBucketTaggingCommand({ Bucket, ExpectedBucketOwner: scope.accountId, Tagging: { TagSet: managedTags(scope.env) } }), sendOptions(scope.signal)),
  );
}

/**
 * Owned-or-absent, then converged: created with object lock (so versioning) when absent and tagged at once;
 * an owned bucket gets versioning, and the object-lock default retention, when they differ. Another
 * environment's or an untagged bucket (not adopted) is `Conflict` before any write.
 * @returns what changed.
 */
export async function ensureEvidenceBucket(scope: EvidenceS3Scope): Promise<string[]> {
  const Bucket = scope.location.bucket;
  const changed: string[] = [];
  const tags = await bucketTags(scope);
  if (tags === 'absent') {
    const region = scope.env.aws.region;
    try {
      await scope.s3.send(
        new CreateBucketCommand({
          Bucket,
          ObjectLockEnabledForBucket: true,
          CreateBucketConfiguration: region === 'us-east-1' ? undefined : { LocationConstraint: region as BucketLocationConstraint },
        }),
        sendOptions(scope.signal),
      );
    } catch (error) {
      if (hasAwsCode(error, 'BucketAlreadyExists')) {
        throw nonRetryable(FailureType.Conflict, `S3 evidence bucket "${Bucket}" is taken by another account; set evidence.bucket of environment "${scope.env.name}" to another name`, { bucket: Bucket });
      }
      if (!hasAwsCode(error, 'BucketAlreadyOwnedByYou')) throw mapAwsError(error, `s3:CreateBucket ${Bucket}`);
    }
    await tagBucket(scope);
    await awsCall(`s3:PutPublicAccessBlock on ${Bucket}`, () =>
      scope.s3.send(
        new PutPublicAccessBlockCommand({
          Bucket,
          ExpectedBucketOwner: scope.accountId,
          PublicAccessBlockConfiguration: { BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: true },
        }),
        sendOptions(scope.signal),
      ),
    );
    changed.push('created');
  } else if (decideOwnership(evidenceBucketRef(scope), tags, scope.env) === 'adopt') {
    await tagBucket(scope);
    changed.push('tags');
  }
  const versioning = await awsCall(`s3:GetBucketVersioning on ${Bucket}`, () =>
    scope.s3.send(new GetBucketVersioningCommand({ Bucket, ExpectedBucketOwner: scope.accountId }), sendOptions(scope.signal)),
  );
  if (versioning.Status !== 'Enabled') {
    await awsCall(`s3:PutBucketVersioning on ${Bucket}`, () =>
      scope.s3.send(new PutBucketVersioningCommand({ Bucket, ExpectedBucketOwner: scope.accountId, VersioningConfiguration: { Status: 'Enabled' } }), sendOptions(scope.signal)),
    );
    changed.push('versioning');
  }
  let lock: { enabled: boolean; mode?: string; days?: number };
  try {
    const current = await scope.s3.send(new GetObjectLockConfigurationCommand({ Bucket, ExpectedBucketOwner: scope.accountId }), sendOptions(scope.signal));
    const retention = current.ObjectLockConfiguration?.Rule?.DefaultRetention;
    lock = { enabled: current.ObjectLockConfiguration?.ObjectLockEnabled === 'Enabled', mode: retention?.Mode, days: retention?.Days };
  } catch (error) {
    if (!hasAwsCode(error, 'ObjectLockConfigurationNotFoundError')) throw mapAwsError(error, `s3:GetObjectLockConfiguration on ${Bucket}`);
    lock = { enabled: false };
  }
  const days = scope.location.retentionDays;
  if (!lock.enabled || lock.mode === undefined || (lock.mode === 'GOVERNANCE' && lock.days !== days)) {
    // A COMPLIANCE default someone set deliberately is stronger than ours and is kept.
    await awsCall(`s3:PutObjectLockConfiguration on ${Bucket}`, () =>
      scope.s3.send(
        new PutObjectLockConfigurationCommand({
          Bucket,
          ExpectedBucketOwner: scope.accountId,
          ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'GOVERNANCE', Days: days } } },
        }),
        sendOptions(scope.signal),
      ),
    );
    changed.push('object-lock');
  }
  return changed;
}

/** The bytes stored under `key`, or null when there is none. */
export async function readEvidenceObject(scope: EvidenceS3Scope, key: string): Promise<{ text: string; versionId?: string } | null> {
  const Bucket = scope.location.bucket;
  try {
    const object = await scope.s3.send(new GetObjectCommand({ Bucket, Key: key, ExpectedBucketOwner: scope.accountId }), sendOptions(scope.signal));
    const text = (await object.Body?.transformToString('utf-8')) ?? '';
    return object.VersionId !== undefined ? { text, versionId: object.VersionId } : { text };
  } catch (error) {
    if (awsHttpStatus(error) === 404 || hasAwsCode(error, 'NoSuchKey', 'NotFound')) return null;
    throw mapAwsError(error, `s3:GetObject ${Bucket}/${key}`);
  }
}

function differentRecord(scope: EvidenceS3Scope, key: string): Error {
  return nonRetryable(
    FailureType.Conflict,
    `s3://${scope.location.bucket}/${key} already holds a different evidence record; a record is written once and never replaced`,
    { bucket: scope.location.bucket, key },
  );
}

/**
 * Writes `text` under `key` unless it is there already. Idempotent: the same bytes are success
 * (`written: false`); other bytes are `Conflict`, never overwritten (read first, then `If-None-Match: *`).
 */
export async function putEvidenceObject(scope: EvidenceS3Scope, key: string, text: string): Promise<{ versionId?: string; written: boolean }> {
  const Bucket = scope.location.bucket;
  const existing = await readEvidenceObject(scope, key);
  if (existing) {
    if (existing.text !== text) throw differentRecord(scope, key);
    return { ...(existing.versionId !== undefined ? { versionId: existing.versionId } : {}), written: false };
  }
  try {
    const put = await scope.s3.send(
      new PutObjectCommand({
        Bucket,
        Key: key,
        Body: text,
        ContentType: 'application/json',
        IfNoneMatch: '*',
        ExpectedBucketOwner: scope.accountId,
        ChecksumAlgorithm: 'SHA256',
      }),
      sendOptions(scope.signal),
    );
    return { ...(put.VersionId !== undefined ? { versionId: put.VersionId } : {}), written: true };
  } catch (error) {
    if (awsHttpStatus(error) !== 412 && !hasAwsCode(error, 'PreconditionFailed')) throw mapAwsError(error, `s3:PutObject ${Bucket}/${key}`);
    // Written meanwhile (an earlier attempt whose answer was lost, or someone else): the bytes decide.
    const now = await readEvidenceObject(scope, key);
    if (now?.text !== text) throw differentRecord(scope, key);
    return { ...(now.versionId !== undefined ? { versionId: now.versionId } : {}), written: false };
  }
}
