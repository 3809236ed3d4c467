/**
 * ESO's identity on an environment's cluster, one per environment and scoped to it
 * (`activities/aws/store-reader.ts`):
 * - **static**: the reader IAM user's access key, written into the store credential Secret
 *   (`external-secrets/logstack-aws-credentials`). The Secret is the store of record: a key it holds
 *   that is an Active key of this environment's reader is kept; anything else (no Secret, a deleted
 *   key, the worker's or an older shared key) is replaced by a fresh reader key, and the reader is left
 *   with exactly that one key. No second copy exists anywhere.
 * - **sts**: the reader IAM role, and the store service account's `eks.amazonaws.com/role-arn`
 *   annotation, applied with a field manager of its own ({@link STORE_IDENTITY_FIELD_MANAGER}) so the
 *   role ARN (and its account) never lives in Git and the overlay's apply never fights over it.
 * The worker's own AWS key never leaves the worker. Results carry names and ARNs only; the key is
 * compared by hash and never enters history.
 */
import { createHash } from 'node:crypto';
import { GITOPS_NAMES } from '../../domain/gitops.ts';
import type { Environment } from '../../domain/index.ts';
import type { AwsClients } from '../aws/clients.ts';
import { accountIdLookup, assertAwsInput, currentCancellationSignal } from '../aws/common.ts';
import { type ReaderScope, assertReaderScope, ensureStoreReaderKey, ensureStoreReaderRole, ensureStoreReaderUser } from '../aws/store-reader.ts';
import { fromDomainError } from '../errors.ts';
import { applyAs, readObject, serverSideApply } from '../kubernetes/apply.ts';
import type { KubeCluster, KubeClusters } from '../kubernetes/cluster.ts';
import { mapWriteError } from '../kubernetes/failures.ts';

/** Where the store credential Secret lives and which keys the ClusterSecretStore reads. */
export interface StoreCredentialConfig {
  readonly namespace: string;
  readonly name: string;
  readonly accessKeyIdKey: string;
  readonly secretAccessKeyKey: string;
}

/** The names the project's ClusterSecretStore `auth.secretRef` uses (fixed by the gitops/ tree). */
export const DEFAULT_STORE_CREDENTIAL: StoreCredentialConfig = GITOPS_NAMES.storeCredential;

/** The field manager owning the store service account's role-ARN annotation (sts); never `logstack`, which applies the overlay. */
export const STORE_IDENTITY_FIELD_MANAGER = 'logstack-store-identity';
/** The annotation ESO reads the role ARN from (ESO v0.16 `pkg/provider/aws/auth`). */
export const ROLE_ARN_ANNOTATION = 'eks.amazonaws.com/role-arn';

/** What {@link createEnsureStoreCredential} needs. */
export interface StoreCredentialDeps {
  readonly clusters: KubeClusters;
  /** The worker's AWS clients: IAM for the reader, Secrets Manager for the secrets' ARNs, STS for the account id. */
  readonly aws: AwsClients;
  /** Names of the store credential Secret (default {@link DEFAULT_STORE_CREDENTIAL}). */
  readonly storeCredential?: Partial<StoreCredentialConfig>;
}

/** What `ensureStoreCredential` returns: names and the reader's ARN, never key material. */
export interface StoreCredentialResult {
  readonly namespace: string;
  readonly name: string;
  /** True when the Secret (static) or the service account (sts) did not exist before. */
  readonly created: boolean;
  /** The reader user (static) or role (sts). */
  readonly principalArn?: string;
  /** Static: true when a new reader key was made and written. */
  readonly rotated?: boolean;
}

function digest(data: Readonly<Record<string, string>>): string {
  const h = createHash('sha256');
  for (const k of Object.keys(data).sort()) h.update(`${k}\0${data[k] ?? ''}\0`);
  return h.digest('hex');
}

function decoded(data: Readonly<Record<string, string>>, key: string): string | undefined {
  const value = data[key];
  if (value === undefined || value === '') return undefined;
  return Buffer.from(value, 'base64').toString('utf8');
}

