/**
 * The identity the External Secrets Operator uses on one environment's cluster: an IAM user (static
 * mode) or an IAM role assumed by web identity (sts mode), named `logstack-<env>-secrets-reader`,
 * whose only policy allows `secretsmanager:GetSecretValue` and `secretsmanager:DescribeSecret` on
 * that environment's secrets — the Loki secret of the catalog and the GitOps repository secret the
 * bootstrap overlay reads — named by exact ARN (region, account, name and suffix; no wildcard for
 * account or region). The worker's own AWS key never leaves the worker; what reaches a cluster is
 * this reader's key (static) or the ARN of this reader's role (sts).
 *
 * A principal of that name that logstack did not create for this environment (tags `app=logstack`
 * and `logstack.io/environment=<env>`) is never modified (`Conflict`, nothing written). Any other
 * policy found on an owned reader (inline, attached, or through a group) is removed, so the read
 * policy is its only right.
 */
import {
  CreateRoleCommand,
  CreateUserCommand,
  DeleteRolePolicyCommand,
  DeleteUserPolicyCommand,
  DetachRolePolicyCommand,
  DetachUserPolicyCommand,
  GetRoleCommand,
  GetRolePolicyCommand,
  GetUserCommand,
  GetUserPolicyCommand,
  ListAttachedRolePoliciesCommand,
  ListAttachedUserPoliciesCommand,
  ListGroupsForUserCommand,
  ListRolePoliciesCommand,
  ListRoleTagsCommand,
  ListUserPoliciesCommand,
  ListUserTagsCommand,
  PutRolePolicyCommand,
  PutUserPolicyCommand,
  RemoveUserFromGroupCommand,
  UpdateAssumeRolePolicyCommand,
  type Tag,
} from '@aws-sdk/client-iam';
import { DescribeSecretCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { FailureType, principalName, type Environment } from '../../domain/index.ts';
import { GITOPS_NAMES } from '../../domain/gitops.ts';
import { awsCall, hasAwsCode, mapAwsError, nonRetryable } from '../errors.ts';
import { ENVIRONMENT_TAG, MANAGED_TAG, canonicalJson, managedTags, parsePolicyDocument, partitionOf, sendOptions } from './common.ts';
import { type AccessKeyMaterial, type IamScope, checkedOidcIssuer, ensureSingleAccessKey } from './iam.ts';

/** The one inline policy of the reader. */
export const STORE_READER_POLICY_NAME = 'logstack-secrets-read';
/** The Secrets Manager secret the bootstrap overlay's ExternalSecret reads (Argo CD's repository key); shared by every environment. */
export const GITOPS_REPOSITORY_SECRET = 'logstack/gitops/repository';
/**
 * The audience of the service-account token ESO trades for the reader role: ESO v0.16 requests
 * `sts.amazonaws.com` unless the service account carries `eks.amazonaws.com/audience` (logstack sets none).
 */
export const STORE_READER_AUDIENCE = 'sts.amazonaws.com';
/** The only subject the reader role trusts: the store's service account. */
export const STORE_READER_SUBJECT = `system:serviceaccount:${GITOPS_NAMES.storeServiceAccount.namespace}:${GITOPS_NAMES.storeServiceAccount.name}`;
/** The actions the reader may perform, and nothing else. */
export const STORE_READER_ACTIONS = ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'] as const;

/** `logstack-<env>-secrets-reader`: the reader user (static) or role (sts) of an environment. */
export function storeReaderName(env: Environment): string {
  return `logstack-${env.name}-secrets-reader`;
}

/**
 * Checks, before any side effect, that the reader can be scoped to this environment: its name is a
 * valid IAM name distinct from the Loki principal's, and the Loki secret's name does not lie in
 * another environment's `logstack/<env>/` prefix, nor is it the shared GitOps repository secret.
 * @throws ApplicationFailure `InvalidInput` naming the field to fix.
 */
export function assertReaderScope(env: Environment): void {
  const name = storeReaderName(env);
  const secret = env.aws.secretName;
  const problems: string[] = [];
  if (!/^[\w+=,.@-]{1,64}$/.test(name)) problems.push(`the reader name "${name}" is not a valid IAM name (shorten the environment name)`);
  if (principalName(env) === name) problems.push(`aws.principalName "${name}" is the name of the ESO reader; choose another name for the Loki principal`);
  const prefix = /^logstack\/([^/]+)\//.exec(secret);
  if (prefix && prefix[1] !== env.name) {
    problems.push(`aws.secretName "${secret}" lies under "logstack/${prefix[1]}/", the prefix of environment "${prefix[1]}"; name a secret under "logstack/${env.name}/"`);
  }
  if (secret === GITOPS_REPOSITORY_SECRET) problems.push(`aws.secretName "${secret}" is the GitOps repository secret; name a secret under "logstack/${env.name}/"`);
  if (problems.length > 0) {
    throw nonRetryable(FailureType.InvalidInput, `the ESO reader of environment "${env.name}" cannot be scoped: ${problems.join('; ')}`, { environment: env.name });
  }
}

/** What the reader functions need beside IAM: Secrets Manager of the environment's region and the account id. */
export interface ReaderScope extends IamScope {
  readonly sm: SecretsManagerClient;
  readonly accountId: string;
}

/**
 * The ARN of secret `name`: the exact ARN when it exists, else the ARN it will have — the name followed
 * by `-??????` (exactly the six random characters Secrets Manager appends; a longer name does not match).
 */
export async function secretArnOf(scope: ReaderScope, name: string): Promise<string> {
  try {
    const found = await scope.sm.send(new DescribeSecretCommand({ SecretId: name }), sendOptions(scope.signal));
    if (found.ARN !== undefined) return found.ARN;
  } catch (error) {
    if (!hasAwsCode(error, 'ResourceNotFoundException')) throw mapAwsError(error, `secretsmanager:DescribeSecret ${name}`);
  }
  return `arn:${partitionOf(scope.env.aws.region)}:secretsmanager:${scope.env.aws.region}:${scope.accountId}:secret:${name}-??????`;
}

/** The read policy: the two read actions on exactly these secret ARNs (sorted, no wildcard account or region). */
export function storeReaderPolicy(secretArns: readonly string[]): Record<string, unknown> {
  return {
    Version: '2012-10-17',
    Statement: [{ Sid: 'ReadEnvironmentSecrets', Effect: 'Allow', Action: [...STORE_READER_ACTIONS], Resource: [...new Set(secretArns)].sort() }],
  };
}

/** The reader role's trust: the cluster's OIDC provider, for exactly the store's service account and audience. */
export function storeReaderTrustPolicy(env: Environment, accountId: string): Record<string, unknown> {
  const issuer = checkedOidcIssuer(env);
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Principal: { Federated: `arn:${partitionOf(env.aws.region)}:iam::${accountId}:oidc-provider/${issuer}` },
        Action: 'sts:AssumeRoleWithWebIdentity',
        Condition: { StringEquals: { [`${issuer}:sub`]: STORE_READER_SUBJECT, [`${issuer}:aud`]: STORE_READER_AUDIENCE } },
      },
    ],
  };
}

