/**
 * OLM: an operator is ready when its Subscription's `status.installedCSV` names a
 * ClusterServiceVersion in phase `Succeeded` (Argo CD's Subscription health check does not look at
 * the CSV, and sync waves do not wait for it). A Manual InstallPlan is approved only when it installs
 * exactly the expected CSV.
 */
import { type Environment, FailureType, GateKinds } from '../../domain/index.ts';
import type { GateOutcome } from '../../domain/activity-contract.ts';
import { nonRetryable } from '../errors.ts';
import { listObjects, mergePatch, readObject } from '../kubernetes/apply.ts';
import type { KubeClusters } from '../kubernetes/cluster.ts';
import { type KubeObject, fieldAt, text } from '../kubernetes/objects.ts';
import { type Snapshot, type Verdict, waitUntil } from '../kubernetes/watch.ts';

/** OLM's API version for Subscription, ClusterServiceVersion and InstallPlan. */
export const OLM_API_VERSION = 'operators.coreos.com/v1alpha1';

const DEFAULT_TIMEOUT_SECONDS = 900;

function subRef(sub: KubeObject): string {
  return `${sub.metadata.namespace ?? ''}/${sub.metadata.name}`;
}

function csvsByRef(csvs: Iterable<KubeObject>): Map<string, KubeObject> {
  const map = new Map<string, KubeObject>();
  for (const csv of csvs) map.set(`${csv.metadata.namespace ?? ''}/${csv.metadata.name}`, csv);
  return map;
}

/** Why one Subscription is not ready yet, or undefined when its installed CSV Succeeded. */
function subscriptionPending(sub: KubeObject, csvs: ReadonlyMap<string, KubeObject>): string | undefined {
  const installed = fieldAt(sub, ['status', 'installedCSV']);
  if (typeof installed !== 'string' || !installed) {
    const state = fieldAt(sub, ['status', 'state']);
    const plan = fieldAt(sub, ['status', 'installPlanRef', 'name']);
    const approval = fieldAt(sub, ['spec', 'installPlanApproval']);
    const hint = approval === 'Manual' && plan ? `; InstallPlan ${text(plan)} may await approval` : '';
    return `Subscription ${subRef(sub)} has no installedCSV yet (state ${text(state)}${hint})`;
  }
  const csv = csvs.get(`${sub.metadata.namespace ?? ''}/${installed}`);
  if (!csv) return `CSV ${sub.metadata.namespace ?? ''}/${installed} (from Subscription ${sub.metadata.name}) to exist`;
  const phase = fieldAt(csv, ['status', 'phase']);
  if (phase !== 'Succeeded') {
    const reason = fieldAt(csv, ['status', 'reason']);
    return `CSV ${installed} phase ${text(phase)}${reason ? ` (${text(reason)})` : ''}`;
  }
  return undefined;
}

/** Judges the Subscriptions (filtered to `only` when given; at least one required). Pure. */
export function judgeOperators(subs: readonly KubeObject[], csvs: Iterable<KubeObject>, only?: readonly string[]): Verdict<string> {
  const wanted = only?.length ? subs.filter((s) => only.includes(subRef(s))) : subs;
  if (only?.length) {
    const missing = only.filter((r) => !wanted.some((s) => subRef(s) === r));
    if (missing.length) return { done: false, waitingFor: `Subscription ${missing.join(', ')} to exist` };
  }
  if (wanted.length === 0) return { done: false, waitingFor: 'a Subscription to exist' };
  const byRef = csvsByRef(csvs);
  for (const sub of wanted) {
    const pending = subscriptionPending(sub, byRef);
    if (pending) return { done: false, waitingFor: pending };
  }
  const names = wanted.map((s) => `${s.metadata.name}→${text(fieldAt(s, ['status', 'installedCSV']))}`);
  return { done: true, value: `${wanted.length} operator(s) Succeeded: ${names.join(', ')}` };
}

