/**
 * Drift: what differs between the desired state and the live one, classified, and the remediation
 * of findings classified as safe. Classes:
 * - `git-vs-cluster` — direct delivery: each object rendered at the deployed revision is dry-run
 *   applied and compared with the live object (changed, missing, fields taken by another manager,
 *   labelled leftovers); Argo CD delivery: the Application is not Synced at the pinned commit.
 * - `external-secrets` — store not Ready, ExternalSecret not synced, target Secret keys wrong.
 * - `operators` — a Subscription whose installed CSV is not Succeeded (never auto-remediated).
 * - `aws` — the bucket or the Loki secret differs from the desired configuration (through the AWS
 *   module's read-only inspections).
 * Safe means: re-applying Git (or refreshing) converges it without losing data.
 */
import { type DriftFinding, type Environment, FailureType, INVENTORY_LABEL, STATE_NAMESPACE, isCommitSha, stateConfigMapName } from '../../domain/index.ts';
import type { LogstackActivities } from '../../domain/activity-contract.ts';
import type { AwsInspections } from '../aws/index.ts';
import { isApplicationFailure } from '../errors.ts';
import { ARGOCD_API_VERSION, REFRESH_ANNOTATION, judgeApplication } from '../argocd/application.ts';
import { ESO_API_VERSION, FORCE_SYNC_ANNOTATION, findLokiExternalSecret, keyMismatch } from '../eso/external-secret.ts';
import type { GitRepo } from '../gitops/git.ts';
import { readPinnedRevision } from '../gitops/pins.ts';
import type { OverlayRenderer } from '../gitops/render.ts';
import { listObjects, mergePatch, readObject, serverSideApply } from '../kubernetes/apply.ts';
import type { KubeCluster, KubeClusters } from '../kubernetes/cluster.ts';
import { type KubeObject, conditionOf, describeCondition, fieldAt, isConditionTrue, keyOf, refOf, sameDesiredState, text } from '../kubernetes/objects.ts';
import { PRUNE_KINDS, applyOrder, destructiveReason, inventoryId, listLabelled, namespacesOf, withInventoryLabel } from '../kubernetes/overlay.ts';
import { judgeOperators, OLM_API_VERSION } from '../olm/operators.ts';
import { stateFromConfigMap } from '../state/deployed-state.ts';
import { mapLimited } from '../limited.ts';

/**
 * Calls a scan keeps in flight against one cluster (GETs, server-side dry runs, labelled lists): enough to hide
 * the round trip of each, few enough not to crowd an API server's priority-and-fairness share.
 */
export const SCAN_CONCURRENCY = 8;

/** What drift needs: clusters, Git, and the AWS module's inspections and bucket convergence. */
export interface DriftDeps {
  readonly clusters: KubeClusters;
  readonly repo: () => Promise<GitRepo>;
  readonly renderer: () => Promise<OverlayRenderer>;
  readonly aws: Pick<LogstackActivities, 'ensureBucket'> & AwsInspections;
}

type Finding = DriftFinding;

function finding(env: Environment, cls: Finding['class'], object: string, detail: string, safe: boolean): Finding {
  return { environment: env.name, class: cls, object, detail, safeToRemediate: safe };
}

function failureType(error: unknown): string | undefined {
  return isApplicationFailure(error) ? error.type ?? undefined : undefined;
}

/** The revision Git says the environment should run: the deployed record, else the pin. */
async function desiredRevision(deps: DriftDeps, cluster: KubeCluster, env: Environment): Promise<string | null> {
  const state = stateFromConfigMap(await readObject(cluster, { apiVersion: 'v1', kind: 'ConfigMap', name: stateConfigMapName(env.name), namespace: STATE_NAMESPACE }));
  if (state && isCommitSha(state.revision)) return state.revision;
  return readPinnedRevision(await deps.repo(), env);
}

async function renderedAt(deps: DriftDeps, env: Environment, commit: string): Promise<KubeObject[]> {
  const rendered = await (await deps.renderer()).render(commit, env.overlay);
  return applyOrder(rendered.objects.map((o) => withInventoryLabel(o, inventoryId(env.name, env.overlay))));
}

