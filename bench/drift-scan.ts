/**
 * `drift_scan_1000x3_s`, `drift_scan_100x3_s` and `drift_scan_growth_100_to_1000`: the product's drift scan
 * (`scanDrift`, the activity `remediateDrift` runs per environment in report mode, called here directly)
 * over three environments, one per sandbox cluster, while each cluster holds N labelled ExternalSecrets and
 * Argo CD Applications (half each) of those environments — "1000x3" is 1,000 objects in each of the 3
 * clusters, 3,000 in all.
 *
 * What the scan does with them: the environments are generated bench environments (bench/support-estate.ts:
 * own bucket, IAM user, secret, namespace and overlay), provisioned and applied first, so the scan finds
 * nothing else of theirs. The N objects per cluster carry the environment's inventory label (the label the
 * scan uses to pick up what logstack applied) but are not in Git, so the scan reports each as a prune
 * candidate; it finds them cluster-wide with one labelled LIST per kind, not per object. The rest of each
 * scan is the same as for a real environment: every rendered object of the overlay dry-run applied and
 * compared, the ExternalSecret, its store and Secret, the cluster's Subscriptions, the bucket and the secret
 * in moto. The three scans run one after the other, as the workflow runs them. Objects that are in Git are
 * checked one by one (a GET and a server-side dry run each): this benchmark does not put 1,000 objects in
 * Git, so it does not measure that path.
 *
 * Two sets of three environments exist side by side — one with 100 objects per cluster, one with 1,000 —
 * and their scans alternate round by round, so both sizes see the same load on the shared machine.
 * Ours: median of BENCH_RUNS (default 5) scans per size after one warm-up each (which renders the overlays
 * and fills caches). Baseline, side by side: a script that runs `kubectl get <kind> <name> -o json` per
 * object, one process per object, one after the other — timed on BENCH_KUBECTL_SAMPLE objects (default 30,
 * spread over clusters, kinds and both sets, interleaved with the scans) and extrapolated to all 3×N
 * objects, since running it for 3,000 objects takes minutes. One process per object grows linearly by
 * construction, so the baseline's growth is 10×. It only reads the objects: it does less than the scan.
 *
 * The objects live in a namespace of their own on each cluster; their ExternalSecrets name a SecretStore of
 * an unmanaged controller class, so the real ESO controllers skip them. They carry the bench environments'
 * labels only, so no other environment's scan, prune or drift test sees them, and they are deleted at the
 * end with everything else the bench environments created.
 */
import { execFile } from 'node:child_process';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createActivities } from '../activities/index.ts';
import { createAwsClients } from '../activities/aws/index.ts';
import { readObject } from '../activities/kubernetes/apply.ts';
import type { KubeCluster } from '../activities/kubernetes/cluster.ts';
import type { KubeObject } from '../activities/kubernetes/objects.ts';
import { inventoryId } from '../activities/kubernetes/overlay.ts';
import { BOOTSTRAP_OVERLAY } from '../workflows/bootstrap.ts';
import { type DriftFinding, type Environment, GateKinds, INVENTORY_LABEL } from '../domain/index.ts';
import { percentile, report } from './report.ts';
import { cleanupOnInterrupt, createEstate, forEachLimited } from './support-estate.ts';
import { stateKeysFromEnv } from '../sandbox/inputs.ts';

const execFileAsync = promisify(execFile);
const RUNS = Math.max(1, Number(process.env['BENCH_RUNS'] ?? '5'));
const SAMPLE = Math.max(2, Number(process.env['BENCH_KUBECTL_SAMPLE'] ?? '30'));
/** ESO skips ExternalSecrets whose store names another controller class. */
const UNMANAGED_CLASS = 'logstack-bench-unmanaged';

