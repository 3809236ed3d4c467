/**
 * The External Secrets gate: force a refresh of the environment's ExternalSecret, then wait — by
 * watch — until its store is Ready, the ExternalSecret reports `Ready=True` reason `SecretSynced`
 * with a `refreshTime` after the force, and the target Secret holds exactly the Loki keys of the
 * credential mode. Only key names are ever read into results; values never leave the cluster.
 */
import { type Environment, FailureType, GateKinds, LOKI_SECRET_KEYS } from '../../domain/index.ts';
import type { GateOutcome } from '../../domain/activity-contract.ts';
import { nonRetryable } from '../errors.ts';
import { activityExecutionKey } from '../kubernetes/activity-scope.ts';
import { listObjects, mergePatch } from '../kubernetes/apply.ts';
import type { KubeCluster, KubeClusters } from '../kubernetes/cluster.ts';
import { type KubeObject, conditionOf, describeCondition, fieldAt, isConditionTrue, text } from '../kubernetes/objects.ts';
import { type GateSetup, type Snapshot, type Verdict, setUpGate, waitUntil } from '../kubernetes/watch.ts';

/** ESO's API version (the only one logstack writes or reads). */
export const ESO_API_VERSION = 'external-secrets.io/v1';
/** The annotation ESO reacts to by refreshing at once. */
export const FORCE_SYNC_ANNOTATION = 'force-sync';
/** Records which activity execution forced the refresh, so a retry waits on it instead of forcing again. */
export const FORCE_SYNC_KEY_ANNOTATION = 'logstack.io/force-sync-by';

const DEFAULT_TIMEOUT_SECONDS = 300;
/** Keys the Loki Operator accepts in addition to the required ones. */
const OPTIONAL_KEYS: Readonly<Record<Environment['aws']['credentialMode'], readonly string[]>> = { static: [], sts: ['audience'] };

/** The ExternalSecret, its store and its target Secret, by name. */
interface EsoTargets {
  readonly externalSecret: KubeObject;
  readonly storeKind: 'ClusterSecretStore' | 'SecretStore';
  readonly storeName: string;
  readonly secretName: string;
  readonly namespace: string;
}

function targetNameOf(es: KubeObject): string {
  const name = fieldAt(es, ['spec', 'target', 'name']);
  return typeof name === 'string' && name ? name : es.metadata.name;
}

/**
 * Finds the ExternalSecret in the Loki namespace whose target is the Loki object-storage Secret.
 * @throws ApplicationFailure `GateFailed` when there is none (the overlay was not applied or names another Secret).
 */
export async function findLokiExternalSecret(cluster: KubeCluster, env: Environment): Promise<EsoTargets> {
  const { namespace, secretName } = env.loki;
  const { items } = await listObjects(cluster, { apiVersion: ESO_API_VERSION, kind: 'ExternalSecret', namespace });
  const es = items.find((i) => targetNameOf(i) === secretName);
  if (!es) {
    throw nonRetryable(
      FailureType.GateFailed,
      `no ExternalSecret in ${namespace} targets Secret ${secretName} on cluster "${cluster.context}"; apply the overlay first or fix loki.secretName`,
      { namespace, secretName },
    );
  }
  const storeRef = fieldAt(es, ['spec', 'secretStoreRef']) as { name?: string; kind?: string } | undefined;
  if (!storeRef?.name) {
    throw nonRetryable(FailureType.GateFailed, `ExternalSecret ${namespace}/${es.metadata.name} names no secretStoreRef; fix it in Git`, { namespace });
  }
  return {
    externalSecret: es,
    storeKind: storeRef.kind === 'ClusterSecretStore' ? 'ClusterSecretStore' : 'SecretStore',
    storeName: storeRef.name,
    secretName,
    namespace,
  };
}

/** Epoch seconds written into `force-sync`, and the moment (ms) the refresh must follow. */
interface ForcedSync {
  readonly atMs: number;
  readonly reused: boolean;
  readonly before: { readonly refreshTime: unknown; readonly syncedResourceVersion: unknown };
}

/**
 * Sets `force-sync: <epoch seconds>` unless this very activity execution already did (a retry):
 * one refresh per execution, however often it is attempted. Each force writes a value the annotation did not
 * hold, so ESO always sees a change (two forces within one second would otherwise write the same value).
 */
async function forceSync(cluster: KubeCluster, t: EsoTargets): Promise<ForcedSync> {
  const es = t.externalSecret;
  const key = activityExecutionKey();
  const annotations = es.metadata.annotations ?? {};
  const before = { refreshTime: fieldAt(es, ['status', 'refreshTime']), syncedResourceVersion: fieldAt(es, ['status', 'syncedResourceVersion']) };
  const previous = Number(annotations[FORCE_SYNC_ANNOTATION]);
  if (key && annotations[FORCE_SYNC_KEY_ANNOTATION] === key && Number.isFinite(previous)) {
    return { atMs: previous * 1000, reused: true, before };
  }
  let seconds = Math.floor(Date.now() / 1000);
  if (Number.isFinite(previous) && previous >= seconds) {
    // A force in this same second is already written (another gate, a quick second run): writing the same value
    // changes nothing, so ESO would not refresh. Wait (under a second) for a value of its own.
    seconds = previous + 1;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, seconds * 1000 - Date.now())));
  }
  await mergePatch(
    cluster,
    { apiVersion: ESO_API_VERSION, kind: 'ExternalSecret', name: es.metadata.name, namespace: t.namespace },
    { metadata: { annotations: { [FORCE_SYNC_ANNOTATION]: String(seconds), [FORCE_SYNC_KEY_ANNOTATION]: key ?? null } } },
  );
  return { atMs: seconds * 1000, reused: false, before };
}