/** Compares one rendered object with the live one through a server-side dry run. */
async function objectDrift(cluster: KubeCluster, env: Environment, obj: KubeObject): Promise<Finding | undefined> {
  const ref = refOf(obj);
  if (!(await cluster.tryResource(obj.apiVersion, obj.kind))) return finding(env, 'git-vs-cluster', ref, `${obj.kind} (${obj.apiVersion}) is not served by the cluster`, false);
  const live = await readObject(cluster, { apiVersion: obj.apiVersion, kind: obj.kind, name: obj.metadata.name, namespace: obj.metadata.namespace });
  if (!live) return finding(env, 'git-vs-cluster', ref, 'missing in the cluster', true);
  try {
    const dry = await serverSideApply(cluster, obj, { dryRun: true });
    if (sameDesiredState(live, dry)) return undefined;
    const destructive = destructiveReason(live, dry);
    return finding(env, 'git-vs-cluster', ref, destructive ? `differs from Git; re-applying is destructive (${destructive})` : 'differs from Git', !destructive);
  } catch (error) {
    const type = failureType(error);
    if (type === FailureType.Conflict) {
      const dry = await serverSideApply(cluster, obj, { dryRun: true, force: true });
      const destructive = destructiveReason(live, dry);
      return finding(env, 'git-vs-cluster', ref, `${(error as Error).message.split(';')[0] ?? ''}${destructive ? ` (destructive: ${destructive})` : ''}`, !destructive);
    }
    if (type === FailureType.ManifestRejected) return finding(env, 'git-vs-cluster', ref, `Git's manifest is rejected: ${(error as Error).message}`, false);
    throw error;
  }
}

async function leftovers(cluster: KubeCluster, env: Environment, rendered: readonly KubeObject[]): Promise<Finding[]> {
  const keys = new Set(rendered.map(keyOf));
  const namespaces = namespacesOf(rendered);
  const selector = `${INVENTORY_LABEL}=${inventoryId(env.name, env.overlay)}`;
  const perKind = await mapLimited(PRUNE_KINDS, SCAN_CONCURRENCY, async (k) =>
    (await cluster.tryResource(k.apiVersion, k.kind)) ? listLabelled(cluster, k, selector, namespaces) : [],
  );
  return perKind.flat().filter((item) => !keys.has(keyOf(item))).map((item) => finding(env, 'git-vs-cluster', refOf(item), 'labelled but no longer in Git (prune candidate)', false));
}

async function gitDrift(deps: DriftDeps, cluster: KubeCluster, env: Environment): Promise<Finding[]> {
  const revision = await desiredRevision(deps, cluster, env);
  if (env.delivery === 'argocd' && env.argocd) {
    if (!revision) return [finding(env, 'git-vs-cluster', `Application/${env.argocd.namespace}/${env.argocd.application}`, 'no revision is pinned in Git', false)];
    const app = await readObject(cluster, { apiVersion: ARGOCD_API_VERSION, kind: 'Application', name: env.argocd.application, namespace: env.argocd.namespace });
    const verdict = judgeApplication(app, revision);
    if (verdict.done) return [];
    const detail = 'failed' in verdict ? verdict.failed : `not yet ${verdict.waitingFor}`;
    return [finding(env, 'git-vs-cluster', `Application/${env.argocd.namespace}/${env.argocd.application}`, detail, Boolean(app) && !('failed' in verdict))];
  }
  if (!revision) return [finding(env, 'git-vs-cluster', `ConfigMap/${STATE_NAMESPACE}/${stateConfigMapName(env.name)}`, 'no deployed revision is recorded', false)];
  const rendered = await renderedAt(deps, env, revision);
  const [drifted, left] = await Promise.all([
    mapLimited(rendered, SCAN_CONCURRENCY, (obj) => objectDrift(cluster, env, obj)),
    leftovers(cluster, env, rendered),
  ]);
  return [...drifted.filter((f): f is Finding => f !== undefined), ...left];
}

