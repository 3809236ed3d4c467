/**
 * The ESO reader against a PRIVATE moto with IAM enforced (`INITIAL_NO_AUTH_ACTION_COUNT=3`: the three
 * unauthenticated requests create an administrator standing in for the worker; every later request is
 * signed and checked against IAM). The reader is made by the activity code (`activities/aws/store-reader.ts`),
 * then its own key is used the way ESO would use it.
 *
 * What moto can and cannot enforce, and so what each test shows:
 * - moto authenticates the key and evaluates the caller's identity policies by ACTION: the reader's key is
 *   refused `secretsmanager:PutSecretValue`, every IAM write and S3 writes (AccessDenied), shown below.
 * - moto evaluates every Secrets Manager request against the resource `*` only (its responses define no
 *   resource), and ignores conditions and web-identity tokens. So the per-secret scoping (exact ARNs), and the
 *   `:sub`/`:aud` trust of the sts role, are shown by the policy documents read back from moto, asserted
 *   exactly. That same `*`-only evaluation means an Allow naming exact ARNs never matches in moto: the read is
 *   refused there too (asserted, so the test notices if moto starts evaluating resources), while the reader's
 *   read itself is shown on the sandbox with the real ESO controller (test/e2e/store-identity.test.ts).
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import {
  CreateAccessKeyCommand,
  CreateUserCommand,
  GetRoleCommand,
  GetRolePolicyCommand,
  GetUserPolicyCommand,
  IAMClient,
  IAMServiceException,
  ListAccessKeysCommand,
  ListAttachedUserPoliciesCommand,
  ListUserPoliciesCommand,
  ListUserTagsCommand,
  PutUserPolicyCommand,
  AttachUserPolicyCommand,
  CreatePolicyCommand,
} from '@aws-sdk/client-iam';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { createAwsClients, type AwsClients } from '../../activities/aws/index.ts';
import { parsePolicyDocument } from '../../activities/aws/common.ts';
import {
  GITOPS_REPOSITORY_SECRET,
  STORE_READER_POLICY_NAME,
  type ReaderScope,
  ensureStoreReaderKey,
  ensureStoreReaderRole,
  ensureStoreReaderUser,
  secretArnOf,
  storeReaderName,
} from '../../activities/aws/store-reader.ts';
import { testEnvironment } from './aws-moto.ts';
import { type PrivateMoto, createAdministrator, startPrivateMoto } from './private-moto.ts';

const region = 'us-east-1';
const env = testEnvironment({ name: 'idmoto', region });
const stsEnv = testEnvironment({
  name: 'idmotosts',
  region,
  credentialMode: 'sts',
  oidcIssuer: 'oidc.idmoto.example/abc',
});
const key = (accessKeyId: string, secretAccessKey: string) => ({ accessKeyId, secretAccessKey });

/**
 * moto answers Secrets Manager's JSON protocol with an XML error body, which the SDK cannot parse (it throws
 * a `SyntaxError` carrying only the HTTP status): this middleware, placed just inside the SDK's deserializer,
 * records the error code from the raw body and hands the deserializer the same bytes.
 */
function recordErrorCodes(client: SecretsManagerClient): string[] {
  const codes: string[] = [];
  client.middlewareStack.add(
    (next) => async (args) => {
      const out = await next(args);
      const response = out.response as { statusCode?: number; body?: AsyncIterable<Uint8Array> };
      if ((response.statusCode ?? 0) >= 400 && response.body) {
        const chunks: Buffer[] = [];
        for await (const chunk of response.body) chunks.push(Buffer.from(chunk));
        const text = Buffer.concat(chunks).toString('utf8');
        codes.push(
          /<Code>([^<]+)<\/Code>/.exec(text)?.[1] ?? /"__type"\s*:\s*"([^"#]*#)?([^"]+)"/.exec(text)?.[2] ?? 'unknown',
        );
        response.body = Readable.from([Buffer.concat(chunks)]);
      }
      return out;
    },
    { step: 'deserialize', priority: 'low', name: 'recordErrorCode' },
  );
  return codes;
}

