/**
 * Loki credentials (IAM user / role) and the Loki secret in Secrets Manager, against a real moto
 * server (IAM, STS, Secrets Manager): idempotence, key rotation, crash-safe retries, no secret leaks.
 */
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  CreateAccessKeyCommand,
  CreateUserCommand,
  DeleteAccessKeyCommand,
  GetRoleCommand,
  GetUserPolicyCommand,
  ListAccessKeysCommand,
  ListRolesCommand,
  ListUserPoliciesCommand,
  ListUsersCommand,
  PutUserPolicyCommand,
  UpdateAccessKeyCommand,
  type IAMClient,
} from '@aws-sdk/client-iam';
import {
  DeleteSecretCommand,
  GetSecretValueCommand,
  ListSecretVersionIdsCommand,
  ListSecretsCommand,
  PutSecretValueCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { createAwsActivities, type AwsActivities, type AwsClients } from '../../activities/aws/index.ts';
import type { Environment } from '../../domain/index.ts';
import { MOTO_ACCOUNT, motoClients, rejection, resetMoto, testEnvironment } from './aws-moto.ts';
import { type PrivateMoto, startPrivateMoto } from './private-moto.ts';

const ISSUER = 'oidc.dev.example.com/cluster-1';

function decodePolicy(document: string | undefined): unknown {
  assert.ok(document !== undefined, 'policy document present');
  try {
    return JSON.parse(document);
  } catch {
    return JSON.parse(decodeURIComponent(document));
  }
}

void describe('Loki credentials and secret against moto (a private moto: these tests reset it)', () => {
  let moto: PrivateMoto;
  let endpoint: string;
  let clients: AwsClients;
  let activities: AwsActivities;
  let iam: IAMClient;
  let sm: SecretsManagerClient;

  before(async () => {
    moto = await startPrivateMoto();
    endpoint = moto.endpoint;
    clients = motoClients(endpoint);
    activities = createAwsActivities(clients);
    iam = clients.iam();
    sm = clients.secretsManager('eu-west-1');
  });
  beforeEach(() => resetMoto(endpoint));
  after(async () => {
    clients.destroy();
    await moto.stop();
  });

  const userKeys = async (user = 'logstack-dev-loki') =>
    (await iam.send(new ListAccessKeysCommand({ UserName: user }))).AccessKeyMetadata ?? [];
  const versionCount = async (secretId: string) =>
    ((await sm.send(new ListSecretVersionIdsCommand({ SecretId: secretId, IncludeDeprecated: true }))).Versions ?? []).length;
  const storedSecret = async (secretId: string) =>
    JSON.parse((await sm.send(new GetSecretValueCommand({ SecretId: secretId }))).SecretString ?? '{}') as Record<string, string>;
  const seedStatic = async (environment: Environment) => {
    const credentials = await activities.ensureLokiCredentials({ environment });
    return activities.seedLokiSecret({ environment, principalArn: credentials.principalArn });
  };

  // ── ensureLokiCredentials ─────────────────────────────────────────────────────────────────

  void test('ensureLokiCredentials static (moto): one tagged IAM user with a policy scoped to exactly the bucket; a second run changes nothing', async () => {
    const environment = testEnvironment();
    const first = await activities.ensureLokiCredentials({ environment });
    const second = await activities.ensureLokiCredentials({ environment });
    assert.deepEqual(first, { mode: 'static', principalArn: `arn:aws:iam::${MOTO_ACCOUNT}:user/logstack-dev-loki`, created: true });
    assert.deepEqual(second, { ...first, created: false });
    assert.deepEqual((await iam.send(new ListUsersCommand({}))).Users?.map((u) => u.UserName), ['logstack-dev-loki']);
    assert.deepEqual((await iam.send(new ListUserPoliciesCommand({ UserName: 'logstack-dev-loki' }))).PolicyNames, ['logstack-loki-bucket']);
    const policy = await iam.send(new GetUserPolicyCommand({ UserName: 'logstack-dev-loki', PolicyName: 'logstack-loki-bucket' }));
    assert.deepEqual(decodePolicy(policy.PolicyDocument), {
      Version: '2012-10-17',
      Statement: [
        { Sid: 'LokiListBucket', Effect: 'Allow', Action: ['s3:ListBucket'], Resource: ['arn:aws:s3:::logstack-dev-loki'] },
        { Sid: 'LokiObjects', Effect: 'Allow', Action: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'], Resource: ['arn:aws:s3:::logstack-dev-loki/*'] },
      ],
    });
    assert.deepEqual(await userKeys(), [], 'ensureLokiCredentials creates no access key');
  });

  void test('ensureLokiCredentials static (moto): an edited inline policy is converged back', async () => {
    const environment = testEnvironment();
    await activities.ensureLokiCredentials({ environment });
    await iam.send(
      new PutUserPolicyCommand({
        UserName: 'logstack-dev-loki',
        PolicyName: 'logstack-loki-bucket',
        PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:*', Resource: '*' }] }),
      }),
    );
    await activities.ensureLokiCredentials({ environment });
    const policy = await iam.send(new GetUserPolicyCommand({ UserName: 'logstack-dev-loki', PolicyName: 'logstack-loki-bucket' }));
    assert.match(JSON.stringify(decodePolicy(policy.PolicyDocument)), /arn:aws:s3:::logstack-dev-loki\/\*/);
    assert.doesNotMatch(JSON.stringify(decodePolicy(policy.PolicyDocument)), /"Resource":"\*"/);
  });

  void test('ensureLokiCredentials (moto): an existing user logstack did not create is a Conflict and is left alone', async () => {
    await iam.send(new CreateUserCommand({ UserName: 'logstack-dev-loki' }));
    await iam.send(new CreateAccessKeyCommand({ UserName: 'logstack-dev-loki' }));
    const failure = await rejection(activities.ensureLokiCredentials({ environment: testEnvironment() }));
    assert.equal(failure.type, 'Conflict');
    assert.equal(failure.nonRetryable, true);
    assert.match(failure.message, /IAM user "logstack-dev-loki" exists but logstack did not create it.*app=logstack.*aws\.adopt.*aws\.principalName/);
    assert.deepEqual((await iam.send(new ListUserPoliciesCommand({ UserName: 'logstack-dev-loki' }))).PolicyNames, []);
    assert.equal((await userKeys()).length, 1);
  });

  void test('ensureLokiCredentials sts (moto): one role trusting the OIDC provider for the Loki service accounts; idempotent; issuer change converges the trust', async () => {
    const environment = testEnvironment({ credentialMode: 'sts', oidcIssuer: ISSUER });
    const first = await activities.ensureLokiCredentials({ environment });
    const second = await activities.ensureLokiCredentials({ environment });
    assert.deepEqual(first, { mode: 'sts', principalArn: `arn:aws:iam::${MOTO_ACCOUNT}:role/logstack-dev-loki`, created: true });
    assert.deepEqual(second, { ...first, created: false });
    assert.deepEqual((await iam.send(new ListRolesCommand({}))).Roles?.map((r) => r.RoleName), ['logstack-dev-loki']);
    const role = await iam.send(new GetRoleCommand({ RoleName: 'logstack-dev-loki' }));
    assert.deepEqual(decodePolicy(role.Role?.AssumeRolePolicyDocument), {
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Principal: { Federated: `arn:aws:iam::${MOTO_ACCOUNT}:oidc-provider/${ISSUER}` },
          Action: 'sts:AssumeRoleWithWebIdentity',
          Condition: {
            StringEquals: {
              [`${ISSUER}:sub`]: ['system:serviceaccount:openshift-logging:logging-loki', 'system:serviceaccount:openshift-logging:logging-loki-ruler'],
              [`${ISSUER}:aud`]: 'sts.amazonaws.com',
            },
          },
        },
      ],
    });

    const moved = testEnvironment({ credentialMode: 'sts', oidcIssuer: 'oidc.dev.example.com/cluster-2' });
    await activities.ensureLokiCredentials({ environment: moved });
    const updated = await iam.send(new GetRoleCommand({ RoleName: 'logstack-dev-loki' }));
    assert.match(JSON.stringify(decodePolicy(updated.Role?.AssumeRolePolicyDocument)), /cluster-2:sub/);
    assert.equal((await iam.send(new ListRolesCommand({}))).Roles?.length, 1);
  });

  void test('ensureLokiCredentials sts (moto): the catalog\'s permissions boundary is set on the new role, and put on an existing owned role whose boundary differs', async () => {
    const boundary = `arn:aws:iam::${MOTO_ACCOUNT}:policy/logstack-boundary`;
    const environment = testEnvironment({ credentialMode: 'sts', oidcIssuer: ISSUER, permissionsBoundary: boundary });
    await activities.ensureLokiCredentials({ environment });
    const role = async () => (await iam.send(new GetRoleCommand({ RoleName: 'logstack-dev-loki' }))).Role;
    assert.equal((await role())?.PermissionsBoundary?.PermissionsBoundaryArn, boundary);

    const tighter = `arn:aws:iam::${MOTO_ACCOUNT}:policy/teams/logstack-boundary-v2`;
    await activities.ensureLokiCredentials({ environment: testEnvironment({ credentialMode: 'sts', oidcIssuer: ISSUER, permissionsBoundary: tighter }) });
    assert.equal((await role())?.PermissionsBoundary?.PermissionsBoundaryArn, tighter);
    // Without a boundary in the catalog, the existing one stays: logstack never widens a principal on its own.
    await activities.ensureLokiCredentials({ environment: testEnvironment({ credentialMode: 'sts', oidcIssuer: ISSUER }) });
    assert.equal((await role())?.PermissionsBoundary?.PermissionsBoundaryArn, tighter);
  });

  void test('ensureLokiCredentials static (moto): CreateUser carries the catalog\'s permissions boundary (moto does not store user boundaries: the request is observed)', async () => {
    const boundary = `arn:aws:iam::${MOTO_ACCOUNT}:policy/logstack-boundary`;
    const observed: unknown[] = [];
    const observing = motoClients(endpoint);
    observing.iam().middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'CreateUserCommand') observed.push((args.input as { PermissionsBoundary?: string }).PermissionsBoundary);
        return next(args);
      },
      { step: 'initialize', name: 'observeCreateUser' },
    );
    try {
      await createAwsActivities(observing).ensureLokiCredentials({ environment: testEnvironment({ permissionsBoundary: boundary }) });
      assert.deepEqual(observed, [boundary]);
    } finally {
      observing.destroy();
    }
  });

  void test('ensureLokiCredentials sts (moto): an issuer with a scheme, or none, is InvalidInput and creates no role', async () => {
    const environment = testEnvironment({ credentialMode: 'sts', oidcIssuer: ISSUER });
    for (const oidcIssuer of [`https://${ISSUER}`, undefined]) {
      const bad = { ...environment, cluster: { ...environment.cluster, oidcIssuer } };
      const failure = await rejection(activities.ensureLokiCredentials({ environment: bad }));
      assert.equal(failure.type, 'InvalidInput');
      assert.equal(failure.nonRetryable, true);
      assert.match(failure.message, /cluster\.oidcIssuer/);
    }
    assert.deepEqual((await iam.send(new ListRolesCommand({}))).Roles, []);
  });

  // ── seedLokiSecret / inspectLokiSecret ────────────────────────────────────────────────────

  void test('seedLokiSecret static (moto): twice → one secret, one version, one access key, same result; the result holds no secret value', async () => {
    const environment = testEnvironment();
    const credentials = await activities.ensureLokiCredentials({ environment });
    const first = await activities.seedLokiSecret({ environment, principalArn: credentials.principalArn });
    const second = await activities.seedLokiSecret({ environment, principalArn: credentials.principalArn });
    assert.equal(first.changed, true);
    assert.deepEqual(second, { ...first, changed: false });
    assert.equal((await sm.send(new ListSecretsCommand({}))).SecretList?.length, 1);
    assert.equal(await versionCount(environment.aws.secretName), 1);
    assert.equal((await userKeys()).length, 1);

    const raw = (await sm.send(new GetSecretValueCommand({ SecretId: environment.aws.secretName }))).SecretString ?? '';
    const stored = JSON.parse(raw) as Record<string, string>;
    assert.deepEqual(Object.keys(stored).sort(), ['access_key_id', 'access_key_secret', 'bucketnames', 'endpoint', 'region']);
    assert.equal(stored['bucketnames'], 'logstack-dev-loki');
    assert.equal(stored['endpoint'], 'https://s3.eu-west-1.amazonaws.com');
    assert.equal(stored['region'], 'eu-west-1');
    assert.equal(stored['access_key_id'], (await userKeys())[0]?.AccessKeyId);
    assert.equal(first.sha256, createHash('sha256').update(raw).digest('hex'));

    const secretValue = stored['access_key_secret'] ?? '';
    assert.ok(secretValue.length >= 20);
    const results = JSON.stringify([credentials, first, second, await activities.inspectLokiSecret({ environment })]);
    assert.ok(!results.includes(secretValue), 'no activity result contains the secret access key');
    assert.deepEqual(await activities.inspectLokiSecret({ environment }), { exists: true, drift: [] });
  });

  void test('seedLokiSecret (moto): a content change puts exactly one new version and keeps the valid key', async () => {
    const environment = testEnvironment();
    const first = await seedStatic(environment);
    const keyBefore = (await storedSecret(environment.aws.secretName))['access_key_id'];
    const moved = testEnvironment({ bucket: 'logstack-dev-loki-2' });
    const second = await seedStatic(moved);
    const third = await seedStatic(moved);
    assert.equal(second.changed, true);
    assert.notEqual(second.versionId, first.versionId);
    assert.notEqual(second.sha256, first.sha256);
    assert.equal(third.changed, false);
    assert.equal(await versionCount(environment.aws.secretName), 2);
    const stored = await storedSecret(environment.aws.secretName);
    assert.equal(stored['bucketnames'], 'logstack-dev-loki-2');
    assert.equal(stored['access_key_id'], keyBefore);
    assert.equal((await userKeys()).length, 1);
  });

  void test('seedLokiSecret (moto): a deleted stored key is replaced by a new one and exactly one key remains', async () => {
    const environment = testEnvironment();
    await seedStatic(environment);
    const oldKey = (await storedSecret(environment.aws.secretName))['access_key_id'] ?? '';
    await iam.send(new DeleteAccessKeyCommand({ UserName: 'logstack-dev-loki', AccessKeyId: oldKey }));
    assert.ok((await activities.inspectLokiSecret({ environment })).drift.includes('access_key_id is not an active access key of IAM user logstack-dev-loki'));

    const result = await seedStatic(environment);
    assert.equal(result.changed, true);
    const newKey = (await storedSecret(environment.aws.secretName))['access_key_id'];
    assert.notEqual(newKey, oldKey);
    assert.deepEqual((await userKeys()).map((k) => k.AccessKeyId), [newKey]);
    assert.equal(await versionCount(environment.aws.secretName), 2);
  });

  void test('seedLokiSecret (moto): an Inactive stored key is rotated and deleted; exactly one Active key remains', async () => {
    const environment = testEnvironment();
    await seedStatic(environment);
    const oldKey = (await storedSecret(environment.aws.secretName))['access_key_id'] ?? '';
    await iam.send(new UpdateAccessKeyCommand({ UserName: 'logstack-dev-loki', AccessKeyId: oldKey, Status: 'Inactive' }));
    await seedStatic(environment);
    const keys = await userKeys();
    assert.equal(keys.length, 1);
    assert.notEqual(keys[0]?.AccessKeyId, oldKey);
    assert.equal(keys[0]?.Status, 'Active');
    assert.equal((await storedSecret(environment.aws.secretName))['access_key_id'], keys[0]?.AccessKeyId);
  });

  void test('seedLokiSecret (moto): after a crash between CreateAccessKey and the secret write, the retry ends with exactly one key', async () => {
    const environment = testEnvironment();
    // First attempt crashed before the secret existed: the user holds an orphan key nobody can use.
    await activities.ensureLokiCredentials({ environment });
    const orphan = (await iam.send(new CreateAccessKeyCommand({ UserName: 'logstack-dev-loki' }))).AccessKey?.AccessKeyId;
    await seedStatic(environment);
    const keys = await userKeys();
    assert.equal(keys.length, 1);
    assert.notEqual(keys[0]?.AccessKeyId, orphan);
    assert.equal((await storedSecret(environment.aws.secretName))['access_key_id'], keys[0]?.AccessKeyId);

    // A later rotation crashed after creating a key: the stored key is still valid, so it is kept.
    const storedKey = keys[0]?.AccessKeyId;
    await iam.send(new CreateAccessKeyCommand({ UserName: 'logstack-dev-loki' }));
    const retried = await seedStatic(environment);
    assert.equal(retried.changed, false);
    assert.deepEqual((await userKeys()).map((k) => k.AccessKeyId), [storedKey]);
    assert.equal(await versionCount(environment.aws.secretName), 1);
  });

  void test('seedLokiSecret sts (moto): exactly bucketnames, region, role_arn; twice → one version', async () => {
    const environment = testEnvironment({ credentialMode: 'sts', oidcIssuer: ISSUER });
    const credentials = await activities.ensureLokiCredentials({ environment });
    const first = await activities.seedLokiSecret({ environment, principalArn: credentials.principalArn });
    const second = await activities.seedLokiSecret({ environment, principalArn: credentials.principalArn });
    assert.deepEqual(second, { ...first, changed: false });
    assert.deepEqual(await storedSecret(environment.aws.secretName), {
      bucketnames: 'logstack-dev-loki',
      region: 'eu-west-1',
      role_arn: `arn:aws:iam::${MOTO_ACCOUNT}:role/logstack-dev-loki`,
    });
    assert.equal(await versionCount(environment.aws.secretName), 1);
    assert.deepEqual(await activities.inspectLokiSecret({ environment }), { exists: true, drift: [] });
  });

  void test('inspectLokiSecret (moto): reports a missing secret, and the ADR\'s wrong keys by name only; seedLokiSecret repairs with one version', async () => {
    const environment = testEnvironment();
    assert.deepEqual(await activities.inspectLokiSecret({ environment }), { exists: false, drift: ['secret logstack/dev/loki-s3 does not exist'] });
    await seedStatic(environment);
    const good = await storedSecret(environment.aws.secretName);
    const wrongSecretValue = `${good['access_key_secret'] ?? ''}-hand-edited`;
    await sm.send(
      new PutSecretValueCommand({
        SecretId: environment.aws.secretName,
        SecretString: JSON.stringify({ bucket_name: 'logstack-dev-loki', region: 'eu-west-1', access_key_id: good['access_key_id'], secret_access_key: wrongSecretValue }),
      }),
    );
    const inspected = await activities.inspectLokiSecret({ environment });
    assert.deepEqual(inspected.drift, [
      'key access_key_secret is missing',
      'key bucketnames is missing',
      'key endpoint is missing',
      'unexpected key bucket_name (Loki reads exactly access_key_id, access_key_secret, bucketnames, endpoint, region in static mode)',
      'unexpected key secret_access_key (Loki reads exactly access_key_id, access_key_secret, bucketnames, endpoint, region in static mode)',
      'bucketnames does not name the catalog bucket logstack-dev-loki',
      'endpoint is not https://s3.eu-west-1.amazonaws.com',
    ]);
    assert.ok(!JSON.stringify(inspected).includes(wrongSecretValue));

    const repaired = await seedStatic(environment);
    assert.equal(repaired.changed, true);
    assert.equal(await versionCount(environment.aws.secretName), 3);
    assert.deepEqual((await activities.inspectLokiSecret({ environment })).drift, []);
    assert.equal((await userKeys()).length, 1);
  });

  void test('seedLokiSecret (moto): a stored value that is not JSON is replaced, and no message quotes it', async () => {
    const environment = testEnvironment();
    await seedStatic(environment);
    const garbage = 'not-json s3cr3t-VALUE-that-must-not-leak';
    await sm.send(new PutSecretValueCommand({ SecretId: environment.aws.secretName, SecretString: garbage }));
    const inspected = await activities.inspectLokiSecret({ environment });
    assert.deepEqual(inspected, { exists: true, drift: ['secret logstack/dev/loki-s3 has no current value that is a JSON object'] });
    const result = await seedStatic(environment);
    assert.equal(result.changed, true);
    assert.ok(!JSON.stringify([inspected, result]).includes('s3cr3t'));
    assert.equal((await userKeys()).length, 1);
  });

  void test('seedLokiSecret (moto): a principal ARN of another user is InvalidInput and nothing is created', async () => {
    const environment = testEnvironment();
    await activities.ensureLokiCredentials({ environment });
    const failure = await rejection(activities.seedLokiSecret({ environment, principalArn: `arn:aws:iam::${MOTO_ACCOUNT}:user/someone-else` }));
    assert.equal(failure.type, 'InvalidInput');
    assert.equal(failure.nonRetryable, true);
    assert.match(failure.message, /ensureLokiCredentials/);
    assert.deepEqual((await sm.send(new ListSecretsCommand({}))).SecretList, []);
    assert.deepEqual(await userKeys(), []);
  });

  void test('seedLokiSecret (moto): a secret scheduled for deletion is a Conflict that says how to restore it; nothing changes', async () => {
    const environment = testEnvironment();
    const seeded = await seedStatic(environment);
    await sm.send(new DeleteSecretCommand({ SecretId: environment.aws.secretName, RecoveryWindowInDays: 7 }));
    const keysBefore = (await userKeys()).map((k) => k.AccessKeyId);
    const failure = await rejection(activities.seedLokiSecret({ environment, principalArn: `arn:aws:iam::${MOTO_ACCOUNT}:user/logstack-dev-loki` }));
    assert.equal(failure.type, 'Conflict');
    assert.equal(failure.nonRetryable, true);
    assert.match(failure.message, /scheduled for deletion.*restore-secret/);
    assert.deepEqual((await userKeys()).map((k) => k.AccessKeyId), keysBefore);
    const versions = await sm.send(new ListSecretVersionIdsCommand({ SecretId: seeded.secretArn, IncludeDeprecated: true }));
    assert.equal(versions.Versions?.length, 1);
  });
});