async function esoDrift(cluster: KubeCluster, env: Environment): Promise<Finding[]> {
  let t;
  try {
    t = await findLokiExternalSecret(cluster, env);
  } catch (error) {
    if (failureType(error) === FailureType.GateFailed) return [finding(env, 'external-secrets', `ExternalSecret/${env.loki.namespace}/?`, (error as Error).message, false)];
    throw error;
  }
  const findings: Finding[] = [];
  const store = await readObject(cluster, { apiVersion: ESO_API_VERSION, kind: t.storeKind, name: t.storeName, namespace: t.storeKind === 'SecretStore' ? t.namespace : undefined });
  if (!isConditionTrue(store, 'Ready')) findings.push(finding(env, 'external-secrets', `${t.storeKind}/${t.storeName}`, `store ${describeCondition(store, 'Ready')}`, false));
  const ready = conditionOf(t.externalSecret, 'Ready');
  const esRef = `ExternalSecret/${t.namespace}/${t.externalSecret.metadata.name}`;
  if (ready?.status !== 'True' || ready.reason !== 'SecretSynced') findings.push(finding(env, 'external-secrets', esRef, `not synced (${describeCondition(t.externalSecret, 'Ready')})`, true));
  const secret = await readObject(cluster, { apiVersion: 'v1', kind: 'Secret', name: t.secretName, namespace: t.namespace });
  const { missing, extra } = keyMismatch(secret, env.aws.credentialMode);
  if (!secret) findings.push(finding(env, 'external-secrets', `Secret/${t.namespace}/${t.secretName}`, 'target Secret missing', true));
  else if (missing.length || extra.length) findings.push(finding(env, 'external-secrets', `Secret/${t.namespace}/${t.secretName}`, `keys differ (missing: ${missing.join(',') || '-'}; unexpected: ${extra.join(',') || '-'})`, false));
  return findings;
}

async function operatorDrift(cluster: KubeCluster, env: Environment): Promise<Finding[]> {
  if (!(await cluster.tryResource(OLM_API_VERSION, 'Subscription'))) return [];
  const subs = (await listObjects(cluster, { apiVersion: OLM_API_VERSION, kind: 'Subscription' })).items;
  const csvs = (await listObjects(cluster, { apiVersion: OLM_API_VERSION, kind: 'ClusterServiceVersion' })).items;
  const findings: Finding[] = [];
  for (const sub of subs) {
    const verdict = judgeOperators([sub], csvs);
    if (!verdict.done) findings.push(finding(env, 'operators', refOf(sub), 'waitingFor' in verdict ? verdict.waitingFor : verdict.failed, false));
  }
  return findings;
}

async function awsDrift(deps: DriftDeps, env: Environment): Promise<Finding[]> {
  const bucket = await deps.aws.inspectBucket({ environment: env });
  const secret = await deps.aws.inspectLokiSecret({ environment: env });
  return [
    ...(bucket.exists ? bucket.drift.map((d) => finding(env, 'aws', `s3://${bucket.bucket}`, d, true)) : [finding(env, 'aws', `s3://${bucket.bucket}`, 'bucket missing', true)]),
    ...(secret.exists ? secret.drift.map((d) => finding(env, 'aws', `secretsmanager:${env.aws.secretName}`, d, false)) : [finding(env, 'aws', `secretsmanager:${env.aws.secretName}`, 'secret missing', false)]),
  ];
}

