/**
 * A before/after inventory of everything logstack could touch on the sandbox, to prove that an
 * operation had no side effect (or exactly the ones expected).
 *
 * What it covers:
 * - **AWS (moto)**: every S3 bucket with its tagging, policy, versioning and lifecycle; every IAM
 *   user (tags, access-key ids and status, attached and inline policies with their documents),
 *   role (trust policy, tags, attached and inline policies) and customer-managed policy (default
 *   version); every Secrets Manager secret of the catalog's regions with its tags, deletion date and
 *   version ids with their stages. **Never a secret value**: only `ListSecretVersionIds` is called.
 * - **Each cluster** of the sandbox: every object, in every namespace and cluster-wide, of the kinds
 *   logstack applies, labels, adopts or writes (the overlays' kinds, Secrets, ConfigMaps — including
 *   the deployed-state ConfigMaps in `logstack-system` —, OLM, Argo CD and ESO kinds; a kind the
 *   cluster does not serve is skipped). Each object is recorded by kind/namespace/name with its uid,
 *   resourceVersion, generation and a fingerprint of what a writer other than a status controller
 *   changes: labels, annotations, finalizers, owner references, field managers (without times), and
 *   every top-level field but `status` (`spec`, `data`, rules, subjects…). Secret data enters the
 *   fingerprint only as an HMAC under a key that lives in this process, so no value is kept.
 * - **Git**: the bare remote's HEAD commit and every ref (`git ls-remote`).
 *
 * What it deliberately ignores (not effects of logstack): a resourceVersion that changed with
 * nothing else — a status written by a controller, the sandbox stand-ins or ESO's periodic refresh —
 * and Temporal itself (workflow executions, the `lock-<env>` workflows), which is not a target.
 */
import { execFile } from 'node:child_process';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import {
  GetBucketLifecycleConfigurationCommand,
  GetBucketPolicyCommand,
  GetBucketTaggingCommand,
  GetBucketVersioningCommand,
  ListBucketsCommand,
} from '@aws-sdk/client-s3';
import {
  GetRolePolicyCommand,
  GetUserPolicyCommand,
  ListAccessKeysCommand,
  ListAttachedRolePoliciesCommand,
  ListAttachedUserPoliciesCommand,
  ListPoliciesCommand,
  ListRolePoliciesCommand,
  ListRolesCommand,
  ListUserPoliciesCommand,
  ListUserTagsCommand,
  ListUsersCommand,
} from '@aws-sdk/client-iam';
import { ListSecretVersionIdsCommand, ListSecretsCommand } from '@aws-sdk/client-secrets-manager';
import { parse } from 'yaml';
import { createAwsClients, type AwsClients } from '../../activities/aws/index.ts';
import { createKubeClusters, type KubeCluster } from '../../activities/kubernetes/cluster.ts';
import { parseCatalog } from '../../domain/index.ts';
import type { SandboxRuntime } from '../../sandbox/status.ts';

const execFileAsync = promisify(execFile);

/** One Kubernetes object as the inventory records it. */
export interface ObjectRecord {
  readonly uid: string;
  readonly resourceVersion: string;
  readonly generation: number | undefined;
  /** sha256 of everything but status, resourceVersion and managed-field times (see the module doc). */
  readonly fingerprint: string;
  /** What the fingerprint covers, by top-level field, to name what changed. */
  readonly parts: Readonly<Record<string, string>>;
}

/** A snapshot of AWS (moto), every cluster and the Git remote. Plain data; compare with {@link diffInventory}. */
export interface Inventory {
  /** When the snapshot started (ISO time). */
  readonly takenAt: string;
  /** How long it took, in milliseconds. */
  readonly tookMs: number;
  /** `s3 bucket <name> <aspect>` / `iam user <name> <aspect>` / `secretsmanager <region> <name> <aspect>` → JSON. */
  readonly aws: Readonly<Record<string, string>>;
  /** Cluster name → `<apiVersion> <Kind> <namespace>/<name>` → record. */
  readonly clusters: Readonly<Record<string, Readonly<Record<string, ObjectRecord>>>>;
  /** The Git remote: `HEAD` and every ref → commit. */
  readonly git: Readonly<Record<string, string>>;
}

/**
 * Kinds logstack applies (the overlays), writes itself (store credential Secret, deployed-state
 * ConfigMap, force-sync annotations, Argo CD Applications), adopts (migration) or reads for gates
 * and drift (OLM, Argo CD), plus the stand-ins' OLM objects. Cluster-scoped and namespaced alike.
 */
