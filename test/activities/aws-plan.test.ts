/**
 * `planAws` against the sandbox's moto (S3, IAM, Secrets Manager, STS), with private names (`awsplan-test-*`; other
 * test processes share this moto, so nothing here resets it and everything it creates it deletes). Four
 * environments: a fresh one (every resource planned `create`), one converged by the real activities in static and
 * one in sts mode (the plan is empty: plan and apply agree, trust policies included), and one whose retention the catalog shortens, whose versioning someone suspended,
 * whose Loki policy carries a statement logstack does not write, whose ESO reader holds another policy and whose
 * secret holds a key Loki does not read (each destructive change flagged). For each, every resource it could touch is
 * read before and after the plan and must be unchanged: the plan wrote nothing. The destructive environment is then
 * converged by the real activities, which change exactly what the plan said, and planned again: nothing left.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  DeleteBucketCommand,
  DeleteObjectsCommand,
  GetBucketEncryptionCommand,
  GetBucketLifecycleConfigurationCommand,
  GetBucketPolicyCommand,
  GetBucketTaggingCommand,
  GetBucketVersioningCommand,
  GetPublicAccessBlockCommand,
  HeadBucketCommand,
  ListBucketsCommand,
  ListObjectVersionsCommand,
  PutBucketVersioningCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import {
  DeleteAccessKeyCommand,
  DeleteRoleCommand,
  DeleteRolePolicyCommand,
  DeleteUserCommand,
  DeleteUserPolicyCommand,
  GetRoleCommand,
  GetRolePolicyCommand,
  GetUserCommand,
  GetUserPolicyCommand,
  ListAccessKeysCommand,
  ListAttachedRolePoliciesCommand,
  ListAttachedUserPoliciesCommand,
  ListRolePoliciesCommand,
  ListUserPoliciesCommand,
  ListUserTagsCommand,
  PutUserPolicyCommand,
  type IAMClient,
} from '@aws-sdk/client-iam';
import {
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretVersionIdsCommand,
  PutSecretValueCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { createAwsActivities, type AwsActivities, type AwsClients } from '../../activities/aws/index.ts';
import { accountIdLookup } from '../../activities/aws/common.ts';
import { ensureStoreReaderRole, ensureStoreReaderUser, type ReaderScope } from '../../activities/aws/store-reader.ts';
import { LOKI_BUCKET_POLICY_NAME, lokiBucketPolicy, principalName, storeReaderName, type Environment } from '../../domain/index.ts';
import { motoClients, motoEndpoint, testEnvironment } from './aws-moto.ts';

const REVISION = 'a'.repeat(40);
const SUFFIX = randomBytes(3).toString('hex');

/** A private static-mode environment: every AWS name it implies starts with (or, for the ESO reader, holds) `awsplan-test-`. */
function environment(kind: 'f' | 'u' | 'd' | 's', retentionDays: number): Environment {
  const name = `awsplan-test-${kind}${SUFFIX}`;
  const sts = kind === 's' ? ({ credentialMode: 'sts', oidcIssuer: `oidc.awsplan-test.example/${name}` } as const) : {};
  return testEnvironment({ name, bucket: `${name}-loki`, secretName: `${name}/loki-s3`, principalName: `${name}-loki`, retentionDays, ...sts });
}

/** Reads `call`, or `null` when AWS says the thing does not exist or is not configured. */
async function orNull<T>(call: () => Promise<T>): Promise<T | null> {
  try {
    return await call();
  } catch (error) {
    const name = (error as { name?: string }).name ?? '';
    if (/NoSuch|NotFound|ResourceNotFound/.test(name)) return null;
    throw error;
  }
}

/** Without SDK metadata, and without what reading itself changes (a secret's last-accessed date). */
function strip(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  const { $metadata: _m, LastAccessedDate: _l, ...rest } = value as Record<string, unknown>;
  return JSON.parse(JSON.stringify(rest)) as unknown;
}

