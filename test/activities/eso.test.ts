/**
 * The External Secrets gate against the real chain: a secret in moto, the real External Secrets
 * controller (v0.16) syncing it through a ClusterSecretStore into a real kube-apiserver.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { FORCE_SYNC_ANNOTATION } from '../../activities/eso/external-secret.ts';
import { readObject, serverSideApply } from '../../activities/kubernetes/apply.ts';
import { clusterOf, environment, runInActivity, sandbox, sandboxActivities, suffix } from './sandbox-parts.ts';

const id = suffix();
const namespace = `t-eso-${id}`;
const store = `t-store-${id}`;
const secretName = `logstack/eso-${id}/loki-s3`;
const fakeKey = `AKIATEST${id.toUpperCase()}`;
const env = environment('dev', { name: `eso-${id}`, aws: { secretName }, loki: { namespace } });
const cluster = clusterOf(env);
const acts = sandboxActivities();
const gate = (input: Parameters<typeof acts.waitForExternalSecretSynced>[0]) => acts.waitForExternalSecretSynced(input);

const lokiTemplate = (extra: Record<string, string> = {}) => ({
  engineVersion: 'v2',
  data: {
    bucketnames: '{{ .bucketnames }}',
    endpoint: 'https://s3.{{ .region }}.amazonaws.com',
    region: '{{ .region }}',
    access_key_id: '{{ .access_key_id }}',
    access_key_secret: '{{ .access_key_secret }}',
    ...extra,
  },
});

function externalSecret(ns: string, extra?: Record<string, string>) {
  return {
    apiVersion: 'external-secrets.io/v1',
    kind: 'ExternalSecret',
    metadata: { name: 'logging-loki-s3', namespace: ns },
    spec: {
      refreshInterval: '1h',
      secretStoreRef: { kind: 'ClusterSecretStore', name: store },
      target: { name: 'logging-loki-s3', creationPolicy: 'Owner', template: lokiTemplate(extra) },
      dataFrom: [{ extract: { key: secretName } }],
    },
  };
}

const esHeader = { apiVersion: 'external-secrets.io/v1', kind: 'ExternalSecret', name: 'logging-loki-s3', namespace };

describe('External Secrets gate with the real ESO controller and moto', () => {
  before(async () => {
    const sm = new SecretsManagerClient({ endpoint: sandbox.aws.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
    await sm.send(
      new CreateSecretCommand({
        Name: secretName,
        SecretString: JSON.stringify({ bucketnames: `logstack-t-${id}`, region: 'us-east-1', access_key_id: fakeKey, access_key_secret: `secret-${id}` }),
      }),
    );
    sm.destroy();
  });

  it("ensureStoreCredential writes the store key Secret (the environment reader's key) at most once", async () => {
    const first = await acts.ensureStoreCredential({ environment: env });
    assert.deepEqual({ namespace: first.namespace, name: first.name }, { namespace: 'external-secrets', name: 'logstack-aws-credentials' });
    const header = { apiVersion: 'v1', kind: 'Secret', name: first.name, namespace: first.namespace };
    const rv = (await readObject(cluster, header))?.metadata.resourceVersion;
    const second = await acts.ensureStoreCredential({ environment: env });
    assert.equal(second.created, false);
    assert.equal((await readObject(cluster, header))?.metadata.resourceVersion, rv, 'one side effect');
    assert.ok(!JSON.stringify([first, second]).includes('test"'), 'no key material in results');
    // sts mode (the reader role and the service account annotation) is shown in test/e2e/store-identity.test.ts, on dev.
  });

  it('forces a refresh and returns once store Ready, SecretSynced after the force and exactly the Loki keys (real ESO controller)', async () => {
    await serverSideApply(cluster, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } });
    await serverSideApply(cluster, {
      apiVersion: 'external-secrets.io/v1',
      kind: 'ClusterSecretStore',
      metadata: { name: store },
      spec: {
        provider: {
          aws: {
            service: 'SecretsManager',
            region: 'us-east-1',
            auth: {
              secretRef: {
                accessKeyIDSecretRef: { namespace: 'external-secrets', name: 'logstack-aws-credentials', key: 'access-key-id' },
                secretAccessKeySecretRef: { namespace: 'external-secrets', name: 'logstack-aws-credentials', key: 'secret-access-key' },
              },
            },
          },
        },
      },
    });
    await serverSideApply(cluster, externalSecret(namespace));
    const run = runInActivity(gate, { environment: env, timeoutSeconds: 90 }, { activityId: 'eso-gate-1' });
    const outcome = await run.result;
    assert.equal(outcome.gate, 'external-secrets-synced');
    assert.match(outcome.detail, /SecretSynced/);
    assert.match(outcome.detail, /keys access_key_id,access_key_secret,bucketnames,endpoint,region/);
    assert.ok(!JSON.stringify(outcome).includes(fakeKey), 'no secret value in the result');
    assert.ok(!JSON.stringify(run.heartbeats).includes(fakeKey), 'no secret value in heartbeats');
    const es = await readObject(cluster, esHeader);
    const forced = Number(es?.metadata.annotations?.[FORCE_SYNC_ANNOTATION]);
    assert.ok(Date.parse((es?.['status'] as { refreshTime: string }).refreshTime) >= forced * 1000, 'refreshTime after the force');
  });

  it('a retry of the same activity execution waits on its own force instead of forcing again (real ESO controller)', async () => {
    const before = (await readObject(cluster, esHeader))?.metadata;
    await runInActivity(gate, { environment: env, timeoutSeconds: 60 }, { activityId: 'eso-gate-1' }).result;
    const after = (await readObject(cluster, esHeader))?.metadata;
    assert.equal(after?.annotations?.[FORCE_SYNC_ANNOTATION], before?.annotations?.[FORCE_SYNC_ANNOTATION]);
    assert.equal(after?.generation, before?.generation);
  });

  it('a new execution forces a new refresh and waits for ESO to perform it (real ESO controller)', async () => {
    const before = (await readObject(cluster, esHeader))?.['status'] as { syncedResourceVersion: string };
    await runInActivity(gate, { environment: env, timeoutSeconds: 60 }, { activityId: 'eso-gate-2' }).result;
    const after = (await readObject(cluster, esHeader))?.['status'] as { syncedResourceVersion: string };
    assert.notEqual(after.syncedResourceVersion, before.syncedResourceVersion, 'ESO re-synced after the new force');
  });

  it('a Secret with a key Loki does not read fails GateFailed naming the key, never its value (real ESO controller)', async () => {
    const other = `t-eso-bad-${id}`;
    await serverSideApply(cluster, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: other } });
    await serverSideApply(cluster, externalSecret(other, { secret_access_key: '{{ .access_key_secret }}' }));
    const bad = environment('dev', { name: `eso-bad-${id}`, aws: { secretName }, loki: { namespace: other } });
    const error = await runInActivity(gate, { environment: bad, timeoutSeconds: 15 }).result.catch((e: Error & { type?: string }) => e);
    assert.equal((error as { type?: string }).type, 'GateFailed');
    assert.match((error as Error).message, /unexpected: secret_access_key/);
    assert.ok(!(error as Error).message.includes(`secret-${id}`));
  });
});
