/**
 * Adversarial rows of AWS ownership ("nothing is taken over") and IAM: takeover attempts on the AWS
 * resources a bootstrap writes (bucket, Loki IAM user/role, Loki secret), hostile catalog entries, and
 * IAM propagation faults. Each row runs the bootstrap's AWS activities in its order (ensureBucket →
 * ensureLokiCredentials → seedLokiSecret) against the sandbox's shared moto, with names unique to this
 * process (random suffix), and asserts the typed refusal and that the AWS part of the inventory is
 * unchanged. Other helpers work on the same moto at the same time, so the inventory diff is filtered
 * to this process's names (the only ones a row could touch). No cluster or Git write happens here.
 *
 * Propagation faults are injected by an SDK middleware of this test's own IAM client, in front of
 * the real moto (which has no propagation delay): it answers AccessDenied to the first calls after
 * CreateUser, as IAM does while a new principal propagates.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { CreateBucketCommand, DeleteBucketCommand, PutBucketTaggingCommand, type S3Client } from '@aws-sdk/client-s3';
import {
  CreateRoleCommand,
  CreateUserCommand,
  DeleteAccessKeyCommand,
  DeleteRoleCommand,
  DeleteRolePolicyCommand,
  DeleteUserCommand,
  DeleteUserPolicyCommand,
  GetUserPolicyCommand,
  IAMServiceException,
  ListAccessKeysCommand,
  ListRolePoliciesCommand,
  ListRolesCommand,
  ListUserPoliciesCommand,
  ListUserTagsCommand,
  ListUsersCommand,
  type IAMClient,
} from '@aws-sdk/client-iam';
import { CreateSecretCommand, DeleteSecretCommand, DescribeSecretCommand, ListSecretsCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { createAwsActivities, type AwsActivities, type AwsClients } from '../../activities/aws/index.ts';
import { parseCatalog, type Environment } from '../../domain/index.ts';
import { requireSandbox, type SandboxRuntime } from '../../sandbox/status.ts';
import { MOTO_ACCOUNT, motoClients, rejection, testEnvironment, type FailureLike } from '../activities/aws-moto.ts';
import { diffInventory, takeInventory, type Inventory } from './inventory.ts';

const SUFFIX = randomBytes(4).toString('hex');
const REGION = 'us-east-1';
const ISSUER = 'oidc.adversarial.example.com/cluster';

/** A row's environment: every AWS name carries this process's suffix and the row's tag. */
function rowEnvironment(row: string, overrides: Parameters<typeof testEnvironment>[0] = {}): Environment {
  return testEnvironment({
    name: `adv-${row}`,
    region: REGION,
    bucket: `logstack-adv-${row}-${SUFFIX}`,
    secretName: `logstack/adv-${row}-${SUFFIX}/loki-s3`,
    principalName: `logstack-adv-${row}-${SUFFIX}`,
    ...overrides,
  });
}

/** The bootstrap's AWS steps, in order, as the workflow runs them. */
async function bootstrapAws(activities: AwsActivities, environment: Environment): Promise<void> {
  await activities.ensureBucket({ environment });
  const credentials = await activities.ensureLokiCredentials({ environment });
  await activities.seedLokiSecret({ environment, principalArn: credentials.principalArn });
}

/** An AccessDenied as IAM answers it, made by the fault injector (not by moto). */
function injectedAccessDenied(): IAMServiceException {
  return new IAMServiceException({
    name: 'AccessDenied',
    $fault: 'client',
    $metadata: { httpStatusCode: 403 },
    message: 'injected: not authorized yet (IAM propagation)',
  });
}

/** Clients whose IAM client fails the first `failures` calls after a CreateUser with AccessDenied (Infinity: all). */
function propagationFault(endpoint: string, failures: number): { clients: AwsClients; refused: () => number } {
  const clients = motoClients(endpoint);
  let armed = false;
  let refused = 0;
  clients.iam().middlewareStack.add(
    (next, context) => async (args) => {
      if (armed && refused < failures) {
        refused++;
        throw injectedAccessDenied();
      }
      const output = await next(args);
      if (context.commandName === 'CreateUserCommand') armed = true;
      return output;
    },
    { step: 'initialize', name: 'iamPropagationFault' },
  );
  return { clients, refused: () => refused };
}