export const INVENTORY_KINDS: readonly { readonly apiVersion: string; readonly kind: string }[] = [
  { apiVersion: 'v1', kind: 'Namespace' },
  { apiVersion: 'v1', kind: 'ServiceAccount' },
  { apiVersion: 'v1', kind: 'Secret' },
  { apiVersion: 'v1', kind: 'ConfigMap' },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole' },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding' },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role' },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding' },
  { apiVersion: 'external-secrets.io/v1', kind: 'ClusterSecretStore' },
  { apiVersion: 'external-secrets.io/v1', kind: 'SecretStore' },
  { apiVersion: 'external-secrets.io/v1', kind: 'ExternalSecret' },
  { apiVersion: 'operator.openshift.io/v1alpha1', kind: 'ExternalSecretsConfig' },
  { apiVersion: 'loki.grafana.com/v1', kind: 'LokiStack' },
  { apiVersion: 'observability.openshift.io/v1', kind: 'ClusterLogForwarder' },
  { apiVersion: 'operators.coreos.com/v1', kind: 'OperatorGroup' },
  { apiVersion: 'operators.coreos.com/v1alpha1', kind: 'Subscription' },
  { apiVersion: 'operators.coreos.com/v1alpha1', kind: 'InstallPlan' },
  { apiVersion: 'operators.coreos.com/v1alpha1', kind: 'ClusterServiceVersion' },
  { apiVersion: 'argoproj.io/v1alpha1', kind: 'Application' },
  { apiVersion: 'argoproj.io/v1alpha1', kind: 'ApplicationSet' },
  { apiVersion: 'argoproj.io/v1alpha1', kind: 'AppProject' },
  { apiVersion: 'argoproj.io/v1beta1', kind: 'ArgoCD' },
];

interface KubeObject {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly metadata: {
    readonly name: string;
    readonly namespace?: string;
    readonly uid: string;
    readonly resourceVersion: string;
    readonly generation?: number;
    readonly labels?: Record<string, string>;
    readonly annotations?: Record<string, string>;
    readonly finalizers?: string[];
    readonly ownerReferences?: unknown[];
    readonly managedFields?: readonly { manager?: string; operation?: string; subresource?: string }[];
  };
  readonly [field: string]: unknown;
}

/** Per-process key: Secret data is fingerprinted, never kept, and the digest is useless outside this process. */
const SECRET_KEY = randomBytes(32);

const sha = (text: string): string => createHash('sha256').update(text).digest('hex').slice(0, 16);

/** JSON with object keys sorted, so equal content gives equal text. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : v,
  );
}

function recordObject(kind: string, object: KubeObject): ObjectRecord {
  const { metadata } = object;
  const parts: Record<string, string> = {
    labels: canonical(metadata.labels ?? {}),
    annotations: canonical(metadata.annotations ?? {}),
    finalizers: canonical(metadata.finalizers ?? []),
    ownerReferences: canonical(metadata.ownerReferences ?? []),
    // Who owns fields, not when: a status subresource write by a controller is not an effect of logstack.
    managers: canonical(
      [
        ...new Set(
          (metadata.managedFields ?? [])
            .filter((m) => m.subresource !== 'status')
            .map((m) => `${m.manager ?? '?'}/${m.operation ?? '?'}`),
        ),
      ].sort(),
    ),
  };
  for (const [field, value] of Object.entries(object)) {
    if (field === 'metadata' || field === 'status' || field === 'apiVersion' || field === 'kind') continue;
    const text = canonical(value);
    parts[field] =
      kind === 'Secret' && (field === 'data' || field === 'stringData')
        ? createHmac('sha256', SECRET_KEY).update(text).digest('hex').slice(0, 16)
        : text;
  }
  return {
    uid: metadata.uid,
    resourceVersion: metadata.resourceVersion,
    generation: metadata.generation,
    fingerprint: sha(canonical(parts)),
    parts,
  };
}

async function clusterObjects(cluster: KubeCluster): Promise<Record<string, ObjectRecord>> {
  const lists = await Promise.all(
    INVENTORY_KINDS.map(async ({ apiVersion, kind }) => {
      const info = await cluster.tryResource(apiVersion, kind);
      if (!info) return [];
      const list = await cluster.request<{ items: KubeObject[] }>({
        method: 'GET',
        path: cluster.collectionPath(info),
      });
      return list.items.map((item) => {
        const ns = item.metadata.namespace ? `${item.metadata.namespace}/` : '';
        return [`${apiVersion} ${kind} ${ns}${item.metadata.name}`, recordObject(kind, item)] as const;
      });
    }),
  );
  return Object.fromEntries(lists.flat().sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** AWS error names meaning the listed item itself is gone (deleted by someone between the listing and the read). */
