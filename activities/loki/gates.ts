/**
 * Gates on the logging stack's own custom resources, driven by watch: the LokiStack `Ready`
 * condition, and every ClusterLogForwarder's `Authorized`, `Valid` and `Ready` conditions (Logging 6
 * spells the first two `observability.openshift.io/Authorized` and `…/Valid`).
 */
import { type Environment, GateKinds } from '../../domain/index.ts';
import type { GateOutcome } from '../../domain/activity-contract.ts';
import type { KubeClusters } from '../kubernetes/cluster.ts';
import { type KubeObject, conditionOf, describeCondition, isConditionTrue, refOf } from '../kubernetes/objects.ts';
import { type Snapshot, type Verdict, waitUntil } from '../kubernetes/watch.ts';

/** LokiStack API version (Loki Operator). */
export const LOKISTACK_API_VERSION = 'loki.grafana.com/v1';
/** ClusterLogForwarder API version (OpenShift Logging 6). */
export const CLF_API_VERSION = 'observability.openshift.io/v1';

const DEFAULT_TIMEOUT_SECONDS = 600;

/** The three forwarder conditions, each with the names the operator may use for it. */
export const CLF_CONDITIONS: readonly { readonly name: string; readonly types: readonly string[] }[] = [
  { name: 'Authorized', types: ['observability.openshift.io/Authorized', 'Authorized'] },
  { name: 'Valid', types: ['observability.openshift.io/Valid', 'Valid'] },
  { name: 'Ready', types: ['Ready'] },
];

function firstReported(obj: KubeObject, types: readonly string[]): string {
  return types.find((t) => conditionOf(obj, t)) ?? types[0] ?? '';
}

/** True when a condition speaks about the object's current spec (or does not say which generation it saw). */
function current(stack: KubeObject, type: string): boolean {
  const cond = conditionOf(stack, type) as { observedGeneration?: unknown } | undefined;
  const observed = cond?.observedGeneration;
  return typeof observed !== 'number' || observed === stack.metadata.generation;
}

/**
 * Judges a LokiStack. Pure. A condition observed for an older generation does not count, so a fresh
 * apply never passes on the previous revision's status; `Degraded=True` for the current spec fails fast.
 */
export function judgeLokiStack(stack: KubeObject | undefined, ref: string): Verdict<string> {
  if (!stack) return { done: false, waitingFor: `LokiStack ${ref} to exist` };
  if (isConditionTrue(stack, 'Ready') && current(stack, 'Ready')) return { done: true, value: `LokiStack ${ref} Ready=True` };
  const degraded = conditionOf(stack, 'Degraded');
  if (degraded?.status === 'True' && current(stack, 'Degraded')) {
    return { done: false, failed: `LokiStack ${ref} is Degraded (${degraded.reason ?? 'no reason'}): ${(degraded.message ?? '').slice(0, 200)}` };
  }
  return { done: false, waitingFor: `LokiStack ${ref} ${describeCondition(stack, 'Ready')}${current(stack, 'Ready') ? '' : ' (for an older generation)'}` };
}

/** Judges every ClusterLogForwarder (at least one must exist). Pure. */
export function judgeForwarders(forwarders: readonly KubeObject[], where: string): Verdict<string> {
  if (forwarders.length === 0) return { done: false, waitingFor: `a ClusterLogForwarder in ${where}` };
  for (const clf of forwarders) {
    for (const cond of CLF_CONDITIONS) {
      if (!cond.types.some((t) => isConditionTrue(clf, t))) {
        return { done: false, waitingFor: `${refOf(clf)} ${describeCondition(clf, firstReported(clf, cond.types))}` };
      }
    }
  }
  return { done: true, value: `${forwarders.map(refOf).join(', ')}: Authorized, Valid, Ready = True` };
}

/** Creates `waitForLokiStackReady` and `waitForLogForwarderReady`. */
export function createLokiGates(deps: { clusters: KubeClusters }) {
  return {
    /**
     * Waits by watch for the environment's LokiStack `Ready=True`. Read-only.
     * @throws ApplicationFailure `GateFailed` on timeout (default 600 s) naming the last condition seen,
     *   `MissingCustomResource` when LokiStack is not served; ends cancelled on cancellation.
     */
    waitForLokiStackReady: async (input: { environment: Environment; timeoutSeconds?: number }): Promise<GateOutcome> => {
      const env = input.environment;
      const cluster = deps.clusters.forContext(env.cluster.context);
      const { namespace, stackName } = env.loki;
      const ref = `${namespace}/${stackName}`;
      const started = performance.now();
      const result = await waitUntil({
        cluster,
        description: `LokiStack ${ref} Ready`,
        timeoutMs: (input.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS) * 1000,
        collections: [{ apiVersion: LOKISTACK_API_VERSION, kind: 'LokiStack', namespace, name: stackName }],
        evaluate: (s: Snapshot) => judgeLokiStack([...(s[0]?.values() ?? [])][0], ref),
      });
      return { gate: GateKinds.lokiStackReady, ok: true, detail: result.value, waitedMs: Math.round(performance.now() - started) };
    },

    /**
     * Waits by watch until every ClusterLogForwarder in the Loki namespace (or only `name`) has
     * Authorized, Valid and Ready True. Read-only.
     * @throws ApplicationFailure `GateFailed` on timeout (default 600 s), `MissingCustomResource`; ends cancelled on cancellation.
     */
    waitForLogForwarderReady: async (input: { environment: Environment; timeoutSeconds?: number; name?: string }): Promise<GateOutcome> => {
      const env = input.environment;
      const cluster = deps.clusters.forContext(env.cluster.context);
      const namespace = env.loki.namespace;
      const started = performance.now();
      const result = await waitUntil({
        cluster,
        description: `ClusterLogForwarder${input.name ? ` ${namespace}/${input.name}` : 's'} in ${namespace} ready`,
        timeoutMs: (input.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS) * 1000,
        collections: [{ apiVersion: CLF_API_VERSION, kind: 'ClusterLogForwarder', namespace, name: input.name }],
        evaluate: (s: Snapshot) => judgeForwarders([...(s[0]?.values() ?? [])], namespace),
      });
      return { gate: GateKinds.logForwarderReady, ok: true, detail: result.value, waitedMs: Math.round(performance.now() - started) };
    },
  };
}
