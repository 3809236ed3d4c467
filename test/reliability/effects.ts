/**
 * The side effects of bootstrap and promotion on the sandbox's real parts, read independently of the product's
 * activities, to prove they happened exactly once after crashes and retries:
 *
 * - **AWS (moto, AWS SDK)**: the buckets, IAM users and roles tagged for the environment (`app=logstack` and
 *   `logstack.io/environment=<env>`), the access keys of the environment's IAM user, and every version of its
 *   Secrets Manager secret with a SHA-256 of its content. Secret values are read into memory only to hash them
 *   and to read which access key the secret names; no value is kept, returned or printed.
 * - **Git** (`git -C <remote> log`): the commits on the GitOps branch that touch the environment's pin file.
 * - **The environment's cluster** (@kubernetes/client-node): the objects carrying logstack's inventory label
 *   for the environment's apply sets, compared with the overlays rendered (`git archive` + `kubectl kustomize`)
 *   at the revisions the workflow applied.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  DeleteBucketCommand,
  DeleteObjectsCommand,
  GetBucketTaggingCommand,
  HeadBucketCommand,
  ListBucketsCommand,
  ListObjectVersionsCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import {
  DeleteAccessKeyCommand,
  DeleteUserCommand,
  DeleteUserPolicyCommand,
  DetachUserPolicyCommand,
  IAMClient,
  ListAccessKeysCommand,
  ListAttachedUserPoliciesCommand,
  ListRoleTagsCommand,
  ListRolesCommand,
  ListUserPoliciesCommand,
  ListUserTagsCommand,
  ListUsersCommand,
} from '@aws-sdk/client-iam';
import {
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretVersionIdsCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import * as k8s from '@kubernetes/client-node';
import { parse, parseAllDocuments } from 'yaml';
import { ENVIRONMENT_TAG, MANAGED_TAG } from '../../activities/aws/common.ts';
import { storeReaderName } from '../../activities/aws/store-reader.ts';
import { pinPath } from '../../activities/gitops/pins.ts';
import { inventoryId, PRUNE_KINDS } from '../../activities/kubernetes/overlay.ts';
import {
  findEnvironment,
  INVENTORY_LABEL,
  parseCatalog,
  principalName,
  STATE_NAMESPACE,
  stateConfigMapName,
  type Catalog,
  type Environment,
} from '../../domain/index.ts';
import type { SandboxRuntime } from '../../sandbox/status.ts';

const execFileAsync = promisify(execFile);

/** The sandbox's environment catalog (the one the worker runs with). */
export async function sandboxCatalog(sandbox: SandboxRuntime): Promise<Catalog> {
  return parseCatalog(parse(await readFile(sandbox.catalog, 'utf8')), sandbox.catalog);
}

/** One environment of the sandbox catalog. */
export async function sandboxEnvironment(sandbox: SandboxRuntime, name: string): Promise<Environment> {
  return findEnvironment(await sandboxCatalog(sandbox), name);
}

// ── AWS ──────────────────────────────────────────────────────────────────────────────────────

/** AWS SDK clients pointed at the sandbox's moto with moto's conventional test key. */
export interface MotoClients {
  readonly s3: S3Client;
  readonly iam: IAMClient;
  readonly sm: SecretsManagerClient;
}

/** Clients for the sandbox's moto in `region`. */
export function motoClients(sandbox: SandboxRuntime, region: string): MotoClients {
  const common = {
    endpoint: sandbox.aws.endpoint,
    region,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  };
  return {
    s3: new S3Client({ ...common, forcePathStyle: true }),
    iam: new IAMClient(common),
    sm: new SecretsManagerClient(common),
  };
}

/** One version of the environment's secret: id, staging labels and the SHA-256 of its content. */
export interface SecretVersion {
  readonly id: string;
  readonly stages: readonly string[];
  readonly sha256: string;
}