/** The AWS error code of a refused call (fails the test when the call succeeds); `codes` from {@link recordErrorCodes}. */
async function refusal(call: Promise<unknown>, codes?: string[]): Promise<string> {
  try {
    await call;
  } catch (error) {
    return codes?.at(-1) ?? (error as { Code?: string }).Code ?? (error as Error).name;
  }
  assert.fail('expected AWS to refuse the call');
}

describe('the ESO reader against a private moto with IAM enforced', () => {
  let moto: PrivateMoto;
  let worker: AwsClients;
  let readerKey: { accessKeyId: string; secretAccessKey: string };
  let workerKey: { accessKeyId: string; secretAccessKey: string };
  let lokiArn: string;
  let repositoryArn: string;
  let accountId: string;
  const scopeOf = (e: typeof env): ReaderScope => ({
    iam: worker.iam(),
    sm: worker.secretsManager(region),
    env: e,
    signal: undefined,
    accountId,
  });

  before(async () => {
    moto = await startPrivateMoto(3);
    workerKey = await createAdministrator(moto, region);
    worker = createAwsClients({ endpoint: moto.endpoint, credentials: workerKey, maxAttempts: 1 });
    const sts = new STSClient({ endpoint: moto.endpoint, region, credentials: workerKey, maxAttempts: 1 });
    accountId = (await sts.send(new GetCallerIdentityCommand({}))).Account ?? '';
    sts.destroy();
    const created = await worker
      .secretsManager(region)
      .send(new CreateSecretCommand({ Name: env.aws.secretName, SecretString: '{"bucketnames":"b"}' }));
    lokiArn = created.ARN ?? '';
    repositoryArn =
      (
        await worker
          .secretsManager(region)
          .send(new CreateSecretCommand({ Name: GITOPS_REPOSITORY_SECRET, SecretString: '{}' }))
      ).ARN ?? '';
    await worker.s3(region).send(new CreateBucketCommand({ Bucket: env.aws.bucket }));
  });

  after(async () => {
    worker.destroy();
    await moto.stop();
  });

  it('enforcement is on: an unknown key is refused, the worker stand-in is allowed', async () => {
    const stranger = new SecretsManagerClient({
      endpoint: moto.endpoint,
      region,
      credentials: key('AKIAUNKNOWN000000000', 'x'),
      maxAttempts: 1,
    });
    const strangerCodes = recordErrorCodes(stranger);
    assert.equal(
      await refusal(stranger.send(new DescribeSecretCommand({ SecretId: env.aws.secretName })), strangerCodes),
      'InvalidClientTokenId',
    );
    stranger.destroy();
    assert.equal(
      (await worker.secretsManager(region).send(new DescribeSecretCommand({ SecretId: env.aws.secretName }))).ARN,
      lokiArn,
    );
  });

  it('the activity code makes the reader user, tagged for its environment, with the read policy as its only right, naming exact ARNs', async () => {
    const reader = await ensureStoreReaderUser(scopeOf(env));
    assert.equal(reader.principalArn, `arn:aws:iam::${accountId}:user/${storeReaderName(env)}`);
    assert.equal(reader.created, true);
    const iam = worker.iam();
    const policy = await iam.send(
      new GetUserPolicyCommand({ UserName: storeReaderName(env), PolicyName: STORE_READER_POLICY_NAME }),
    );
    assert.deepEqual(parsePolicyDocument(policy.PolicyDocument), {
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'ReadEnvironmentSecrets',
          Effect: 'Allow',
          Action: ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'],
          Resource: [repositoryArn, lokiArn].sort(),
        },
      ],
    });
    assert.match(
      lokiArn,
      new RegExp(`^arn:aws:secretsmanager:${region}:${accountId}:secret:logstack/idmoto/loki-s3-[A-Za-z0-9]{6}$`),
      'the exact ARN, its random suffix included',
    );
    assert.deepEqual((await iam.send(new ListUserPoliciesCommand({ UserName: storeReaderName(env) }))).PolicyNames, [
      STORE_READER_POLICY_NAME,
    ]);
    assert.deepEqual(
      (await iam.send(new ListAttachedUserPoliciesCommand({ UserName: storeReaderName(env) }))).AttachedPolicies,
      [],
    );
    const again = await ensureStoreReaderUser(scopeOf(env));
    assert.deepEqual(
      { created: again.created, policyWritten: again.policyWritten, removed: again.removed },
      { created: false, policyWritten: false, removed: [] },
      'a second run writes nothing',
    );
    readerKey = (await ensureStoreReaderKey(scopeOf(env), undefined)).key;
    assert.notEqual(readerKey.accessKeyId, workerKey.accessKeyId);
  });

  it("the reader's key may not PutSecretValue, write IAM or write S3 (each AccessDenied)", async () => {
    const sm = new SecretsManagerClient({ endpoint: moto.endpoint, region, credentials: readerKey, maxAttempts: 1 });
    const codes = recordErrorCodes(sm);
    const iam = new IAMClient({ endpoint: moto.endpoint, region, credentials: readerKey, maxAttempts: 1 });
    const s3 = new S3Client({
      endpoint: moto.endpoint,
      region,
      credentials: readerKey,
      forcePathStyle: true,
      maxAttempts: 1,
    });
    try {
      assert.equal(
        await refusal(
          sm.send(new PutSecretValueCommand({ SecretId: env.aws.secretName, SecretString: '{"bucketnames":"evil"}' })),
          codes,
        ),
        'AccessDenied',
      );
      assert.match(await refusal(iam.send(new CreateUserCommand({ UserName: 'escalated' }))), /AccessDenied/);
      assert.match(await refusal(iam.send(new CreateAccessKeyCommand({ UserName: 'worker' }))), /AccessDenied/);
      assert.match(
        await refusal(s3.send(new PutObjectCommand({ Bucket: env.aws.bucket, Key: 'x', Body: 'x' }))),
        /AccessDenied/,
      );
      // moto evaluates Secrets Manager against resource "*", which an exact-ARN Allow never matches (see the file comment).
      assert.equal(
        await refusal(sm.send(new GetSecretValueCommand({ SecretId: env.aws.secretName })), codes),
        'AccessDenied',
      );
      const value = await worker
        .secretsManager(region)
        .send(new GetSecretValueCommand({ SecretId: env.aws.secretName }));
      assert.equal(value.SecretString, '{"bucketnames":"b"}', 'the refused write changed nothing');
    } finally {
      sm.destroy();
      iam.destroy();
      s3.destroy();
    }
  });

  it("the reader's key is kept while Active, and a stored key that is not the reader's (the worker's) is replaced without touching it", async () => {
    const kept = await ensureStoreReaderKey(scopeOf(env), readerKey);
    assert.deepEqual(
      { created: kept.created, id: kept.key.accessKeyId },
      { created: false, id: readerKey.accessKeyId },
    );
    const replaced = await ensureStoreReaderKey(scopeOf(env), workerKey);
    assert.equal(replaced.created, true);
    const keys =
      (await worker.iam().send(new ListAccessKeysCommand({ UserName: storeReaderName(env) }))).AccessKeyMetadata ?? [];
    assert.deepEqual(
      keys.map((k) => [k.AccessKeyId, k.Status]),
      [[replaced.key.accessKeyId, 'Active']],
      'exactly one reader key',
    );
    const workerKeys =
      (await worker.iam().send(new ListAccessKeysCommand({ UserName: 'worker' }))).AccessKeyMetadata ?? [];
    assert.deepEqual(
      workerKeys.map((k) => k.AccessKeyId),
      [workerKey.accessKeyId],
      "the worker's key is untouched",
    );
    readerKey = replaced.key;
  });

  it('a policy added to the reader by hand is removed on the next run', async () => {
    const iam = worker.iam();
    const user = storeReaderName(env);
    await iam.send(
      new PutUserPolicyCommand({
        UserName: user,
        PolicyName: 'extra',
        PolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Action: 's3:*', Resource: '*' }],
        }),
      }),
    );
    const managed = await iam.send(
      new CreatePolicyCommand({
        PolicyName: 'idmoto-extra',
        PolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Action: 'iam:*', Resource: '*' }],
        }),
      }),
    );
    await iam.send(new AttachUserPolicyCommand({ UserName: user, PolicyArn: managed.Policy?.Arn }));
    const result = await ensureStoreReaderUser(scopeOf(env));
    assert.deepEqual(result.removed.sort(), [`attached:${managed.Policy?.Arn}`, 'inline:extra'].sort());
    assert.deepEqual((await iam.send(new ListUserPoliciesCommand({ UserName: user }))).PolicyNames, [
      STORE_READER_POLICY_NAME,
    ]);
    assert.deepEqual((await iam.send(new ListAttachedUserPoliciesCommand({ UserName: user }))).AttachedPolicies, []);
  });

  it('a secret that does not exist yet is named by its name and exactly six suffix characters, never a wildcard', async () => {
    // moto answers 500 when it evaluates a Resource holding `?` (its matcher turns the pattern into a broken
    // regular expression), so the readers above are given secrets that exist: every ARN in their policies is exact.
    assert.equal(
      await secretArnOf(scopeOf(env), 'logstack/idmoto/later'),
      `arn:aws:secretsmanager:${region}:${accountId}:secret:logstack/idmoto/later-??????`,
    );
    assert.equal(await secretArnOf(scopeOf(env), env.aws.secretName), lokiArn);
  });

  it('sts: the reader role trusts exactly the OIDC provider, the store service account (:sub) and sts.amazonaws.com (:aud), with the same read policy', async () => {
    await worker
      .secretsManager(region)
      .send(new CreateSecretCommand({ Name: stsEnv.aws.secretName, SecretString: '{}' }));
    const stsArn =
      (await worker.secretsManager(region).send(new DescribeSecretCommand({ SecretId: stsEnv.aws.secretName }))).ARN ??
      '';
    const reader = await ensureStoreReaderRole(scopeOf(stsEnv));
    assert.equal(reader.principalArn, `arn:aws:iam::${accountId}:role/${storeReaderName(stsEnv)}`);
    const role = await worker.iam().send(new GetRoleCommand({ RoleName: storeReaderName(stsEnv) }));
    assert.deepEqual(parsePolicyDocument(role.Role?.AssumeRolePolicyDocument), {
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Principal: { Federated: `arn:aws:iam::${accountId}:oidc-provider/oidc.idmoto.example/abc` },
          Action: 'sts:AssumeRoleWithWebIdentity',
          Condition: {
            StringEquals: {
              'oidc.idmoto.example/abc:sub': ['system:serviceaccount:external-secrets:logstack-secrets-reader'],
              'oidc.idmoto.example/abc:aud': 'sts.amazonaws.com',
            },
          },
        },
      ],
    });
    assert.deepEqual(role.Role?.Tags?.map((t) => `${t.Key}=${t.Value}`).sort(), [
      'app=logstack',
      'logstack.io/environment=idmotosts',
    ]);
    const policy = await worker
      .iam()
      .send(new GetRolePolicyCommand({ RoleName: storeReaderName(stsEnv), PolicyName: STORE_READER_POLICY_NAME }));
    const resources = (parsePolicyDocument(policy.PolicyDocument) as { Statement: { Resource: string[] }[] })
      .Statement[0]?.Resource;
    assert.deepEqual(resources, [repositoryArn, stsArn].sort());
    assert.ok(
      resources?.every((r) => !r.includes('*') && r.includes(`:${region}:${accountId}:`)),
      'no wildcard account, region or name',
    );
  });

  it('adoption: an untagged reader of that name is a Conflict without aws.adopt; with aws.adopt: [principal] it is tagged, its other rights and keys removed', async () => {
    const name = 'idmotoadopt';
    await worker
      .secretsManager(region)
      .send(new CreateSecretCommand({ Name: `logstack/${name}/loki-s3`, SecretString: '{}' }));
    const plain = testEnvironment({ name, region });
    const adopting = testEnvironment({ name, region, adopt: ['principal'] });
    const iam = worker.iam();
    const user = storeReaderName(plain);
    await iam.send(new CreateUserCommand({ UserName: user }));
    await iam.send(
      new PutUserPolicyCommand({
        UserName: user,
        PolicyName: 'older',
        PolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Action: 'secretsmanager:*', Resource: '*' }],
        }),
      }),
    );
    const olderKey = (await iam.send(new CreateAccessKeyCommand({ UserName: user }))).AccessKey?.AccessKeyId;
    await assert.rejects(ensureStoreReaderUser(scopeOf(plain)), (e: { type?: string }) => e.type === 'Conflict');
    assert.deepEqual(
      (await iam.send(new ListUserTagsCommand({ UserName: user }))).Tags,
      [],
      'the refusal wrote nothing',
    );
    const adopted = await ensureStoreReaderUser(scopeOf(adopting));
    assert.deepEqual([adopted.created, adopted.removed], [false, ['inline:older']]);
    assert.deepEqual(
      (await iam.send(new ListUserTagsCommand({ UserName: user }))).Tags?.map((t) => `${t.Key}=${t.Value}`).sort(),
      ['app=logstack', `logstack.io/environment=${name}`],
    );
    assert.deepEqual((await iam.send(new ListUserPoliciesCommand({ UserName: user }))).PolicyNames, [
      STORE_READER_POLICY_NAME,
    ]);
    const { key } = await ensureStoreReaderKey(scopeOf(adopting), undefined, adopted.fresh);
    const keys = (await iam.send(new ListAccessKeysCommand({ UserName: user }))).AccessKeyMetadata?.map(
      (k) => k.AccessKeyId,
    );
    assert.deepEqual(keys, [key.accessKeyId], 'the older key is gone, the reader has one key');
    assert.notEqual(key.accessKeyId, olderKey);
  });

  it('IAM propagation: AccessDenied on the calls right after the reader is created (injected) is retried, then the reader gets its policy and key', async () => {
    const name = 'idmotoprop';
    await worker
      .secretsManager(region)
      .send(new CreateSecretCommand({ Name: `logstack/${name}/loki-s3`, SecretString: '{}' }));
    const propEnv = testEnvironment({ name, region });
    const faulty = createAwsClients({ endpoint: moto.endpoint, credentials: workerKey, maxAttempts: 1 });
    let armed = false;
    let refused = 0;
    faulty.iam().middlewareStack.add(
      (next, context) => async (args) => {
        if (armed && refused < 2) {
          refused++;
          throw new IAMServiceException({
            name: 'AccessDenied',
            $fault: 'client',
            $metadata: { httpStatusCode: 403 },
            message: 'injected: not authorized yet (IAM propagation)',
          });
        }
        const output = await next(args);
        if (context.commandName === 'CreateUserCommand') armed = true;
        return output;
      },
      { step: 'initialize', name: 'iamPropagationFault' },
    );
    try {
      const scope: ReaderScope = {
        iam: faulty.iam(),
        sm: faulty.secretsManager(region),
        env: propEnv,
        signal: undefined,
        accountId,
        propagationWindowMs: 5_000,
      };
      const reader = await ensureStoreReaderUser(scope);
      assert.deepEqual([reader.created, reader.fresh, reader.policyWritten], [true, true, true]);
      assert.equal(refused, 2, 'the injector refused the two calls after CreateUser');
      const policy = await worker
        .iam()
        .send(new GetUserPolicyCommand({ UserName: storeReaderName(propEnv), PolicyName: STORE_READER_POLICY_NAME }));
      assert.ok(policy.PolicyDocument, 'the read policy was put once IAM let it');
      armed = true;
      refused = 0;
      const { created } = await ensureStoreReaderKey(scope, undefined, reader.fresh);
      assert.equal(created, true);
      assert.equal(refused, 2, 'the key calls were refused twice and retried');
    } finally {
      faulty.destroy();
    }
  });
});