/** The exact ARNs the reader of `env` may read: its Loki secret and the GitOps repository secret. */
export async function readerSecretArns(scope: ReaderScope): Promise<string[]> {
  return [await secretArnOf(scope, scope.env.aws.secretName), await secretArnOf(scope, GITOPS_REPOSITORY_SECRET)];
}

// ── shared IAM plumbing ──────────────────────────────────────────────────────────────────────

async function readOrUndefined<T>(action: string, call: () => Promise<T>): Promise<T | undefined> {
  try {
    return await call();
  } catch (error) {
    if (hasAwsCode(error, 'NoSuchEntity', 'NoSuchEntityException')) return undefined;
    throw mapAwsError(error, action);
  }
}

async function listAll<T>(action: string, fetchPage: (marker: string | undefined) => Promise<{ items: T[] | undefined; next: string | undefined }>): Promise<T[]> {
  const all: T[] = [];
  let marker: string | undefined;
  do {
    const page = await awsCall(action, () => fetchPage(marker));
    all.push(...(page.items ?? []));
    marker = page.next;
  } while (marker !== undefined);
  return all;
}

function ownedByEnvironment(tags: readonly Tag[], env: Environment): boolean {
  const has = (key: string, value: string): boolean => tags.some((t) => t.Key === key && t.Value === value);
  return has(MANAGED_TAG.key, MANAGED_TAG.value) && has(ENVIRONMENT_TAG, env.name);
}