const GONE = new Set(['NoSuchBucket', 'NoSuchEntity', 'NoSuchEntityException', 'ResourceNotFoundException']);

/**
 * Reads the entries of one listed item into `out`, all or nothing: when the item vanished in between, it
 * records nothing for it (it no longer exists, which is what a snapshot a moment later would show).
 */
async function unlessGone(
  out: Record<string, string>,
  read: (entry: Record<string, string>) => Promise<void>,
): Promise<void> {
  const entry: Record<string, string> = {};
  try {
    await read(entry);
  } catch (error) {
    if (GONE.has((error as { name?: string }).name ?? '')) return;
    throw error;
  }
  Object.assign(out, entry);
}

/** Turns a missing optional configuration (no tagging, no policy…) into `null` and lets other errors through. */
async function orNone<T>(call: Promise<T>, ...absent: string[]): Promise<T | null> {
  try {
    return await call;
  } catch (error) {
    const name = (error as { name?: string; Code?: string }).name ?? '';
    if (absent.includes(name) || absent.includes((error as { Code?: string }).Code ?? '')) return null;
    throw error;
  }
}

async function s3Inventory(aws: AwsClients, region: string, out: Record<string, string>): Promise<void> {
  const s3 = aws.s3(region);
  const buckets = (await s3.send(new ListBucketsCommand({}))).Buckets ?? [];
  await Promise.all(
    buckets.map(({ Name }) =>
      unlessGone(out, async (entry) => {
        if (!Name) return;
        const Bucket = Name;
        const [tagging, policy, versioning, lifecycle] = await Promise.all([
          orNone(s3.send(new GetBucketTaggingCommand({ Bucket })), 'NoSuchTagSet'),
          orNone(s3.send(new GetBucketPolicyCommand({ Bucket })), 'NoSuchBucketPolicy'),
          s3.send(new GetBucketVersioningCommand({ Bucket })),
          orNone(s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket })), 'NoSuchLifecycleConfiguration'),
        ]);
        entry[`s3 bucket ${Name}`] = 'exists';
        entry[`s3 bucket ${Name} tagging`] = canonical(tagging?.TagSet ?? null);
        entry[`s3 bucket ${Name} policy`] = policy?.Policy ? canonical(JSON.parse(policy.Policy)) : 'null';
        entry[`s3 bucket ${Name} versioning`] = canonical({
          status: versioning.Status ?? null,
          mfaDelete: versioning.MFADelete ?? null,
        });
        entry[`s3 bucket ${Name} lifecycle`] = canonical(lifecycle?.Rules ?? null);
      }),
    ),
  );
}

const policyDocument = (document: string | undefined): string =>
  document ? canonical(JSON.parse(decodeURIComponent(document))) : 'null';

async function iamInventory(aws: AwsClients, out: Record<string, string>): Promise<void> {
  const iam = aws.iam();
  const [users, roles, policies] = await Promise.all([
    iam.send(new ListUsersCommand({ MaxItems: 1000 })),
    iam.send(new ListRolesCommand({ MaxItems: 1000 })),
    iam.send(new ListPoliciesCommand({ Scope: 'Local', MaxItems: 1000 })),
  ]);
  if (users.IsTruncated || roles.IsTruncated || policies.IsTruncated)
    throw new Error('IAM listing truncated: more than 1000 users, roles or policies in moto');
  await Promise.all([
    ...(users.Users ?? []).map(({ UserName, Arn }) =>
      unlessGone(out, async (entry) => {
        if (!UserName) return;
        const [keys, tags, attached, inline] = await Promise.all([
          iam.send(new ListAccessKeysCommand({ UserName })),
          iam.send(new ListUserTagsCommand({ UserName })),
          iam.send(new ListAttachedUserPoliciesCommand({ UserName })),
          iam.send(new ListUserPoliciesCommand({ UserName })),
        ]);
        entry[`iam user ${UserName}`] = Arn ?? '';
        entry[`iam user ${UserName} tags`] = canonical(tags.Tags ?? []);
        entry[`iam user ${UserName} access keys`] = canonical(
          (keys.AccessKeyMetadata ?? []).map((k) => `${k.AccessKeyId}:${k.Status}`).sort(),
        );
        entry[`iam user ${UserName} attached policies`] = canonical(
          (attached.AttachedPolicies ?? []).map((p) => p.PolicyArn).sort(),
        );
        for (const PolicyName of inline.PolicyNames ?? []) {
          const document = await iam.send(new GetUserPolicyCommand({ UserName, PolicyName }));
          entry[`iam user ${UserName} inline policy ${PolicyName}`] = policyDocument(document.PolicyDocument);
        }
      }),
    ),
    ...(roles.Roles ?? []).map(({ RoleName, Arn, AssumeRolePolicyDocument, Tags }) =>
      unlessGone(out, async (entry) => {
        if (!RoleName) return;
        const [attached, inline] = await Promise.all([
          iam.send(new ListAttachedRolePoliciesCommand({ RoleName })),
          iam.send(new ListRolePoliciesCommand({ RoleName })),
        ]);
        entry[`iam role ${RoleName}`] = Arn ?? '';
        entry[`iam role ${RoleName} trust policy`] = policyDocument(AssumeRolePolicyDocument);
        entry[`iam role ${RoleName} tags`] = canonical(Tags ?? []);
        entry[`iam role ${RoleName} attached policies`] = canonical(
          (attached.AttachedPolicies ?? []).map((p) => p.PolicyArn).sort(),
        );
        for (const PolicyName of inline.PolicyNames ?? []) {
          const document = await iam.send(new GetRolePolicyCommand({ RoleName, PolicyName }));
          entry[`iam role ${RoleName} inline policy ${PolicyName}`] = policyDocument(document.PolicyDocument);
        }
      }),
    ),
  ]);
  for (const policy of policies.Policies ?? []) {
    out[`iam policy ${policy.Arn}`] = canonical({
      defaultVersion: policy.DefaultVersionId ?? null,
      attachments: policy.AttachmentCount ?? 0,
    });
  }
}

