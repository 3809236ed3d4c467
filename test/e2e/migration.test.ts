/**
 * End to end on the sandbox: `migrateProduction` takes over a production estate that scripts made —
 * a plain Secret of Loki STS keys created with `kubectl create secret generic` and the instances
 * applied with client-side `kubectl apply` — without deleting anything. Independent watches run
 * throughout: one on the Loki Secret (it must exist with valid keys at every moment), one per kind of
 * the overlay (no object of the environment may be deleted). Statuses of OLM, the Loki Operator and
 * the Cluster Logging Operator are written by the sandbox stand-ins in those controllers' place. The whole file runs
 * once per worker of `E2E_WORKERS` (in this process on Node, then a worker process on Deno): the second run puts
 * production back in the script-managed state first.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseAllDocuments } from 'yaml';
import { createActivities } from '../../activities/index.ts';
import { createAwsClients } from '../../activities/aws/index.ts';
import { listObjects, readObject } from '../../activities/kubernetes/apply.ts';
import { type KubeCluster, createKubeClusters } from '../../activities/kubernetes/cluster.ts';
import { type KubeObject, keyOf, refOf } from '../../activities/kubernetes/objects.ts';
import { FIELD_MANAGER, type Environment, type MigrateResult } from '../../domain/index.ts';
import { E2E_WORKERS, resultOf, startE2E, type E2E } from './harness.ts';
import { stateKeysFromEnv } from '../../sandbox/inputs.ts';

const execFileAsync = promisify(execFile);
const ENV = 'production';
const LOKISTACK = 'gitops/base/loki-stack/lokistack.yaml';
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';
const SECRET = { namespace: 'openshift-logging', name: 'logging-loki-s3' };
const STATE = { namespace: 'logstack-system', name: `logstack-state-${ENV}` };
/** What GitOps brings and the scripts never made: the External Secrets objects. */
const GITOPS_ONLY_KINDS = new Set(['ExternalSecret', 'ClusterSecretStore']);

interface Snapshot {
  readonly uid: string | undefined;
  readonly resourceVersion: string | undefined;
  readonly managedFields: string;
}