function notOwned(kind: 'user' | 'role', name: string, env: Environment): Error {
  return nonRetryable(
    FailureType.Conflict,
    `IAM ${kind} "${name}" exists but was not created by logstack for environment "${env.name}" (tags app=logstack and ${ENVIRONMENT_TAG}=${env.name}), ` +
      `so logstack will not change it${kind === 'user' ? ' or its access keys' : ''}. Delete it, or tag it app=logstack and ${ENVIRONMENT_TAG}=${env.name} to hand it over deliberately`,
    { environment: env.name, [kind]: name },
  );
}

function samePolicy(current: string | undefined, desired: Record<string, unknown>): boolean {
  const parsed = parsePolicyDocument(current);
  return parsed !== undefined && canonicalJson(parsed) === canonicalJson(desired);
}

/** What ensuring a reader did; names and ARNs only. */
export interface ReaderResult {
  readonly principalArn: string;
  readonly created: boolean;
  /** True when the read policy (or, for a role, its trust) was written. */
  readonly policyWritten: boolean;
  /** Other policies and group memberships removed from the reader (names). */
  readonly removed: string[];
}

// ── static: the reader user ──────────────────────────────────────────────────────────────────

async function removeOtherUserRights(scope: IamScope, user: string): Promise<string[]> {
  const o = sendOptions(scope.signal);
  const removed: string[] = [];
  const inline = await listAll(`iam:ListUserPolicies of ${user}`, async (m) => {
    const p = await scope.iam.send(new ListUserPoliciesCommand({ UserName: user, Marker: m }), o);
    return { items: p.PolicyNames, next: p.IsTruncated ? p.Marker : undefined };
  });
  for (const name of inline.filter((n) => n !== STORE_READER_POLICY_NAME)) {
    await awsCall(`iam:DeleteUserPolicy ${name} of ${user}`, () => scope.iam.send(new DeleteUserPolicyCommand({ UserName: user, PolicyName: name }), o));
    removed.push(`inline:${name}`);
  }
  const attached = await listAll(`iam:ListAttachedUserPolicies of ${user}`, async (m) => {
    const p = await scope.iam.send(new ListAttachedUserPoliciesCommand({ UserName: user, Marker: m }), o);
    return { items: p.AttachedPolicies, next: p.IsTruncated ? p.Marker : undefined };
  });
  for (const policy of attached) {
    if (policy.PolicyArn === undefined) continue;
    await awsCall(`iam:DetachUserPolicy ${policy.PolicyArn} of ${user}`, () => scope.iam.send(new DetachUserPolicyCommand({ UserName: user, PolicyArn: policy.PolicyArn }), o));
    removed.push(`attached:${policy.PolicyArn}`);
  }
  const groups = await listAll(`iam:ListGroupsForUser ${user}`, async (m) => {
    const p = await scope.iam.send(new ListGroupsForUserCommand({ UserName: user, Marker: m }), o);
    return { items: p.Groups, next: p.IsTruncated ? p.Marker : undefined };
  });
  for (const group of groups) {
    if (group.GroupName === undefined) continue;
    await awsCall(`iam:RemoveUserFromGroup ${user} ${group.GroupName}`, () => scope.iam.send(new RemoveUserFromGroupCommand({ UserName: user, GroupName: group.GroupName }), o));
    removed.push(`group:${group.GroupName}`);
  }
  return removed;
}