/** Everything of `env` in AWS that `planAws` could touch: the bucket's settings, both IAM users, the secret's versions. */
async function snapshot(clients: { s3: S3Client; iam: IAMClient; sm: SecretsManagerClient }, env: Environment): Promise<unknown> {
  const { s3, iam, sm } = clients;
  const Bucket = env.aws.bucket;
  const bucketExists = (await orNull(() => s3.send(new HeadBucketCommand({ Bucket })))) !== null;
  const bucket = bucketExists
    ? {
        versioning: strip(await s3.send(new GetBucketVersioningCommand({ Bucket }))),
        lifecycle: strip(await orNull(() => s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket })))),
        encryption: strip(await orNull(() => s3.send(new GetBucketEncryptionCommand({ Bucket })))),
        publicAccessBlock: strip(await orNull(() => s3.send(new GetPublicAccessBlockCommand({ Bucket })))),
        policy: strip(await orNull(() => s3.send(new GetBucketPolicyCommand({ Bucket })))),
        tags: strip(await orNull(() => s3.send(new GetBucketTaggingCommand({ Bucket })))),
      }
    : null;
  const users: Record<string, unknown> = {};
  for (const UserName of env.aws.credentialMode === 'static' ? [principalName(env), storeReaderName(env)] : []) {
    const user = await orNull(() => iam.send(new GetUserCommand({ UserName })));
    if (user === null) {
      users[UserName] = null;
      continue;
    }
    const inline = (await iam.send(new ListUserPoliciesCommand({ UserName }))).PolicyNames ?? [];
    const documents: Record<string, unknown> = {};
    for (const PolicyName of inline) documents[PolicyName] = (await iam.send(new GetUserPolicyCommand({ UserName, PolicyName }))).PolicyDocument;
    users[UserName] = {
      user: strip(user),
      tags: strip(await iam.send(new ListUserTagsCommand({ UserName }))),
      documents,
      attached: strip(await iam.send(new ListAttachedUserPoliciesCommand({ UserName }))),
      keys: ((await iam.send(new ListAccessKeysCommand({ UserName }))).AccessKeyMetadata ?? []).map((k) => `${k.AccessKeyId}:${k.Status}`),
    };
  }
  const SecretId = env.aws.secretName;
  const described = await orNull(() => sm.send(new DescribeSecretCommand({ SecretId })));
  const versions = described === null ? [] : ((await sm.send(new ListSecretVersionIdsCommand({ SecretId, IncludeDeprecated: true }))).Versions ?? []);
  // Versions by id and stages (moto dates a listed version at the time of the listing, so dates are not compared).
  const secret = described === null ? null : { described: strip(described), versions: versions.map((v) => `${v.VersionId}:${(v.VersionStages ?? []).join(',')}`).sort() };
  const roles: Record<string, unknown> = {};
  for (const RoleName of env.aws.credentialMode === 'sts' ? [principalName(env), storeReaderName(env)] : []) {
    const role = await orNull(() => iam.send(new GetRoleCommand({ RoleName })));
    if (role === null) {
      roles[RoleName] = null;
      continue;
    }
    const inline = (await iam.send(new ListRolePoliciesCommand({ RoleName }))).PolicyNames ?? [];
    const documents: Record<string, unknown> = {};
    for (const PolicyName of inline) documents[PolicyName] = (await iam.send(new GetRolePolicyCommand({ RoleName, PolicyName }))).PolicyDocument;
    // RoleLastUsed is not part of what a write would change.
    const { RoleLastUsed: _used, ...rest } = role.Role ?? {};
    roles[RoleName] = { role: strip(rest), documents, attached: strip(await iam.send(new ListAttachedRolePoliciesCommand({ RoleName }))) };
  }
  const listed = ((await s3.send(new ListBucketsCommand({}))).Buckets ?? []).map((b) => b.Name).filter((n) => n?.includes(`${SUFFIX}`));
  return { bucket, users, roles, secret, listed };
}