/** What AWS holds for one environment. */
export interface AwsState {
  /** Buckets tagged for the environment. */
  readonly buckets: readonly string[];
  /** Whether the catalog's bucket exists at all. */
  readonly bucketExists: boolean;
  /** IAM users tagged for the environment. */
  readonly users: readonly string[];
  /** IAM roles tagged for the environment. */
  readonly roles: readonly string[];
  /** Access keys of the environment's IAM user (static mode), by id and status. */
  readonly keys: readonly { readonly id: string; readonly status: string }[];
  /** Access keys of the environment's ESO reader user (static mode), by id and status. */
  readonly readerKeys: readonly { readonly id: string; readonly status: string }[];
  /** Every version of the environment's secret; empty when the secret does not exist. */
  readonly versions: readonly SecretVersion[];
  /** SHA-256 of the AWSCURRENT version's content. */
  readonly currentSha256: string | null;
  /** The access key id the AWSCURRENT version names (static mode). */
  readonly storedKeyId: string | null;
}

const tagged = (
  env: Environment,
  tags: readonly { Key?: string | undefined; Value?: string | undefined }[] | undefined,
): boolean =>
  (tags ?? []).some((t) => t.Key === MANAGED_TAG.key && t.Value === MANAGED_TAG.value) &&
  (tags ?? []).some((t) => t.Key === ENVIRONMENT_TAG && t.Value === env.name);

const errorName = (error: unknown): string => (error as { name?: string }).name ?? '';

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** Reads the environment's AWS resources (see the module documentation). */
export async function readAwsState(sandbox: SandboxRuntime, env: Environment): Promise<AwsState> {
  const { s3, iam, sm } = motoClients(sandbox, env.aws.region);
  const buckets: string[] = [];
  for (const bucket of (await s3.send(new ListBucketsCommand({}))).Buckets ?? []) {
    const name = bucket.Name ?? '';
    const tags = await s3.send(new GetBucketTaggingCommand({ Bucket: name })).then(
      (r) => r.TagSet,
      (error: unknown) => {
        if (['NoSuchTagSet', 'NoSuchBucket'].includes(errorName(error))) return [];
        throw error;
      },
    );
    if (tagged(env, tags)) buckets.push(name);
  }
  const bucketExists = await s3.send(new HeadBucketCommand({ Bucket: env.aws.bucket })).then(
    () => true,
    () => false,
  );

  const users: string[] = [];
  for (const user of (await iam.send(new ListUsersCommand({}))).Users ?? []) {
    const name = user.UserName ?? '';
    if (tagged(env, (await iam.send(new ListUserTagsCommand({ UserName: name }))).Tags)) users.push(name);
  }
  const roles: string[] = [];
  for (const role of (await iam.send(new ListRolesCommand({}))).Roles ?? []) {
    const name = role.RoleName ?? '';
    if (tagged(env, (await iam.send(new ListRoleTagsCommand({ RoleName: name }))).Tags)) roles.push(name);
  }
  const keysOf = (user: string) =>
    env.aws.credentialMode === 'static'
      ? iam.send(new ListAccessKeysCommand({ UserName: user })).then(
          (r) => (r.AccessKeyMetadata ?? []).map((k) => ({ id: k.AccessKeyId ?? '', status: k.Status ?? '' })),
          (error: unknown) => {
            if (errorName(error) === 'NoSuchEntityException' || errorName(error) === 'NoSuchEntity') return [];
            throw error;
          },
        )
      : Promise.resolve([]);
  const keys = await keysOf(principalName(env));
  const readerKeys = await keysOf(storeReaderName(env));

  const versions: SecretVersion[] = [];
  let currentSha256: string | null = null;
  let storedKeyId: string | null = null;
  // Ask whether the secret exists first: moto answers ListSecretVersionIds of a missing secret with an HTTP 500.
  const exists = await sm.send(new DescribeSecretCommand({ SecretId: env.aws.secretName })).then(
    () => true,
    (error: unknown) => {
      if (errorName(error) === 'ResourceNotFoundException') return false;
      throw error;
    },
  );
  const listed = exists
    ? ((await sm.send(new ListSecretVersionIdsCommand({ SecretId: env.aws.secretName, IncludeDeprecated: true })))
        .Versions ?? [])
    : [];
  for (const v of listed) {
    const id = v.VersionId ?? '';
    const value = await sm.send(new GetSecretValueCommand({ SecretId: env.aws.secretName, VersionId: id }));
    const text = value.SecretString ?? '';
    const stages = [...(v.VersionStages ?? [])].sort();
    versions.push({ id, stages, sha256: sha256(text) });
    if (stages.includes('AWSCURRENT')) {
      currentSha256 = sha256(text);
      const document = JSON.parse(text) as { access_key_id?: unknown };
      storedKeyId = typeof document.access_key_id === 'string' ? document.access_key_id : null;
    }
  }
  return {
    buckets: buckets.sort(),
    bucketExists,
    users: users.sort(),
    roles: roles.sort(),
    keys,
    readerKeys,
    versions,
    currentSha256,
    storedKeyId,
  };
}