/** A watch event as the test saw it. */
interface Seen {
  readonly type: string;
  readonly ref: string;
  readonly at: number;
  readonly valid?: boolean;
  readonly detail?: string;
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** When the step of `kind` last succeeded, from the step events of a `--wait --output json` CLI run (epoch ms). */
function stepEnd(out: string, kind: string): number {
  let end = NaN;
  for (const line of out.trim().split('\n')) {
    try {
      const event = JSON.parse(line) as { event?: string; kind?: string; status?: string; endedAt?: string };
      if (event.event === 'step' && event.kind === kind && event.status === 'succeeded' && event.endedAt) end = Date.parse(event.endedAt);
    } catch {
      // not a JSON line
    }
  }
  assert.ok(Number.isFinite(end), `step ${kind} succeeded`);
  return end;
}

/**
 * Watches one collection from `resourceVersion`, resuming from the last resourceVersion seen whenever the
 * connection ends (idle watches are closed after 30 s) — lossless. An ERROR event (e.g. 410: the
 * history is gone) or a failed resume is recorded as a gap: the proof would be incomplete and the test says so.
 */
function watchCollection(
  cluster: KubeCluster,
  path: string,
  resourceVersion: string,
  query: Record<string, string>,
  onEvent: (type: string, obj: KubeObject) => void,
  onGap: (why: string) => void,
  onResume: () => void,
): () => void {
  let stopped = false;
  let rv = resourceVersion;
  const abort = new AbortController();
  const start = (): void => {
    if (stopped) return;
    void cluster
      .watch(
        path,
        { ...query, resourceVersion: rv, allowWatchBookmarks: true },
        (type: string, raw: unknown) => {
          const obj = raw as KubeObject;
          if (type === 'ERROR') {
            onGap(`${path}: ${JSON.stringify(obj)}`);
            return;
          }
          if (obj.metadata?.resourceVersion) rv = obj.metadata.resourceVersion;
          if (type !== 'BOOKMARK') onEvent(type, obj);
        },
        abort.signal,
        30_000,
      )
      .catch(() => undefined)
      .then(() => {
        if (stopped) return;
        onResume();
        start();
      });
  };
  start();
  return () => {
    stopped = true;
    abort.abort();
  };
}

for (const worker of E2E_WORKERS) {
  describe(`migrateProduction on the sandbox, worker ${worker} (controller statuses written by stand-ins)`, { concurrency: false }, () => {
    let e2e: E2E;
    let cluster: KubeCluster;
    let env: Environment;
    let work: string;
    let rendered: KubeObject[] = [];
    let roleArn = '';
    let stopWatches: (() => void)[] = [];
    const secretEvents: Seen[] = [];
    const deletions: Seen[] = [];
    const gaps: string[] = [];
    const creationPolicies: { policy: string; at: number }[] = [];
    let resumes = 0;
    const resumed = (): void => void resumes++;
    const timings: string[] = [];

    const kubectl = async (...args: string[]): Promise<string> =>
      (await execFileAsync(e2e.sandbox.kubectl, ['--kubeconfig', e2e.sandbox.kubeconfig, '--context', env.cluster.context, ...args], { maxBuffer: 32 * 1024 * 1024 })).stdout;
    const header = (o: KubeObject) => ({ apiVersion: o.apiVersion, kind: o.kind, name: o.metadata.name, namespace: o.metadata.namespace });
    const overlayNamespaces = (): Set<string> => new Set(rendered.filter((o) => o.kind === 'Namespace').map((o) => o.metadata.name));

    /** Whether a Secret holds exactly the Loki STS keys with this environment's values. */
    const validLokiSecret = (secret: KubeObject | undefined): { valid: boolean; detail: string } => {
      const data = (secret?.['data'] ?? {}) as Record<string, string>;
      const decoded = Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
      const expected = { bucketnames: env.aws.bucket, region: env.aws.region, role_arn: roleArn };
      const keys = Object.keys(decoded).filter((k) => k !== 'audience').sort();
      const valid = keys.join(',') === 'bucketnames,region,role_arn' && Object.entries(expected).every(([k, v]) => decoded[k] === v);
      return { valid, detail: `keys ${Object.keys(decoded).sort().join(',') || '(none)'}` };
    };

    /** uid, resourceVersion and managedFields of every rendered object and of the Loki Secret and state ConfigMap. */
    const snapshot = async (): Promise<Map<string, Snapshot>> => {
      const snap = new Map<string, Snapshot>();
      const targets = [
        ...rendered.map(header),
        { apiVersion: 'v1', kind: 'Secret', ...SECRET },
        { apiVersion: 'v1', kind: 'ConfigMap', ...STATE },
      ];
      for (const h of targets) {
        const live = await readObject(cluster, h);
        snap.set(`${h.kind}/${h.namespace ?? ''}/${h.name}`, { uid: live?.metadata.uid, resourceVersion: live?.metadata.resourceVersion, managedFields: JSON.stringify(live?.metadata.managedFields ?? null) });
      }
      return snap;
    };

    /** Waits until no watched object changes for `quietMs` (the stand-ins have written their statuses). */
    const settle = async (quietMs = 2000, timeoutMs = 60_000): Promise<void> => {
      const deadline = Date.now() + timeoutMs;
      let last = JSON.stringify([...(await snapshot())]);
      let since = Date.now();
      while (Date.now() < deadline) {
        await sleep(250);
        const now = JSON.stringify([...(await snapshot())]);
        if (now !== last) {
          last = now;
          since = Date.now();
        } else if (Date.now() - since >= quietMs) {
          return;
        }
      }
      throw new Error('production did not settle within a minute');
    };

    before(async () => {
      e2e = await startE2E({ worker });
      cluster = createKubeClusters(e2e.sandbox.kubeconfig).forContext(`logstack-${ENV}`);
      work = mkdtempSync(join(tmpdir(), 'logstack-e2e-migration-'));
      const acts = createActivities({
        catalogPath: e2e.sandbox.catalog,
        stateKeys: stateKeysFromEnv(),
        kubeconfig: e2e.sandbox.kubeconfig,
        kubectlPath: e2e.sandbox.kubectl,
        awsClients: createAwsClients({ endpoint: e2e.sandbox.aws.endpoint, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } }),
        git: { workdir: join(work, 'activities-clone') },
      });
      const found = (await acts.loadCatalog()).environments.find((e) => e.name === ENV);
      assert.ok(found, `the sandbox catalog has ${ENV}`);
      env = found;
      // The AWS side a script-era production already has, and that the migration expects: the bucket, the
      // Loki role and the Secrets Manager secret ESO will read (the same steps the bootstrap runs).
      await acts.ensureBucket({ environment: env });
      roleArn = (await acts.ensureLokiCredentials({ environment: env })).principalArn;
      await acts.seedLokiSecret({ environment: env, principalArn: roleArn });
    });

    after(async () => {
      for (const stop of stopWatches) stop();
      stopWatches = [];
      await e2e?.stop();
      if (work) rmSync(work, { recursive: true, force: true });
      if (timings.length) console.log(`migration e2e wall times: ${timings.join('; ')}`);
    });

    it('puts production in the script-managed state: logstack objects removed, kubectl-created Secret, client-side applied instances', async (t) => {
      const started = performance.now();
      // The branch head is what the migration delivers (nothing is verified once the record is gone): make sure
      // its LokiStack is the seeded one, not an edit an earlier test pushed (e.g. a stack broken on purpose).
      const clone = join(work, 'gitops');
      const git = async (...args: string[]) => (await execFileAsync('git', ['-C', clone, ...args])).stdout.trim();
      await execFileAsync('git', ['clone', '--quiet', e2e.sandbox.git.remote, clone]);
      const root = await git('rev-list', '--max-parents=0', 'HEAD');
      const seeded = await git('show', `${root}:${LOKISTACK}`);
      if ((await git('show', `HEAD:${LOKISTACK}`)) !== seeded) {
        writeFileSync(join(clone, LOKISTACK), `${seeded}\n`);
        await git('-c', 'user.name=E2E Engineer', '-c', 'user.email=e2e@localhost', 'commit', '--quiet', '-am', 'Restore the LokiStack as seeded (before migrating production)');
        await git('push', '--quiet', 'origin', 'HEAD:main');
      }
      const yaml = await kubectl('kustomize', join(clone, env.overlay));
      rendered = parseAllDocuments(yaml).map((d) => d.toJS() as KubeObject).filter((o) => o?.kind);
      assert.ok(rendered.some((o) => o.kind === 'LokiStack') && rendered.some((o) => o.kind === 'ClusterLogForwarder'));

      // Remove what logstack manages in production: its record, then every object of the overlay (namespaces
      // included, so their contents and the ESO-made Secret go too); wait until the namespaces are gone.
      await kubectl('delete', 'configmap', '-n', STATE.namespace, STATE.name, '--ignore-not-found');
      const all = join(work, 'overlay.yaml');
      writeFileSync(all, yaml);
      await kubectl('delete', '-f', all, '--ignore-not-found', '--wait=true', '--timeout=180s');
      for (const ns of overlayNamespaces()) assert.equal(await readObject(cluster, { apiVersion: 'v1', kind: 'Namespace', name: ns }), undefined, `namespace ${ns} is gone`);

      // As the scripts did: namespaces, the Secret with `kubectl create secret generic`, then the instances with a
      // client-side `kubectl apply` — everything but the External Secrets objects GitOps brings.
      const scripts = rendered.filter((o) => !GITOPS_ONLY_KINDS.has(o.kind));
      const toYaml = (objs: KubeObject[]) => objs.map((o) => JSON.stringify(o)).join('\n---\n');
      const namespacesFile = join(work, 'script-namespaces.yaml');
      const instancesFile = join(work, 'script-instances.yaml');
      writeFileSync(namespacesFile, toYaml(scripts.filter((o) => o.kind === 'Namespace')));
      writeFileSync(instancesFile, toYaml(scripts.filter((o) => o.kind !== 'Namespace')));
      await kubectl('apply', '-f', namespacesFile);
      await kubectl(
        'create', 'secret', 'generic', SECRET.name, '-n', SECRET.namespace,
        `--from-literal=bucketnames=${env.aws.bucket}`, `--from-literal=region=${env.aws.region}`, `--from-literal=role_arn=${roleArn}`,
      );
      await kubectl('apply', '-f', instancesFile);

      const secret = await readObject(cluster, { apiVersion: 'v1', kind: 'Secret', ...SECRET });
      assert.ok(validLokiSecret(secret).valid, 'the script-made Secret holds valid STS keys');
      assert.deepEqual((secret?.metadata.managedFields ?? []).map((m) => m.manager), ['kubectl-create']);
      for (const o of scripts) {
        const live = await readObject(cluster, header(o));
        assert.ok(live, `${refOf(o)} exists`);
        assert.ok(live.metadata.managedFields?.some((m) => m.manager === 'kubectl-client-side-apply'), `${refOf(o)} is managed by kubectl-client-side-apply`);
        assert.ok(!live.metadata.managedFields?.some((m) => m.manager === FIELD_MANAGER), `${refOf(o)} is not managed by logstack yet`);
      }
      for (const o of rendered.filter((r) => GITOPS_ONLY_KINDS.has(r.kind))) assert.equal(await readObject(cluster, header(o)), undefined, `${refOf(o)} does not exist yet`);
      assert.equal(await readObject(cluster, { apiVersion: 'v1', kind: 'ConfigMap', ...STATE }), undefined, 'no logstack record');
      await settle();

      // From here on, independent watches prove the Secret is always there and valid, and nothing is deleted.
      const namespaces = overlayNamespaces();
      const renderedKeys = new Set(rendered.map(keyOf));
      const list = await listObjects(cluster, { apiVersion: 'v1', kind: 'Secret', namespace: SECRET.namespace });
      const secretsPath = cluster.collectionPath(await cluster.resource('v1', 'Secret'), SECRET.namespace);
      stopWatches.push(
        watchCollection(cluster, secretsPath, list.resourceVersion, { fieldSelector: `metadata.name=${SECRET.name}` }, (type, obj) => {
          const { valid, detail } = validLokiSecret(obj);
          secretEvents.push({ type, ref: refOf({ ...obj, kind: 'Secret' }), at: Date.now(), valid: type !== 'DELETED' && valid, detail });
        }, (why) => gaps.push(why), resumed),
      );
      const kinds = new Map<string, { apiVersion: string; kind: string }>();
      for (const o of [...rendered, { apiVersion: 'v1', kind: 'Secret' }, { apiVersion: 'v1', kind: 'ConfigMap' }]) kinds.set(`${o.apiVersion}/${o.kind}`, { apiVersion: o.apiVersion, kind: o.kind });
      for (const k of kinds.values()) {
        const info = await cluster.resource(k.apiVersion, k.kind);
        const path = cluster.collectionPath(info);
        const { resourceVersion } = await listObjects(cluster, k);
        stopWatches.push(
          watchCollection(cluster, path, resourceVersion, {}, (type, obj) => {
            if (k.kind === 'ExternalSecret' && obj.metadata.namespace === SECRET.namespace && obj.metadata.name === SECRET.name) {
              const policy = String((obj['spec'] as { target?: { creationPolicy?: string } } | undefined)?.target?.creationPolicy ?? 'Owner');
              if (creationPolicies.at(-1)?.policy !== policy) creationPolicies.push({ policy, at: Date.now() });
            }
            if (type !== 'DELETED') return;
            const full = { ...obj, apiVersion: k.apiVersion, kind: k.kind };
            const ours = info.namespaced ? namespaces.has(obj.metadata.namespace ?? '') : renderedKeys.has(keyOf(full));
            if (ours) deletions.push({ type, ref: refOf(full), at: Date.now() });
          }, (why) => gaps.push(why), resumed),
        );
      }
      await sleep(500);
      timings.push(`script-managed setup ${seconds(performance.now() - started)}`);
      t.diagnostic(`set up in ${seconds(performance.now() - started)}; ${scripts.length} objects applied client-side, ${rendered.length - scripts.length} left to GitOps`);
    });

    it('migrate --dry-run shows the plan and changes nothing (resourceVersions and managedFields unchanged)', async (t) => {
      const before = await snapshot();
      const started = performance.now();
      const run = await e2e.cli('migrate', ENV, '--dry-run', '--wait', '--output', 'json');
      const took = performance.now() - started;
      assert.equal(run.code, 0, run.err + run.out);
      const plan = resultOf<MigrateResult>(run.out);
      const scripts = rendered.filter((o) => !GITOPS_ONLY_KINDS.has(o.kind)).map(refOf).sort();
      assert.deepEqual([...plan.adopted].sort(), scripts, 'every client-side applied object is planned for adoption');
      assert.deepEqual([...plan.skipped].sort(), rendered.filter((o) => GITOPS_ONLY_KINDS.has(o.kind)).map(refOf).sort(), 'the External Secrets objects do not exist yet');
      assert.deepEqual(plan.unchanged, []);
      assert.deepEqual(plan.gates, []);
      await sleep(1000);
      const after = await snapshot();
      for (const [ref, was] of before) assert.deepEqual(after.get(ref), was, `${ref} untouched by the dry run`);
      assert.equal(after.get(`ConfigMap/${STATE.namespace}/${STATE.name}`)?.uid, undefined, 'no record written');
      timings.push(`migrate --dry-run ${seconds(took)}`);
      t.diagnostic(`migrateProduction dryRun: ${seconds(took)}; plan: adopt ${plan.adopted.length}, skip ${plan.skipped.length}`);
    });

    it('migrates without deleting anything: the Secret exists with valid keys at every moment, logstack takes field ownership, ESO owns the Secret, the record is verified', async (t) => {
      const before = await snapshot();
      const secretBefore = await readObject(cluster, { apiVersion: 'v1', kind: 'Secret', ...SECRET });
      const started = performance.now();
      const run = await e2e.cli('migrate', ENV, '--requested-by', 'alice', '--wait', '--output', 'json');
      const took = performance.now() - started;
      assert.equal(run.code, 0, run.err + run.out);
      const result = resultOf<MigrateResult>(run.out);
      await sleep(1000);
      for (const stop of stopWatches) stop();
      stopWatches = [];

      assert.deepEqual(gaps, [], 'the watches saw every event (no gap)');
      assert.deepEqual(deletions, [], 'no object of production was deleted');
      assert.deepEqual(secretEvents.filter((e) => !e.valid), [], 'the Secret was never deleted and always held valid keys');
      assert.ok(secretEvents.length > 0, 'the watch saw ESO write the Secret');

      const scripts = rendered.filter((o) => !GITOPS_ONLY_KINDS.has(o.kind));
      assert.deepEqual([...result.adopted].sort(), scripts.map(refOf).sort(), 'every client-side applied object was adopted');
      assert.deepEqual(
        result.gates.map((g) => g.gate),
        ['external-secrets-synced', 'operators-succeeded', 'lokistack-ready', 'log-forwarder-ready'],
      );
      for (const o of scripts) {
        const live = await readObject(cluster, header(o));
        assert.equal(live?.metadata.uid, before.get(`${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`)?.uid, `${refOf(o)} is the same object, never re-created`);
        assert.ok(live?.metadata.managedFields?.some((m) => m.manager === FIELD_MANAGER && m.operation === 'Apply'), `${refOf(o)}: logstack owns fields by server-side apply`);
        assert.ok(!live?.metadata.managedFields?.some((m) => m.manager === 'kubectl-client-side-apply'), `${refOf(o)}: the client-side manager owns nothing any more`);
        assert.equal(live?.metadata.annotations?.[LAST_APPLIED], undefined, `${refOf(o)}: no stale last-applied annotation`);
      }
      const stack = await readObject(cluster, { apiVersion: 'loki.grafana.com/v1', kind: 'LokiStack', name: 'logging-loki', namespace: 'openshift-logging' });
      const specOwners = (stack?.metadata.managedFields ?? []).filter((m) => JSON.stringify(m.fieldsV1 ?? {}).includes('"f:spec"')).map((m) => m.manager);
      assert.ok(specOwners.includes(FIELD_MANAGER), 'logstack owns the LokiStack spec');
      assert.ok(!specOwners.includes('kubectl-client-side-apply'), `the client-side manager no longer owns the LokiStack spec (spec owners: ${specOwners.join(', ')})`);

      const secret = await readObject(cluster, { apiVersion: 'v1', kind: 'Secret', ...SECRET });
      assert.equal(secret?.metadata.uid, secretBefore?.metadata.uid, 'the Secret is the script-made one, never re-created');
      assert.ok(validLokiSecret(secret).valid, 'and still holds valid STS keys');
      const es = await readObject(cluster, { apiVersion: 'external-secrets.io/v1', kind: 'ExternalSecret', ...SECRET });
      const owner = (secret?.metadata.ownerReferences as { kind: string; uid: string; controller?: boolean }[] | undefined)?.find((r) => r.controller);
      assert.equal(owner?.kind, 'ExternalSecret', 'the ExternalSecret controls the Secret');
      assert.equal(owner?.uid, es?.metadata.uid);
      assert.equal((es?.['spec'] as { target: { creationPolicy: string } }).target.creationPolicy, 'Owner');
      const lastGate = stepEnd(run.out, 'wait-log-forwarder-ready');
      assert.deepEqual(creationPolicies.map((c) => c.policy), ['Merge', 'Owner'], 'the ExternalSecret was created in Merge, then switched to Owner once');
      assert.ok((creationPolicies[1]?.at ?? 0) > lastGate, 'ESO became the Secret\'s owner only after every gate was green');

      const state = await e2e.deployedState(ENV);
      const head = (await execFileAsync('git', ['-C', join(work, 'gitops'), 'rev-parse', 'HEAD'])).stdout.trim();
      assert.equal(state['revision'], head, 'the record names the delivered revision');
      assert.equal(state['verified'], 'true', 'and records it verified');

      timings.push(`migrate ${seconds(took)}`);
      t.diagnostic(`migrateProduction: ${seconds(took)}; adopted ${result.adopted.length}; Secret events seen: ${secretEvents.map((e) => e.type).join(',')}; watches resumed ${resumes} times`);
    });
  });
}
