/**
 * ESO's identity per environment on the sandbox's dev cluster (the real ESO controller, moto, a real
 * kube-apiserver), on dev as its bootstrap left it (the suite runs test/e2e/lifecycle.test.ts first):
 * - static, the upgrade path: dev's store credential holding the old shared (worker's) key is moved to dev's
 *   reader key by `ensureStoreCredential` while the Loki Secret `openshift-logging/logging-loki-s3` is polled
 *   every 25 ms — its data never changes and never empties — and ESO syncs again after the switch (store
 *   Ready, a forced refresh done). The sandbox's shared moto does not check keys, so that the reader's key
 *   is refused everything but its read is shown against a private moto (test/activities/eso-identity-moto.test.ts).
 * - sts: a catalog entry of its own in sts mode on the dev cluster: the role, its trust and policy read back
 *   from moto, the service account's role-ARN annotation applied by its own field manager, kept by an
 *   overlay apply that does not carry it (and by its dry run: drift sees no change).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { DeleteRoleCommand, DeleteRolePolicyCommand, GetRoleCommand, GetRolePolicyCommand, IAMClient, ListAccessKeysCommand } from '@aws-sdk/client-iam';
import { CreateSecretCommand, DeleteSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { parsePolicyDocument } from '../../activities/aws/common.ts';
import { STORE_READER_POLICY_NAME, storeReaderName } from '../../activities/aws/store-reader.ts';
import { ROLE_ARN_ANNOTATION, STORE_IDENTITY_FIELD_MANAGER } from '../../activities/eso/store-credential.ts';
import { deleteObject, readObject, serverSideApply } from '../../activities/kubernetes/apply.ts';
import { GITOPS_NAMES } from '../../domain/gitops.ts';
import { clusterOf, environment, sandbox, sandboxActivities, suffix } from '../activities/sandbox-parts.ts';

const acts = sandboxActivities();
const dev = environment('dev');
const cluster = clusterOf(dev);
const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };
const iam = new IAMClient({ endpoint: sandbox.aws.endpoint, region: 'us-east-1', credentials });
const sm = new SecretsManagerClient({ endpoint: sandbox.aws.endpoint, region: 'us-east-1', credentials });
const store = GITOPS_NAMES.storeCredential;
const storeHeader = { apiVersion: 'v1', kind: 'Secret', name: store.name, namespace: store.namespace };
const lokiHeader = { apiVersion: 'v1', kind: 'Secret', name: dev.loki.secretName, namespace: dev.loki.namespace };
const b64 = (text: string): string => Buffer.from(text).toString('base64');
const fromB64 = (text: string | undefined): string => Buffer.from(text ?? '', 'base64').toString('utf8');
const dataDigest = (data: Record<string, string> | undefined): string => createHash('sha256').update(JSON.stringify(Object.entries(data ?? {}).sort())).digest('hex');

after(() => {
  iam.destroy();
  sm.destroy();
});

describe('static: dev moves from the shared key to its own reader, the Loki Secret valid throughout (real ESO controller)', () => {
  it("the store credential becomes an Active key of logstack-dev-secrets-reader, never the worker's; the Loki Secret never changes; ESO syncs with it", async () => {
    const workerKeyId = process.env['AWS_ACCESS_KEY_ID'] ?? 'test';
    assert.ok(await readObject(cluster, lokiHeader), 'dev is bootstrapped (openshift-logging/logging-loki-s3 exists): in the suite test/e2e/lifecycle.test.ts runs before this file; alone, bootstrap dev first');
    // A cluster as the previous release left it: the store credential holds the worker's own key. The AWS part of
    // dev's bootstrap runs first (idempotent: the shared moto may have been reset by other tests), and ESO syncs
    // once with the shared key, so the Loki Secret holds the current document before the switch.
    await serverSideApply(cluster, { apiVersion: 'v1', kind: 'Secret', metadata: { name: store.name, namespace: store.namespace }, type: 'Opaque', data: { [store.accessKeyIdKey]: b64(workerKeyId), [store.secretAccessKeyKey]: b64(process.env['AWS_SECRET_ACCESS_KEY'] ?? 'test') } });
    await acts.ensureBucket({ environment: dev });
    const { principalArn } = await acts.ensureLokiCredentials({ environment: dev });
    await acts.seedLokiSecret({ environment: dev, principalArn });
    await acts.waitForExternalSecretSynced({ environment: dev, timeoutSeconds: 60 });
    const loki = await readObject(cluster, lokiHeader);
    const initial = dataDigest(loki?.['data'] as Record<string, string> | undefined);
    assert.ok(Object.keys((loki?.['data'] as Record<string, string> | undefined) ?? {}).length > 0);

    const seen: string[] = [];
    let polling = true;
    const poller = (async () => {
      while (polling) {
        seen.push(dataDigest((await readObject(cluster, lokiHeader))?.['data'] as Record<string, string> | undefined));
        await new Promise((r) => setTimeout(r, 25));
      }
    })();
    let atSwitch = 0;
    let atSync = 0;
    try {
      const result = await acts.ensureStoreCredential({ environment: dev });
      atSwitch = seen.length;
      assert.equal(result.principalArn, `arn:aws:iam::123456789012:user/${storeReaderName(dev)}`);
      assert.equal(result.rotated, true, 'the shared key is not a key of the reader: a reader key replaces it');
      assert.ok(!JSON.stringify(result).includes(workerKeyId === 'test' ? 'test"' : workerKeyId), 'no key in the result');
      const credential = await readObject(cluster, storeHeader);
      const keyId = fromB64((credential?.['data'] as Record<string, string>)[store.accessKeyIdKey]);
      assert.notEqual(keyId, workerKeyId, "the worker's key id is not the store's");
      const readerKeys = (await iam.send(new ListAccessKeysCommand({ UserName: storeReaderName(dev) }))).AccessKeyMetadata ?? [];
      assert.deepEqual(readerKeys.map((k) => [k.AccessKeyId, k.Status]), [[keyId, 'Active']], "the store's key is the reader's one Active key");
      assert.ok(!JSON.stringify(result).includes(keyId), 'the key id stays out of the result');

      const gate = await acts.waitForExternalSecretSynced({ environment: dev, timeoutSeconds: 90 });
      assert.match(gate.detail, /SecretSynced/);
      atSync = seen.length;
      // Keep reading for a few more polls after ESO synced with the reader's key.
      while (seen.length < atSync + 4) await new Promise((r) => setTimeout(r, 25));
      const storeObj = await readObject(cluster, { apiVersion: 'external-secrets.io/v1', kind: 'ClusterSecretStore', name: GITOPS_NAMES.secretStore });
      const ready = ((storeObj?.['status'] as { conditions?: { type: string; status: string }[] } | undefined)?.conditions ?? []).find((c) => c.type === 'Ready');
      assert.equal(ready?.status, 'True', 'the store is Ready with the reader key');

      const rv = (await readObject(cluster, storeHeader))?.metadata.resourceVersion;
      const again = await acts.ensureStoreCredential({ environment: dev });
      assert.deepEqual({ created: again.created, rotated: again.rotated }, { created: false, rotated: false });
      assert.equal((await readObject(cluster, storeHeader))?.metadata.resourceVersion, rv, 'a second run writes nothing: the Secret is the store of record');
    } finally {
      polling = false;
      await poller;
    }
    assert.ok(atSwitch >= 1 && atSync > atSwitch && seen.length >= atSync + 4, `the Loki Secret was read before the switch returned (${atSwitch}), until ESO synced with the new key (${atSync}) and after it (${seen.length})`);
    assert.deepEqual([...new Set(seen)], [initial], 'the Loki Secret never changed and never emptied during the switch');
  });
});

describe('sts: the reader role and the service account annotation, on the dev cluster with an sts catalog entry', () => {
  const name = `idsts${suffix()}`;
  const issuer = 'oidc.dev.logstack.sandbox';
  const env = environment('dev', { name, aws: { credentialMode: 'sts', secretName: `logstack/${name}/loki-s3`, bucket: `logstack-${name}-loki` }, cluster: { oidcIssuer: issuer } });
  const sa = GITOPS_NAMES.storeServiceAccount;
  const saHeader = { apiVersion: 'v1', kind: 'ServiceAccount', name: sa.name, namespace: sa.namespace };
  const gitServiceAccount = { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: sa.name, namespace: sa.namespace, annotations: { 'argocd.argoproj.io/sync-wave': '2' } } };

  after(async () => {
    await deleteObject(cluster, saHeader).catch(() => undefined);
    await iam.send(new DeleteRolePolicyCommand({ RoleName: storeReaderName(env), PolicyName: STORE_READER_POLICY_NAME })).catch(() => undefined);
    await iam.send(new DeleteRoleCommand({ RoleName: storeReaderName(env) })).catch(() => undefined);
    await sm.send(new DeleteSecretCommand({ SecretId: env.aws.secretName, ForceDeleteWithoutRecovery: true })).catch(() => undefined);
  });

  it('creates the role (exact :sub/:aud trust, exact-ARN read policy) and takes over the annotation from an older overlay; the overlay apply without it keeps it', async () => {
    const secretArn = (await sm.send(new CreateSecretCommand({ Name: env.aws.secretName, SecretString: '{}' }))).ARN;
    await serverSideApply(cluster, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: sa.namespace } });
    // An older overlay set the annotation itself (field manager logstack), with a literal account.
    await serverSideApply(cluster, { ...gitServiceAccount, metadata: { ...gitServiceAccount.metadata, annotations: { ...gitServiceAccount.metadata.annotations, [ROLE_ARN_ANNOTATION]: 'arn:aws:iam::999999999999:role/literal' } } });

    const result = await acts.ensureStoreCredential({ environment: env });
    const roleArn = `arn:aws:iam::123456789012:role/${storeReaderName(env)}`;
    assert.deepEqual(result, { namespace: sa.namespace, name: sa.name, created: false, principalArn: roleArn });
    const role = await iam.send(new GetRoleCommand({ RoleName: storeReaderName(env) }));
    const trust = parsePolicyDocument(role.Role?.AssumeRolePolicyDocument) as { Statement: { Condition: unknown; Principal: unknown }[] };
    assert.deepEqual(trust.Statement[0]?.Condition, { StringEquals: { [`${issuer}:sub`]: ['system:serviceaccount:external-secrets:logstack-secrets-reader'], [`${issuer}:aud`]: 'sts.amazonaws.com' } });
    assert.deepEqual(trust.Statement[0]?.Principal, { Federated: `arn:aws:iam::123456789012:oidc-provider/${issuer}` });
    const policy = parsePolicyDocument((await iam.send(new GetRolePolicyCommand({ RoleName: storeReaderName(env), PolicyName: STORE_READER_POLICY_NAME }))).PolicyDocument) as { Statement: { Resource: string[] }[] };
    assert.ok(secretArn !== undefined && policy.Statement[0]?.Resource.includes(secretArn), 'the exact ARN of the environment secret');

    let live = await readObject(cluster, saHeader);
    assert.equal(live?.metadata.annotations?.[ROLE_ARN_ANNOTATION], roleArn);
    const owners = (live?.metadata.managedFields ?? []).filter((f) => JSON.stringify(f.fieldsV1 ?? {}).includes(ROLE_ARN_ANNOTATION)).map((f) => f.manager);
    assert.deepEqual(owners, [STORE_IDENTITY_FIELD_MANAGER], 'the annotation is owned by the store-identity manager only');

    // The overlay (Git) no longer carries the annotation: its apply and its dry run (what drift compares) keep it.
    const dry = await serverSideApply(cluster, gitServiceAccount, { dryRun: true });
    assert.equal(dry.metadata.annotations?.[ROLE_ARN_ANNOTATION], roleArn, 'a dry run of the overlay shows no change of the annotation');
    await serverSideApply(cluster, gitServiceAccount);
    live = await readObject(cluster, saHeader);
    assert.equal(live?.metadata.annotations?.[ROLE_ARN_ANNOTATION], roleArn, 'the overlay apply does not remove it');

    const rv = live?.metadata.resourceVersion;
    await acts.ensureStoreCredential({ environment: env });
    assert.equal((await readObject(cluster, saHeader))?.metadata.resourceVersion, rv, 'a second run writes nothing');
  });
});