/**
 * Deletes the environment's bucket (emptied first), IAM user (keys and policies first) and secret (without
 * recovery), as if the environment had never been bootstrapped on AWS. Used before a bootstrap that must create
 * everything; the bootstrap itself restores it.
 */
export async function deleteAwsResources(sandbox: SandboxRuntime, env: Environment): Promise<void> {
  const { s3, iam, sm } = motoClients(sandbox, env.aws.region);
  const bucket = env.aws.bucket;
  if (
    await s3.send(new HeadBucketCommand({ Bucket: bucket })).then(
      () => true,
      () => false,
    )
  ) {
    for (;;) {
      const listed = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket }));
      const objects = [...(listed.Versions ?? []), ...(listed.DeleteMarkers ?? [])].map((o) => ({
        Key: o.Key ?? '',
        VersionId: o.VersionId,
      }));
      if (objects.length === 0) break;
      await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: objects } }));
    }
    await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
  }
  if (env.aws.credentialMode === 'static') {
    const user = principalName(env);
    const exists = await iam.send(new ListAccessKeysCommand({ UserName: user })).then(
      (r) => r.AccessKeyMetadata ?? [],
      () => undefined,
    );
    if (exists !== undefined) {
      for (const key of exists)
        await iam.send(new DeleteAccessKeyCommand({ UserName: user, AccessKeyId: key.AccessKeyId }));
      for (const name of (await iam.send(new ListUserPoliciesCommand({ UserName: user }))).PolicyNames ?? []) {
        await iam.send(new DeleteUserPolicyCommand({ UserName: user, PolicyName: name }));
      }
      for (const p of (await iam.send(new ListAttachedUserPoliciesCommand({ UserName: user }))).AttachedPolicies ??
        []) {
        await iam.send(new DetachUserPolicyCommand({ UserName: user, PolicyArn: p.PolicyArn }));
      }
      await iam.send(new DeleteUserCommand({ UserName: user }));
    }
  }
  await sm
    .send(new DeleteSecretCommand({ SecretId: env.aws.secretName, ForceDeleteWithoutRecovery: true }))
    .catch((error: unknown) => {
      if (errorName(error) !== 'ResourceNotFoundException') throw error;
    });
}

// ── Git ──────────────────────────────────────────────────────────────────────────────────────

/** Commits on `branch` of the GitOps remote that touch the environment's pin file, newest first. */
export async function pinCommits(sandbox: SandboxRuntime, env: Environment, branch: string): Promise<string[]> {
  const { stdout } = await execFileAsync('git', [
    '-C',
    sandbox.git.remote,
    'log',
    '--format=%H',
    branch,
    '--',
    pinPath(env.name),
  ]);
  return stdout.split('\n').filter((l) => l.trim() !== '');
}