/** Missing and unexpected key names of a Secret (names only). */
export function keyMismatch(secret: KubeObject | undefined, mode: Environment['aws']['credentialMode']): { missing: string[]; extra: string[] } {
  const present = Object.keys((secret?.['data'] as Record<string, unknown> | undefined) ?? {});
  const required: readonly string[] = LOKI_SECRET_KEYS[mode];
  const allowed = new Set([...required, ...OPTIONAL_KEYS[mode]]);
  return { missing: required.filter((k) => !present.includes(k)), extra: present.filter((k) => !allowed.has(k)).sort() };
}

function syncedAfterForce(es: KubeObject | undefined, forced: ForcedSync): boolean {
  if (!es) return false;
  const ready = conditionOf(es, 'Ready');
  if (ready?.status !== 'True' || ready.reason !== 'SecretSynced') return false;
  const refreshTime = fieldAt(es, ['status', 'refreshTime']);
  if (typeof refreshTime !== 'string' || Date.parse(refreshTime) < forced.atMs) return false;
  if (forced.reused) return true;
  // refreshTime has second precision: also require evidence that this sync saw the new annotation.
  return refreshTime !== forced.before.refreshTime || fieldAt(es, ['status', 'syncedResourceVersion']) !== forced.before.syncedResourceVersion;
}

function evaluate(t: EsoTargets, forced: ForcedSync, mode: Environment['aws']['credentialMode']) {
  return (snapshot: Snapshot): Verdict<string> => {
    const [stores, externalSecrets, secrets] = snapshot;
    const store = [...(stores?.values() ?? [])][0];
    const es = [...(externalSecrets?.values() ?? [])][0];
    const secret = [...(secrets?.values() ?? [])][0];
    if (!store) return { done: false, waitingFor: `${t.storeKind} ${t.storeName} to exist` };
    if (!isConditionTrue(store, 'Ready')) return { done: false, waitingFor: `${t.storeKind} ${t.storeName} ${describeCondition(store, 'Ready')}` };
    if (!syncedAfterForce(es, forced)) {
      return { done: false, waitingFor: `ExternalSecret ${t.namespace}/${t.externalSecret.metadata.name} to sync after the forced refresh (${describeCondition(es, 'Ready')})` };
    }
    if (!secret) return { done: false, waitingFor: `Secret ${t.namespace}/${t.secretName} to exist` };
    const { missing, extra } = keyMismatch(secret, mode);
    if (missing.length || extra.length) {
      return { done: false, waitingFor: `Secret ${t.namespace}/${t.secretName} to hold exactly the ${mode} keys (missing: ${missing.join(',') || '-'}; unexpected: ${extra.join(',') || '-'})` };
    }
    const keys = Object.keys((secret['data'] as Record<string, unknown> | undefined) ?? {}).sort();
    return {
      done: true,
      value: `${t.storeKind} ${t.storeName} Ready; ExternalSecret ${t.namespace}/${t.externalSecret.metadata.name} SecretSynced at ${text(fieldAt(es, ['status', 'refreshTime']))}; Secret ${t.secretName} keys ${keys.join(',')}`,
    };
  };
}

/** Clients the ESO activities need. */
export interface EsoDeps {
  readonly clusters: KubeClusters;
}

/** Creates `waitForExternalSecretSynced`. */
export function createWaitForExternalSecretSynced(deps: EsoDeps) {
  /**
   * Forces an ESO refresh (once per activity execution), then waits by watch for store Ready,
   * ExternalSecret SecretSynced after the force, and exactly the expected Secret keys. Finding the
   * ExternalSecret and forcing the refresh are retried inside the gate while the API server is away
   * (`setUpGate`), within the same timeout.
   * @throws ApplicationFailure `GateFailed` (no ExternalSecret, or timeout — default 300 s — naming what was
   *   still missing), `MissingCustomResource` (ESO not installed); ends cancelled on cancellation.
   */
  return async function waitForExternalSecretSynced(input: { environment: Environment; timeoutSeconds?: number }): Promise<GateOutcome> {
    const env = input.environment;
    const cluster = deps.clusters.forContext(env.cluster.context);
    const started = performance.now();
    const timeoutMs = (input.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS) * 1000;
    const gate: GateSetup = { cluster, description: `ExternalSecret for Secret ${env.loki.namespace}/${env.loki.secretName} synced`, timeoutMs, startedAt: started };
    const targets = await setUpGate(gate, `find the ExternalSecret in ${env.loki.namespace}`, () => findLokiExternalSecret(cluster, env));
    const forced = await setUpGate(gate, 'force a refresh', () => forceSync(cluster, targets));
    const result = await waitUntil({
      cluster,
      description: `ExternalSecret ${targets.namespace}/${targets.externalSecret.metadata.name} synced`,
      timeoutMs,
      startedAt: started,
      collections: [
        { apiVersion: ESO_API_VERSION, kind: targets.storeKind, name: targets.storeName, namespace: targets.storeKind === 'SecretStore' ? targets.namespace : undefined },
        { apiVersion: ESO_API_VERSION, kind: 'ExternalSecret', name: targets.externalSecret.metadata.name, namespace: targets.namespace },
        { apiVersion: 'v1', kind: 'Secret', name: targets.secretName, namespace: targets.namespace },
      ],
      evaluate: evaluate(targets, forced, env.aws.credentialMode),
    });
    return { gate: GateKinds.externalSecretsSynced, ok: true, detail: result.value, waitedMs: Math.round(performance.now() - started) };
  };
}
