/**
 * Status writers standing in for the controllers that cannot run in the sandbox — OLM, the Loki
 * Operator and the Cluster Logging Operator. They watch each cluster and write the status those
 * controllers would write, so the product's real watch-driven gates have something to observe:
 *
 * - LokiStack → condition Ready=True (or Degraded=True when annotated `sandbox.logstack.io/simulate: degraded`);
 * - ClusterLogForwarder → Authorized, Valid, Ready = True (or Ready=False when annotated degraded);
 * - Subscription → an InstallPlan for `<package>.<channel-version>`; Automatic plans are approved at once,
 *   Manual plans wait for `spec.approved: true`; then a ClusterServiceVersion in phase Succeeded and the
 *   Subscription's `installedCSV`.
 *
 * They act only on objects logstack delivered (carrying its inventory label), so tests that write
 * statuses themselves on their own objects are never overtaken. Only the demo and end-to-end runs
 * start them (`npm run sandbox -- stand-ins`). Nothing here is product code.
 */
import { listObjects } from '../activities/kubernetes/apply.ts';
import { type KubeCluster, createKubeClusters } from '../activities/kubernetes/cluster.ts';
import type { KubeObject } from '../activities/kubernetes/objects.ts';
import { KubeApiError, PatchType } from '../activities/kubernetes/rest.ts';
import { INVENTORY_LABEL } from '../domain/index.ts';
import { requireSandbox } from './status.ts';

const SIMULATE = 'sandbox.logstack.io/simulate';
const STAND_IN_LABEL = 'sandbox.logstack.io/stand-in';
const delayMs = Number(process.env['LOGSTACK_STAND_IN_DELAY_MS'] ?? '300');

type Obj = KubeObject & { spec?: Record<string, unknown>; status?: Record<string, unknown> };

/** A create that finds the object already there (409) counts as done. */
const alreadyThere = (e: unknown): void => {
  if (!(e instanceof KubeApiError && e.status === 409)) throw e;
};

const now = (): string => new Date().toISOString();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function condition(type: string, status: 'True' | 'False', reason: string, message: string, generation?: number) {
  return { type, status, reason, message, lastTransitionTime: now(), ...(generation ? { observedGeneration: generation } : {}) };
}

class ClusterStandIn {
  readonly name: string;
  private readonly cluster: KubeCluster;
  private readonly seen = new Map<string, string>();

  constructor(name: string, context: string, kubeconfig: string) {
    this.name = name;
    this.cluster = createKubeClusters(kubeconfig).forContext(context);
  }

  /** Creates one object (in its namespace). */
  private async create(obj: Obj): Promise<void> {
    const info = await this.cluster.resource(obj.apiVersion, obj.kind);
    await this.cluster.request({ method: 'POST', path: this.cluster.collectionPath(info, obj.metadata.namespace), body: obj });
  }

  /** Merge-patches the status subresource, as the controller would. */
  private async writeStatus(obj: Obj, status: Record<string, unknown>): Promise<void> {
    const [group, version] = (obj.apiVersion ?? '').split('/');
    const plural = `${(obj.kind ?? '').toLowerCase()}s`;
    const ns = obj.metadata?.namespace;
    await this.cluster.request({
      method: 'PATCH',
      path: `/apis/${group}/${version}${ns ? `/namespaces/${ns}` : ''}/${plural}/${obj.metadata?.name}/status`,
      body: { status },
      contentType: PatchType.MergePatch,
    });
  }

  private async onLokiStack(obj: Obj): Promise<void> {
    const degraded = obj.metadata?.annotations?.[SIMULATE] === 'degraded';
    const key = `${degraded}:${obj.metadata?.generation}`;
    if (!this.changed(obj, key)) return;
    await sleep(delayMs);
    await this.writeStatus(obj, {
      conditions: degraded
        ? [condition('Degraded', 'True', 'MissingObjectStorageSecret', 'simulated degradation (sandbox stand-in)', obj.metadata?.generation)]
        : [condition('Ready', 'True', 'ReadyComponents', 'All components ready (sandbox stand-in)', obj.metadata?.generation)],
    });
  }

  private async onLogForwarder(obj: Obj): Promise<void> {
    const degraded = obj.metadata?.annotations?.[SIMULATE] === 'degraded';
    const key = `${degraded}:${obj.metadata?.generation}`;
    if (!this.changed(obj, key)) return;
    await sleep(delayMs);
    const g = obj.metadata?.generation;
    await this.writeStatus(obj, {
      conditions: [
        condition('Authorized', 'True', 'ClusterRolesExist', 'permitted to collect log types (sandbox stand-in)', g),
        condition('Valid', 'True', 'ValidationSuccess', 'valid (sandbox stand-in)', g),
        degraded
          ? condition('Ready', 'False', 'ValidationFailure', 'simulated failure (sandbox stand-in)', g)
          : condition('Ready', 'True', 'ReconciliationComplete', 'ready (sandbox stand-in)', g),
      ],
    });
  }