async function secretsInventory(aws: AwsClients, region: string, out: Record<string, string>): Promise<void> {
  const sm = aws.secretsManager(region);
  let NextToken: string | undefined;
  const secrets: { ARN?: string; Name?: string; DeletedDate?: Date; Tags?: unknown[] }[] = [];
  do {
    const page = await sm.send(new ListSecretsCommand({ NextToken, MaxResults: 100, IncludePlannedDeletion: true }));
    secrets.push(...(page.SecretList ?? []));
    NextToken = page.NextToken;
  } while (NextToken);
  await Promise.all(
    secrets.map(({ ARN, Name, DeletedDate, Tags }) =>
      unlessGone(out, async (entry) => {
        if (!ARN || !Name) return;
        // Version ids and stages only: the value is never requested.
        const versions = await sm.send(
          new ListSecretVersionIdsCommand({ SecretId: ARN, IncludeDeprecated: true, MaxResults: 100 }),
        );
        const key = `secretsmanager ${region} ${Name}`;
        entry[key] = ARN;
        entry[`${key} deleted`] = DeletedDate ? DeletedDate.toISOString() : 'no';
        entry[`${key} tags`] = canonical(Tags ?? []);
        entry[`${key} versions`] = canonical(
          (versions.Versions ?? [])
            .map((v) => `${v.VersionId}:${[...(v.VersionStages ?? [])].sort().join('+')}`)
            .sort(),
        );
      }),
    ),
  );
}

async function gitInventory(remote: string): Promise<Record<string, string>> {
  const { stdout } = await execFileAsync('git', ['ls-remote', remote]);
  const refs: Record<string, string> = {};
  for (const line of stdout.trim().split('\n')) {
    const [commit, ref] = line.split('\t');
    if (commit && ref) refs[ref] = commit;
  }
  return refs;
}

/** The regions of the sandbox catalog (Secrets Manager is regional), `us-east-1` at least. */
function catalogRegions(sandbox: SandboxRuntime): string[] {
  const regions = new Set(['us-east-1']);
  try {
    for (const env of parseCatalog(parse(readFileSync(sandbox.catalog, 'utf8'))).environments)
      regions.add(env.aws.region);
  } catch {
    // An unreadable catalog leaves the default region; the inventory still covers every bucket and IAM.
  }
  return [...regions].sort();
}

/** Options of {@link takeInventory}. */
export interface InventoryOptions {
  /** Secrets Manager regions to list; default: the sandbox catalog's regions (and `us-east-1`). */
  readonly regions?: readonly string[];
}

/** Whole-snapshot attempts: a part of a loaded sandbox may answer one read with an error page. */
const INVENTORY_ATTEMPTS = 3;

/**
 * Takes a read-only snapshot of moto, every sandbox cluster and the Git remote (see the module doc
 * for what it covers). Parts are read concurrently; on the sandbox it takes under a second when the
 * machine is idle, a few seconds under load. A snapshot that fails is taken again from scratch, up to
 * three times. Never writes anything and never reads a secret value.
 * @throws the last error when a part of the sandbox does not answer three times.
 */
