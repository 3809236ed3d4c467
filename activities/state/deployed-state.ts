/**
 * The deployed-revision record of each environment, kept durably in its own cluster so promotion
 * checks and drift detection work without Temporal's history: ConfigMap
 * `logstack-system/logstack-state-<env>` with keys `environment`, `revision`, `verified`,
 * `verifiedAt`, `previousRevision` and `signature` (HMAC-SHA256 over the other five, rules in
 * `domain/state-record.ts`). Written by server-side apply with the `logstack` field manager.
 *
 * Promotion trusts this record to say which revision is verified, so it is checked on every read and
 * before every write: signed by a configured key, full commit SHAs that exist in the GitOps remote,
 * and no data field owned by another field manager (a hand edit). A record failing any check is
 * refused with `StateRecordInvalid` naming what is wrong and `logstack state repair <env>`.
 */
import {
  type Environment,
  FailureType,
  STATE_NAMESPACE,
  STATE_SIGNATURE_FIELD,
  type StateKey,
  isCommitSha,
  signStateRecord,
  stateConfigMapName,
  stateRecordData,
  stateRecordProblems,
  stateRecordRefusal,
} from '../../domain/index.ts';
import type { DeployedState } from '../../domain/activity-contract.ts';
import { nonRetryable } from '../errors.ts';
import { readObject, serverSideApply } from '../kubernetes/apply.ts';
import type { KubeCluster, KubeClusters } from '../kubernetes/cluster.ts';
import type { KubeObject } from '../kubernetes/objects.ts';
import { hmacSha256 } from './signature.ts';

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

function configMapOf(state: DeployedState, keys: readonly StateKey[]): KubeObject {
  const data = stateRecordData({
    environment: state.environment,
    revision: state.revision,
    verified: String(state.verified),
    verifiedAt: state.verifiedAt ?? '',
    previousRevision: state.previousRevision ?? '',
  });
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: stateConfigMapName(state.environment),
      namespace: STATE_NAMESPACE,
      labels: { 'app.kubernetes.io/managed-by': 'logstack', 'logstack.io/environment': state.environment },
    },
    data: { ...data, [STATE_SIGNATURE_FIELD]: signStateRecord(data, keys, hmacSha256) },
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

/** What the state activities need: the clusters, the record keys, and a check that a commit exists in the GitOps remote. */
export interface StateDeps {
  readonly clusters: KubeClusters;
  /** `LOGSTACK_STATE_KEYS`, parsed: the first signs, every key verifies. At least one. */
  readonly stateKeys: readonly StateKey[];
  /** True when the full SHA is a commit of the GitOps remote (cached per SHA by the caller). */
  readonly commitExists: (commit: string) => Promise<boolean>;
}

/**
 * Every reason the stored record cannot be trusted: the checks of `stateRecordProblems`, then that its
 * commits exist in the GitOps remote. Empty when it passes. Read-only (a fetch of the remote at most).
 */
export async function deployedStateProblems(deps: Pick<StateDeps, 'stateKeys' | 'commitExists'>, environment: string, cm: KubeObject): Promise<string[]> {
  const data = cm['data'] as Record<string, string> | undefined;
  const problems = stateRecordProblems({ ...(data ? { data } : {}), ...(cm.metadata.managedFields ? { managedFields: cm.metadata.managedFields } : {}) }, environment, deps.stateKeys, hmacSha256);
  for (const field of ['revision', 'previousRevision'] as const) {
    const commit = data?.[field] ?? '';
    if (isCommitSha(commit) && !(await deps.commitExists(commit))) problems.push(`${field} ${commit} is not a commit of the GitOps remote`);
  }
  return problems;
}

/** Creates `readDeployedState` and `recordDeployedState`. */
export function createStateActivities(deps: StateDeps) {
  if (deps.stateKeys.length === 0) throw new Error('the deployed-state activities need at least one key (LOGSTACK_STATE_KEYS)');
  const configMapHeader = (env: Environment) => ({ apiVersion: 'v1', kind: 'ConfigMap', name: stateConfigMapName(env.name), namespace: STATE_NAMESPACE });

  /** The stored record after its checks; null when absent. */
  const readChecked = async (cluster: KubeCluster, env: Environment): Promise<DeployedState | null> => {
    const cm = await readObject(cluster, configMapHeader(env));
    if (!cm) return null;
    const problems = await deployedStateProblems(deps, env.name, cm);
    if (problems.length > 0) {
      const configMap = `${STATE_NAMESPACE}/${stateConfigMapName(env.name)}`;
      throw nonRetryable(FailureType.StateRecordInvalid, stateRecordRefusal(env.name, configMap, cluster.context, problems), { configMap, context: cluster.context, problems });
    }
    return stateFromConfigMap(cm);
  };

  return {
    /**
     * Reads the environment's deployed-revision record; null when none was ever written. Read-only.
     * Guarantees that a returned record was signed by a configured key, names full commits that exist
     * in the GitOps remote, and has no data field owned by another field manager.
     * @throws ApplicationFailure `StateRecordInvalid` (non-retryable) naming the ConfigMap, its cluster
     *   context, every failed check and `logstack state repair <env>`.
     */
    readDeployedState: async (input: { environment: Environment }): Promise<DeployedState | null> => {
      return readChecked(deps.clusters.forContext(input.environment.cluster.context), input.environment);
    },

    /**
     * Writes the deployed-revision record, signed with the first key. Idempotent: the same content
     * writes nothing and returns the stored record (with its original `verifiedAt`). Nothing is written
     * when the input or the stored record is at fault.
     * @throws ApplicationFailure `InvalidInput` for a revision (or previous revision) that is not a full
     *   commit SHA of the GitOps remote; `StateRecordInvalid` when the stored record fails its checks.
     */
    recordDeployedState: async (input: { environment: Environment; revision: string; verified: boolean; previousRevision: string | null }): Promise<DeployedState> => {
      if (!input.revision) throw nonRetryable(FailureType.InvalidInput, 'recordDeployedState needs a revision', {});
      for (const [field, commit] of [['revision', input.revision], ['previousRevision', input.previousRevision]] as const) {
        if (commit !== null && !isCommitSha(commit)) {
          throw nonRetryable(FailureType.InvalidInput, `recordDeployedState needs ${field} as a full 40-hex commit SHA; got ${JSON.stringify(commit).slice(0, 80)}`, { field });
        }
      }
      const env = input.environment;
      const cluster = deps.clusters.forContext(env.cluster.context);
      const current = await readChecked(cluster, env);
      for (const [field, commit] of [['revision', input.revision], ['previousRevision', input.previousRevision]] as const) {
        if (commit !== null && !(await deps.commitExists(commit))) {
          throw nonRetryable(FailureType.InvalidInput, `recordDeployedState: ${field} ${commit} is not a commit of the GitOps remote; push it first`, { field, commit });
        }
      }
      const next = nextState(current, { environment: env.name, revision: input.revision, verified: input.verified, previousRevision: input.previousRevision }, new Date());
      if (next === current) return current;
      // A stored record proves its namespace exists (one deleted since fails the write retryably; the retry creates it).
      if (current === null) await ensureStateNamespace(cluster);
      await serverSideApply(cluster, configMapOf(next, deps.stateKeys));
      return next;
    },
  };
}