// ── Kubernetes ───────────────────────────────────────────────────────────────────────────────

/** An overlay a workflow applied, and at which commit. Later entries win for objects two overlays share. */
export interface AppliedOverlay {
  readonly overlay: string;
  readonly revision: string;
}

/** How the labelled objects of the environment compare with the rendered overlays. */
export interface OverlayComparison {
  /** Rendered, but not in the cluster with an inventory label of the environment. */
  readonly missing: readonly string[];
  /** In the cluster with an inventory label of the environment, but not rendered. */
  readonly extra: readonly string[];
  /** In both, but labelled for another apply set than the last overlay that renders it. */
  readonly mislabelled: readonly string[];
  /** Labelled objects found. */
  readonly live: number;
}

interface Manifest {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string };
}

const groupOf = (apiVersion: string): string => (apiVersion.includes('/') ? (apiVersion.split('/')[0] ?? '') : 'core');
const refOf = (o: Manifest | k8s.KubernetesObject): string =>
  `${o.kind ?? ''}.${groupOf(o.apiVersion ?? '')} ${o.metadata?.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata?.name ?? ''}`;

/** Renders `overlay` at `revision` of the sandbox's GitOps remote with the sandbox's kubectl. */
export async function renderOverlay(sandbox: SandboxRuntime, overlay: string, revision: string): Promise<Manifest[]> {
  const dir = await mkdtemp(join(tmpdir(), 'kill-matrix-render-'));
  try {
    const tar = join(dir, 'tree.tar');
    await execFileAsync('git', [
      '-C',
      sandbox.git.remote,
      'archive',
      '--format=tar',
      '-o',
      tar,
      revision,
      '--',
      'gitops',
    ]);
    await execFileAsync('tar', ['-xf', tar, '-C', dir]);
    const { stdout } = await execFileAsync(sandbox.kubectl, ['kustomize', join(dir, overlay)], {
      maxBuffer: 64 * 1024 * 1024,
    });
    return parseAllDocuments(stdout)
      .map((d) => d.toJS() as Manifest | null)
      .filter((o): o is Manifest => o !== null && typeof o.kind === 'string');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Compares the objects labelled for the environment's apply sets of `applied` in its cluster with what those
 * overlays render: nothing missing, nothing extra (no duplicate or leftover), each labelled by the last overlay
 * that renders it. Objects being deleted are not counted.
 */
export async function compareWithOverlays(
  sandbox: SandboxRuntime,
  env: Environment,
  applied: readonly AppliedOverlay[],
): Promise<OverlayComparison> {
  const expected = new Map<string, string>();
  const kinds = new Map<string, { apiVersion: string; kind: string }>();
  for (const k of PRUNE_KINDS) kinds.set(`${k.apiVersion} ${k.kind}`, k);
  for (const { overlay, revision } of applied) {
    const label = inventoryId(env.name, overlay);
    for (const obj of await renderOverlay(sandbox, overlay, revision)) {
      expected.set(refOf(obj), label);
      kinds.set(`${obj.apiVersion} ${obj.kind}`, { apiVersion: obj.apiVersion, kind: obj.kind });
    }
  }
  const labels = [...new Set(applied.map((a) => inventoryId(env.name, a.overlay)))];
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(sandbox.kubeconfig);
  kc.setCurrentContext(env.cluster.context);
  const api = k8s.KubernetesObjectApi.makeApiClient(kc);
  const live = new Map<string, string>();
  for (const { apiVersion, kind } of kinds.values()) {
    const list = await api.list(
      apiVersion,
      kind,
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
      `${INVENTORY_LABEL} in (${labels.join(',')})`,
    );
    for (const item of list.items) {
      if (item.metadata?.deletionTimestamp) continue;
      live.set(refOf({ ...item, apiVersion, kind }), item.metadata?.labels?.[INVENTORY_LABEL] ?? '');
    }
  }
  return {
    missing: [...expected.keys()].filter((ref) => !live.has(ref)).sort(),
    extra: [...live.keys()].filter((ref) => !expected.has(ref)).sort(),
    mislabelled: [...expected]
      .filter(([ref, label]) => live.has(ref) && live.get(ref) !== label)
      .map(([ref, label]) => `${ref} (${live.get(ref)}, expected ${label})`),
    live: live.size,
  };
}

// ── exactly once ─────────────────────────────────────────────────────────────────────────────

/** AWS and Git of one environment at one moment. */
export interface EffectsSnapshot {
  readonly aws: AwsState;
  readonly pins: readonly string[];
}

/** Reads AWS and the pin commits of `env`. */
export async function snapshotEffects(
  sandbox: SandboxRuntime,
  env: Environment,
  branch: string,
): Promise<EffectsSnapshot> {
  return { aws: await readAwsState(sandbox, env), pins: await pinCommits(sandbox, env, branch) };
}

/** What a run is expected to have changed. */
export interface ExpectedEffects {
  /** Pin commits the run must have added to the pin file (one per distinct commit it pinned that was not pinned yet). */
  readonly pins: number;
}

/**
 * Everything that says a side effect happened twice (or not at all) between `before` and `after` of one run that
 * ended successfully: one bucket, one principal of the credential mode, one active access key that the secret
 * names (static), secret versions only per distinct content (none when the content did not change), and
 * exactly `expected.pins` new pin commits. Returns the problems; empty means exactly once.
 */
export function exactlyOnceProblems(
  env: Environment,
  before: EffectsSnapshot,
  after: EffectsSnapshot,
  expected: ExpectedEffects,
): string[] {
  const problems: string[] = [];
  const a = after.aws;
  if (!a.bucketExists) problems.push(`bucket ${env.aws.bucket} does not exist`);
  if (a.buckets.join() !== env.aws.bucket)
    problems.push(`buckets tagged for ${env.name}: [${a.buckets.join(', ')}], expected exactly [${env.aws.bucket}]`);
  const principal = principalName(env);
  // The Loki principal and the environment's ESO reader, both of the credential mode's kind.
  const principals = [principal, storeReaderName(env)].sort();
  const [mine, other, otherBefore] =
    env.aws.credentialMode === 'static' ? [a.users, a.roles, before.aws.roles] : [a.roles, a.users, before.aws.users];
  if ([...mine].sort().join() !== principals.join()) {
    problems.push(
      `IAM ${env.aws.credentialMode === 'static' ? 'users' : 'roles'} tagged for ${env.name}: [${mine.join(', ')}], expected exactly [${principals.join(', ')}]`,
    );
  }
  if (other.join() !== otherBefore.join())
    problems.push(
      `IAM principals of the other credential mode changed: [${otherBefore.join(', ')}] → [${other.join(', ')}]`,
    );
  if (env.aws.credentialMode === 'static') {
    const oneActiveKey = (user: string, keys: AwsState['keys']): string | undefined => {
      const active = keys.filter((k) => k.status === 'Active');
      if (keys.length === 1 && active.length === 1) return active[0]?.id;
      problems.push(
        `access keys of ${user}: ${keys.map((k) => `${k.id.slice(0, 8)}… ${k.status}`).join(', ') || 'none'}; expected exactly one, active`,
      );
      return undefined;
    };
    oneActiveKey(storeReaderName(env), a.readerKeys);
    const activeId = oneActiveKey(principal, a.keys);
    if (activeId !== undefined && a.storedKeyId !== activeId) {
      problems.push(
        `the secret names access key ${a.storedKeyId?.slice(0, 8) ?? 'none'}…, not the active key ${activeId.slice(0, 8)}…`,
      );
    }
  }
  if (a.versions.length === 0) problems.push(`secret ${env.aws.secretName} does not exist`);
  const known = new Set(before.aws.versions.map((v) => v.id));
  const added = a.versions.filter((v) => !known.has(v.id));
  const contents = new Set<string>(before.aws.currentSha256 ? [before.aws.currentSha256] : []);
  for (const v of added) {
    if (contents.has(v.sha256))
      problems.push(
        `secret version ${v.id.slice(0, 8)}… repeats content sha256 ${v.sha256.slice(0, 12)} that was already stored`,
      );
    contents.add(v.sha256);
  }
  if (a.currentSha256 !== null && a.currentSha256 === before.aws.currentSha256 && added.length > 0) {
    problems.push(`${added.length} secret version(s) added although the current content did not change`);
  }
  const newPins = after.pins.filter((c) => !before.pins.includes(c));
  if (newPins.length !== expected.pins)
    problems.push(`${newPins.length} new commit(s) on ${pinPath(env.name)}, expected ${expected.pins}`);
  return problems;
}

/** One line describing a snapshot (counts and hash prefixes only). */
export function describeEffects(s: EffectsSnapshot): string {
  const a = s.aws;
  return (
    `buckets [${a.buckets.join(', ')}], users [${a.users.join(', ')}], roles [${a.roles.join(', ')}], ` +
    `keys ${a.keys.map((k) => k.status).join('/') || 'none'}, secret versions ${a.versions.length} (current ${a.currentSha256?.slice(0, 12) ?? 'none'}), ` +
    `pin commits ${s.pins.length}`
  );
}

/** The revision the environment's pin file names on `branch`, or null without a pin. */
export async function pinnedRevision(
  sandbox: SandboxRuntime,
  env: Environment,
  branch: string,
): Promise<string | null> {
  try {
    const { stdout } = await execFileAsync('git', ['-C', sandbox.git.remote, 'show', `${branch}:${pinPath(env.name)}`]);
    const revision = (parse(stdout, { version: '1.1' }) as { revision?: unknown } | null)?.revision;
    return typeof revision === 'string' ? revision : null;
  } catch {
    return null;
  }
}

/** The deployed-revision record of an environment (its `logstack-system` ConfigMap), empty when there is none. */
export async function deployedRecord(sandbox: SandboxRuntime, env: Environment): Promise<Record<string, string>> {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(sandbox.kubeconfig);
  kc.setCurrentContext(env.cluster.context);
  return kc
    .makeApiClient(k8s.CoreV1Api)
    .readNamespacedConfigMap({ name: stateConfigMapName(env.name), namespace: STATE_NAMESPACE })
    .then((cm) => cm.data ?? {})
    .catch(() => ({}));
}

/**
 * A commit with exactly the tree of `commit` (so it renders the same overlays) but another SHA, on the branch
 * `branch` of the GitOps remote (created or moved there; `main` is never touched). Gives an environment a second
 * known-good revision to be at, so that promoting `commit` to it has something to do.
 */
export async function sameTreeCommit(sandbox: SandboxRuntime, commit: string, branch: string): Promise<string> {
  const git = async (...args: string[]): Promise<string> =>
    (
      await execFileAsync('git', ['-C', sandbox.git.remote, ...args], {
        env: {
          ...process.env,
          GIT_AUTHOR_NAME: 'Kill Matrix',
          GIT_AUTHOR_EMAIL: 'kill-matrix@localhost',
          GIT_COMMITTER_NAME: 'Kill Matrix',
          GIT_COMMITTER_EMAIL: 'kill-matrix@localhost',
        },
      })
    ).stdout.trim();
  const copy = await git(
    'commit-tree',
    `${commit}^{tree}`,
    '-p',
    commit,
    '-m',
    `The tree of ${commit.slice(0, 7)} under another commit (kill matrix)`,
  );
  await git('update-ref', `refs/heads/${branch}`, copy);
  return copy;
}
