/**
 * Adversarial rows of the ESO identity (one per environment): each row makes the attempt and
 * asserts its typed refusal — ESO's status condition, AWS's AccessDenied, the activity's failure type — and,
 * where the row touches the shared sandbox, that the part of the inventory it could touch is unchanged.
 * Other helpers run on the staging and production clusters and on their own AWS names at the same time, so
 * the inventory diff is filtered to the dev cluster and to this file's names.
 *
 * The reader-key rows run against a private moto with IAM enforced (`INITIAL_NO_AUTH_ACTION_COUNT`); its
 * inventory is the private moto's own state, read back with the administrator's key.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  CreateAccessKeyCommand,
  CreatePolicyCommand,
  CreateUserCommand,
  DeleteRolePermissionsBoundaryCommand,
  GetRoleCommand,
  IAMClient,
  ListAccessKeysCommand,
  ListUserPoliciesCommand,
  ListUserTagsCommand,
  ListUsersCommand,
  PutUserPolicyCommand,
  TagUserCommand,
} from '@aws-sdk/client-iam';
import { CreateBucketCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import {
  CreateSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { parse } from 'yaml';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createAwsClients, type AwsClients } from '../../activities/aws/index.ts';
import {
  ensureStoreReaderKey,
  ensureStoreReaderRole,
  ensureStoreReaderUser,
  storeReaderName,
} from '../../activities/aws/store-reader.ts';
import { deleteObject, readObject, serverSideApply } from '../../activities/kubernetes/apply.ts';
import { GITOPS_NAMES } from '../../domain/gitops.ts';
import { testEnvironment } from '../activities/aws-moto.ts';
import { type PrivateMoto, createAdministrator, startPrivateMoto } from '../activities/private-moto.ts';
import {
  clusterOf,
  environment,
  eventually,
  failureTypeOf,
  sandbox,
  sandboxActivities,
  suffix,
} from '../activities/sandbox-parts.ts';
import { diffInventory, takeInventory } from './inventory.ts';

const id = suffix();
const acts = sandboxActivities();
const dev = environment('dev');
const cluster = clusterOf(dev);
const region = 'us-east-1';

/** Inventory lines this file's rows could cause: the dev cluster, and AWS names carrying `marker`. */
function mine(lines: string[], marker: string): string[] {
  return lines.filter((l) => l.includes('cluster dev ') || l.includes(marker));
}

