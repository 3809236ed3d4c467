/**
 * The bucket activities against a real moto server (S3 + STS): idempotence, drift, hostile targets.
 */
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateBucketCommand,
  DeleteBucketPolicyCommand,
  DeletePublicAccessBlockCommand,
  GetBucketEncryptionCommand,
  GetBucketLifecycleConfigurationCommand,
  GetBucketLocationCommand,
  GetBucketPolicyCommand,
  GetBucketTaggingCommand,
  GetBucketVersioningCommand,
  GetPublicAccessBlockCommand,
  PutBucketLifecycleConfigurationCommand,
  PutBucketTaggingCommand,
  PutBucketVersioningCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { createAwsActivities, type AwsActivities, type AwsClients } from '../../activities/aws/index.ts';
import { bucketNames, motoClients, otherAccountS3, rejection, resetMoto, testEnvironment } from './aws-moto.ts';
import { type PrivateMoto, startPrivateMoto } from './private-moto.ts';

void describe('S3 bucket activities against moto (a private moto: these tests reset it)', () => {
  let moto: PrivateMoto;
  let endpoint: string;
  let clients: AwsClients;
  let activities: AwsActivities;
  let s3: S3Client;

  before(async () => {
    moto = await startPrivateMoto();
    endpoint = moto.endpoint;
    clients = motoClients(endpoint);
    activities = createAwsActivities(clients);
    s3 = clients.s3('eu-west-1');
  });
  beforeEach(() => resetMoto(endpoint));
  after(async () => {
    clients.destroy();
    await moto.stop();
  });

  void test('ensureBucket (moto): creates the bucket in its region with every setting; a second run changes nothing', async () => {
    const environment = testEnvironment({ retentionDays: 14 });
    const first = await activities.ensureBucket({ environment });
    assert.deepEqual(first, {
      bucket: 'logstack-dev-loki',
      created: true,
      changed: ['tags', 'public-access-block', 'encryption', 'versioning', 'lifecycle', 'policy'],
    });
    const second = await activities.ensureBucket({ environment });
    assert.deepEqual(second, { bucket: 'logstack-dev-loki', created: false, changed: [] });
    assert.deepEqual(await bucketNames(s3), ['logstack-dev-loki']);

    const Bucket = 'logstack-dev-loki';
    assert.equal((await s3.send(new GetBucketLocationCommand({ Bucket }))).LocationConstraint, 'eu-west-1');
    assert.equal((await s3.send(new GetBucketVersioningCommand({ Bucket }))).Status, 'Enabled');
    const encryption = await s3.send(new GetBucketEncryptionCommand({ Bucket }));
    assert.equal(encryption.ServerSideEncryptionConfiguration?.Rules?.[0]?.ApplyServerSideEncryptionByDefault?.SSEAlgorithm, 'AES256');
    assert.deepEqual((await s3.send(new GetPublicAccessBlockCommand({ Bucket }))).PublicAccessBlockConfiguration, {
      BlockPublicAcls: true,
      IgnorePublicAcls: true,
      BlockPublicPolicy: true,
      RestrictPublicBuckets: true,
    });
    const rule = (await s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket }))).Rules?.find((r) => r.ID === 'logstack-retention');
    assert.equal(rule?.Expiration?.Days, 14);
    assert.equal(rule?.NoncurrentVersionExpiration?.NoncurrentDays, 7);
    const policy = JSON.parse((await s3.send(new GetBucketPolicyCommand({ Bucket }))).Policy ?? '{}') as { Statement: Record<string, unknown>[] };
    assert.deepEqual(policy.Statement, [
      {
        Sid: 'DenyInsecureTransport',
        Effect: 'Deny',
        Principal: '*',
        Action: 's3:*',
        Resource: ['arn:aws:s3:::logstack-dev-loki', 'arn:aws:s3:::logstack-dev-loki/*'],
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
      },
    ]);
    const tags = (await s3.send(new GetBucketTaggingCommand({ Bucket }))).TagSet ?? [];
    assert.deepEqual(
      tags.map((t) => `${t.Key}=${t.Value}`).sort(),
      ['app=logstack', 'logstack.io/environment=dev'],
    );
    assert.deepEqual(await activities.inspectBucket({ environment }), { bucket: Bucket, exists: true, drift: [] });
  });

  void test('ensureBucket (moto): in us-east-1 creates without a LocationConstraint', async () => {
    const environment = testEnvironment({ region: 'us-east-1', bucket: 'logstack-use1-loki' });
    const result = await activities.ensureBucket({ environment });
    assert.equal(result.created, true);
    const location = await clients.s3('us-east-1').send(new GetBucketLocationCommand({ Bucket: 'logstack-use1-loki' }));
    assert.ok(location.LocationConstraint === undefined || (location.LocationConstraint as string) === '', 'us-east-1 has an empty location');
    assert.deepEqual((await activities.ensureBucket({ environment })).changed, []);
  });

  void test('inspectBucket (moto): reports an absent bucket and creates nothing', async () => {
    const result = await activities.inspectBucket({ environment: testEnvironment() });
    assert.deepEqual(result, { bucket: 'logstack-dev-loki', exists: false, drift: ['bucket logstack-dev-loki does not exist'] });
    assert.deepEqual(await bucketNames(s3), []);
  });

  void test('inspectBucket reports drift and ensureBucket fixes exactly the drifted settings, keeping foreign rules and tags (moto)', async () => {
    const environment = testEnvironment();
    const Bucket = environment.aws.bucket;
    await activities.ensureBucket({ environment });

    await s3.send(new PutBucketVersioningCommand({ Bucket, VersioningConfiguration: { Status: 'Suspended' } }));
    await s3.send(new DeletePublicAccessBlockCommand({ Bucket }));
    await s3.send(new DeleteBucketPolicyCommand({ Bucket }));
    await s3.send(
      new PutBucketTaggingCommand({
        Bucket,
        Tagging: { TagSet: [{ Key: 'team', Value: 'observability' }, { Key: 'app', Value: 'logstack' }, { Key: 'logstack.io/environment', Value: 'dev' }] },
      }),
    );
    await s3.send(
      new PutBucketLifecycleConfigurationCommand({
        Bucket,
        LifecycleConfiguration: {
          Rules: [
            { ID: 'logstack-retention', Status: 'Enabled', Filter: { Prefix: '' }, Expiration: { Days: 90 }, NoncurrentVersionExpiration: { NoncurrentDays: 7 }, AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } },
            { ID: 'team-tmp', Status: 'Enabled', Filter: { Prefix: 'tmp/' }, Expiration: { Days: 1 } },
          ],
        },
      }),
    );

    const inspected = await activities.inspectBucket({ environment });
    assert.equal(inspected.exists, true);
    assert.deepEqual(inspected.drift, [
      'public access block is not configured, want all four settings true',
      'versioning is Suspended, want Enabled',
      'lifecycle expiration is 90 days, want 7 days (retentionDays)',
      'bucket policy does not deny requests without TLS (aws:SecureTransport=false)',
    ]);

    const fixed = await activities.ensureBucket({ environment });
    assert.deepEqual(fixed, { bucket: Bucket, created: false, changed: ['public-access-block', 'versioning', 'lifecycle', 'policy'] });
    assert.deepEqual((await activities.inspectBucket({ environment })).drift, []);

    const rules = (await s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket }))).Rules ?? [];
    assert.deepEqual(rules.map((r) => r.ID).sort(), ['logstack-retention', 'team-tmp']);
    const tags = (await s3.send(new GetBucketTaggingCommand({ Bucket }))).TagSet ?? [];
    assert.deepEqual(tags.map((t) => `${t.Key}=${t.Value}`).sort(), ['app=logstack', 'logstack.io/environment=dev', 'team=observability']);
  });

  void test('ensureBucket (moto): an untagged bucket of this account is a Conflict naming aws.adopt; adopted, it is tagged first and converged, its other tags kept', async () => {
    const Bucket = 'logstack-dev-loki';
    await s3.send(new CreateBucketCommand({ Bucket, CreateBucketConfiguration: { LocationConstraint: 'eu-west-1' } }));
    await s3.send(new PutBucketTaggingCommand({ Bucket, Tagging: { TagSet: [{ Key: 'team', Value: 'observability' }] } }));
    const refused = await rejection(activities.ensureBucket({ environment: testEnvironment() }));
    assert.equal(refused.type, 'Conflict');
    assert.equal(refused.nonRetryable, true);
    assert.match(refused.message, /S3 bucket "logstack-dev-loki" exists but logstack did not create it.*add "bucket" to aws\.adopt of environment "dev"/);
    assert.equal((await s3.send(new GetBucketVersioningCommand({ Bucket }))).Status, undefined, 'nothing was written');

    const adopted = await activities.ensureBucket({ environment: testEnvironment({ adopt: ['bucket'] }) });
    assert.deepEqual(adopted, { bucket: Bucket, created: false, changed: ['tags', 'public-access-block', 'encryption', 'versioning', 'lifecycle', 'policy'] });
    const tags = (await s3.send(new GetBucketTaggingCommand({ Bucket }))).TagSet ?? [];
    assert.deepEqual(tags.map((t) => `${t.Key}=${t.Value}`).sort(), ['app=logstack', 'logstack.io/environment=dev', 'team=observability']);
    // Once tagged it is owned: the adopt flag is no longer needed.
    assert.deepEqual(await activities.ensureBucket({ environment: testEnvironment() }), { bucket: Bucket, created: false, changed: [] });
  });

  void test('ensureBucket (moto): a retention change rewrites only the lifecycle', async () => {
    await activities.ensureBucket({ environment: testEnvironment({ retentionDays: 7 }) });
    const result = await activities.ensureBucket({ environment: testEnvironment({ retentionDays: 30 }) });
    assert.deepEqual(result.changed, ['lifecycle']);
  });

  void test('ensureBucket (moto): a bucket owned by another moto account is a non-retryable Conflict and stays untouched', async () => {
    const foreign = otherAccountS3(endpoint, 'eu-west-1');
    try {
      await foreign.send(new CreateBucketCommand({ Bucket: 'logstack-dev-loki', CreateBucketConfiguration: { LocationConstraint: 'eu-west-1' } }));
      const environment = testEnvironment();
      const failure = await rejection(activities.ensureBucket({ environment }));
      assert.equal(failure.name, 'ApplicationFailure');
      assert.equal(failure.type, 'Conflict');
      assert.equal(failure.nonRetryable, true);
      assert.match(failure.message, /logstack-dev-loki.*another account/);
      assert.match(failure.message, /aws\.bucket/);

      const inspectFailure = await rejection(activities.inspectBucket({ environment }));
      assert.equal(inspectFailure.type, 'Conflict');

      assert.equal((await foreign.send(new GetBucketVersioningCommand({ Bucket: 'logstack-dev-loki' }))).Status, undefined);
      const tagFailure = await rejection(foreign.send(new GetBucketTaggingCommand({ Bucket: 'logstack-dev-loki' })));
      assert.equal(tagFailure.name, 'NoSuchTagSet');
      assert.deepEqual(await bucketNames(s3), []);
    } finally {
      foreign.destroy();
    }
  });

  void test('ensureBucket (moto): our bucket in another region than the catalog says is a Conflict naming both regions', async () => {
    await clients.s3('us-west-2').send(new CreateBucketCommand({ Bucket: 'logstack-dev-loki', CreateBucketConfiguration: { LocationConstraint: 'us-west-2' } }));
    const failure = await rejection(activities.ensureBucket({ environment: testEnvironment({ region: 'eu-west-1' }) }));
    assert.equal(failure.type, 'Conflict');
    assert.equal(failure.nonRetryable, true);
    assert.match(failure.message, /us-west-2.*eu-west-1/);
    assert.equal((await s3.send(new GetBucketVersioningCommand({ Bucket: 'logstack-dev-loki' }))).Status, undefined);
  });

  void test('ensureBucket (moto): an invalid bucket name in a hand-written input is InvalidInput before any call', async () => {
    const environment = testEnvironment();
    const bad = { ...environment, aws: { ...environment.aws, bucket: 'Not_A_Bucket' } };
    const failure = await rejection(activities.ensureBucket({ environment: bad }));
    assert.equal(failure.type, 'InvalidInput');
    assert.equal(failure.nonRetryable, true);
    assert.match(failure.message, /aws\.bucket "Not_A_Bucket"/);
    assert.deepEqual(await bucketNames(s3), []);
  });
});
