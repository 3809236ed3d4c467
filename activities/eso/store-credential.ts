/**
 * The bootstrap credential of the static-mode ClusterSecretStore: a Secret holding the AWS key ESO
 * uses to read Secrets Manager. It is created in the cluster by this activity from the worker's
 * configured source — never from Git, never into workflow history — and compared by hash only.
 */
import { createHash } from 'node:crypto';
import { GITOPS_NAMES } from '../../domain/gitops.ts';
import type { Environment } from '../../domain/index.ts';
import { readObject, serverSideApply } from '../kubernetes/apply.ts';
import type { KubeClusters } from '../kubernetes/cluster.ts';

/** Where the store credential Secret lives and which keys the ClusterSecretStore reads. */
export interface StoreCredentialConfig {
  readonly namespace: string;
  readonly name: string;
  readonly accessKeyIdKey: string;
  readonly secretAccessKeyKey: string;
  /** Supplies the AWS key for an environment (from the worker's configuration or a vault). */
  readonly source: (env: Environment) => Promise<{ accessKeyId: string; secretAccessKey: string }>;
}

/** The names the project's ClusterSecretStore `auth.secretRef` uses (fixed by the gitops/ tree). */
export const DEFAULT_STORE_CREDENTIAL = GITOPS_NAMES.storeCredential;

function digest(data: Readonly<Record<string, string>>): string {
  const h = createHash('sha256');
  for (const k of Object.keys(data).sort()) h.update(`${k}\0${data[k] ?? ''}\0`);
  return h.digest('hex');
}

/** Creates `ensureStoreCredential`. */
export function createEnsureStoreCredential(deps: { clusters: KubeClusters; storeCredential: StoreCredentialConfig }) {
  /**
   * Static mode: creates (or, when its content differs, updates) the store credential Secret; writes
   * nothing when it already holds the configured key. sts mode: no-op. Returns names only.
   */
  return async function ensureStoreCredential(input: { environment: Environment }): Promise<{ namespace: string; name: string; created: boolean }> {
    const env = input.environment;
    const { namespace, name } = deps.storeCredential;
    if (env.aws.credentialMode !== 'static') return { namespace, name, created: false };
    const cluster = deps.clusters.forContext(env.cluster.context);
    const key = await deps.storeCredential.source(env);
    const data = {
      [deps.storeCredential.accessKeyIdKey]: Buffer.from(key.accessKeyId).toString('base64'),
      [deps.storeCredential.secretAccessKeyKey]: Buffer.from(key.secretAccessKey).toString('base64'),
    };
    const live = await readObject(cluster, { apiVersion: 'v1', kind: 'Secret', name, namespace });
    const liveData = (live?.['data'] as Record<string, string> | undefined) ?? {};
    if (live && digest(liveData) === digest(data)) return { namespace, name, created: false };
    await ensureNamespace(cluster, namespace);
    await serverSideApply(cluster, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name, namespace, labels: { 'app.kubernetes.io/managed-by': 'logstack' } },
      type: 'Opaque',
      data,
    });
    return { namespace, name, created: !live };
  };
}

async function ensureNamespace(cluster: ReturnType<KubeClusters['forContext']>, namespace: string): Promise<void> {
  if (await readObject(cluster, { apiVersion: 'v1', kind: 'Namespace', name: namespace })) return;
  await serverSideApply(cluster, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } });
}