/** Creates `scanDrift` and `remediateFinding`. */
export function createDriftActivities(deps: DriftDeps) {
  return {
    /** Classifies drift for one environment (Git vs cluster, ESO, operators, AWS). Read-only (server-side dry runs only). */
    scanDrift: async (input: { environment: Environment }): Promise<DriftFinding[]> => {
      const env = input.environment;
      const cluster = deps.clusters.forContext(env.cluster.context);
      // The four parts read different things; they run side by side and report in this order.
      const parts = await Promise.all([gitDrift(deps, cluster, env), esoDrift(cluster, env), operatorDrift(cluster, env), awsDrift(deps, env)]);
      return parts.flat();
    },

    /**
     * Fixes one finding classified as safe: re-applies the object from Git (taking back fields another
     * manager took), refreshes the Argo CD Application, forces an ESO refresh, or converges the bucket.
     * Idempotent: re-checks first and does nothing when the drift is gone.
     */
    remediateFinding: async (input: { environment: Environment; finding: DriftFinding }): Promise<{ remediated: boolean; detail: string }> => {
      const env = input.environment;
      const f = input.finding;
      if (!f.safeToRemediate) return { remediated: false, detail: `${f.object}: not classified safe; left for a person` };
      const cluster = deps.clusters.forContext(env.cluster.context);
      switch (f.class) {
        case 'git-vs-cluster':
          return remediateGit(deps, cluster, env, f);
        case 'external-secrets':
          return remediateEso(cluster, env, f);
        case 'aws': {
          const result = await deps.aws.ensureBucket({ environment: env });
          return { remediated: result.created || result.changed.length > 0, detail: result.changed.length ? `converged ${result.changed.join(', ')}` : 'bucket already as desired' };
        }
        default:
          return { remediated: false, detail: `${f.class} findings are never remediated automatically` };
      }
    },
  };
}

async function remediateGit(deps: DriftDeps, cluster: KubeCluster, env: Environment, f: Finding): Promise<{ remediated: boolean; detail: string }> {
  if (env.delivery === 'argocd' && env.argocd) {
    const header = { apiVersion: ARGOCD_API_VERSION, kind: 'Application', name: env.argocd.application, namespace: env.argocd.namespace };
    const app = await readObject(cluster, header);
    if (app?.metadata.annotations?.[REFRESH_ANNOTATION] === 'hard') return { remediated: false, detail: 'a hard refresh is already pending' };
    await mergePatch(cluster, header, { metadata: { annotations: { [REFRESH_ANNOTATION]: 'hard' } } });
    return { remediated: true, detail: 'requested a hard refresh of the Application' };
  }
  const revision = await desiredRevision(deps, cluster, env);
  if (!revision) return { remediated: false, detail: 'no deployed revision is recorded' };
  const obj = (await renderedAt(deps, env, revision)).find((o) => refOf(o) === f.object);
  if (!obj) return { remediated: false, detail: `${f.object} is not rendered at ${revision}` };
  const current = await objectDrift(cluster, env, obj);
  if (!current) return { remediated: false, detail: `${f.object} already matches Git` };
  if (!current.safeToRemediate) return { remediated: false, detail: `${f.object}: ${current.detail}` };
  await serverSideApply(cluster, obj, { force: true });
  return { remediated: true, detail: `re-applied ${f.object} from ${revision}` };
}

async function remediateEso(cluster: KubeCluster, env: Environment, f: Finding): Promise<{ remediated: boolean; detail: string }> {
  const t = await findLokiExternalSecret(cluster, env);
  const ready = conditionOf(t.externalSecret, 'Ready');
  const secret = await readObject(cluster, { apiVersion: 'v1', kind: 'Secret', name: t.secretName, namespace: t.namespace });
  if (ready?.status === 'True' && ready.reason === 'SecretSynced' && secret) return { remediated: false, detail: `${f.object} already synced` };
  const previous = Number(t.externalSecret.metadata.annotations?.[FORCE_SYNC_ANNOTATION]);
  const seconds = Math.floor(Date.now() / 1000);
  if (Number.isFinite(previous) && seconds - previous < 60) return { remediated: false, detail: 'a refresh was forced less than a minute ago' };
  await mergePatch(cluster, { apiVersion: ESO_API_VERSION, kind: 'ExternalSecret', name: t.externalSecret.metadata.name, namespace: t.namespace }, { metadata: { annotations: { [FORCE_SYNC_ANNOTATION]: String(seconds) } } });
  return { remediated: true, detail: `forced a refresh of ExternalSecret ${t.namespace}/${t.externalSecret.metadata.name} (last refresh ${text(fieldAt(t.externalSecret, ['status', 'refreshTime']), 'never')})` };
}