/** Deletes whatever of `env` exists in moto: the bucket (emptied), both users (keys and policies first), the secret. */
async function remove(clients: { s3: S3Client; iam: IAMClient; sm: SecretsManagerClient }, env: Environment): Promise<void> {
  const { s3, iam, sm } = clients;
  const Bucket = env.aws.bucket;
  if ((await orNull(() => s3.send(new HeadBucketCommand({ Bucket })))) !== null) {
    const listed = await s3.send(new ListObjectVersionsCommand({ Bucket }));
    const objects = [...(listed.Versions ?? []), ...(listed.DeleteMarkers ?? [])].map((o) => ({ Key: o.Key ?? '', VersionId: o.VersionId }));
    if (objects.length > 0) await s3.send(new DeleteObjectsCommand({ Bucket, Delete: { Objects: objects } }));
    await s3.send(new DeleteBucketCommand({ Bucket }));
  }
  for (const RoleName of env.aws.credentialMode === 'sts' ? [principalName(env), storeReaderName(env)] : []) {
    if ((await orNull(() => iam.send(new GetRoleCommand({ RoleName })))) === null) continue;
    for (const PolicyName of (await iam.send(new ListRolePoliciesCommand({ RoleName }))).PolicyNames ?? []) await iam.send(new DeleteRolePolicyCommand({ RoleName, PolicyName }));
    await iam.send(new DeleteRoleCommand({ RoleName }));
  }
  for (const UserName of env.aws.credentialMode === 'static' ? [principalName(env), storeReaderName(env)] : []) {
    if ((await orNull(() => iam.send(new GetUserCommand({ UserName })))) === null) continue;
    for (const k of (await iam.send(new ListAccessKeysCommand({ UserName }))).AccessKeyMetadata ?? []) await iam.send(new DeleteAccessKeyCommand({ UserName, AccessKeyId: k.AccessKeyId }));
    for (const PolicyName of (await iam.send(new ListUserPoliciesCommand({ UserName }))).PolicyNames ?? []) await iam.send(new DeleteUserPolicyCommand({ UserName, PolicyName }));
    await iam.send(new DeleteUserCommand({ UserName }));
  }
  await orNull(() => sm.send(new DeleteSecretCommand({ SecretId: env.aws.secretName, ForceDeleteWithoutRecovery: true })));
}

