/**
 * Activities that fail while they hold secret material leak it nowhere: Secrets Manager refuses to store a
 * freshly created access key, and the API server refuses the write of the store credential Secret (holding
 * the environment's freshly created reader key, whose secret the recorder saw in IAM's answer) — two
 * bootstraps of environments of this test only, through a real worker process whose AWS traffic passes the
 * recording endpoint (test/reliability/secret-scan.ts). Neither the failure message, its details and cause
 * chain in the client error and in history, nor the worker log holds a secret: the values the failing runs
 * handled, and every secret value stored for the sandbox's environments before they ran.
 *
 * Statuses of OLM, the Loki Operator and the Cluster Logging Operator are written by the sandbox stand-ins.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import {
  DeleteAccessKeyCommand,
  DeleteUserCommand,
  DeleteUserPolicyCommand,
  ListAccessKeysCommand,
  ListUserPoliciesCommand,
  type IAMClient,
} from '@aws-sdk/client-iam';
import { DeleteBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { DeleteSecretCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { parse, stringify } from 'yaml';
import { startWorkerProcess, type WorkerProcess } from '../support/processes.ts';
import { knownGoodRevision } from '../worker/sandbox-runs.ts';
import {
  AWS,
  PID,
  REGION,
  STORE,
  exportHistory,
  sandbox,
  startHygiene,
  type Hygiene,
} from './secret-hygiene-context.ts';
import { addSecret, describeFindings, scanFor, secretOf, toJsonText } from './secret-scan.ts';
import type { AwsRecorder, KnownSecret, SecretFinding } from './secret-scan.ts';

const execFileAsync = promisify(execFile);

/**
 * Pushes `branch` to the sandbox's GitOps remote: `revision` plus, for each environment, an overlay that is
 * dev's but reads the environment's own Loki secret (as the operator-rule pre-flight requires of an
 * overlay whose catalog entry names its own secret). Returns the new commit.
 */
async function pushOverlays(remote: string, revision: string, branch: string, envs: readonly string[]): Promise<string> {
  const clone = mkdtempSync(join(tmpdir(), 'logstack-hygiene-overlays-'));
  const git = async (...args: string[]): Promise<string> =>
    (
      await execFileAsync('git', [
        '-c',
        'user.name=hygiene-test',
        '-c',
        'user.email=tests@localhost',
        '-c',
        'commit.gpgsign=false',
        '-C',
        clone,
        ...args,
      ])
    ).stdout.trim();
  try {
    await execFileAsync('git', ['clone', '--quiet', remote, clone]);
    await git('checkout', '--quiet', '-b', branch, revision);
    for (const env of envs) {
      const dir = join(clone, 'gitops', 'overlays', env);
      mkdirSync(dir, { recursive: true });
      writeFileSync(
        join(dir, 'kustomization.yaml'),
        stringify({
          apiVersion: 'kustomize.config.k8s.io/v1beta1',
          kind: 'Kustomization',
          resources: ['../dev'],
          patches: [
            {
              target: { kind: 'ExternalSecret', name: 'logging-loki-s3' },
              patch: stringify([{ op: 'replace', path: '/spec/dataFrom/0/extract/key', value: `logstack/${env}/loki-s3` }]),
            },
          ],
        }),
      );
    }
    await git('add', '--all');
    await git('commit', '--quiet', '-m', `Overlays of the secret-hygiene environments ${envs.join(', ')}`);
    await git('push', '--quiet', 'origin', `HEAD:refs/heads/${branch}`);
    return await git('rev-parse', 'HEAD');
  } finally {
    rmSync(clone, { recursive: true, force: true });
  }
}

/** The failure of a failed workflow as text: every level's message, type, details, stack and raw failure. */
function failureText(error: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = error, depth = 0; e && depth < 10; depth++) {
    const f = e as {
      message?: string;
      stack?: string;
      type?: string;
      details?: unknown;
      failure?: unknown;
      cause?: unknown;
    };
    parts.push(
      toJsonText({ message: f.message, type: f.type, details: f.details, stack: f.stack, failure: f.failure }),
    );
    e = f.cause;
  }
  return parts.join('\n');
}