const KINDS = {
  ExternalSecret: { apiVersion: 'external-secrets.io/v1', kind: 'ExternalSecret', resource: 'externalsecrets.external-secrets.io' },
  Application: { apiVersion: 'argoproj.io/v1alpha1', kind: 'Application', resource: 'applications.argoproj.io' },
} as const;
type Kind = keyof typeof KINDS;

/** A set of three environments (one per cluster) and how many labelled objects each has on its cluster. */
interface ObjectSet {
  readonly key: 's' | 'l';
  readonly perCluster: number;
  readonly environments: readonly Environment[];
}

const estate = await createEstate({ count: 6, gates: [GateKinds.externalSecretsSynced], purpose: 'dr' });
const interrupt = cleanupOnInterrupt(() => estate.cleanup());
const { sandbox } = estate;
const clusterCount = sandbox.clusters.length;
// createEstate spreads environments round-robin: the first three cover the three clusters, and so do the next three.
const sets: readonly ObjectSet[] = [
  { key: 's', perCluster: 100, environments: estate.environments.slice(0, clusterCount) },
  { key: 'l', perCluster: 1000, environments: estate.environments.slice(clusterCount, 2 * clusterCount) },
];
const namespace = `${estate.prefix}objects`;
const acts = createActivities({
  catalogPath: estate.catalogPath,
  stateKeys: stateKeysFromEnv(),
  kubeconfig: sandbox.kubeconfig,
  kubectlPath: sandbox.kubectl,
  awsClients: createAwsClients({ endpoint: sandbox.aws.endpoint, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } }),
  git: { workdir: join(estate.dir, 'clone') },
});
const clusterOf = (env: Environment): KubeCluster => estate.clusters.forContext(env.cluster.context);
const secondsSince = (start: number): number => (performance.now() - start) / 1000;
const say = (line: string): boolean => process.stderr.write(`drift-scan: ${line}\n`);

/** What a bootstrap does, without the workflow and without the LokiStack/forwarder gates (drift reads no status). */
async function provision(env: Environment): Promise<void> {
  await acts.ensureBucket({ environment: env });
  const { principalArn } = await acts.ensureLokiCredentials({ environment: env });
  await acts.seedLokiSecret({ environment: env, principalArn });
  await acts.ensureStoreCredential({ environment: env });
  await acts.applyOverlay({ environment: env, revision: estate.commit, overlay: BOOTSTRAP_OVERLAY });
  await acts.waitForSecretStoreReady({ environment: env, timeoutSeconds: 120 });
  await acts.applyOverlay({ environment: env, revision: estate.commit });
  await acts.recordDeployedState({ environment: env, revision: estate.commit, verified: true, previousRevision: null });
  await acts.waitForExternalSecretSynced({ environment: env, timeoutSeconds: 120 });
}

/** Object i of a set on one cluster: even i an ExternalSecret, odd i an Application. */
function objectRef(set: ObjectSet, i: number): { kind: Kind; name: string } {
  const kind: Kind = i % 2 === 0 ? 'ExternalSecret' : 'Application';
  return { kind, name: `${set.key}-${kind === 'ExternalSecret' ? 'es' : 'app'}-${String(i).padStart(4, '0')}` };
}

/** Object i of `set`, labelled as `env` applied it. */
function benchObject(set: ObjectSet, env: Environment, i: number): KubeObject {
  const { kind, name } = objectRef(set, i);
  const metadata = { name, namespace, labels: { [INVENTORY_LABEL]: inventoryId(env.name, env.overlay) } };
  if (kind === 'ExternalSecret') {
    return {
      apiVersion: KINDS.ExternalSecret.apiVersion,
      kind,
      metadata,
      spec: {
        refreshInterval: '1h',
        secretStoreRef: { kind: 'SecretStore', name: 'unmanaged' },
        target: { name, creationPolicy: 'Owner' },
        data: [{ secretKey: 'value', remoteRef: { key: `bench/${name}` } }],
      },
    };
  }
  return {
    apiVersion: KINDS.Application.apiVersion,
    kind,
    metadata,
    spec: {
      project: 'default',
      source: { repoURL: 'https://git.example.com/bench.git', path: `apps/${name}`, targetRevision: 'main' },
      destination: { server: 'https://kubernetes.default.svc', namespace: 'bench' },
    },
  };
}