/**
 * Ensures the reader user of `scope.env` with the read policy as its only right. Creates it when absent
 * (tagged); rewrites the policy only when its document differs. `Conflict` (nothing written) when a user
 * of that name is not logstack's for this environment.
 */
export async function ensureStoreReaderUser(scope: ReaderScope): Promise<ReaderResult> {
  assertReaderScope(scope.env);
  const user = storeReaderName(scope.env);
  const o = sendOptions(scope.signal);
  const existing = await readOrUndefined(`iam:GetUser ${user}`, () => scope.iam.send(new GetUserCommand({ UserName: user }), o));
  if (existing !== undefined) {
    const tags = await listAll(`iam:ListUserTags on ${user}`, async (m) => {
      const p = await scope.iam.send(new ListUserTagsCommand({ UserName: user, Marker: m }), o);
      return { items: p.Tags, next: p.IsTruncated ? p.Marker : undefined };
    });
    if (!ownedByEnvironment(tags, scope.env)) throw notOwned('user', user, scope.env);
  }
  const desired = storeReaderPolicy(await readerSecretArns(scope));
  let arn = existing?.User?.Arn;
  if (existing === undefined) {
    const created = await awsCall(`iam:CreateUser ${user}`, () => scope.iam.send(new CreateUserCommand({ UserName: user, Tags: managedTags(scope.env) }), o));
    arn = created.User?.Arn;
  }
  if (arn === undefined) throw new Error(`IAM returned no ARN for user ${user}`);
  const current = await readOrUndefined(`iam:GetUserPolicy ${STORE_READER_POLICY_NAME} of ${user}`, () =>
    scope.iam.send(new GetUserPolicyCommand({ UserName: user, PolicyName: STORE_READER_POLICY_NAME }), o),
  );
  const policyWritten = !samePolicy(current?.PolicyDocument, desired);
  if (policyWritten) {
    await awsCall(`iam:PutUserPolicy ${STORE_READER_POLICY_NAME} on ${user}`, () =>
      scope.iam.send(new PutUserPolicyCommand({ UserName: user, PolicyName: STORE_READER_POLICY_NAME, PolicyDocument: JSON.stringify(desired) }), o),
    );
  }
  const removed = existing === undefined ? [] : await removeOtherUserRights(scope, user);
  return { principalArn: arn, created: existing === undefined, policyWritten, removed };
}

/**
 * Leaves the reader user with exactly one access key and returns it (in memory only): `stored` is kept
 * while it is an Active key of the reader, otherwise a new key replaces every key of the reader. A key
 * that is not the reader's (the worker's own, an older shared key) is never touched.
 */
export async function ensureStoreReaderKey(scope: IamScope, stored: Partial<AccessKeyMaterial> | undefined): Promise<{ key: AccessKeyMaterial; created: boolean }> {
  const { key, created } = await ensureSingleAccessKey(scope, storeReaderName(scope.env), stored);
  return { key, created };
}

// ── sts: the reader role ─────────────────────────────────────────────────────────────────────

async function removeOtherRoleRights(scope: IamScope, role: string): Promise<string[]> {
  const o = sendOptions(scope.signal);
  const removed: string[] = [];
  const inline = await listAll(`iam:ListRolePolicies of ${role}`, async (m) => {
    const p = await scope.iam.send(new ListRolePoliciesCommand({ RoleName: role, Marker: m }), o);
    return { items: p.PolicyNames, next: p.IsTruncated ? p.Marker : undefined };
  });
  for (const name of inline.filter((n) => n !== STORE_READER_POLICY_NAME)) {
    await awsCall(`iam:DeleteRolePolicy ${name} of ${role}`, () => scope.iam.send(new DeleteRolePolicyCommand({ RoleName: role, PolicyName: name }), o));
    removed.push(`inline:${name}`);
  }
  const attached = await listAll(`iam:ListAttachedRolePolicies of ${role}`, async (m) => {
    const p = await scope.iam.send(new ListAttachedRolePoliciesCommand({ RoleName: role, Marker: m }), o);
    return { items: p.AttachedPolicies, next: p.IsTruncated ? p.Marker : undefined };
  });
  for (const policy of attached) {
    if (policy.PolicyArn === undefined) continue;
    await awsCall(`iam:DetachRolePolicy ${policy.PolicyArn} of ${role}`, () => scope.iam.send(new DetachRolePolicyCommand({ RoleName: role, PolicyArn: policy.PolicyArn }), o));
    removed.push(`attached:${policy.PolicyArn}`);
  }
  return removed;
}