/** The typed failures (`ApplicationFailure.type`) and messages along a failure's cause chain. */
function failureChain(error: unknown): { type?: string; message: string }[] {
  const chain: { type?: string; message: string }[] = [];
  for (let e: unknown = error; e; e = (e as { cause?: unknown }).cause) {
    const f = e as { type?: string; message?: string };
    chain.push({ ...(f.type ? { type: f.type } : {}), message: f.message ?? '' });
  }
  return chain;
}

describe(
  'secret hygiene: activities that fail while they hold secret material leak it nowhere (controller statuses written by stand-ins)',
  { concurrency: false, timeout: 1_800_000 },
  () => {
    let hyg: Hygiene;
    let client: Client;
    let recorder: AwsRecorder;
    let sm: SecretsManagerClient;
    let iam: IAMClient;
    /** Every secret value stored for the sandbox's environments before the failing runs. */
    let secrets: KnownSecret[] = [];
    const run = `hyg${PID}`;
    const refusedEnv = `${run}-sm`;
    const writeEnv = `${run}-k8s`;
    const taskQueue = `hygiene-failures-${PID}`;
    const account = `logstack-hygiene-${PID}`;
    const label = 'logstack.io/hygiene-test';
    const overlayBranch = `hygiene-${run}`;
    let dir = '';
    let worker: WorkerProcess | undefined;
    const failures = new Map<string, unknown>();

    const kubectl = async (args: string[], input?: string): Promise<string> => {
      const child = execFileAsync(sandbox.kubectl, [
        '--kubeconfig',
        sandbox.kubeconfig,
        '--context',
        'logstack-dev',
        ...args,
      ]);
      if (input !== undefined) child.child.stdin?.end(input);
      return (await child).stdout;
    };

    /** A catalog entry like dev's, for an environment of this test only (its own bucket, secret and IAM user). */
    const entry = (name: string) => ({
      name,
      cluster: { context: 'logstack-dev' },
      aws: {
        region: REGION,
        bucket: `logstack-${name}-loki`,
        secretName: `logstack/${name}/loki-s3`,
        credentialMode: 'static',
      },
      overlay: `gitops/overlays/${name}`,
      delivery: 'direct',
      loki: { size: '1x.demo' },
      gates: ['external-secrets-synced'],
      retentionDays: 7,
    });

    before(async () => {
      hyg = await startHygiene();
      ({ client, recorder, sm, iam } = hyg);
      secrets = [];
      await hyg.storedSecrets(secrets);
      dir = mkdtempSync(join(tmpdir(), 'logstack-hygiene-'));
      const catalog = parse(readFileSync(sandbox.catalog, 'utf8')) as { environments: unknown[] };
      catalog.environments.push(entry(refusedEnv), entry(writeEnv));
      const catalogPath = join(dir, 'environments.yaml');
      writeFileSync(catalogPath, stringify(catalog));

      // An identity that may read what these bootstraps read in dev but write nothing there.
      const meta = (kind: string, namespace?: string) => ({
        kind,
        apiVersion: kind === 'ServiceAccount' ? 'v1' : 'rbac.authorization.k8s.io/v1',
        metadata: { name: account, labels: { [label]: run }, ...(namespace ? { namespace } : {}) },
      });
      const subject = [{ kind: 'ServiceAccount', name: account, namespace: 'default' }];
      const objects = [
        meta('ServiceAccount', 'default'),
        {
          ...meta('Role', 'logstack-system'),
          rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get'] }],
        },
        {
          ...meta('RoleBinding', 'logstack-system'),
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: account },
          subjects: subject,
        },
        {
          ...meta('Role', STORE.namespace),
          rules: [{ apiGroups: [''], resources: ['secrets'], resourceNames: [STORE.name], verbs: ['get'] }],
        },
        {
          ...meta('RoleBinding', STORE.namespace),
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: account },
          subjects: subject,
        },
        { ...meta('ClusterRole'), rules: [{ apiGroups: [''], resources: ['namespaces'], verbs: ['get'] }] },
        {
          ...meta('ClusterRoleBinding'),
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: account },
          subjects: subject,
        },
      ];
      await kubectl(
        ['apply', '--server-side', '--field-manager=logstack-hygiene-test', '-f', '-'],
        objects.map((o) => stringify(o)).join('---\n'),
      );
      const token = (await kubectl(['create', 'token', account, '-n', 'default', '--duration=1h'])).trim();
      const admin = parse(readFileSync(sandbox.kubeconfig, 'utf8')) as { clusters: { name: string }[] };
      const kubeconfig = join(dir, 'kubeconfig');
      writeFileSync(
        kubeconfig,
        stringify({
          apiVersion: 'v1',
          kind: 'Config',
          clusters: admin.clusters.filter((c) => c.name === 'logstack-dev'),
          users: [{ name: account, user: { token } }],
          contexts: [{ name: 'logstack-dev', context: { cluster: 'logstack-dev', user: account } }],
          'current-context': 'logstack-dev',
        }),
        { mode: 0o600 },
      );

      recorder.refuse((call) =>
        call.target === 'secretsmanager.CreateSecret' && call.body.includes(`logstack/${refusedEnv}/`)
          ? `User: arn:aws:iam::123456789012:user/test is not authorized to perform: secretsmanager:CreateSecret on resource: logstack/${refusedEnv}/loki-s3 because no identity-based policy allows the secretsmanager:CreateSecret action`
          : undefined,
      );
      worker = startWorkerProcess({
        taskQueue,
        env: {
          ...hyg.workerEnv(),
          LOGSTACK_CATALOG: catalogPath,
          KUBECONFIG: kubeconfig,
        },
      });
      hyg.children.push(worker.child);
      await worker.running;
      const revision = await pushOverlays(sandbox.git.remote, await knownGoodRevision(sandbox, 'dev'), overlayBranch, [
        refusedEnv,
        writeEnv,
      ]);
      for (const env of [refusedEnv, writeEnv]) {
        const handle = await client.workflow.start('bootstrapEnvironment', {
          taskQueue,
          workflowId: `hygiene-failure-${env}`,
          args: [{ environment: env, revision }],
        });
        failures.set(
          env,
          await handle.result().then(
            () => undefined,
            (error: unknown) => error,
          ),
        );
      }
    });

    after(async () => {
      if (!hyg) return;
      recorder?.refuse(undefined);
      if (worker) await hyg.stopWorker(worker, taskQueue, [refusedEnv, writeEnv]);
      await kubectl(['delete', 'clusterrolebinding,clusterrole', '-l', `${label}=${run}`, '--ignore-not-found']).catch(
        () => '',
      );
      await kubectl([
        'delete',
        'rolebinding,role,serviceaccount',
        '--all-namespaces',
        '-l',
        `${label}=${run}`,
        '--ignore-not-found',
      ]).catch(() => '');
      // The AWS resources of the two test environments.
      const s3 = new S3Client({ ...AWS, forcePathStyle: true });
      for (const env of [refusedEnv, writeEnv]) {
        for (const user of [`logstack-${env}-loki`, `logstack-${env}-secrets-reader`]) {
          for (const key of (await iam.send(new ListAccessKeysCommand({ UserName: user })).catch(() => undefined))
            ?.AccessKeyMetadata ?? []) {
            await iam
              .send(new DeleteAccessKeyCommand({ UserName: user, AccessKeyId: key.AccessKeyId }))
              .catch(() => undefined);
          }
          for (const policy of (await iam.send(new ListUserPoliciesCommand({ UserName: user })).catch(() => undefined))
            ?.PolicyNames ?? []) {
            await iam.send(new DeleteUserPolicyCommand({ UserName: user, PolicyName: policy })).catch(() => undefined);
          }
          await iam.send(new DeleteUserCommand({ UserName: user })).catch(() => undefined);
        }
        await sm
          .send(new DeleteSecretCommand({ SecretId: `logstack/${env}/loki-s3`, ForceDeleteWithoutRecovery: true }))
          .catch(() => undefined);
        await s3.send(new DeleteBucketCommand({ Bucket: `logstack-${env}-loki` })).catch(() => undefined);
      }
      s3.destroy();
      await execFileAsync('git', ['-C', sandbox.git.remote, 'branch', '-D', overlayBranch]).catch(() => undefined);
      if (dir) rmSync(dir, { recursive: true, force: true });
      await hyg.close();
    });

    it('Secrets Manager refuses to store a freshly created access key: the bootstrap fails AccessDenied naming the call', () => {
      const error = failures.get(refusedEnv);
      assert.ok(error instanceof WorkflowFailedError, `the bootstrap of ${refusedEnv} failed: ${String(error)}`);
      const chain = failureChain(error);
      assert.ok(
        chain.some((f) => f.type === 'AccessDenied' && /secretsmanager:CreateSecret/.test(f.message)),
        JSON.stringify(chain.map((f) => f.type)),
      );
      const refused = recorder.refused.filter((r) => r.call === 'secretsmanager.CreateSecret');
      assert.equal(refused.length, 1, 'exactly the one CreateSecret call was refused');
      assert.equal(
        refused[0]?.carriedSecret,
        true,
        'the refused request carried the access key IAM had just created: the activity held secret material when it failed',
      );
    });

    it('the API server refuses the write of the store credential Secret: the bootstrap fails AccessDenied naming the Secret', () => {
      const error = failures.get(writeEnv);
      assert.ok(error instanceof WorkflowFailedError, `the bootstrap of ${writeEnv} failed: ${String(error)}`);
      const chain = failureChain(error);
      assert.ok(
        chain.some(
          (f) =>
            f.type === 'AccessDenied' &&
            f.message.includes(`Secret/${STORE.namespace}/${STORE.name}`) &&
            /cannot patch/.test(f.message),
        ),
        JSON.stringify(chain.map((f) => f.type)),
      );
    });

    it("the refused store credential held the environment's new reader key: IAM's answer crossed the recorder, so its secret is scanned below", async () => {
      const keys = await iam.send(new ListAccessKeysCommand({ UserName: `logstack-${writeEnv}-secrets-reader` }));
      const ids = (keys.AccessKeyMetadata ?? []).map((k) => k.AccessKeyId);
      assert.equal(ids.length, 1, 'the activity left the reader exactly one key');
      assert.ok(
        recorder.secrets.some((s) => s.label === 'CreateAccessKey AccessKeyId' && s.value === ids[0]),
        "the reader's key was created through the recorder, which kept its secret access key",
      );
    });

    it('no failure message, detail, stack or cause — in the client error, the exported histories or the worker log — holds a secret', async (t) => {
      const all: KnownSecret[] = [...secrets];
      for (const s of recorder.secrets) addSecret(all, secretOf(`AWS traffic: ${s.label}`, s.value));
      const created = recorder.secrets.filter((s) => s.label === 'CreateAccessKey SecretAccessKey').length;
      assert.ok(created >= 2, `the failing bootstraps created access keys (${created} seen)`);
      const findings: SecretFinding[] = [];
      for (const [env, error] of failures) findings.push(...scanFor(all, failureText(error), `client error of ${env}`));
      let exported = 0;
      for await (const execution of client.workflow.list({ query: `TaskQueue = "${taskQueue}"` })) {
        const history = await exportHistory(client, execution.workflowId, execution.runId, undefined);
        exported++;
        findings.push(
          ...scanFor(all, history.cli, `temporal workflow show ${history.id}`),
          ...scanFor(all, history.fetched, `fetchHistory ${history.id}`),
          ...scanFor(all, history.payloads, `payloads of ${history.id}`),
        );
      }
      assert.ok(exported >= 2, `the failed bootstraps' histories were exported (${exported})`);
      assert.ok(worker, 'the failing worker ran');
      const log = worker.output();
      assert.match(log, /Activity failed/, 'the worker logged the failed activities');
      findings.push(...scanFor(all, log, 'worker log of the failing runs'));
      t.diagnostic(`${exported} histories, ${log.length} log characters, ${all.length} values`);
      assert.deepEqual(findings, [], `secret values around failed activities:\n${describeFindings(findings)}`);
    });
  },
);
