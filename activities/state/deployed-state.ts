/**
 * The deployed-revision record of each environment, kept durably in its own cluster so promotion
 * checks and drift detection work without Temporal's history: ConfigMap
 * `logstack-system/logstack-state-<env>` with keys `environment`, `revision`, `verified`,
 * `verifiedAt`, `previousRevision`. Written by server-side apply with the `logstack` field manager.
 */
import { type Environment, FailureType, STATE_NAMESPACE, stateConfigMapName } from '../../domain/index.ts';
import type { DeployedState } from '../../domain/activity-contract.ts';
import { nonRetryable } from '../errors.ts';
import { readObject, serverSideApply } from '../kubernetes/apply.ts';
import type { KubeCluster, KubeClusters } from '../kubernetes/cluster.ts';
import type { KubeObject } from '../kubernetes/objects.ts';

/** Parses the ConfigMap's data into a record; null when the ConfigMap is absent. */
export function stateFromConfigMap(cm: KubeObject | undefined): DeployedState | null {
  const data = cm?.['data'] as Record<string, string> | undefined;
  if (!cm || !data?.['revision']) return null;
  return {
    environment: data['environment'] ?? '',
    revision: data['revision'],
    verified: data['verified'] === 'true',
    verifiedAt: data['verifiedAt'] || null,
    previousRevision: data['previousRevision'] || null,
  };
}

function configMapOf(state: DeployedState): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: stateConfigMapName(state.environment),
      namespace: STATE_NAMESPACE,
      labels: { 'app.kubernetes.io/managed-by': 'logstack', 'logstack.io/environment': state.environment },
    },
    data: {
      environment: state.environment,
      revision: state.revision,
      verified: String(state.verified),
      verifiedAt: state.verifiedAt ?? '',
      previousRevision: state.previousRevision ?? '',
    },
  };
}

async function ensureStateNamespace(cluster: KubeCluster): Promise<void> {
  if (await readObject(cluster, { apiVersion: 'v1', kind: 'Namespace', name: STATE_NAMESPACE })) return;
  await serverSideApply(cluster, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: STATE_NAMESPACE, labels: { 'app.kubernetes.io/managed-by': 'logstack' } } });
}

/** The record to write, keeping `verifiedAt` when nothing but the call time would change. */
export function nextState(
  current: DeployedState | null,
  input: { environment: string; revision: string; verified: boolean; previousRevision: string | null },
  now: Date,
): DeployedState {
  const same = current && current.revision === input.revision && current.verified === input.verified && current.previousRevision === input.previousRevision;
  if (same) return current;
  const keepVerifiedAt = current?.revision === input.revision && current.verified && input.verified;
  return {
    environment: input.environment,
    revision: input.revision,
    verified: input.verified,
    verifiedAt: input.verified ? (keepVerifiedAt ? current.verifiedAt : now.toISOString()) : null,
    previousRevision: input.previousRevision,
  };
}

/** Creates `readDeployedState` and `recordDeployedState`. */
export function createStateActivities(deps: { clusters: KubeClusters }) {
  const configMapHeader = (env: Environment) => ({ apiVersion: 'v1', kind: 'ConfigMap', name: stateConfigMapName(env.name), namespace: STATE_NAMESPACE });
  return {
    /** Reads the environment's deployed-revision record; null when none was ever written. Read-only. */
    readDeployedState: async (input: { environment: Environment }): Promise<DeployedState | null> => {
      const cluster = deps.clusters.forContext(input.environment.cluster.context);
      return stateFromConfigMap(await readObject(cluster, configMapHeader(input.environment)));
    },

    /**
     * Writes the deployed-revision record. Idempotent: the same content writes nothing and returns the
     * stored record (with its original `verifiedAt`).
     * @throws ApplicationFailure `InvalidInput` for an empty revision.
     */
    recordDeployedState: async (input: { environment: Environment; revision: string; verified: boolean; previousRevision: string | null }): Promise<DeployedState> => {
      if (!input.revision) throw nonRetryable(FailureType.InvalidInput, 'recordDeployedState needs a revision', {});
      const env = input.environment;
      const cluster = deps.clusters.forContext(env.cluster.context);
      const current = stateFromConfigMap(await readObject(cluster, configMapHeader(env)));
      const next = nextState(current, { environment: env.name, revision: input.revision, verified: input.verified, previousRevision: input.previousRevision }, new Date());
      if (next === current) return current;
      await ensureStateNamespace(cluster);
      await serverSideApply(cluster, configMapOf(next));
      return next;
    },
  };
}
