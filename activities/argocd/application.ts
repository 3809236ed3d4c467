/**
 * The Argo CD gate. `argocd app wait` ignores which revision is synced and refreshes only every
 * 120 s; this gate forces a hard refresh, then waits by watch until the Application is synced *at the
 * pinned commit*, Healthy, and its last operation Succeeded — and fails fast when the pinned
 * revision turns out Degraded or its sync operation failed.
 */
import { type Environment, FailureType, GateKinds, isCommitSha, shortSha } from '../../domain/index.ts';
import type { GateOutcome } from '../../domain/activity-contract.ts';
import { nonRetryable } from '../errors.ts';
import { mergePatch, readObject } from '../kubernetes/apply.ts';
import type { KubeClusters } from '../kubernetes/cluster.ts';
import { type KubeObject, fieldAt, text } from '../kubernetes/objects.ts';
import { type GateSetup, type Snapshot, type Verdict, setUpGate, waitUntil } from '../kubernetes/watch.ts';

/** Argo CD's Application API version. */
export const ARGOCD_API_VERSION = 'argoproj.io/v1alpha1';
/** Annotation asking the application controller to refresh; `hard` also invalidates the manifest cache. */
export const REFRESH_ANNOTATION = 'argocd.argoproj.io/refresh';

const DEFAULT_TIMEOUT_SECONDS = 600;
const FAILED_PHASES = new Set(['Failed', 'Error']);

/** The fields of `status` the gate reads. */
export interface AppState {
  readonly syncRevision: unknown;
  readonly syncStatus: unknown;
  readonly health: unknown;
  readonly operationPhase: unknown;
  readonly operationRevision: unknown;
  readonly operationMessage: unknown;
}

/** Extracts the gate-relevant status of an Application. */
export function appState(app: KubeObject): AppState {
  return {
    syncRevision: fieldAt(app, ['status', 'sync', 'revision']),
    syncStatus: fieldAt(app, ['status', 'sync', 'status']),
    health: fieldAt(app, ['status', 'health', 'status']),
    operationPhase: fieldAt(app, ['status', 'operationState', 'phase']),
    operationRevision: fieldAt(app, ['status', 'operationState', 'syncResult', 'revision']),
    operationMessage: fieldAt(app, ['status', 'operationState', 'message']),
  };
}

function describe(s: AppState): string {
  return `sync ${text(s.syncStatus, '?')} at ${typeof s.syncRevision === 'string' ? shortSha(s.syncRevision) : '?'}, health ${text(s.health, '?')}, last operation ${text(s.operationPhase)}`;
}

/** Judges an Application against the pinned `revision`. Pure. */
export function judgeApplication(app: KubeObject | undefined, revision: string): Verdict<string> {
  if (!app) return { done: false, waitingFor: 'the Application to exist' };
  const s = appState(app);
  const atRevision = s.syncRevision === revision;
  const operationForRevision = s.operationRevision === undefined || s.operationRevision === revision;
  if (atRevision && s.health === 'Degraded') {
    return { done: false, failed: `revision ${shortSha(revision)} is Degraded (${describe(s)})`, details: { health: 'Degraded', revision } };
  }
  if (s.operationRevision === revision && typeof s.operationPhase === 'string' && FAILED_PHASES.has(s.operationPhase)) {
    return {
      done: false,
      failed: `the sync of ${shortSha(revision)} ended ${s.operationPhase}: ${text(s.operationMessage, '').slice(0, 300)}`,
      details: { operationPhase: s.operationPhase, revision },
    };
  }
  if (atRevision && s.syncStatus === 'Synced' && s.health === 'Healthy' && s.operationPhase === 'Succeeded' && operationForRevision) {
    return { done: true, value: `Synced at ${shortSha(revision)}, Healthy, last operation Succeeded` };
  }
  return { done: false, waitingFor: `${shortSha(revision)} Synced, Healthy, operation Succeeded (now: ${describe(s)})` };
}

/** Creates `waitForArgoAppAtRevision`. */
export function createWaitForArgoAppAtRevision(deps: { clusters: KubeClusters }) {
  /**
   * Sets `argocd.argoproj.io/refresh: hard` (unless a refresh is already pending — one refresh per
   * request however often retried), then waits by watch for Synced at `revision`, Healthy, last
   * operation Succeeded. Reading the Application and asking for the refresh are retried inside the gate
   * while the API server is away (`setUpGate`), within the same timeout.
   * @throws ApplicationFailure `InvalidInput` (no argocd settings, revision not a full SHA), `GateFailed`
   *   (Degraded at the revision, failed sync, missing Application, or timeout — default 600 s),
   *   `MissingCustomResource` (Argo CD not installed); ends cancelled on cancellation.
   */
  return async function waitForArgoAppAtRevision(input: { environment: Environment; revision: string; timeoutSeconds?: number }): Promise<GateOutcome> {
    const env = input.environment;
    if (!env.argocd) {
      throw nonRetryable(FailureType.InvalidInput, `${env.name} has no argocd settings (delivery "${env.delivery}"); this gate needs argocd.application`, { environment: env.name });
    }
    if (!isCommitSha(input.revision)) {
      throw nonRetryable(FailureType.InvalidInput, `the Argo CD gate compares full commit SHAs; resolve "${input.revision.slice(0, 80)}" first`, { revision: input.revision });
    }
    const { application: name, namespace } = env.argocd;
    const cluster = deps.clusters.forContext(env.cluster.context);
    const started = performance.now();
    const timeoutMs = (input.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS) * 1000;
    const description = `Argo CD Application ${namespace}/${name} at ${shortSha(input.revision)}`;
    const gate: GateSetup = { cluster, description, timeoutMs, startedAt: started };
    const header = { apiVersion: ARGOCD_API_VERSION, kind: 'Application', name, namespace };
    const app = await setUpGate(gate, 'read the Application', () => readObject(cluster, header));
    if (!app) {
      throw nonRetryable(FailureType.GateFailed, `Argo CD Application ${namespace}/${name} does not exist on "${cluster.context}"; check the ApplicationSet and the cluster secret`, { namespace, name });
    }
    if (app.metadata.annotations?.[REFRESH_ANNOTATION] !== 'hard') {
      await setUpGate(gate, 'ask for a hard refresh', () => mergePatch(cluster, header, { metadata: { annotations: { [REFRESH_ANNOTATION]: 'hard' } } }));
    }
    const result = await waitUntil({
      cluster,
      description,
      timeoutMs,
      startedAt: started,
      collections: [{ apiVersion: ARGOCD_API_VERSION, kind: 'Application', name, namespace }],
      evaluate: (snapshot: Snapshot) => judgeApplication([...(snapshot[0]?.values() ?? [])][0], input.revision),
    });
    return { gate: GateKinds.argoAppAtRevision, ok: true, detail: result.value, waitedMs: Math.round(performance.now() - started) };
  };
}