export async function takeInventory(sandbox: SandboxRuntime, options: InventoryOptions = {}): Promise<Inventory> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await snapshot(sandbox, options);
    } catch (error) {
      if (attempt >= INVENTORY_ATTEMPTS) throw error;
      await new Promise((resolve) => setTimeout(resolve, 1000 * attempt));
    }
  }
}

async function snapshot(sandbox: SandboxRuntime, options: InventoryOptions): Promise<Inventory> {
  const started = Date.now();
  const aws = createAwsClients({
    endpoint: sandbox.aws.endpoint,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 3,
  });
  const kube = createKubeClusters(sandbox.kubeconfig);
  const regions = options.regions ?? catalogRegions(sandbox);
  try {
    const awsOut: Record<string, string> = {};
    const [clusters, git] = await Promise.all([
      Promise.all(
        sandbox.clusters.map(async (c) => [c.name, await clusterObjects(kube.forContext(c.context))] as const),
      ),
      gitInventory(sandbox.git.remote),
      s3Inventory(aws, regions[0] ?? 'us-east-1', awsOut),
      iamInventory(aws, awsOut),
      ...regions.map((region) => secretsInventory(aws, region, awsOut)),
    ]);
    const sortedAws = Object.fromEntries(Object.entries(awsOut).sort(([a], [b]) => (a < b ? -1 : 1)));
    return {
      takenAt: new Date(started).toISOString(),
      tookMs: Date.now() - started,
      aws: sortedAws,
      clusters: Object.fromEntries(clusters),
      git,
    };
  } finally {
    aws.destroy();
  }
}

const short = (text: string, max = 160): string => (text.length > max ? `${text.slice(0, max)}…` : text);

function diffFlat(
  prefix: string,
  before: Readonly<Record<string, string>>,
  after: Readonly<Record<string, string>>,
): string[] {
  const lines: string[] = [];
  for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const a = before[key];
    const b = after[key];
    if (a === b) continue;
    if (a === undefined) lines.push(`${prefix}+ ${key}: ${short(b ?? '')}`);
    else if (b === undefined) lines.push(`${prefix}- ${key} (was ${short(a)})`);
    else lines.push(`${prefix}~ ${key}: ${short(a)} → ${short(b)}`);
  }
  return lines;
}

/**
 * The differences between two inventories as readable lines, sorted, empty when nothing logstack
 * could have changed did change: `+` added, `-` removed, `~` changed (with the old and new value, or
 * the object fields that changed). An object deleted and created again under the same name shows as
 * `recreated`. A resourceVersion that moved with nothing else is not a difference (see the module doc).
 */
export function diffInventory(before: Inventory, after: Inventory): string[] {
  const lines = [...diffFlat('aws ', before.aws, after.aws), ...diffFlat('git ', before.git, after.git)];
  for (const cluster of new Set([...Object.keys(before.clusters), ...Object.keys(after.clusters)])) {
    const a = before.clusters[cluster] ?? {};
    const b = after.clusters[cluster] ?? {};
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
      const x = a[key];
      const y = b[key];
      const where = `cluster ${cluster} ${key}`;
      if (!x && y) lines.push(`+ ${where} (uid ${y.uid})`);
      else if (x && !y) lines.push(`- ${where} (uid ${x.uid})`);
      else if (x && y) {
        if (x.uid !== y.uid) lines.push(`~ ${where} recreated (uid ${x.uid} → ${y.uid})`);
        else if (x.fingerprint !== y.fingerprint || x.generation !== y.generation) {
          const fields = [...new Set([...Object.keys(x.parts), ...Object.keys(y.parts)])].filter(
            (f) => x.parts[f] !== y.parts[f],
          );
          const detail = fields
            .map((f) => `${f}: ${short(x.parts[f] ?? '∅', 80)} → ${short(y.parts[f] ?? '∅', 80)}`)
            .join('; ');
          lines.push(
            `~ ${where} generation ${x.generation ?? '-'} → ${y.generation ?? '-'}, resourceVersion ${x.resourceVersion} → ${y.resourceVersion}${detail ? `; ${detail}` : ''}`,
          );
        }
      }
    }
  }
  return lines.sort();
}

/** A one-line size summary of an inventory, for test diagnostics. */
export function describeInventory(inventory: Inventory): string {
  const objects = Object.entries(inventory.clusters)
    .map(([name, objs]) => `${name} ${Object.keys(objs).length}`)
    .join(', ');
  return `aws ${Object.keys(inventory.aws).length} entries, objects ${objects}, git ${Object.keys(inventory.git).length} refs, took ${inventory.tookMs} ms`;
}
