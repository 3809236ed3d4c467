/**
 * The identity the External Secrets Operator uses on one environment's cluster: an IAM user (static
 * mode) or an IAM role assumed by web identity (sts mode), named `logstack-<env>-secrets-reader`,
 * whose only policy allows `secretsmanager:GetSecretValue` and `secretsmanager:DescribeSecret` on
 * that environment's secrets — the Loki secret of the catalog and the GitOps repository secret the
 * bootstrap overlay reads — named by exact ARN (region, account, name and suffix; no wildcard for
 * account or region). The worker's own AWS key never leaves the worker; what reaches a cluster is
 * this reader's key (static) or the ARN of this reader's role (sts).
 *
 * The reader obeys the rules of the Loki principal (`iam.ts`, `common.ts`): owned for this environment
 * (tags `app=logstack` and `logstack.io/environment=<env>`), absent, or adopted through
 * `aws.adopt: [principal]`, which covers the reader too; anything else is `Conflict` before any write.
 * It is created with the catalog's `aws.permissionsBoundary` (converged on an existing reader), a role's
 * trust is the shared web-identity trust, and calls on a just-created reader are retried while IAM
 * propagates it. Any other policy found on an owned reader (inline, attached, or through a group) is
 * removed, so the read policy is its only right.
 */
import {
  CreateRoleCommand,
  CreateUserCommand,
  DeleteRolePolicyCommand,
  DeleteUserPolicyCommand,
  DetachRolePolicyCommand,
  DetachUserPolicyCommand,
  GetRolePolicyCommand,
  GetUserPolicyCommand,
  ListAttachedRolePoliciesCommand,
  ListAttachedUserPoliciesCommand,
  ListGroupsForUserCommand,
  ListRolePoliciesCommand,
  ListUserPoliciesCommand,
  PutRolePolicyCommand,
  PutUserPolicyCommand,
  RemoveUserFromGroupCommand,
  UpdateAssumeRolePolicyCommand,
} from '@aws-sdk/client-iam';
import { DescribeSecretCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import {
  FailureType,
  GITOPS_REPOSITORY_SECRET,
  pendingSecretArn,
  principalName,
  STORE_READER_AUDIENCE,
  STORE_READER_POLICY_NAME,
  STORE_READER_SUBJECT,
  storeReaderName,
  storeReaderPolicy,
  type Environment,
} from '../../domain/index.ts';
import { hasAwsCode, mapAwsError, nonRetryable } from '../errors.ts';
import { type AwsResourceRef, checkedPermissionsBoundary, isFresh, sendOptions } from './common.ts';
import {
  type AccessKeyMaterial,
  type IamScope,
  type PrincipalKind,
  boundaryCall,
  checkedOidcIssuer,
  claimPrincipal,
  convergeBoundary,
  creationFields,
  ensureSingleAccessKey,
  listAll,
  propagating,
  readOrUndefined,
  readPrincipal,
  samePolicy,
  webIdentityTrustPolicy,
} from './iam.ts';

/** The reader's names, documents and constants, defined with the AWS plan (`domain/aws-plan.ts`) so plan and apply agree. */
export {
  GITOPS_REPOSITORY_SECRET,
  STORE_READER_ACTIONS,
  STORE_READER_AUDIENCE,
  STORE_READER_POLICY_NAME,
  STORE_READER_SUBJECT,
  storeReaderName,
  storeReaderPolicy,
} from '../../domain/index.ts';

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
  return pendingSecretArn(scope.env, scope.accountId, name);
}

/**
 * The reader role's trust, built by the shared {@link webIdentityTrustPolicy}: the cluster's OIDC provider,
 * for exactly the store's service account (`:sub`) and audience (`:aud`).
 */
export function storeReaderTrustPolicy(env: Environment, accountId: string): Record<string, unknown> {
  return webIdentityTrustPolicy(env, accountId, { issuer: checkedOidcIssuer(env), subjects: [STORE_READER_SUBJECT], audience: STORE_READER_AUDIENCE });
}

/**
 * The reader as a resource logstack writes, for the owned-or-absent rule ({@link readPrincipal}). Its kind is
 * `principal`: `aws.adopt: [principal]` hands over every IAM principal logstack manages for the environment —
 * the Loki principal AND this reader — so an untagged reader of that name is adopted (tagged, its other
 * policies, groups and keys removed) only when the catalog says so, and is a `Conflict` otherwise.
 */
export function storeReaderRef(env: Environment): AwsResourceRef {
  return {
    kind: 'principal',
    label: env.aws.credentialMode === 'static' ? 'IAM user' : 'IAM role',
    name: storeReaderName(env),
    field: `the environment's name (its ESO reader is always named logstack-<environment>-secrets-reader)`,
  };
}