async function post(cluster: KubeCluster, obj: KubeObject): Promise<void> {
  const info = await cluster.resource(obj.apiVersion, obj.kind);
  await cluster.request({ method: 'POST', path: cluster.collectionPath(info, obj.metadata.namespace), body: obj });
}

/** Creates the namespace, the unmanaged store and every set's objects on every cluster, 16 requests in flight per cluster. */
async function createObjects(): Promise<void> {
  await Promise.all(
    sandbox.clusters.map(async ({ context }, c) => {
      const cluster = estate.clusters.forContext(context);
      await post(cluster, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } });
      await post(cluster, {
        apiVersion: 'external-secrets.io/v1',
        kind: 'SecretStore',
        metadata: { name: 'unmanaged', namespace },
        spec: { controller: UNMANAGED_CLASS, provider: { aws: { service: 'SecretsManager', region: 'us-east-1' } } },
      });
      const objects = sets.flatMap((set) => {
        const env = set.environments[c];
        if (env?.cluster.context !== context) throw new Error(`set ${set.key} has no environment on ${context} at position ${c}`);
        return Array.from({ length: set.perCluster }, (_, i) => benchObject(set, env, i));
      });
      await forEachLimited(objects, 16, (obj) => post(cluster, obj));
    }),
  );
}

/** Deletes the objects (one collection delete per kind), then their namespace, and waits until it is gone. */
async function deleteObjects(): Promise<void> {
  await Promise.all(
    sandbox.clusters.map(async (c) => {
      const cluster = estate.clusters.forContext(c.context);
      for (const k of Object.values(KINDS)) {
        const info = await cluster.resource(k.apiVersion, k.kind);
        await cluster.request({ method: 'DELETE', path: cluster.collectionPath(info, namespace), query: { labelSelector: INVENTORY_LABEL } }).catch(() => undefined);
      }
      await cluster.request({ method: 'DELETE', path: `/api/v1/namespaces/${namespace}` }).catch(() => undefined);
      const deadline = Date.now() + 120_000;
      while (await readObject(cluster, { apiVersion: 'v1', kind: 'Namespace', name: namespace })) {
        if (Date.now() > deadline) throw new Error(`namespace ${namespace} still terminating on ${cluster.context} after 120 s`);
        await new Promise((r) => setTimeout(r, 250));
      }
    }),
  );
}

/**
 * One drift report of a set: its three environments scanned in turn. Requires the scan to have reported
 * every labelled object of the set on every cluster as a prune candidate.
 */
async function scan(set: ObjectSet): Promise<{ seconds: number; findings: DriftFinding[] }> {
  const started = performance.now();
  const findings: DriftFinding[] = [];
  for (const env of set.environments) findings.push(...(await acts.scanDrift({ environment: env })));
  const seconds = secondsSince(started);
  for (const env of set.environments) {
    const seen = findings.filter((f) => f.environment === env.name && f.object.includes(`/${namespace}/`) && /prune candidate/.test(f.detail)).length;
    if (seen !== set.perCluster) throw new Error(`the scan of ${env.name} reported ${seen} of the ${set.perCluster} labelled objects on ${env.cluster.context}`);
  }
  return { seconds, findings };
}

