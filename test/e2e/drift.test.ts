/**
 * End to end on the sandbox: `remediateDrift` finds drift injected in each class — a live object edited
 * by another field manager (Git vs cluster), the Secrets Manager secret deleted and bucket versioning
 * switched off (AWS), an ExternalSecret pointed at a missing key (External Secrets) — lists it in `report`
 * mode without changing anything, and in `remediate` mode fixes what is safe and leaves the rest for a
 * person. Drift runs start through the `logstack` CLI; the drift Schedule is created through it and
 * checked with the Temporal CLI (overlap SKIP). Statuses of OLM, the Loki Operator and the Cluster Logging
 * Operator are written by the sandbox stand-ins in those controllers' place. The whole file runs once per worker
 * of `E2E_WORKERS`: in this process on Node, then a worker process on Deno.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DeleteSecretCommand, DescribeSecretCommand, ResourceNotFoundException, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetBucketVersioningCommand, PutBucketVersioningCommand, S3Client } from '@aws-sdk/client-s3';
import { parse } from 'yaml';
import { readObject } from '../../activities/kubernetes/apply.ts';
import { type KubeCluster, createKubeClusters } from '../../activities/kubernetes/cluster.ts';
import { type KubeObject, conditionOf, fieldAt } from '../../activities/kubernetes/objects.ts';
import { parseCatalog, type DriftFinding, type DriftResult, type Environment } from '../../domain/index.ts';
import { E2E_WORKERS, resultOf, startE2E, type E2E } from './harness.ts';

const ENV = 'dev';
/** The field manager of a person editing live objects (`kubectl edit`). */
const EDITOR = 'kubectl-edit';
const LOKISTACK = { apiVersion: 'loki.grafana.com/v1', kind: 'LokiStack', name: 'logging-loki', namespace: 'openshift-logging' };
const EXTERNAL_SECRET = { apiVersion: 'external-secrets.io/v1', kind: 'ExternalSecret', name: 'logging-loki-s3', namespace: 'openshift-logging' };
const LOKI_SECRET = { apiVersion: 'v1', kind: 'Secret', name: 'logging-loki-s3', namespace: 'openshift-logging' };
const STACK_REF = `LokiStack/${LOKISTACK.namespace}/${LOKISTACK.name}`;
const ES_REF = `ExternalSecret/${EXTERNAL_SECRET.namespace}/${EXTERNAL_SECRET.name}`;

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const describeFindings = (fs: readonly DriftFinding[]): string => fs.map((f) => `${f.class} ${f.object}: ${f.detail}${f.safeToRemediate ? ' (safe)' : ''}`).join('\n') || '(none)';

/** The last state of each `kind` step of a `--wait --output json` CLI run, by step name. */
function stepsOf(out: string, kind: string): { name: string; status: string; detail?: string }[] {
  const steps = new Map<string, { name: string; status: string; detail?: string }>();
  for (const line of out.trim().split('\n')) {
    try {
      const event = JSON.parse(line) as { event?: string; kind?: string; name?: string; status?: string; detail?: string };
      if (event.event === 'step' && event.kind === kind && event.name && event.status) steps.set(event.name, { name: event.name, status: event.status, ...(event.detail ? { detail: event.detail } : {}) });
    } catch {
      // not a JSON line
    }
  }
  return [...steps.values()];
}