/** The exact ARNs the reader of `env` may read: its Loki secret and the GitOps repository secret. */
export async function readerSecretArns(scope: ReaderScope): Promise<string[]> {
  return [await secretArnOf(scope, scope.env.aws.secretName), await secretArnOf(scope, GITOPS_REPOSITORY_SECRET)];
}

// ── the reader, user or role ─────────────────────────────────────────────────────────────────

/** What ensuring a reader did; names and ARNs only. */
export interface ReaderResult {
  readonly principalArn: string;
  readonly created: boolean;
  /** True when the read policy (or, for a role, its trust) was written. */
  readonly policyWritten: boolean;
  /** True when the catalog's permissions boundary was put on an existing reader. */
  readonly boundaryWritten: boolean;
  /** Other policies and group memberships removed from the reader (names). */
  readonly removed: string[];
  /** The reader was created moments ago (by this call, or its `CreateDate` is recent): calls on it retry while IAM propagates. */
  readonly fresh: boolean;
}

const IAM_KIND = { user: 'User', role: 'Role' } as const;

/** Removes every right of the reader but the read policy: other inline policies, attached policies, groups (users). */
async function removeOtherRights(scope: IamScope, kind: PrincipalKind, name: string, fresh: boolean): Promise<string[]> {
  const o = sendOptions(scope.signal);
  const K = IAM_KIND[kind];
  const call = <T>(action: string, send: () => Promise<T>): Promise<T> => propagating(scope, `iam:${action} ${name}`, fresh, send);
  const removed: string[] = [];
  const inline = await listAll((m) =>
    call(`List${K}Policies of`, async () => {
      const p = kind === 'user' ? await scope.iam.send(new ListUserPoliciesCommand({ UserName: name, Marker: m }), o) : await scope.iam.send(new ListRolePoliciesCommand({ RoleName: name, Marker: m }), o);
      return { items: p.PolicyNames, next: p.IsTruncated ? p.Marker : undefined };
    }),
  );
  for (const policy of inline.filter((n) => n !== STORE_READER_POLICY_NAME)) {
    await call(`Delete${K}Policy ${policy} of`, () =>
      kind === 'user' ? scope.iam.send(new DeleteUserPolicyCommand({ UserName: name, PolicyName: policy }), o) : scope.iam.send(new DeleteRolePolicyCommand({ RoleName: name, PolicyName: policy }), o),
    );
    removed.push(`inline:${policy}`);
  }
  const attached = await listAll((m) =>
    call(`ListAttached${K}Policies of`, async () => {
      const p =
        kind === 'user' ? await scope.iam.send(new ListAttachedUserPoliciesCommand({ UserName: name, Marker: m }), o) : await scope.iam.send(new ListAttachedRolePoliciesCommand({ RoleName: name, Marker: m }), o);
      return { items: p.AttachedPolicies, next: p.IsTruncated ? p.Marker : undefined };
    }),
  );
  for (const { PolicyArn } of attached) {
    if (PolicyArn === undefined) continue;
    await call(`Detach${K}Policy ${PolicyArn} of`, () =>
      kind === 'user' ? scope.iam.send(new DetachUserPolicyCommand({ UserName: name, PolicyArn }), o) : scope.iam.send(new DetachRolePolicyCommand({ RoleName: name, PolicyArn }), o),
    );
    removed.push(`attached:${PolicyArn}`);
  }
  if (kind === 'role') return removed;
  const groups = await listAll((m) =>
    call('ListGroupsForUser', async () => {
      const p = await scope.iam.send(new ListGroupsForUserCommand({ UserName: name, Marker: m }), o);
      return { items: p.Groups, next: p.IsTruncated ? p.Marker : undefined };
    }),
  );
  for (const { GroupName } of groups) {
    if (GroupName === undefined) continue;
    await call(`RemoveUserFromGroup ${GroupName}:`, () => scope.iam.send(new RemoveUserFromGroupCommand({ UserName: name, GroupName }), o));
    removed.push(`group:${GroupName}`);
  }
  return removed;
}

/** Creates the reader with the shared creation fields (ownership tags, the catalog's boundary); returns its ARN. */
async function createReader(scope: ReaderScope, kind: PrincipalKind, name: string, trust: Record<string, unknown> | undefined): Promise<string | undefined> {
  const fields = creationFields(scope.env);
  const o = sendOptions(scope.signal);
  if (kind === 'user') {
    const created = await boundaryCall(scope, `iam:CreateUser ${name}`, false, () => scope.iam.send(new CreateUserCommand({ UserName: name, ...fields }), o));
    return created.User?.Arn;
  }
  const created = await boundaryCall(scope, `iam:CreateRole ${name}`, false, () =>
    scope.iam.send(
      new CreateRoleCommand({
        RoleName: name,
        AssumeRolePolicyDocument: JSON.stringify(trust),
        Description: `External Secrets reader of environment ${scope.env.name} (managed by logstack)`,
        ...fields,
      }),
      o,
    ),
  );
  return created.Role?.Arn;
}