/** Creates `waitForOperatorsSucceeded`, `approveInstallPlan` and `approvePinnedInstallPlans`. */
export function createOlmActivities(deps: { clusters: KubeClusters }) {
  const activities = {
    /**
     * Waits by watch until every Subscription of the cluster (or only `subscriptions`, as
     * `namespace/name`) has an installed CSV in phase Succeeded. Read-only.
     * @throws ApplicationFailure `GateFailed` on timeout (default 900 s) naming the operator still
     *   pending, `MissingCustomResource` when OLM is not installed; ends cancelled on cancellation.
     */
    waitForOperatorsSucceeded: async (input: { environment: Environment; timeoutSeconds?: number; subscriptions?: readonly string[] }): Promise<GateOutcome> => {
      const env = input.environment;
      const cluster = deps.clusters.forContext(env.cluster.context);
      const started = performance.now();
      const result = await waitUntil({
        cluster,
        description: 'operators (Subscription → installed CSV Succeeded)',
        timeoutMs: (input.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS) * 1000,
        collections: [
          { apiVersion: OLM_API_VERSION, kind: 'Subscription' },
          { apiVersion: OLM_API_VERSION, kind: 'ClusterServiceVersion' },
        ],
        evaluate: (s: Snapshot) => judgeOperators([...(s[0]?.values() ?? [])], s[1]?.values() ?? [], input.subscriptions),
      });
      return { gate: GateKinds.operatorsSucceeded, ok: true, detail: result.value, waitedMs: Math.round(performance.now() - started) };
    },

    /**
     * Approves the InstallPlan the Subscription points at, only when its
     * `spec.clusterServiceVersionNames` is exactly `[expectedCsv]`. Idempotent: an approved plan is
     * reported without a write.
     * @throws ApplicationFailure `NotAuthorized` when the plan would install anything else,
     *   `InvalidInput` when the Subscription does not exist; a retryable error while OLM has not
     *   created the plan yet.
     */
    approveInstallPlan: async (input: { environment: Environment; namespace: string; subscription: string; expectedCsv: string }): Promise<{ installPlan: string; approved: boolean }> => {
      const cluster = deps.clusters.forContext(input.environment.cluster.context);
      const { namespace, subscription, expectedCsv } = input;
      const sub = await readObject(cluster, { apiVersion: OLM_API_VERSION, kind: 'Subscription', name: subscription, namespace });
      if (!sub) {
        throw nonRetryable(FailureType.InvalidInput, `Subscription ${namespace}/${subscription} does not exist on "${cluster.context}"`, { namespace, subscription });
      }
      const planName = fieldAt(sub, ['status', 'installPlanRef', 'name']) ?? fieldAt(sub, ['status', 'installplan', 'name']);
      if (typeof planName !== 'string' || !planName) throw new Error(`Subscription ${namespace}/${subscription} has no InstallPlan yet; OLM creates one after resolving`);
      const header = { apiVersion: OLM_API_VERSION, kind: 'InstallPlan', name: planName, namespace };
      const plan = await readObject(cluster, header);
      if (!plan) throw new Error(`InstallPlan ${namespace}/${planName} named by Subscription ${subscription} does not exist yet`);
      const csvs = fieldAt(plan, ['spec', 'clusterServiceVersionNames']);
      const names = Array.isArray(csvs) ? csvs.map(String) : [];
      if (names.length !== 1 || names[0] !== expectedCsv) {
        throw nonRetryable(
          FailureType.NotAuthorized,
          `InstallPlan ${namespace}/${planName} would install [${names.join(', ')}], not exactly ${expectedCsv}; refusing to approve — review the channel and catalog`,
          { namespace, installPlan: planName, csvs: names, expectedCsv },
        );
      }
      if (fieldAt(plan, ['spec', 'approved']) === true) return { installPlan: planName, approved: true };
      await mergePatch(cluster, header, { spec: { approved: true } });
      return { installPlan: planName, approved: true };
    },
  };
  return {
    ...activities,
    /**
     * For every Subscription with `installPlanApproval: Manual` and a pinned `startingCSV` (reviewed in Git),
     * approves its InstallPlan only when it installs exactly that CSV. Subscriptions without a pin are left
     * for a person. Idempotent; retryable while OLM has not created a plan yet.
     * @throws ApplicationFailure `NotAuthorized` when a plan would install anything other than the pin.
     */
    approvePinnedInstallPlans: async (input: { environment: Environment }): Promise<{ approved: string[]; leftForAPerson: string[] }> => {
      const cluster = deps.clusters.forContext(input.environment.cluster.context);
      const { items } = await listObjects(cluster, { apiVersion: OLM_API_VERSION, kind: 'Subscription' });
      const manual = items.filter((sub) => fieldAt(sub, ['spec', 'installPlanApproval']) === 'Manual');
      const approved: string[] = [];
      const leftForAPerson: string[] = [];
      for (const sub of manual) {
        const expectedCsv = fieldAt(sub, ['spec', 'startingCSV']);
        const ref = subRef(sub);
        if (typeof expectedCsv !== 'string' || !expectedCsv) {
          leftForAPerson.push(ref);
          continue;
        }
        const result = await activities.approveInstallPlan({
          environment: input.environment,
          namespace: sub.metadata.namespace ?? '',
          subscription: sub.metadata.name,
          expectedCsv,
        });
        approved.push(`${ref}: ${result.installPlan} → ${expectedCsv}`);
      }
      return { approved, leftForAPerson };
    },
  };
}