describe('adversarial: ESO identity (reader key against a private moto with IAM enforced)', () => {
  let moto: PrivateMoto;
  let admin: AwsClients;
  let reader: { sm: SecretsManagerClient; iam: IAMClient; s3: S3Client };
  const env = testEnvironment({ name: `adv${id}`, region });
  const snapshot = async (): Promise<string> => {
    const secret = await admin.secretsManager(region).send(new GetSecretValueCommand({ SecretId: env.aws.secretName }));
    const users = (await admin.iam().send(new ListUsersCommand({}))).Users?.map((u) => u.UserName).sort();
    const objects = (await admin.s3(region).send(new ListObjectsV2Command({ Bucket: env.aws.bucket }))).Contents?.map(
      (o) => o.Key,
    );
    return JSON.stringify({ secret: secret.SecretString, version: secret.VersionId, users, objects });
  };

  before(async () => {
    moto = await startPrivateMoto(3);
    admin = createAwsClients({
      endpoint: moto.endpoint,
      credentials: await createAdministrator(moto, region),
      maxAttempts: 1,
    });
    await admin
      .secretsManager(region)
      .send(new CreateSecretCommand({ Name: env.aws.secretName, SecretString: '{"bucketnames":"b"}' }));
    await admin
      .secretsManager(region)
      .send(new CreateSecretCommand({ Name: 'logstack/gitops/repository', SecretString: '{}' }));
    await admin.s3(region).send(new CreateBucketCommand({ Bucket: env.aws.bucket }));
    const scope = {
      iam: admin.iam(),
      sm: admin.secretsManager(region),
      env,
      signal: undefined,
      accountId: '123456789012',
    };
    await ensureStoreReaderUser(scope);
    const { key } = await ensureStoreReaderKey(scope, undefined);
    const common = { endpoint: moto.endpoint, region, credentials: key, maxAttempts: 1 };
    reader = {
      sm: new SecretsManagerClient(common),
      iam: new IAMClient(common),
      s3: new S3Client({ ...common, forcePathStyle: true }),
    };
  });

  after(async () => {
    reader.sm.destroy();
    reader.iam.destroy();
    reader.s3.destroy();
    admin.destroy();
    await moto.stop();
  });

  it("adversarial: the reader's key tries secretsmanager:PutSecretValue on its own environment's secret", async () => {
    const before = await snapshot();
    const error = await reader.sm
      .send(new PutSecretValueCommand({ SecretId: env.aws.secretName, SecretString: '{"bucketnames":"evil"}' }))
      .then(
        () => assert.fail('PutSecretValue was allowed'),
        (e: { $metadata?: { httpStatusCode?: number } }) => e,
      );
    // moto answers Secrets Manager refusals with an XML body the SDK cannot parse; the status is the refusal.
    assert.equal(error.$metadata?.httpStatusCode, 403);
    assert.equal(await snapshot(), before);
  });

  it("adversarial: the reader's key tries iam:CreateUser (escalation to a new principal)", async () => {
    const before = await snapshot();
    await assert.rejects(
      reader.iam.send(new CreateUserCommand({ UserName: `escalated-${id}` })),
      (e: Error & { Code?: string }) => /AccessDenied/.test(e.Code ?? e.name),
    );
    assert.equal(await snapshot(), before);
  });

  it("adversarial: the reader's key tries s3:PutObject into the environment's Loki bucket", async () => {
    const before = await snapshot();
    await assert.rejects(
      reader.s3.send(new PutObjectCommand({ Bucket: env.aws.bucket, Key: 'planted', Body: 'x' })),
      (e: Error & { Code?: string }) => /AccessDenied/.test(e.Code ?? e.name),
    );
    assert.equal(await snapshot(), before);
  });

  it("adversarial: an untagged user already holds the environment's reader name (takeover without aws.adopt)", async () => {
    const victim = testEnvironment({ name: `advu${id}`, region });
    const user = storeReaderName(victim);
    const iam = admin.iam();
    await iam.send(new CreateUserCommand({ UserName: user }));
    await iam.send(
      new PutUserPolicyCommand({
        UserName: user,
        PolicyName: 'theirs',
        PolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Action: 's3:GetObject', Resource: '*' }],
        }),
      }),
    );
    await iam.send(new CreateAccessKeyCommand({ UserName: user }));
    const state = async (): Promise<string> =>
      JSON.stringify({
        tags: (await iam.send(new ListUserTagsCommand({ UserName: user }))).Tags,
        policies: (await iam.send(new ListUserPoliciesCommand({ UserName: user }))).PolicyNames,
        keys: (await iam.send(new ListAccessKeysCommand({ UserName: user }))).AccessKeyMetadata?.map((k) => [
          k.AccessKeyId,
          k.Status,
        ]),
        all: await snapshot(),
      });
    const before = await state();
    const scope = { iam, sm: admin.secretsManager(region), env: victim, signal: undefined, accountId: '123456789012' };
    const failure = await ensureStoreReaderUser(scope).then(
      () => assert.fail('the untagged user was taken over'),
      (e: { type?: string; message?: string }) => e,
    );
    assert.equal(failure.type, 'Conflict');
    assert.match(
      failure.message ?? '',
      new RegExp(`IAM user "${user}" exists but logstack did not create it .*add "principal" to aws.adopt`),
    );
    assert.equal(await state(), before, "the user's tags, policies and keys are unchanged");
  });

  it('adversarial: someone removes the permissions boundary from the reader role: the catalog boundary is on the role when created and put back, read back from moto', async () => {
    const iam = admin.iam();
    const policy = await iam.send(
      new CreatePolicyCommand({
        PolicyName: `reader-boundary-${id}`,
        PolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: '*' }],
        }),
      }),
    );
    const boundary = policy.Policy?.Arn ?? '';
    const bounded = testEnvironment({
      name: `advb${id}`,
      region,
      credentialMode: 'sts',
      oidcIssuer: 'oidc.adv.example/x',
      permissionsBoundary: boundary,
    });
    const scope = { iam, sm: admin.secretsManager(region), env: bounded, signal: undefined, accountId: '123456789012' };
    const role = storeReaderName(bounded);
    const boundaryOf = async (): Promise<string | undefined> =>
      (await iam.send(new GetRoleCommand({ RoleName: role }))).Role?.PermissionsBoundary?.PermissionsBoundaryArn;
    const created = await ensureStoreReaderRole(scope);
    assert.equal(created.created, true);
    assert.equal(await boundaryOf(), boundary, 'CreateRole carried the catalog boundary');
    await iam.send(new DeleteRolePermissionsBoundaryCommand({ RoleName: role }));
    assert.equal(await boundaryOf(), undefined, 'the boundary was removed by hand');
    const again = await ensureStoreReaderRole(scope);
    assert.deepEqual([again.created, again.boundaryWritten], [false, true]);
    assert.equal(await boundaryOf(), boundary, 'the next run put the catalog boundary back');
  });
});

