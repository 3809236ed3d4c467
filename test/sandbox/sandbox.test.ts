/**
 * Proof that the sandbox's parts are real: a workflow on the Temporal dev server, the Web UI over HTTP,
 * S3 and Secrets Manager in moto, CRD schemas enforced by each kube-apiserver, the real External
 * Secrets controller syncing a moto secret into a Kubernetes Secret — built with its AWS provider alone —
 * and the time-skipping test server, whose build directory holds everything it runs.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Connection, Client } from '@temporalio/client';
import { Worker, NativeConnection } from '@temporalio/worker';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { S3Client, CreateBucketCommand, ListBucketsCommand } from '@aws-sdk/client-s3';
import { SecretsManagerClient, CreateSecretCommand, DescribeSecretCommand, DeleteSecretCommand } from '@aws-sdk/client-secrets-manager';
import * as k8s from '@kubernetes/client-node';
import { requireSandbox } from '../../sandbox/status.ts';
import type { sandboxHello } from './fixtures/hello-workflow.ts';

const sandbox = requireSandbox();
const awsConfig = {
  endpoint: sandbox.aws.endpoint,
  region: 'us-east-1',
  credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
};

function objectApi(context: string): k8s.KubernetesObjectApi {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(sandbox.kubeconfig);
  kc.setCurrentContext(context);
  return k8s.KubernetesObjectApi.makeApiClient(kc);
}

describe('sandbox: Temporal dev server (real)', () => {
  it('runs a trivial workflow and reads its history back', async () => {
    const taskQueue = `sandbox-proof-${randomUUID()}`;
    const nativeConnection = await NativeConnection.connect({ address: sandbox.temporal.address });
    const worker = await Worker.create({
      connection: nativeConnection,
      taskQueue,
      workflowsPath: new URL('./fixtures/hello-workflow.ts', import.meta.url).pathname,
    });
    const connection = await Connection.connect({ address: sandbox.temporal.address });
    const client = new Client({ connection });
    try {
      const result: string = await worker.runUntil(async () => {
        const handle = await client.workflow.start<typeof sandboxHello>('sandboxHello', { taskQueue, workflowId: taskQueue, args: ['logstack'] });
        return handle.result();
      });
      assert.equal(result, 'hello logstack');
      const history = await client.workflow.getHandle(taskQueue).fetchHistory();
      const types = (history.events ?? []).map((e) => e.eventType);
      assert.ok(types.length >= 5, `history has ${types.length} events`);
      assert.ok(history.events?.some((e) => e.workflowExecutionCompletedEventAttributes), 'history ends in WorkflowExecutionCompleted');
    } finally {
      await connection.close();
      await nativeConnection.close();
    }
  });

  it('has the Logstack search attributes registered', async () => {
    const connection = await Connection.connect({ address: sandbox.temporal.address });
    try {
      const res = await connection.operatorService.listSearchAttributes({ namespace: 'default' });
      const custom = res.customAttributes ?? {};
      assert.ok('LogstackEnvironment' in custom, 'LogstackEnvironment registered');
      assert.ok('LogstackRevision' in custom, 'LogstackRevision registered');
    } finally {
      await connection.close();
    }
  });

  it('serves the Web UI over HTTP', async () => {
    const res = await fetch(sandbox.temporal.ui);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /<html/i);
  });
});

describe('sandbox: AWS in moto (real server)', () => {
  it('creates a bucket and a secret through the AWS SDK', async () => {
    const bucket = `sandbox-proof-${randomUUID().slice(0, 8)}`;
    const s3 = new S3Client({ ...awsConfig, forcePathStyle: true });
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const buckets = await s3.send(new ListBucketsCommand({}));
    assert.ok(buckets.Buckets?.some((b) => b.Name === bucket));
    const sm = new SecretsManagerClient(awsConfig);
    const name = `sandbox/proof-${randomUUID()}`;
    const created = await sm.send(new CreateSecretCommand({ Name: name, SecretString: '{"k":"v"}' }));
    const described = await sm.send(new DescribeSecretCommand({ SecretId: name }));
    assert.equal(described.ARN, created.ARN);
    await sm.send(new DeleteSecretCommand({ SecretId: name, ForceDeleteWithoutRecovery: true }));
  });
});

const application = (name: string, withDestination: boolean) => ({
  apiVersion: 'argoproj.io/v1alpha1',
  kind: 'Application',
  metadata: { name, namespace: 'default' },
  spec: {
    project: 'default',
    source: { repoURL: 'https://example.invalid/gitops.git', path: 'gitops/overlays/dev', targetRevision: 'main' },
    ...(withDestination ? { destination: { server: 'https://kubernetes.default.svc', namespace: 'openshift-logging' } } : {}),
  },
});

for (const cluster of sandbox.clusters) {
  describe(`sandbox: kube-apiserver ${cluster.name} (real, CRD schemas enforced)`, () => {
    const api = objectApi(cluster.context);
    it('accepts a valid Argo CD Application on server-side dry-run', async () => {
      const res = await api.patch(application('proof-valid', true), undefined, 'All', 'logstack', true, k8s.PatchStrategy.ServerSideApply);
      assert.equal(res.kind, 'Application');
    });
    it('rejects an Application without spec.destination on server-side dry-run', async () => {
      await assert.rejects(
        api.patch(application('proof-invalid', false), undefined, 'All', 'logstack', true, k8s.PatchStrategy.ServerSideApply),
        (error: unknown) => error instanceof k8s.ApiException && error.code === 422 && /destination/.test(String(error.body)),
      );
    });
  });
}

describe('sandbox: External Secrets controller (real) syncs from moto', () => {
  const cluster = sandbox.clusters[0];
  assert.ok(cluster);
  const api = objectApi(cluster.context);
  const namespace = 'sandbox-proof';
  const remoteKey = `sandbox/eso-proof-${randomUUID().slice(0, 8)}`;
  const expected = randomUUID();

  before(async () => {
    const sm = new SecretsManagerClient(awsConfig);
    await sm.send(new CreateSecretCommand({ Name: remoteKey, SecretString: JSON.stringify({ password: expected }) }));
    const apply = (obj: k8s.KubernetesObject) => api.patch(obj, undefined, undefined, 'logstack', true, k8s.PatchStrategy.ServerSideApply);
    await apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } });
    await apply({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'aws-credentials', namespace },
      stringData: { 'access-key-id': 'test', 'secret-access-key': 'test' },
    } as k8s.KubernetesObject);
    await apply({
      apiVersion: 'external-secrets.io/v1',
      kind: 'ClusterSecretStore',
      metadata: { name: 'sandbox-proof' },
      spec: {
        provider: {
          aws: {
            service: 'SecretsManager',
            region: 'us-east-1',
            auth: {
              secretRef: {
                accessKeyIDSecretRef: { name: 'aws-credentials', key: 'access-key-id', namespace },
                secretAccessKeySecretRef: { name: 'aws-credentials', key: 'secret-access-key', namespace },
              },
            },
          },
        },
      },
    } as k8s.KubernetesObject);
    await apply({
      apiVersion: 'external-secrets.io/v1',
      kind: 'ExternalSecret',
      metadata: { name: 'proof', namespace },
      spec: {
        refreshInterval: '1h',
        secretStoreRef: { kind: 'ClusterSecretStore', name: 'sandbox-proof' },
        target: { name: 'proof-synced', creationPolicy: 'Owner' },
        data: [{ secretKey: 'password', remoteRef: { key: remoteKey, property: 'password' } }],
      },
    } as k8s.KubernetesObject);
  });

  it('creates the target Secret with the value from moto', async () => {
    const core = (() => {
      const kc = new k8s.KubeConfig();
      kc.loadFromFile(sandbox.kubeconfig);
      kc.setCurrentContext(cluster.context);
      return kc.makeApiClient(k8s.CoreV1Api);
    })();
    const deadline = Date.now() + 60_000;
    let value: string | undefined;
    while (Date.now() < deadline && value === undefined) {
      try {
        const secret = await core.readNamespacedSecret({ name: 'proof-synced', namespace });
        value = secret.data?.['password'];
      } catch {
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    assert.ok(value, 'ESO created the Secret within 60 s');
    assert.equal(Buffer.from(value, 'base64').toString('utf8'), expected);
  });
});

describe('sandbox: External Secrets controller carries the AWS provider alone (sandbox/go/eso/register)', () => {
  const cluster = sandbox.clusters[0];
  assert.ok(cluster);
  const api = objectApi(cluster.context);
  const namespace = 'sandbox-proof-providers';
  const name = `fake-${randomUUID().slice(0, 8)}`;

  after(() => api.delete({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } }).then(() => undefined, () => undefined));

  it('leaves a store of another provider (fake) not Ready: no registered store backend for it', async () => {
    const apply = (obj: k8s.KubernetesObject) => api.patch(obj, undefined, undefined, 'logstack', true, k8s.PatchStrategy.ServerSideApply);
    await apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } });
    await apply({
      apiVersion: 'external-secrets.io/v1',
      kind: 'SecretStore',
      metadata: { name, namespace },
      spec: { provider: { fake: { data: [{ key: 'k', value: 'v' }] } } },
    } as k8s.KubernetesObject);
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(sandbox.kubeconfig);
    kc.setCurrentContext(cluster.context);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    type Condition = { type: string; status: string; reason?: string };
    const deadline = Date.now() + 60_000;
    let ready: Condition | undefined;
    let refusal: string | undefined;
    while (Date.now() < deadline && (ready === undefined || refusal === undefined)) {
      const store = (await api.read({ apiVersion: 'external-secrets.io/v1', kind: 'SecretStore', metadata: { name, namespace } })) as { status?: { conditions?: Condition[] } };
      ready = store.status?.conditions?.find((c) => c.type === 'Ready');
      const events = await core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${name}` });
      refusal = events.items.map((e) => e.message ?? '').find((m) => m.includes('failed to find registered store backend'));
      if (ready === undefined || refusal === undefined) await new Promise((r) => setTimeout(r, 250));
    }
    assert.deepEqual([ready?.status, ready?.reason], ['False', 'InvalidProviderConfig'], `the fake store's Ready condition: ${JSON.stringify(ready)}`);
    assert.match(refusal ?? '', /type: fake/);
  });
});

describe('sandbox: the time-skipping test server stands alone in its build directory', () => {
  let copy: string | undefined;
  after(() => {
    if (copy) rmSync(copy, { recursive: true, force: true });
  });

  it('starts from a copy of its directory elsewhere: its jars are in the cache, not in a Maven repository', async () => {
    copy = mkdtempSync(join(tmpdir(), 'logstack-test-server-copy-'));
    cpSync(dirname(sandbox.testServer), copy, { recursive: true });
    const wrapper = readFileSync(join(copy, 'temporal-test-server'), 'utf8');
    assert.doesNotMatch(wrapper, /\.jar\b/, `the wrapper names no jar by path (it takes its own lib/*): ${wrapper}`);
    assert.ok(
      readdirSync(join(copy, 'lib')).some((f) => /^temporal-test-server-.*\.jar$/.test(f)),
      'the test server jar is in lib/',
    );
    const env = await TestWorkflowEnvironment.createTimeSkipping({
      server: { executable: { type: 'existing-path', path: join(copy, 'temporal-test-server') } },
    });
    try {
      const info = await env.connection.workflowService.getSystemInfo({});
      assert.ok(info.capabilities, 'the copied server answers GetSystemInfo');
    } finally {
      await env.teardown();
    }
  });
});