for (const worker of E2E_WORKERS) {
  describe(`remediateDrift on the sandbox, worker ${worker} (controller statuses written by stand-ins)`, { concurrency: false }, () => {
    let e2e: E2E;
    let env: Environment;
    let cluster: KubeCluster;
    let s3: S3Client;
    let sm: SecretsManagerClient;
    const timings: string[] = [];

    /** Runs `logstack drift --mode <mode> --env dev --wait` and returns the workflow result and its wall time. */
    const drift = async (mode: 'report' | 'remediate', what: string): Promise<{ result: DriftResult; ms: number; remediations: string }> => {
      const started = performance.now();
      const run = await e2e.cli('drift', '--mode', mode, '--env', ENV, '--wait', '--output', 'json');
      const ms = performance.now() - started;
      assert.equal(run.code, 0, run.err + run.out);
      timings.push(`drift ${mode} (${what}) ${seconds(ms)}`);
      const steps = stepsOf(run.out, 'remediate-finding');
      if (mode === 'report') assert.deepEqual(steps, [], 'report mode remediates nothing');
      assert.deepEqual(steps.filter((s) => s.status === 'failed'), [], 'no remediation failed');
      return { result: resultOf<DriftResult>(run.out), ms, remediations: steps.map((s) => `${s.name}: ${s.detail ?? s.status}`).join('; ') };
    };
    const bootstrap = async (what: string): Promise<number> => {
      const started = performance.now();
      const run = await e2e.cli('bootstrap', ENV, '--wait', '--output', 'json');
      const ms = performance.now() - started;
      assert.equal(run.code, 0, run.err + run.out);
      timings.push(`bootstrap (${what}) ${seconds(ms)}`);
      return ms;
    };
    const retention = async (): Promise<unknown> => fieldAt(await readObject(cluster, LOKISTACK), ['spec', 'limits', 'global', 'retention', 'days']);
    const versioning = async (): Promise<string | undefined> => (await s3.send(new GetBucketVersioningCommand({ Bucket: env.aws.bucket }))).Status;
    const secretExists = async (): Promise<boolean> =>
      sm.send(new DescribeSecretCommand({ SecretId: env.aws.secretName })).then(
        (d) => d.DeletedDate === undefined,
        (e: unknown) => {
          if (e instanceof ResourceNotFoundException) return false;
          throw e;
        },
      );
    const remoteKey = async (): Promise<unknown> => fieldAt(await readObject(cluster, EXTERNAL_SECRET), ['spec', 'dataFrom', '0', 'extract', 'key']);
    const waitFor = async (what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> => {
      const deadline = Date.now() + timeoutMs;
      while (!(await check())) {
        if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
        await sleep(200);
      }
    };
    const esSynced = async (): Promise<boolean> => {
      const ready = conditionOf(await readObject(cluster, EXTERNAL_SECRET), 'Ready');
      return ready?.status === 'True' && ready.reason === 'SecretSynced';
    };

    before(async () => {
      e2e = await startE2E({ worker });
      const found = parseCatalog(parse(readFileSync(e2e.sandbox.catalog, 'utf8'))).environments.find((e) => e.name === ENV);
      assert.ok(found, `the sandbox catalog has ${ENV}`);
      env = found;
      cluster = createKubeClusters(e2e.sandbox.kubeconfig).forContext(env.cluster.context);
      const aws = { endpoint: e2e.sandbox.aws.endpoint, region: env.aws.region, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } };
      s3 = new S3Client({ ...aws, forcePathStyle: true });
      sm = new SecretsManagerClient(aws);
    });

    after(async () => {
      s3?.destroy();
      sm?.destroy();
      await e2e?.stop();
      if (timings.length) console.log(`drift e2e wall times: ${timings.join('; ')}`);
    });

    it(`bootstraps ${ENV} through the CLI; a report then finds no drift`, async (t) => {
      const booted = await bootstrap('baseline');
      const { result, ms } = await drift('report', 'baseline');
      assert.deepEqual(result, { findings: [], remediated: [] }, describeFindings(result.findings));
      t.diagnostic(`bootstrapEnvironment ${seconds(booted)}; remediateDrift report ${seconds(ms)}`);
    });

    it('git vs cluster: a LokiStack retention edited live by another field manager is reported, then re-applied from Git', async (t) => {
      const desired = await retention();
      assert.equal(desired, env.retentionDays);
      await mergePatchAs(cluster, LOKISTACK, { spec: { limits: { global: { retention: { days: 3 } } } } }, EDITOR);
      const owners = async () => ((await readObject(cluster, LOKISTACK))?.metadata.managedFields ?? []).filter((m) => JSON.stringify(m.fieldsV1 ?? {}).includes('"f:days"')).map((m) => m.manager);

      const report = await drift('report', 'edited LokiStack');
      const found = report.result.findings.filter((f) => f.class === 'git-vs-cluster' && f.object === STACK_REF);
      assert.equal(found.length, 1, describeFindings(report.result.findings));
      assert.equal(found[0]?.safeToRemediate, true, found[0]?.detail);
      assert.match(found[0]?.detail ?? '', new RegExp(EDITOR), 'the finding names the manager that changed it');
      assert.deepEqual(report.result.remediated, []);
      assert.equal(await retention(), 3, 'report mode changes nothing');
      assert.deepEqual(await owners(), [EDITOR]);

      const fix = await drift('remediate', 'edited LokiStack');
      assert.deepEqual(fix.result.remediated.map((f) => `${f.class} ${f.object}`), [`git-vs-cluster ${STACK_REF}`]);
      assert.equal(await retention(), desired, 'Git\'s retention is back');
      assert.deepEqual(await owners(), ['logstack'], 'and logstack owns the field again');
      const after = await drift('report', 'after LokiStack remediation');
      assert.deepEqual(after.result.findings, [], describeFindings(after.result.findings));
      t.diagnostic(`remediateDrift report ${seconds(report.ms)}, remediate ${seconds(fix.ms)}, report ${seconds(after.ms)}`);
    });

    it('aws: bucket versioning switched off (PutBucketVersioning Suspended) is reported, then converged', async (t) => {
      await s3.send(new PutBucketVersioningCommand({ Bucket: env.aws.bucket, VersioningConfiguration: { Status: 'Suspended' } }));
      const report = await drift('report', 'versioning suspended');
      const found = report.result.findings.filter((f) => f.class === 'aws' && f.object === `s3://${env.aws.bucket}`);
      assert.equal(found.length, 1, describeFindings(report.result.findings));
      assert.match(found[0]?.detail ?? '', /versioning is Suspended/);
      assert.equal(found[0]?.safeToRemediate, true);
      assert.equal(await versioning(), 'Suspended', 'report mode changes nothing');

      const fix = await drift('remediate', 'versioning suspended');
      assert.deepEqual(fix.result.remediated.map((f) => `${f.class} ${f.object}`), [`aws s3://${env.aws.bucket}`]);
      assert.equal(await versioning(), 'Enabled');
      const after = await drift('report', 'after versioning remediation');
      assert.deepEqual(after.result.findings, [], describeFindings(after.result.findings));
      t.diagnostic(`remediateDrift report ${seconds(report.ms)}, remediate ${seconds(fix.ms)}, report ${seconds(after.ms)}`);
    });

    it('external secrets: an ExternalSecret pointed at a missing key is reported (not synced), then re-applied from Git and synced again', async (t) => {
      const desiredKey = await remoteKey();
      assert.equal(desiredKey, env.aws.secretName);
      const secretBefore = await readObject(cluster, LOKI_SECRET);
      await mergePatchAs(cluster, EXTERNAL_SECRET, { spec: { dataFrom: [{ extract: { key: `${env.aws.secretName}-missing` } }] } }, EDITOR);
      await waitFor('ESO to report the ExternalSecret not synced', async () => !(await esSynced()));

      const report = await drift('report', 'broken ExternalSecret');
      const eso = report.result.findings.filter((f) => f.class === 'external-secrets' && f.object === ES_REF);
      assert.equal(eso.length, 1, describeFindings(report.result.findings));
      assert.match(eso[0]?.detail ?? '', /not synced/);
      const git = report.result.findings.filter((f) => f.class === 'git-vs-cluster' && f.object === ES_REF);
      assert.equal(git.length, 1, 'the edit is also Git-vs-cluster drift');
      assert.deepEqual(report.result.remediated, []);
      assert.equal(await remoteKey(), `${env.aws.secretName}-missing`, 'report mode changes nothing');
      const secretNow = await readObject(cluster, LOKI_SECRET);
      assert.equal(secretNow?.metadata.uid, secretBefore?.metadata.uid, 'the Loki Secret is kept (deletionPolicy Retain)');
      assert.deepEqual(secretNow?.['data'], secretBefore?.['data']);

      const fix = await drift('remediate', 'broken ExternalSecret');
      assert.ok(fix.result.remediated.some((f) => f.class === 'git-vs-cluster' && f.object === ES_REF), describeFindings(fix.result.remediated));
      assert.equal(await remoteKey(), desiredKey, 'Git\'s remote key is back');
      await waitFor('ESO to sync the ExternalSecret again', esSynced);
      const after = await drift('report', 'after ExternalSecret remediation');
      assert.deepEqual(after.result.findings, [], describeFindings(after.result.findings));
      t.diagnostic(`remediateDrift report ${seconds(report.ms)}, remediate ${seconds(fix.ms)} [${fix.remediations}], report ${seconds(after.ms)}`);
    });

    it('aws: the Secrets Manager secret deleted (ForceDeleteWithoutRecovery) is reported and left for a person; a bootstrap restores it', async (t) => {
      await sm.send(new DeleteSecretCommand({ SecretId: env.aws.secretName, ForceDeleteWithoutRecovery: true }));
      assert.equal(await secretExists(), false);
      const report = await drift('report', 'secret deleted');
      const found = report.result.findings.filter((f) => f.class === 'aws' && f.object === `secretsmanager:${env.aws.secretName}`);
      assert.equal(found.length, 1, describeFindings(report.result.findings));
      assert.equal(found[0]?.safeToRemediate, false, 'a missing secret is never recreated by drift remediation');

      const fix = await drift('remediate', 'secret deleted');
      assert.ok(fix.result.findings.some((f) => f.object === `secretsmanager:${env.aws.secretName}`));
      assert.ok(!fix.result.remediated.some((f) => f.object === `secretsmanager:${env.aws.secretName}`), 'not remediated');
      assert.equal(await secretExists(), false, 'still missing: left for a person');

      const booted = await bootstrap('restores the secret');
      assert.equal(await secretExists(), true);
      const after = await drift('report', 'after bootstrap');
      assert.deepEqual(after.result.findings, [], describeFindings(after.result.findings));
      t.diagnostic(`remediateDrift report ${seconds(report.ms)}, remediate ${seconds(fix.ms)}; bootstrapEnvironment ${seconds(booted)}; report ${seconds(after.ms)}`);
    });

    it('logstack schedule drift --every 15m creates a Schedule with overlap SKIP that starts remediateDrift', async (t) => {
      const id = `drift-remediation-e2e-${process.pid}`;
      const created = await e2e.cli('schedule', 'drift', '--every', '15m', '--id', id, '--mode', 'report', '--env', ENV, '--output', 'json');
      try {
        assert.equal(created.code, 0, created.err + created.out);
        const summary = JSON.parse(created.out) as { scheduleId: string; created: boolean; overlap: string; paused: boolean };
        assert.equal(summary.scheduleId, id);
        assert.equal(summary.created, true);
        const described = await e2e.temporal('schedule', 'describe', '--schedule-id', id, '--output', 'json');
        assert.equal(described.code, 0, described.err);
        const schedule = JSON.parse(described.out) as {
          schedule: { spec: { interval: { interval: string }[] }; action: { startWorkflow: { workflowType: { name: string }; taskQueue: { name: string } } }; policies: { overlapPolicy: string } };
        };
        assert.equal(schedule.schedule.policies.overlapPolicy, 'SCHEDULE_OVERLAP_POLICY_SKIP');
        assert.equal(schedule.schedule.action.startWorkflow.workflowType.name, 'remediateDrift');
        assert.equal(schedule.schedule.action.startWorkflow.taskQueue.name, e2e.taskQueue);
        assert.equal(schedule.schedule.spec.interval[0]?.interval, '900s');
        const again = await e2e.cli('schedule', 'drift', '--every', '15m', '--id', id, '--mode', 'report', '--env', ENV, '--output', 'json');
        assert.equal((JSON.parse(again.out) as { created: boolean }).created, false, 'running it again updates the same Schedule');
        t.diagnostic(`schedule ${id}: overlap ${summary.overlap}, every 15m`);
      } finally {
        await e2e.temporal('schedule', 'delete', '--schedule-id', id);
      }
      const gone = await e2e.temporal('schedule', 'describe', '--schedule-id', id);
      assert.notEqual(gone.code, 0, 'the Schedule is deleted');
    });
  });
}

/** A JSON merge patch written as field manager `manager` — a person's `kubectl edit`, not logstack. */
async function mergePatchAs(cluster: KubeCluster, header: { apiVersion: string; kind: string; name: string; namespace?: string }, patch: Record<string, unknown>, manager: string): Promise<KubeObject> {
  const info = await cluster.resource(header.apiVersion, header.kind);
  return cluster.request<KubeObject>({
    method: 'PATCH',
    path: `${cluster.collectionPath(info, header.namespace)}/${encodeURIComponent(header.name)}`,
    query: { fieldManager: manager },
    contentType: 'application/merge-patch+json',
    body: patch,
  });
}