/**
 * Ensures the reader role of `scope.env`: trusted by web identity from the cluster's OIDC issuer for
 * exactly the store's service account (`:sub`) and audience (`:aud`), with the read policy as its only
 * right. Creates it when absent (tagged); rewrites the trust or the policy only when it differs.
 * `Conflict` (nothing written) when a role of that name is not logstack's for this environment.
 */
export async function ensureStoreReaderRole(scope: ReaderScope): Promise<ReaderResult> {
  assertReaderScope(scope.env);
  const role = storeReaderName(scope.env);
  const o = sendOptions(scope.signal);
  const trust = storeReaderTrustPolicy(scope.env, scope.accountId);
  const existing = await readOrUndefined(`iam:GetRole ${role}`, () => scope.iam.send(new GetRoleCommand({ RoleName: role }), o));
  if (existing !== undefined) {
    const tags = await listAll(`iam:ListRoleTags on ${role}`, async (m) => {
      const p = await scope.iam.send(new ListRoleTagsCommand({ RoleName: role, Marker: m }), o);
      return { items: p.Tags, next: p.IsTruncated ? p.Marker : undefined };
    });
    if (!ownedByEnvironment(tags, scope.env)) throw notOwned('role', role, scope.env);
  }
  const desired = storeReaderPolicy(await readerSecretArns(scope));
  let arn = existing?.Role?.Arn;
  let policyWritten = false;
  if (existing === undefined) {
    const created = await awsCall(`iam:CreateRole ${role}`, () =>
      scope.iam.send(
        new CreateRoleCommand({
          RoleName: role,
          AssumeRolePolicyDocument: JSON.stringify(trust),
          Description: `External Secrets reader of environment ${scope.env.name} (managed by logstack)`,
          Tags: managedTags(scope.env),
        }),
        o,
      ),
    );
    arn = created.Role?.Arn;
  } else if (!samePolicy(existing.Role?.AssumeRolePolicyDocument, trust)) {
    await awsCall(`iam:UpdateAssumeRolePolicy on ${role}`, () => scope.iam.send(new UpdateAssumeRolePolicyCommand({ RoleName: role, PolicyDocument: JSON.stringify(trust) }), o));
    policyWritten = true;
  }
  if (arn === undefined) throw new Error(`IAM returned no ARN for role ${role}`);
  const current = await readOrUndefined(`iam:GetRolePolicy ${STORE_READER_POLICY_NAME} of ${role}`, () =>
    scope.iam.send(new GetRolePolicyCommand({ RoleName: role, PolicyName: STORE_READER_POLICY_NAME }), o),
  );
  if (!samePolicy(current?.PolicyDocument, desired)) {
    await awsCall(`iam:PutRolePolicy ${STORE_READER_POLICY_NAME} on ${role}`, () =>
      scope.iam.send(new PutRolePolicyCommand({ RoleName: role, PolicyName: STORE_READER_POLICY_NAME, PolicyDocument: JSON.stringify(desired) }), o),
    );
    policyWritten = true;
  }
  const removed = existing === undefined ? [] : await removeOtherRoleRights(scope, role);
  return { principalArn: arn, created: existing === undefined, policyWritten, removed };
}
