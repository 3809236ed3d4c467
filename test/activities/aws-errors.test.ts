/**
 * How AWS refusals and failures reach the workflow: AccessDenied from moto with its IAM
 * authorization switched on, transport failures from a closed port, and the error mapper on the
 * SDK's own exception class.
 */
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CreateAccessKeyCommand, CreateUserCommand, ListUsersCommand, PutUserPolicyCommand } from '@aws-sdk/client-iam';
import { S3ServiceException } from '@aws-sdk/client-s3';
import { ListSecretsCommand } from '@aws-sdk/client-secrets-manager';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createAwsActivities, createAwsClients, type AwsClients } from '../../activities/aws/index.ts';
import { mapAwsError, nonRetryable } from '../../activities/errors.ts';
import { bucketNames, motoClients, rejection, resetMoto, setMotoAuthorization, testEnvironment } from './aws-moto.ts';
import { type PrivateMoto, startPrivateMoto } from './private-moto.ts';

function s3Error(name: string, status: number, fault: 'client' | 'server' = status >= 500 ? 'server' : 'client'): S3ServiceException {
  return new S3ServiceException({ name, $fault: fault, $metadata: { httpStatusCode: status, requestId: 'r-1' }, message: `${name} from S3` });
}

void describe('AWS error mapping (SDK exception objects, no AWS call)', () => {
  void test('AccessDenied (403) becomes a non-retryable AccessDenied naming the action', () => {
    const mapped = mapAwsError(s3Error('AccessDenied', 403), 's3:CreateBucket logs in eu-west-1') as ApplicationFailure;
    assert.ok(mapped instanceof ApplicationFailure);
    assert.equal(mapped.type, 'AccessDenied');
    assert.equal(mapped.nonRetryable, true);
    assert.match(mapped.message, /s3:CreateBucket logs in eu-west-1 was refused: AccessDenied \(HTTP 403\).*grant/);
  });

  void test('invalid credentials become a non-retryable AccessDenied that says to fix the credentials', () => {
    const mapped = mapAwsError(s3Error('InvalidAccessKeyId', 403), 's3:HeadBucket on logs') as ApplicationFailure;
    assert.equal(mapped.type, 'AccessDenied');
    assert.match(mapped.message, /credentials/);
  });

  void test('a malformed request becomes a non-retryable InvalidInput', () => {
    const mapped = mapAwsError(s3Error('InvalidBucketName', 400), 's3:CreateBucket x') as ApplicationFailure;
    assert.equal(mapped.type, 'InvalidInput');
    assert.equal(mapped.nonRetryable, true);
  });

  void test('throttling, 5xx, conflicts in progress and network errors are rethrown unchanged for the retry policy', () => {
    for (const error of [
      s3Error('SlowDown', 503),
      s3Error('InternalError', 500),
      s3Error('OperationAborted', 409),
      s3Error('ThrottlingException', 400),
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }),
    ]) {
      assert.equal(mapAwsError(error, 'some action'), error);
    }
  });

  void test('an ApplicationFailure passes through untouched', () => {
    const failure = nonRetryable('Conflict', 'taken');
    assert.equal(mapAwsError(failure, 'x'), failure);
    assert.equal(failure.type, 'Conflict');
    assert.equal(failure.nonRetryable, true);
  });
});