  private async onSubscription(obj: Obj): Promise<void> {
    const spec = obj.spec ?? {};
    const ns = obj.metadata?.namespace ?? 'default';
    const channel = typeof spec['channel'] === 'string' ? spec['channel'] : 'stable';
    const csvName = (spec['startingCSV'] as string | undefined) ?? `${String(spec['name'])}.v${channel.replace(/^stable-?/, '') || '1.0.0'}`;
    const manual = spec['installPlanApproval'] === 'Manual';
    const planName = `install-${csvName.replace(/[^a-z0-9-]/g, '-')}`.slice(0, 63).replace(/-+$/, '');
    if (!this.changed(obj, `${csvName}:${manual}`)) return;
    await sleep(delayMs);
    await this
      .create({
        apiVersion: 'operators.coreos.com/v1alpha1',
        kind: 'InstallPlan',
        metadata: { name: planName, namespace: ns, labels: { [`operators.coreos.com/${String(spec['name'])}.${ns}`]: '', [STAND_IN_LABEL]: 'true' } },
        spec: { approval: manual ? 'Manual' : 'Automatic', approved: !manual, clusterServiceVersionNames: [csvName] },
      })
      .catch(alreadyThere);
    await this.writeStatus(obj, {
      lastUpdated: now(),
      state: manual ? 'UpgradePending' : 'AtLatestKnown',
      currentCSV: csvName,
      installPlanRef: { apiVersion: 'operators.coreos.com/v1alpha1', kind: 'InstallPlan', name: planName, namespace: ns },
    });
    if (!manual) await this.install(obj, csvName);
  }

  private async onInstallPlan(obj: Obj): Promise<void> {
    const spec = obj.spec ?? {};
    if (spec['approved'] !== true || !this.changed(obj, 'approved')) return;
    const csvName = (spec['clusterServiceVersionNames'] as string[] | undefined)?.[0];
    const ns = obj.metadata?.namespace ?? 'default';
    if (!csvName) return;
    await this.writeStatus(obj, { phase: 'Complete', catalogSources: [] });
    const subs = (await listObjects(this.cluster, { apiVersion: 'operators.coreos.com/v1alpha1', kind: 'Subscription', namespace: ns })).items as Obj[];
    const sub = subs.find((s) => (s.status?.['currentCSV'] as string | undefined) === csvName);
    if (sub) await this.install(sub, csvName);
  }

  private async install(sub: Obj, csvName: string): Promise<void> {
    const ns = sub.metadata?.namespace ?? 'default';
    const csv: Obj = {
      apiVersion: 'operators.coreos.com/v1alpha1',
      kind: 'ClusterServiceVersion',
      metadata: { name: csvName, namespace: ns },
      spec: { displayName: `${String(sub.spec?.['name'])} (sandbox stand-in)`, install: { strategy: 'deployment', spec: { deployments: [] } } },
    };
    await this.create(csv).catch(alreadyThere);
    await sleep(delayMs);
    await this.writeStatus(csv, { phase: 'Succeeded', reason: 'InstallSucceeded', message: 'install strategy completed (sandbox stand-in)', lastUpdateTime: now() });
    await this.writeStatus(sub, { ...(sub.status ?? {}), lastUpdated: now(), state: 'AtLatestKnown', currentCSV: csvName, installedCSV: csvName });
  }

  private changed(obj: Obj, key: string): boolean {
    // By uid: an object deleted and created again under the same name is a new object to act on.
    const id = `${obj.kind}/${obj.metadata?.namespace ?? ''}/${obj.metadata?.name}/${obj.metadata?.uid ?? ''}`;
    if (this.seen.get(id) === key) return false;
    this.seen.set(id, key);
    return true;
  }

  /** Objects logstack applied, and what OLM derives from them (InstallPlans the stand-in created). */
  private delivered(obj: Obj): boolean {
    if (obj.kind === 'InstallPlan') return obj.metadata?.labels?.[STAND_IN_LABEL] === 'true';
    return obj.metadata?.labels?.[INVENTORY_LABEL] !== undefined;
  }

  /** Watches one kind across namespaces, re-establishing the watch whenever it ends. */
  async watch(path: string, handler: (obj: Obj) => Promise<void>): Promise<never> {
    const forever = new AbortController().signal;
    for (;;) {
      await this.cluster
        .watch(
          path,
          {},
          (type: string, raw: unknown) => {
            const obj = raw as Obj;
            if ((type === 'ADDED' || type === 'MODIFIED') && this.delivered(obj)) {
              handler(obj).catch((e: unknown) => process.stderr.write(`stand-in ${this.name} ${obj.kind}/${obj.metadata?.name}: ${String(e)}\n`));
            }
          },
          forever,
          5 * 60_000,
        )
        .catch(() => undefined);
      await sleep(500);
    }
  }

  run(): Promise<unknown> {
    return Promise.all([
      this.watch('/apis/loki.grafana.com/v1/lokistacks', (o) => this.onLokiStack(o)),
      this.watch('/apis/observability.openshift.io/v1/clusterlogforwarders', (o) => this.onLogForwarder(o)),
      this.watch('/apis/operators.coreos.com/v1alpha1/subscriptions', (o) => this.onSubscription(o)),
      this.watch('/apis/operators.coreos.com/v1alpha1/installplans', (o) => this.onInstallPlan(o)),
    ]);
  }
}

/** Starts a stand-in per sandbox cluster; runs until the process is stopped. */
export async function runStandIns(): Promise<void> {
  const sandbox = requireSandbox();
  await Promise.all(sandbox.clusters.map((c) => new ClusterStandIn(c.name, c.context, sandbox.kubeconfig).run()));
}