/** Creates `ensureStoreCredential`. */
export function createEnsureStoreCredential(deps: StoreCredentialDeps) {
  const names: StoreCredentialConfig = { ...DEFAULT_STORE_CREDENTIAL, ...deps.storeCredential };
  const accountId = accountIdLookup(() => deps.aws.sts());

  const readerScope = async (env: Environment, signal: AbortSignal | undefined): Promise<ReaderScope> => ({
    iam: deps.aws.iam(),
    sm: deps.aws.secretsManager(env.aws.region),
    env,
    signal,
    accountId: await accountId(signal),
  });

  async function staticIdentity(env: Environment, cluster: KubeCluster, signal: AbortSignal | undefined): Promise<StoreCredentialResult> {
    const { namespace, name } = names;
    const scope = await readerScope(env, signal);
    const reader = await ensureStoreReaderUser(scope);
    const live = await readObject(cluster, { apiVersion: 'v1', kind: 'Secret', name, namespace });
    const liveData = (live?.['data'] as Record<string, string> | undefined) ?? {};
    const stored = { accessKeyId: decoded(liveData, names.accessKeyIdKey), secretAccessKey: decoded(liveData, names.secretAccessKeyKey) };
    const { key, created: rotated } = await ensureStoreReaderKey(scope, stored, reader.fresh);
    const data = {
      [names.accessKeyIdKey]: Buffer.from(key.accessKeyId).toString('base64'),
      [names.secretAccessKeyKey]: Buffer.from(key.secretAccessKey).toString('base64'),
    };
    const result = { namespace, name, principalArn: reader.principalArn, rotated };
    if (live && digest(liveData) === digest(data)) return { ...result, created: false };
    if (!live) await ensureNamespace(cluster, namespace); // a live Secret proves its namespace
    await serverSideApply(cluster, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name, namespace, labels: { 'app.kubernetes.io/managed-by': 'logstack' } },
      type: 'Opaque',
      data,
    });
    return { ...result, created: !live };
  }

  async function stsIdentity(env: Environment, cluster: KubeCluster, signal: AbortSignal | undefined): Promise<StoreCredentialResult> {
    const { namespace, name } = GITOPS_NAMES.storeServiceAccount;
    const reader = await ensureStoreReaderRole(await readerScope(env, signal));
    const header = { apiVersion: 'v1', kind: 'ServiceAccount', name, namespace };
    const live = await readObject(cluster, header);
    const owned = (live?.metadata.managedFields ?? []).some((f) => f.manager === STORE_IDENTITY_FIELD_MANAGER && JSON.stringify(f.fieldsV1 ?? {}).includes(ROLE_ARN_ANNOTATION));
    if (live?.metadata.annotations?.[ROLE_ARN_ANNOTATION] === reader.principalArn && owned) return { namespace, name, created: false, principalArn: reader.principalArn };
    if (!live) await ensureNamespace(cluster, namespace); // a live ServiceAccount proves its namespace
    await applyRoleAnnotation(cluster, namespace, name, reader.principalArn);
    return { namespace, name, created: !live, principalArn: reader.principalArn };
  }

  /**
   * Static: the reader user, its one key and the store credential Secret (written only when its content
   * differs). Sts: the reader role and the service account's role-ARN annotation (applied only when it
   * differs). Idempotent; a retry after a crash at any point converges to one reader key in the Secret.
   */
  return async function ensureStoreCredential(input: { environment: Environment }): Promise<StoreCredentialResult> {
    const env = input.environment;
    try {
      assertAwsInput(env);
      assertReaderScope(env);
      const signal = currentCancellationSignal();
      const cluster = deps.clusters.forContext(env.cluster.context);
      return env.aws.credentialMode === 'static' ? await staticIdentity(env, cluster, signal) : await stsIdentity(env, cluster, signal);
    } catch (error) {
      const signal = currentCancellationSignal();
      if (signal?.aborted === true && signal.reason !== undefined) throw signal.reason;
      throw fromDomainError(error);
    }
  };
}

/**
 * Applies only the role-ARN annotation of the store's service account, as {@link STORE_IDENTITY_FIELD_MANAGER},
 * forcing: the annotation is this manager's by design (an older overlay that still set it loses it here).
 */
async function applyRoleAnnotation(cluster: KubeCluster, namespace: string, name: string, roleArn: string): Promise<void> {
  const obj = { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace, annotations: { [ROLE_ARN_ANNOTATION]: roleArn } } };
  try {
    await applyAs(cluster, obj, STORE_IDENTITY_FIELD_MANAGER, { force: true });
  } catch (error) {
    throw mapWriteError(error, `ServiceAccount ${namespace}/${name}`, `cluster "${cluster.context}"`);
  }
}

async function ensureNamespace(cluster: KubeCluster, namespace: string): Promise<void> {
  if (await readObject(cluster, { apiVersion: 'v1', kind: 'Namespace', name: namespace })) return;
  await serverSideApply(cluster, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } });
}