void describe('AWS failures from real endpoints', () => {
  void test('ensureBucket against a closed port rethrows the transport error as retryable (not an ApplicationFailure)', async () => {
    const clients = createAwsClients({ endpoint: 'http://127.0.0.1:1', maxAttempts: 1, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
    try {
      const failure = await rejection(createAwsActivities(clients).ensureBucket({ environment: testEnvironment() }));
      assert.notEqual(failure.name, 'ApplicationFailure');
      assert.equal(failure.nonRetryable, undefined);
    } finally {
      clients.destroy();
    }
  });
});

void describe('activity context against moto (private: reset per test)', () => {
  let moto: PrivateMoto;
  let endpoint: string;
  let clients: AwsClients;

  before(async () => {
    moto = await startPrivateMoto();
    endpoint = moto.endpoint;
    clients = motoClients(endpoint);
  });
  beforeEach(() => resetMoto(endpoint));
  after(async () => {
    clients.destroy();
    await moto.stop();
  });

  void test('inside an activity context (MockActivityEnvironment) ensureBucket runs with the cancellation signal and converges (moto)', async () => {
    const activities = createAwsActivities(clients);
    const result: Awaited<ReturnType<typeof activities.ensureBucket>> = await new MockActivityEnvironment().run(activities.ensureBucket, {
      environment: testEnvironment(),
    });
    assert.equal(result.created, true);
    assert.deepEqual(await bucketNames(clients.s3('eu-west-1')), ['logstack-dev-loki']);
  });

  void test('an activity cancelled before it starts makes no AWS change and ends cancelled (moto)', async () => {
    const activities = createAwsActivities(clients);
    const env = new MockActivityEnvironment();
    env.cancel();
    const failure = await rejection(env.run(activities.ensureBucket, { environment: testEnvironment() }));
    assert.equal(failure.name, 'CancelledFailure');
    assert.deepEqual(await bucketNames(clients.s3('eu-west-1')), []);
  });

  void test('an activity cancelled mid-way stops at its next AWS call and ends cancelled (moto)', async () => {
    const env = new MockActivityEnvironment();
    // Cancel as soon as moto has answered CreateBucket: the settings that follow must not be written.
    const s3 = createAwsClients({ endpoint, maxAttempts: 1 }).s3('eu-west-1');
    s3.middlewareStack.add(
      (next, context) => async (args) => {
        const output = await next(args);
        if (context.commandName === 'CreateBucketCommand') env.cancel();
        return output;
      },
      { step: 'initialize', name: 'cancelAfterCreateBucket' },
    );
    const instrumented: AwsClients = { ...clients, s3: () => s3 };
    try {
      const failure = await rejection(env.run(createAwsActivities(instrumented).ensureBucket, { environment: testEnvironment() }));
      assert.equal(failure.name, 'CancelledFailure');
      assert.deepEqual(await bucketNames(clients.s3('eu-west-1')), ['logstack-dev-loki']);
      const drift = (await createAwsActivities(clients).inspectBucket({ environment: testEnvironment() })).drift;
      assert.ok(drift.includes('versioning is not enabled, want Enabled'), 'no setting was written after the cancellation');
    } finally {
      s3.destroy();
    }
  });
});

void describe('AccessDenied against moto with IAM authorization enforced (a private moto: enforcement is server-wide)', () => {
  let moto: PrivateMoto;
  let endpoint: string;
  let admin: AwsClients;
  let limited: AwsClients | undefined;

  before(async () => {
    moto = await startPrivateMoto();
    endpoint = moto.endpoint;
    admin = motoClients(endpoint);
  });
  beforeEach(async () => {
    await setMotoAuthorization(endpoint, false);
    await resetMoto(endpoint);
    // A principal that may look (HeadBucket, ListBuckets, GetUser, DescribeSecret) but not create anything.
    // moto authorizes HeadBucket as the action "s3:HeadBucket" (AWS checks s3:ListBucket), so both are granted.
    await admin.iam().send(new CreateUserCommand({ UserName: 'read-only' }));
    await admin.iam().send(
      new PutUserPolicyCommand({
        UserName: 'read-only',
        PolicyName: 'look-only',
        PolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Action: ['sts:GetCallerIdentity', 's3:ListBucket', 's3:HeadBucket', 's3:ListAllMyBuckets', 'iam:GetUser', 'iam:ListUserTags', 'secretsmanager:DescribeSecret'],
              Resource: '*',
            },
          ],
        }),
      }),
    );
    const key = (await admin.iam().send(new CreateAccessKeyCommand({ UserName: 'read-only' }))).AccessKey;
    limited = createAwsClients({ endpoint, maxAttempts: 1, credentials: { accessKeyId: key?.AccessKeyId ?? '', secretAccessKey: key?.SecretAccessKey ?? '' } });
  });
  after(async () => {
    await setMotoAuthorization(endpoint, false);
    limited?.destroy();
    admin.destroy();
    await moto.stop();
  });

  async function asLimited<T>(run: (clients: AwsClients) => Promise<T>): Promise<T> {
    assert.ok(limited);
    await setMotoAuthorization(endpoint, true);
    try {
      return await run(limited);
    } finally {
      await setMotoAuthorization(endpoint, false);
    }
  }

  void test('ensureBucket without s3:CreateBucket (moto) → non-retryable AccessDenied naming the action; no bucket', async () => {
    const failure = await asLimited((clients) => rejection(createAwsActivities(clients).ensureBucket({ environment: testEnvironment() })));
    assert.equal(failure.type, 'AccessDenied');
    assert.equal(failure.nonRetryable, true);
    assert.match(failure.message, /s3:CreateBucket logstack-dev-loki in eu-west-1 was refused/);
    assert.deepEqual(await bucketNames(admin.s3('eu-west-1')), []);
  });

  void test('ensureLokiCredentials without iam:CreateUser (moto) → non-retryable AccessDenied; no user', async () => {
    const failure = await asLimited((clients) => rejection(createAwsActivities(clients).ensureLokiCredentials({ environment: testEnvironment() })));
    assert.equal(failure.type, 'AccessDenied');
    assert.equal(failure.nonRetryable, true);
    assert.match(failure.message, /iam:(GetUser|CreateUser) logstack-dev-loki was refused/);
    assert.deepEqual((await admin.iam().send(new ListUsersCommand({}))).Users?.map((u) => u.UserName), ['read-only']);
  });

  void test('seedLokiSecret without secretsmanager:GetSecretValue/CreateSecret (moto) → non-retryable AccessDenied; no secret, no key', async () => {
    const environment = testEnvironment({ credentialMode: 'sts', oidcIssuer: 'oidc.example.com/c1' });
    const failure = await asLimited((clients) =>
      rejection(createAwsActivities(clients).seedLokiSecret({ environment, principalArn: 'arn:aws:iam::123456789012:role/logstack-dev-loki' })),
    );
    assert.equal(failure.type, 'AccessDenied');
    assert.equal(failure.nonRetryable, true);
    assert.match(failure.message, /secretsmanager:\w+ logstack\/dev\/loki-s3 was refused/);
    assert.deepEqual((await admin.secretsManager('eu-west-1').send(new ListSecretsCommand({}))).SecretList, []);
  });
});
