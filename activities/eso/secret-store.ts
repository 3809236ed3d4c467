/**
 * The bootstrap gate of External Secrets: every ClusterSecretStore the bootstrap overlay applied is
 * `Ready=True` — ESO can reach Secrets Manager with the credential in the cluster. Watch-driven,
 * heartbeating, cancellable; reads conditions only.
 */
import { type Environment, FailureType, GateKinds, INVENTORY_LABEL } from '../../domain/index.ts';
import type { GateOutcome } from '../../domain/activity-contract.ts';
import { nonRetryable } from '../errors.ts';
import type { KubeClusters } from '../kubernetes/cluster.ts';
import { describeCondition, isConditionTrue } from '../kubernetes/objects.ts';
import { type Snapshot, type Verdict, waitUntil } from '../kubernetes/watch.ts';
import { ESO_API_VERSION } from './external-secret.ts';

const DEFAULT_TIMEOUT_SECONDS = 300;

function allStoresReady(snapshot: Snapshot): Verdict<string> {
  const stores = [...(snapshot[0]?.values() ?? [])];
  if (stores.length === 0) return { done: false, waitingFor: 'a ClusterSecretStore applied by the bootstrap overlay to exist' };
  const notReady = stores.filter((s) => !isConditionTrue(s, 'Ready'));
  if (notReady.length) {
    return { done: false, waitingFor: notReady.map((s) => `ClusterSecretStore ${s.metadata.name} ${describeCondition(s, 'Ready')}`).join('; ') };
  }
  return { done: true, value: `ClusterSecretStore ${stores.map((s) => s.metadata.name).join(', ')} Ready` };
}

/** Creates `waitForSecretStoreReady`. */
export function createWaitForSecretStoreReady(deps: { readonly clusters: KubeClusters }) {
  /**
   * Waits by watch until every ClusterSecretStore labelled as applied by logstack is Ready.
   * @throws ApplicationFailure `GateFailed` on timeout (default 300 s) naming each store's condition;
   *   `MissingCustomResource` when ESO is not installed; ends cancelled on cancellation.
   */
  return async function waitForSecretStoreReady(input: { environment: Environment; timeoutSeconds?: number }): Promise<GateOutcome> {
    const env = input.environment;
    const cluster = deps.clusters.forContext(env.cluster.context);
    const started = performance.now();
    try {
      const result = await waitUntil({
        cluster,
        description: 'ClusterSecretStores Ready',
        timeoutMs: (input.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS) * 1000,
        collections: [{ apiVersion: ESO_API_VERSION, kind: 'ClusterSecretStore', labelSelector: INVENTORY_LABEL }],
        evaluate: allStoresReady,
      });
      return { gate: GateKinds.externalSecretsSynced, ok: true, detail: result.value, waitedMs: Math.round(performance.now() - started) };
    } catch (error) {
      if (error instanceof Error && /not served|no matches/i.test(error.message)) {
        throw nonRetryable(FailureType.MissingCustomResource, `External Secrets is not installed on cluster "${cluster.context}"; install the operator first`);
      }
      throw error;
    }
  };
}