void describe(`adversarial: AWS ownership and IAM (shared moto, names with suffix ${SUFFIX})`, { concurrency: false, timeout: 180_000 }, () => {
  let sandbox: SandboxRuntime;
  let clients: AwsClients;
  let activities: AwsActivities;
  let s3: S3Client;
  let iam: IAMClient;
  let sm: SecretsManagerClient;

  /** Inventory lines about this process's names only (other processes change moto meanwhile). */
  const ours = (lines: string[]): string[] => lines.filter((line) => line.includes(SUFFIX));
  const inventory = (): Promise<Inventory> => takeInventory(sandbox, { regions: [REGION] });
  /** Runs `attempt`, expects a typed refusal, and asserts that nothing of ours changed in moto. */
  async function refusedWithoutEffect(attempt: () => Promise<unknown>): Promise<FailureLike> {
    const before = await inventory();
    const failure = await rejection(attempt());
    assert.deepEqual(ours(diffInventory(before, await inventory())), [], 'no AWS resource of this row changed');
    return failure;
  }
  function assertConflict(failure: FailureLike, pattern: RegExp): void {
    assert.equal(failure.name, 'ApplicationFailure', failure.message);
    assert.equal(failure.type, 'Conflict');
    assert.equal(failure.nonRetryable, true);
    assert.match(failure.message, pattern);
  }

  before(() => {
    sandbox = requireSandbox();
    clients = motoClients(sandbox.aws.endpoint);
    activities = createAwsActivities(clients);
    s3 = clients.s3(REGION);
    iam = clients.iam();
    sm = clients.secretsManager(REGION);
  });

  after(async () => {
    // Remove every resource of this process from the shared moto (only names with the suffix).
    for (const secret of (await sm.send(new ListSecretsCommand({ IncludePlannedDeletion: true }))).SecretList ?? []) {
      if (secret.Name?.includes(SUFFIX)) await sm.send(new DeleteSecretCommand({ SecretId: secret.ARN, ForceDeleteWithoutRecovery: true }));
    }
    for (const user of (await iam.send(new ListUsersCommand({ MaxItems: 1000 }))).Users ?? []) {
      const UserName = user.UserName ?? '';
      if (!UserName.includes(SUFFIX)) continue;
      for (const key of (await iam.send(new ListAccessKeysCommand({ UserName }))).AccessKeyMetadata ?? [])
        await iam.send(new DeleteAccessKeyCommand({ UserName, AccessKeyId: key.AccessKeyId }));
      for (const PolicyName of (await iam.send(new ListUserPoliciesCommand({ UserName }))).PolicyNames ?? [])
        await iam.send(new DeleteUserPolicyCommand({ UserName, PolicyName }));
      await iam.send(new DeleteUserCommand({ UserName }));
    }
    for (const role of (await iam.send(new ListRolesCommand({ MaxItems: 1000 }))).Roles ?? []) {
      const RoleName = role.RoleName ?? '';
      if (!RoleName.includes(SUFFIX)) continue;
      for (const PolicyName of (await iam.send(new ListRolePoliciesCommand({ RoleName }))).PolicyNames ?? [])
        await iam.send(new DeleteRolePolicyCommand({ RoleName, PolicyName }));
      await iam.send(new DeleteRoleCommand({ RoleName }));
    }
    for (const name of [...created.buckets]) await s3.send(new DeleteBucketCommand({ Bucket: name })).catch(() => undefined);
    clients.destroy();
  });

  /** Buckets this process created (directly or through a row's bootstrap), deleted at the end. */
  const created = { buckets: new Set<string>() };
  const createBucket = async (Bucket: string, tags: { Key: string; Value: string }[] = []): Promise<void> => {
    await s3.send(new CreateBucketCommand({ Bucket }));
    created.buckets.add(Bucket);
    if (tags.length > 0) await s3.send(new PutBucketTaggingCommand({ Bucket, Tagging: { TagSet: tags } }));
  };

  it('adversarial: an untagged Secrets Manager secret of the catalog name → Conflict from the first step, nothing written (no bucket, no user)', async () => {
    const environment = rowEnvironment('secret');
    await sm.send(new CreateSecretCommand({ Name: environment.aws.secretName, SecretString: '{"team":"payments"}' }));
    created.buckets.add(environment.aws.bucket);
    const failure = await refusedWithoutEffect(() => bootstrapAws(activities, environment));
    assertConflict(failure, /Secrets Manager secret "logstack\/adv-secret-\w+\/loki-s3" exists but logstack did not create it.*add "secret" to aws\.adopt of environment "adv-secret"/);
    // seedLokiSecret on its own refuses the same secret before touching the user's keys.
    const seeded = await refusedWithoutEffect(() =>
      activities.seedLokiSecret({ environment, principalArn: `arn:aws:iam::${MOTO_ACCOUNT}:user/${environment.aws.principalName ?? ''}` }),
    );
    assert.equal(seeded.type, 'Conflict');
  });

  it('adversarial: an untagged S3 bucket of this account → Conflict naming aws.adopt, no setting written', async () => {
    const environment = rowEnvironment('bucket');
    await createBucket(environment.aws.bucket, [{ Key: 'team', Value: 'payments' }]);
    const failure = await refusedWithoutEffect(() => bootstrapAws(activities, environment));
    assertConflict(failure, /S3 bucket "logstack-adv-bucket-\w+" exists but logstack did not create it.*aws\.adopt.*aws\.bucket/);
  });

  it('adversarial: an untagged IAM user of the principal name (static) → Conflict before the bucket exists; no policy, no key', async () => {
    const environment = rowEnvironment('user');
    await iam.send(new CreateUserCommand({ UserName: environment.aws.principalName }));
    created.buckets.add(environment.aws.bucket);
    const failure = await refusedWithoutEffect(() => bootstrapAws(activities, environment));
    assertConflict(failure, /IAM user "logstack-adv-user-\w+" exists but logstack did not create it.*"principal" to aws\.adopt/);
    const direct = await refusedWithoutEffect(() => activities.ensureLokiCredentials({ environment }));
    assert.equal(direct.type, 'Conflict');
  });

  it('adversarial: an untagged IAM role of the principal name (sts) → Conflict; its trust policy is not rewritten', async () => {
    const environment = rowEnvironment('role', { credentialMode: 'sts', oidcIssuer: ISSUER });
    await iam.send(
      new CreateRoleCommand({
        RoleName: environment.aws.principalName,
        AssumeRolePolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }] }),
      }),
    );
    created.buckets.add(environment.aws.bucket);
    const failure = await refusedWithoutEffect(() => bootstrapAws(activities, environment));
    assertConflict(failure, /IAM role "logstack-adv-role-\w+" exists but logstack did not create it/);
  });

  it("adversarial: another environment's secret and bucket (tag logstack.io/environment=staging) → Conflict, even with aws.adopt listing them", async () => {
    const environment = rowEnvironment('otherenv', { adopt: ['bucket', 'secret', 'principal'] });
    const stagingTags = [
      { Key: 'app', Value: 'logstack' },
      { Key: 'logstack.io/environment', Value: 'staging' },
    ];
    await sm.send(new CreateSecretCommand({ Name: environment.aws.secretName, SecretString: '{}', Tags: stagingTags }));
    created.buckets.add(environment.aws.bucket);
    const secretFailure = await refusedWithoutEffect(() => bootstrapAws(activities, environment));
    assertConflict(secretFailure, /secret "logstack\/adv-otherenv-\w+\/loki-s3" belongs to environment "staging".*cannot be adopted.*aws\.secretName/);

    const bucketEnvironment = rowEnvironment('otherbkt', { adopt: ['bucket'] });
    await createBucket(bucketEnvironment.aws.bucket, stagingTags);
    const bucketFailure = await refusedWithoutEffect(() => bootstrapAws(activities, bucketEnvironment));
    assertConflict(bucketFailure, /S3 bucket "logstack-adv-otherbkt-\w+" belongs to environment "staging"/);
  });

  it('adversarial: aws.adopt [secret, principal] → the untagged secret and user are tagged for this environment and managed; once tagged they are owned and the flag is no longer needed', async () => {
    const environment = rowEnvironment('adopt', { adopt: ['secret', 'principal'] });
    await sm.send(new CreateSecretCommand({ Name: environment.aws.secretName, SecretString: '{"old":"value"}', Tags: [{ Key: 'team', Value: 'payments' }] }));
    await iam.send(new CreateUserCommand({ UserName: environment.aws.principalName }));
    created.buckets.add(environment.aws.bucket);
    await bootstrapAws(activities, environment);
    const secretTags = (await sm.send(new DescribeSecretCommand({ SecretId: environment.aws.secretName }))).Tags ?? [];
    assert.deepEqual(secretTags.map((t) => `${t.Key}=${t.Value}`).sort(), ['app=logstack', 'logstack.io/environment=adv-adopt', 'team=payments']);
    const userTags = (await iam.send(new ListUserTagsCommand({ UserName: environment.aws.principalName }))).Tags ?? [];
    assert.deepEqual(userTags.map((t) => `${t.Key}=${t.Value}`).sort(), ['app=logstack', 'logstack.io/environment=adv-adopt']);
    const policy = await iam.send(new GetUserPolicyCommand({ UserName: environment.aws.principalName, PolicyName: 'logstack-loki-bucket' }));
    assert.match(decodeURIComponent(policy.PolicyDocument ?? ''), new RegExp(`arn:aws:s3:::${environment.aws.bucket}/\\*`));
    // Owned now: the same bootstrap without the flag is a no-op, not a Conflict.
    await bootstrapAws(activities, rowEnvironment('adopt'));
  });

  it('adversarial: aws.permissionsBoundary that is not an IAM policy ARN → InvalidInput from the catalog and from a hand-written activity input, nothing written', async () => {
    for (const boundary of ['*', 'arn:aws:iam::123456789012:role/admin', 'arn:aws:s3:::bucket', 'arn:aws:iam::12345:policy/x']) {
      assert.throws(
        () => rowEnvironment('boundary', { permissionsBoundary: boundary }),
        (error: { type?: string; message?: string }) => error.type === 'InvalidInput' && /aws\.permissionsBoundary/.test(error.message ?? ''),
        boundary,
      );
    }
    const environment = rowEnvironment('boundary');
    const hostile = { ...environment, aws: { ...environment.aws, permissionsBoundary: 'arn:aws:iam::123456789012:role/admin' } };
    const failure = await refusedWithoutEffect(() => bootstrapAws(activities, hostile));
    assert.equal(failure.type, 'InvalidInput');
    assert.equal(failure.nonRetryable, true);
    assert.match(failure.message, /aws\.permissionsBoundary "arn:aws:iam::123456789012:role\/admin" is not an IAM managed policy ARN/);
    const wrongPartition = { ...environment, aws: { ...environment.aws, permissionsBoundary: 'arn:aws-cn:iam::123456789012:policy/b' } };
    assert.equal((await refusedWithoutEffect(() => bootstrapAws(activities, wrongPartition))).type, 'InvalidInput');
    assert.throws(() =>
      parseCatalog({
        apiVersion: 'logstack.io/v1',
        kind: 'EnvironmentCatalog',
        promotionOrder: ['x'],
        gitops: { remote: '/tmp/r.git' },
        environments: [{ ...environment, aws: { ...environment.aws, adopt: ['everything'] } }],
      }),
    );
  });

  it('adversarial: AccessDenied right after CreateUser (IAM propagation, injected 3×) → retried, then the user gets its policy', async () => {
    const environment = rowEnvironment('propok');
    const fault = propagationFault(sandbox.aws.endpoint, 3);
    try {
      const started = Date.now();
      const result = await createAwsActivities(fault.clients, { iamPropagationWindowMs: 10_000 }).ensureLokiCredentials({ environment });
      assert.equal(result.created, true);
      assert.equal(fault.refused(), 3, 'the injector refused three calls');
      assert.ok(Date.now() - started >= 250 + 500 + 1000, 'with backoff between attempts');
      const names = (await iam.send(new ListUserPoliciesCommand({ UserName: environment.aws.principalName }))).PolicyNames;
      assert.deepEqual(names, ['logstack-loki-bucket']);
    } finally {
      fault.clients.destroy();
    }
  });

  it('adversarial: AccessDenied after CreateUser that outlasts the propagation window → typed non-retryable AccessDenied saying so', async () => {
    const environment = rowEnvironment('propfail');
    const fault = propagationFault(sandbox.aws.endpoint, Number.POSITIVE_INFINITY);
    try {
      const started = Date.now();
      const failure = await rejection(createAwsActivities(fault.clients, { iamPropagationWindowMs: 1_500 }).ensureLokiCredentials({ environment }));
      const took = Date.now() - started;
      assert.equal(failure.name, 'ApplicationFailure');
      assert.equal(failure.type, 'AccessDenied');
      assert.equal(failure.nonRetryable, true);
      assert.match(failure.message, /iam:PutUserPolicy logstack-loki-bucket on logstack-adv-propfail-\w+ was refused: AccessDenied.*right after the principal was created/);
      assert.ok(fault.refused() >= 3 && took < 5_000, `bounded: ${fault.refused()} refusals in ${took} ms`);
    } finally {
      fault.clients.destroy();
    }
  });
});