/**
 * The reader user or role under the same rules as the Loki principal (`activities/aws/iam.ts`): owned for this
 * environment, absent, or adopted through `aws.adopt: [principal]` (tagged first), else `Conflict` before any
 * write; created with the ownership tags and the catalog's permissions boundary, which is converged on an
 * existing reader; a role's web-identity trust rewritten when it differs; then the read policy (written only
 * when its document differs) and the removal of every other right. Calls on a reader created moments ago are
 * retried while IAM propagates it.
 */
async function ensureReader(scope: ReaderScope, kind: PrincipalKind): Promise<ReaderResult> {
  assertReaderScope(scope.env);
  const name = storeReaderName(scope.env);
  const o = sendOptions(scope.signal);
  const trust = kind === 'role' ? storeReaderTrustPolicy(scope.env, scope.accountId) : undefined;
  checkedPermissionsBoundary(scope.env);
  const state = await readPrincipal(scope, kind, name, storeReaderRef(scope.env));
  const desired = storeReaderPolicy(await readerSecretArns(scope));
  let arn = state.arn;
  let fresh = isFresh(state.createDate);
  let policyWritten = false;
  let boundaryWritten = false;
  if (state.exists) {
    await claimPrincipal(scope, kind, name, state);
    boundaryWritten = await convergeBoundary(scope, kind, name, state, fresh);
    if (trust !== undefined && !samePolicy(state.trustPolicy, trust)) {
      await propagating(scope, `iam:UpdateAssumeRolePolicy on ${name}`, fresh, () => scope.iam.send(new UpdateAssumeRolePolicyCommand({ RoleName: name, PolicyDocument: JSON.stringify(trust) }), o));
      policyWritten = true;
    }
  } else {
    arn = await createReader(scope, kind, name, trust);
    fresh = true;
  }
  if (arn === undefined) throw new Error(`IAM returned no ARN for ${kind} ${name}`);
  const action = `iam:Get${IAM_KIND[kind]}Policy ${STORE_READER_POLICY_NAME} of ${name}`;
  const current = !state.exists
    ? undefined
    : await readOrUndefined<{ PolicyDocument?: string | undefined }>(action, () =>
        kind === 'user'
          ? scope.iam.send(new GetUserPolicyCommand({ UserName: name, PolicyName: STORE_READER_POLICY_NAME }), o)
          : scope.iam.send(new GetRolePolicyCommand({ RoleName: name, PolicyName: STORE_READER_POLICY_NAME }), o),
      );
  if (!samePolicy(current?.PolicyDocument, desired)) {
    const document = { PolicyName: STORE_READER_POLICY_NAME, PolicyDocument: JSON.stringify(desired) };
    await propagating(scope, `iam:Put${IAM_KIND[kind]}Policy ${STORE_READER_POLICY_NAME} on ${name}`, fresh, () =>
      kind === 'user' ? scope.iam.send(new PutUserPolicyCommand({ UserName: name, ...document }), o) : scope.iam.send(new PutRolePolicyCommand({ RoleName: name, ...document }), o),
    );
    policyWritten = true;
  }
  const removed = state.exists ? await removeOtherRights(scope, kind, name, fresh) : [];
  return { principalArn: arn, created: !state.exists, policyWritten, boundaryWritten, removed, fresh };
}

/**
 * Ensures the reader user of `scope.env` (static mode) with the read policy as its only right (see
 * {@link ensureReader}'s rules). `Conflict` (nothing written) when a user of that name is not logstack's for
 * this environment and not adopted.
 */
export async function ensureStoreReaderUser(scope: ReaderScope): Promise<ReaderResult> {
  return ensureReader(scope, 'user');
}

/**
 * Leaves the reader user with exactly one access key and returns it (in memory only): `stored` is kept
 * while it is an Active key of the reader, otherwise a new key replaces every key of the reader. A key
 * that is not the reader's (the worker's own, an older shared key) is never touched. `fresh` (the
 * reader was just created, {@link ReaderResult.fresh}) retries the key calls while IAM propagates it.
 */
export async function ensureStoreReaderKey(scope: IamScope, stored: Partial<AccessKeyMaterial> | undefined, fresh = false): Promise<{ key: AccessKeyMaterial; created: boolean }> {
  const { key, created } = await ensureSingleAccessKey(scope, storeReaderName(scope.env), stored, fresh);
  return { key, created };
}

/**
 * Ensures the reader role of `scope.env` (sts mode): trusted by web identity from the cluster's OIDC issuer
 * for exactly the store's service account (`:sub`) and audience (`:aud`), with the read policy as its only
 * right (see {@link ensureReader}'s rules). `Conflict` (nothing written) when a role of that name is not
 * logstack's for this environment and not adopted.
 */
export async function ensureStoreReaderRole(scope: ReaderScope): Promise<ReaderResult> {
  return ensureReader(scope, 'role');
}