void describe('planAws against moto (sandbox, private awsplan-test-* names)', () => {
  let clients: AwsClients;
  let activities: AwsActivities;
  let raw: { s3: S3Client; iam: IAMClient; sm: SecretsManagerClient };
  const fresh = environment('f', 7);
  const upToDate = environment('u', 7);
  const converged30 = environment('d', 30);
  const shortened = environment('d', 7);
  const sts = environment('s', 7);

  /** What a bootstrap converges in AWS, by the real activities: bucket, Loki user, Loki secret, then the ESO reader. */
  const converge = async (env: Environment) => {
    const bucket = await activities.ensureBucket({ environment: env });
    const { principalArn } = await activities.ensureLokiCredentials({ environment: env });
    const secret = await activities.seedLokiSecret({ environment: env, principalArn });
    const scope: ReaderScope = { iam: raw.iam, sm: raw.sm, env, signal: undefined, accountId: await accountIdLookup(() => clients.sts())() };
    const reader = env.aws.credentialMode === 'static' ? await ensureStoreReaderUser(scope) : await ensureStoreReaderRole(scope);
    return { bucket, secret, reader };
  };

  before(() => {
    clients = motoClients(motoEndpoint());
    activities = createAwsActivities(clients);
    raw = { s3: clients.s3('eu-west-1'), iam: clients.iam(), sm: clients.secretsManager('eu-west-1') };
  });
  after(async () => {
    for (const env of [fresh, upToDate, shortened, sts]) await remove(raw, env);
    clients.destroy();
  });

  it('plans every resource of a fresh environment as create, and creates nothing', async () => {
    const before = await snapshot(raw, fresh);
    const plan = await activities.planAws({ environment: fresh, revision: REVISION });
    assert.deepEqual(await snapshot(raw, fresh), before);
    assert.deepEqual(before, { bucket: null, users: { [principalName(fresh)]: null, [storeReaderName(fresh)]: null }, roles: {}, secret: null, listed: [] });
    assert.equal(plan.revision, REVISION);
    assert.deepEqual(plan.destructive, []);
    assert.ok(plan.changes.every((c) => c.action === 'create'), JSON.stringify(plan.changes));
    assert.deepEqual(
      [...new Set(plan.changes.map((c) => c.resource))],
      [`s3://${fresh.aws.bucket}`, `iam user ${principalName(fresh)}`, `iam user ${storeReaderName(fresh)}`, `secretsmanager ${fresh.aws.secretName}`],
    );
  });

  it('plans nothing for an environment the real activities converged (plan and apply agree), and writes nothing', async () => {
    await converge(upToDate);
    const before = await snapshot(raw, upToDate);
    const plan = await activities.planAws({ environment: upToDate, revision: REVISION });
    assert.deepEqual(await snapshot(raw, upToDate), before);
    assert.deepEqual(plan.changes, [], JSON.stringify(plan.changes));
    // Five bucket settings, the Loki policy, the reader policy, the secret key set.
    assert.equal(plan.unchanged, 8);
  });

  it('plans nothing for an sts environment the real activities converged: the roles\' trust and policies agree', async () => {
    await converge(sts);
    const before = await snapshot(raw, sts);
    const plan = await activities.planAws({ environment: sts, revision: REVISION });
    assert.deepEqual(await snapshot(raw, sts), before);
    assert.deepEqual(plan.changes, [], JSON.stringify(plan.changes));
    // Five bucket settings, both roles' trust and policy, the secret key set.
    assert.equal(plan.unchanged, 10);
  });

  it('flags retention shortened, a policy statement removed, the reader losing a policy and a secret key removed; versioning re-enabled is a change; nothing written', async () => {
    await converge(converged30);
    // What drifted since: versioning suspended by hand, a statement added to the Loki policy, a policy on the
    // reader, a key in the secret that Loki does not read.
    await raw.s3.send(new PutBucketVersioningCommand({ Bucket: shortened.aws.bucket, VersioningConfiguration: { Status: 'Suspended' } }));
    const policy = lokiBucketPolicy(shortened) as { Statement: object[] };
    const legacy = { ...policy, Statement: [...policy.Statement, { Sid: 'LegacyWideRead', Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::awsplan-test-legacy/*' }] };
    await raw.iam.send(new PutUserPolicyCommand({ UserName: principalName(shortened), PolicyName: LOKI_BUCKET_POLICY_NAME, PolicyDocument: JSON.stringify(legacy) }));
    await raw.iam.send(new PutUserPolicyCommand({ UserName: storeReaderName(shortened), PolicyName: 'awsplan-test-extra', PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:ListAllMyBuckets', Resource: '*' }] }) }));
    const current = JSON.parse((await raw.sm.send(new GetSecretValueCommand({ SecretId: shortened.aws.secretName }))).SecretString ?? '{}') as Record<string, string>;
    await raw.sm.send(new PutSecretValueCommand({ SecretId: shortened.aws.secretName, SecretString: JSON.stringify({ ...current, legacy_token: 'x' }) }));

    // The catalog now says 7 days where the bucket keeps 30.
    const before = await snapshot(raw, shortened);
    const plan = await activities.planAws({ environment: shortened, revision: REVISION });
    assert.deepEqual(await snapshot(raw, shortened), before, 'planAws wrote nothing');
    assert.deepEqual(plan.destructive, [
      `s3://${shortened.aws.bucket} lifecycle logstack-retention: expiration 30 days → 7 days (retention shortened)`,
      `iam user ${principalName(shortened)} policy logstack-loki-bucket statement LegacyWideRead: statement removed`,
      `iam user ${storeReaderName(shortened)} inline:awsplan-test-extra: removed: the reader keeps its read policy only`,
      `secretsmanager ${shortened.aws.secretName} key legacy_token: key removed from the new version`,
    ]);
    // Versioning found suspended is turned back on: a change, but not a destructive one (nothing is lost by it).
    assert.deepEqual(
      plan.changes.filter((c) => !c.destructive).map((c) => [c.resource, c.item, c.action, c.detail]),
      [[`s3://${shortened.aws.bucket}`, 'versioning', 'change', 'Suspended → Enabled']],
    );
    assert.ok(!JSON.stringify(plan).includes(current['access_key_secret'] ?? '(none)'), 'no secret value in the plan');

    // The real convergence changes exactly what the plan said, and then there is nothing left to plan.
    const applied = await converge(shortened);
    assert.deepEqual(applied.bucket.changed, ['versioning', 'lifecycle']);
    assert.equal(applied.secret.changed, true);
    assert.deepEqual(applied.reader.removed, ['inline:awsplan-test-extra']);
    assert.deepEqual((await activities.planAws({ environment: shortened, revision: REVISION })).changes, []);
  });
});