/** Seconds of one `kubectl get -o json` of sample object `s`, spread over both sets, clusters and kinds; checks what it read. */
async function kubectlGet(s: number): Promise<number> {
  const set = sets[s % sets.length] as ObjectSet;
  const env = set.environments[Math.floor(s / sets.length) % set.environments.length] as Environment;
  const { kind, name } = objectRef(set, (Math.floor((s / SAMPLE) * set.perCluster) & ~1) + (Math.floor(s / 2) % 2));
  const started = performance.now();
  const { stdout } = await execFileAsync(sandbox.kubectl, ['--kubeconfig', sandbox.kubeconfig, '--context', env.cluster.context, 'get', KINDS[kind].resource, name, '-n', namespace, '-o', 'json']);
  const live = JSON.parse(stdout) as KubeObject;
  if (live.metadata.labels?.[INVENTORY_LABEL] !== inventoryId(env.name, env.overlay)) throw new Error(`kubectl read ${kind}/${name} without its label`);
  return secondsSince(started);
}

/** ESO must have skipped the objects (unmanaged store): the sampled ExternalSecrets have no status. */
async function esoLeftThemAlone(): Promise<string> {
  const touched: string[] = [];
  for (const set of sets) {
    for (const env of set.environments) {
      const es = await readObject(clusterOf(env), { apiVersion: KINDS.ExternalSecret.apiVersion, kind: 'ExternalSecret', name: objectRef(set, 0).name, namespace });
      if (es?.['status'] !== undefined) touched.push(`${env.cluster.context}/${objectRef(set, 0).name}`);
    }
  }
  return touched.length ? `ESO wrote a status on ${touched.join(', ')}` : 'ESO left them alone (no status written)';
}

const load = (): string => loadavg().map((l) => l.toFixed(1)).join(' ');

try {
  let started = performance.now();
  await Promise.all(estate.environments.map(provision));
  say(`provisioned ${estate.environments.map((e) => `${e.name}@${e.cluster.context}`).join(', ')} in ${secondsSince(started).toFixed(1)} s (load average ${load()})`);
  for (const set of sets) {
    const { seconds, findings } = await scan({ ...set, perCluster: 0 });
    say(`set ${set.key}: first scan, before the objects exist, ${seconds.toFixed(2)} s, ${findings.length} findings${findings.length ? `: ${findings.map((f) => `${f.environment} ${f.object}: ${f.detail}`).join('; ')}` : ''}`);
  }
  started = performance.now();
  await createObjects();
  say(`created ${sets.map((s) => `${s.perCluster}`).join(' + ')} objects on each of ${clusterCount} clusters in ${secondsSince(started).toFixed(1)} s`);

  const scans = new Map<ObjectSet, number[]>(sets.map((s) => [s, []]));
  const gets: number[] = [];
  for (let r = 0; r <= RUNS; r++) {
    const line: string[] = [];
    for (const set of sets) {
      const { seconds, findings } = await scan(set);
      if (r > 0) scans.get(set)?.push(seconds);
      line.push(`${set.perCluster}x${clusterCount} ${seconds.toFixed(2)} s (${findings.length} findings)`);
    }
    if (r > 0) for (let s = r - 1; s < SAMPLE; s += RUNS) gets.push(await kubectlGet(s));
    say(`${r === 0 ? 'warm-up' : `round ${r}`}: ${line.join(', ')}`);
  }
  const perObject = gets.reduce((a, b) => a + b, 0) / gets.length;
  say(`kubectl get per object: mean ${(perObject * 1000).toFixed(0)} ms over ${gets.length} objects; ${await esoLeftThemAlone()}; load average ${load()}`);
  const figure = (set: ObjectSet | undefined) => {
    if (!set) throw new Error('missing set');
    return { ours: percentile(scans.get(set) ?? [], 50), baseline: perObject * set.perCluster * clusterCount };
  };
  const small = figure(sets[0]);
  const large = figure(sets[1]);
  report('drift_scan_100x3_s', small.ours, 's', small.baseline);
  report('drift_scan_1000x3_s', large.ours, 's', large.baseline);
  report('drift_scan_growth_100_to_1000', large.ours / small.ours, 'x', large.baseline / small.baseline);
} finally {
  await deleteObjects().catch((e: unknown) => say(String(e)));
  await estate.cleanup();
  interrupt.release();
}