describe('adversarial: ESO identity (sandbox dev cluster and moto)', () => {
  it('adversarial: an ExternalSecret in a namespace outside the store conditions tries to read through the store', async () => {
    // A copy of the shipped store (its conditions read from gitops/), with the same credential, under a name of its own.
    const shipped = parse(
      readFileSync(
        join(import.meta.dirname, '../../gitops/base/external-secrets/store/clustersecretstore.yaml'),
        'utf8',
      ),
    ) as { spec: { conditions: unknown } };
    const store = `t-adv-store-${id}`;
    const outside = `t-adv-outside-${id}`;
    const header = { apiVersion: 'external-secrets.io/v1', kind: 'ExternalSecret', name: 'steal', namespace: outside };
    await serverSideApply(cluster, {
      apiVersion: 'external-secrets.io/v1',
      kind: 'ClusterSecretStore',
      metadata: { name: store },
      spec: {
        conditions: shipped.spec.conditions,
        provider: {
          aws: {
            service: 'SecretsManager',
            region,
            auth: {
              secretRef: {
                accessKeyIDSecretRef: {
                  namespace: 'external-secrets',
                  name: 'logstack-aws-credentials',
                  key: 'access-key-id',
                },
                secretAccessKeySecretRef: {
                  namespace: 'external-secrets',
                  name: 'logstack-aws-credentials',
                  key: 'secret-access-key',
                },
              },
            },
          },
        },
      },
    });
    await serverSideApply(cluster, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: outside } });
    try {
      await serverSideApply(cluster, {
        apiVersion: 'external-secrets.io/v1',
        kind: 'ExternalSecret',
        metadata: { name: 'steal', namespace: outside },
        spec: {
          refreshInterval: '1h',
          secretStoreRef: { kind: 'ClusterSecretStore', name: store },
          target: { name: 'stolen' },
          dataFrom: [{ extract: { key: dev.aws.secretName } }],
        },
      });
      // ESO's refusal: the ExternalSecret's Ready=False (SecretSyncedError) and its Warning event naming the condition.
      let denied = '';
      await eventually(
        async () => {
          const events = await cluster.request<{
            items: { reason?: string; message?: string; involvedObject?: { name?: string } }[];
          }>({ method: 'GET', path: `/api/v1/namespaces/${outside}/events` });
          denied =
            events.items.find(
              (e) => e.involvedObject?.name === 'steal' && (e.message ?? '').includes('denied by spec.condition'),
            )?.message ?? '';
          return denied !== '';
        },
        30_000,
        "ESO's refusal event",
      );
      assert.match(
        denied,
        new RegExp(
          `using cluster store "${store}" is not allowed from namespace "${outside}": denied by spec.condition`,
        ),
      );
      const ready = (
        (
          (await readObject(cluster, header))?.['status'] as
            { conditions?: { type: string; status: string; reason?: string }[] } | undefined
        )?.conditions ?? []
      ).find((c) => c.type === 'Ready');
      assert.deepEqual([ready?.status, ready?.reason], ['False', 'SecretSyncedError']);
      assert.equal(
        await readObject(cluster, { apiVersion: 'v1', kind: 'Secret', name: 'stolen', namespace: outside }),
        undefined,
        'no Secret was written',
      );
    } finally {
      await deleteObject(cluster, { apiVersion: 'v1', kind: 'Namespace', name: outside });
      await deleteObject(cluster, { apiVersion: 'external-secrets.io/v1', kind: 'ClusterSecretStore', name: store });
      // The namespace controller empties and removes the namespace after the call returns; the rows after this one
      // compare inventories of the dev cluster, so this row ends only once nothing of it is left.
      await eventually(
        async () => (await readObject(cluster, { apiVersion: 'v1', kind: 'Namespace', name: outside })) === undefined,
        60_000,
        `namespace ${outside} gone`,
      );
    }
  });

  it("adversarial: after a static bootstrap of dev, the worker's key id is offered as the store credential", async () => {
    // The previous release wrote the worker's key; ensureStoreCredential refuses to keep it (it is no key of the reader).
    const store = GITOPS_NAMES.storeCredential;
    await serverSideApply(cluster, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: store.name, namespace: store.namespace },
      type: 'Opaque',
      data: {
        [store.accessKeyIdKey]: Buffer.from(process.env['AWS_ACCESS_KEY_ID'] ?? 'test').toString('base64'),
        [store.secretAccessKeyKey]: Buffer.from('test').toString('base64'),
      },
    });
    const result = await acts.ensureStoreCredential({ environment: dev });
    assert.equal(result.rotated, true);
    const live = await readObject(cluster, {
      apiVersion: 'v1',
      kind: 'Secret',
      name: store.name,
      namespace: store.namespace,
    });
    const keyId = Buffer.from(
      (live?.['data'] as Record<string, string>)[store.accessKeyIdKey] ?? '',
      'base64',
    ).toString('utf8');
    assert.notEqual(keyId, process.env['AWS_ACCESS_KEY_ID'] ?? 'test');
    const iam = new IAMClient({
      endpoint: sandbox.aws.endpoint,
      region,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    });
    const keys =
      (await iam.send(new ListAccessKeysCommand({ UserName: storeReaderName(dev) }))).AccessKeyMetadata ?? [];
    iam.destroy();
    assert.deepEqual(
      keys.map((k) => [k.AccessKeyId, k.Status]),
      [[keyId, 'Active']],
      "the store's key is the reader's one Active key",
    );
  });

  it("adversarial: a catalog entry whose secret name points into another environment's prefix (logstack/production/)", async () => {
    const name = `advx${id}`;
    const hostile = environment('dev', { name, aws: { secretName: 'logstack/production/loki-s3' } });
    const before = await takeInventory(sandbox);
    assert.equal(await failureTypeOf(acts.ensureStoreCredential({ environment: hostile })), 'InvalidInput');
    assert.deepEqual(mine(diffInventory(before, await takeInventory(sandbox)), name), []);
  });

  it('adversarial: a catalog entry whose secret name is the shared GitOps repository secret', async () => {
    const name = `advg${id}`;
    const hostile = environment('dev', { name, aws: { secretName: 'logstack/gitops/repository' } });
    const before = await takeInventory(sandbox);
    assert.equal(await failureTypeOf(acts.ensureStoreCredential({ environment: hostile })), 'InvalidInput');
    assert.deepEqual(mine(diffInventory(before, await takeInventory(sandbox)), name), []);
  });

  it("adversarial: a reader user of the environment's reader name that belongs to another environment (takeover)", async () => {
    const name = `advy${id}`;
    const hostile = environment('dev', { name, aws: { secretName: `logstack/${name}/loki-s3` } });
    const iam = new IAMClient({
      endpoint: sandbox.aws.endpoint,
      region,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    });
    await iam.send(new CreateUserCommand({ UserName: storeReaderName(hostile) }));
    await iam.send(
      new TagUserCommand({
        UserName: storeReaderName(hostile),
        Tags: [
          { Key: 'app', Value: 'logstack' },
          { Key: 'logstack.io/environment', Value: 'production' },
        ],
      }),
    );
    const before = await takeInventory(sandbox);
    assert.equal(await failureTypeOf(acts.ensureStoreCredential({ environment: hostile })), 'Conflict');
    assert.deepEqual(mine(diffInventory(before, await takeInventory(sandbox)), name), []);
    iam.destroy();
  });
});
