/**
 * The IAM principal Loki uses to reach its bucket: a user with an inline policy scoped to the bucket
 * (static mode), or a role trusting the cluster's OIDC issuer for the Loki service accounts (sts
 * mode). Policies are compared as documents and written only when they differ. A principal of that
 * name that logstack did not create (no `app=logstack` tag) is never modified.
 */
import {
  CreateAccessKeyCommand,
  CreateRoleCommand,
  CreateUserCommand,
  DeleteAccessKeyCommand,
  GetRoleCommand,
  GetRolePolicyCommand,
  GetUserCommand,
  GetUserPolicyCommand,
  ListAccessKeysCommand,
  ListRoleTagsCommand,
  ListUserTagsCommand,
  PutRolePermissionsBoundaryCommand,
  PutRolePolicyCommand,
  PutUserPermissionsBoundaryCommand,
  PutUserPolicyCommand,
  TagRoleCommand,
  TagUserCommand,
  UpdateAssumeRolePolicyCommand,
  type AccessKeyMetadata,
  type IAMClient,
  type Tag,
} from '@aws-sdk/client-iam';
import {
  FailureType,
  LOKI_BUCKET_POLICY_NAME,
  LOKI_WEB_IDENTITY_AUDIENCE,
  lokiBucketPolicy,
  lokiServiceAccounts,
  principalName,
  webIdentityTrustPolicy,
  type Environment,
} from '../../domain/index.ts';
import { awsCall, hasAwsCode, mapAwsError, nonRetryable } from '../errors.ts';
import {
  canonicalJson,
  checkedPermissionsBoundary,
  decideOwnership,
  isFresh,
  managedTags,
  parsePolicyDocument,
  retryWhilePropagating,
  sendOptions,
  type AwsResourceRef,
  type OwnershipDecision,
} from './common.ts';

/** Name of the inline policy logstack puts on the Loki user or role (`LOKI_BUCKET_POLICY_NAME` of `domain/aws-plan.ts`). */
export const BUCKET_POLICY_NAME = LOKI_BUCKET_POLICY_NAME;

/** What every IAM call needs. */
export interface IamScope {
  readonly iam: IAMClient;
  readonly env: Environment;
  readonly signal: AbortSignal | undefined;
  /** How long calls on a just-created principal are retried while IAM propagates it (ms); default 30 s. */
  readonly propagationWindowMs?: number | undefined;
}

/** User (static mode) or role (sts mode). */
export type PrincipalKind = 'user' | 'role';

/** The desired documents, defined with the AWS plan (`domain/aws-plan.ts`) so plan and apply agree. */
export { LOKI_WEB_IDENTITY_AUDIENCE, lokiBucketPolicy, lokiServiceAccounts, webIdentityTrustPolicy } from '../../domain/index.ts';

const IAM_NAME = /^[\w+=,.@-]{1,64}$/;

/** The principal name, checked before any side effect (`InvalidInput` naming the field). */
export function checkedPrincipalName(env: Environment): string {
  const name = principalName(env);
  if (!IAM_NAME.test(name)) {
    throw nonRetryable(
      FailureType.InvalidInput,
      `IAM principal name "${name}" of environment "${env.name}" is invalid; set aws.principalName to 1–64 letters, digits or +=,.@_-`,
      { environment: env.name },
    );
  }
  return name;
}

/** The OIDC issuer (host/path) trusted by the sts role, checked before any side effect. */
export function checkedOidcIssuer(env: Environment): string {
  const issuer = env.cluster.oidcIssuer;
  const fix = `set cluster.oidcIssuer of environment "${env.name}`;
  if (issuer === undefined || issuer === '') {
    throw nonRetryable(FailureType.InvalidInput, `credentialMode "sts" needs the cluster's OIDC issuer; ${fix}" (host/path, no https://)`, { environment: env.name });
  }
  if (/^[a-z]+:\/\//i.test(issuer) || issuer.endsWith('/') || /\s/.test(issuer)) {
    throw nonRetryable(FailureType.InvalidInput, `cluster.oidcIssuer "${issuer}" must be host/path without scheme or trailing slash; ${fix}" accordingly`, {
      environment: env.name,
    });
  }
  return issuer;
}

/**
 * The sts role's trust policy: web-identity federation from the cluster's OIDC provider, Loki's service
 * accounts only (`:sub`), with the audience the Loki Operator projects for AWS (`:aud` = sts.amazonaws.com).
 */
export function lokiTrustPolicy(env: Environment, accountId: string): Record<string, unknown> {
  return webIdentityTrustPolicy(env, accountId, { issuer: checkedOidcIssuer(env), subjects: lokiServiceAccounts(env), audience: LOKI_WEB_IDENTITY_AUDIENCE });
}

/** Whether an IAM policy document (as IAM returns it) equals `desired`, compared as canonical JSON. */
export function samePolicy(current: string | undefined, desired: Record<string, unknown>): boolean {
  const parsed = parsePolicyDocument(current);
  return parsed !== undefined && canonicalJson(parsed) === canonicalJson(desired);
}

/** The Loki principal as a resource logstack would write, for ownership messages. */
export function lokiPrincipalRef(env: Environment): AwsResourceRef {
  return { kind: 'principal', label: env.aws.credentialMode === 'static' ? 'IAM user' : 'IAM role', name: principalName(env), field: 'aws.principalName' };
}

/** Runs an IAM read; `undefined` when the entity does not exist (NoSuchEntity), other errors mapped. */
export async function readOrUndefined<T>(action: string, call: () => Promise<T>): Promise<T | undefined> {
  try {
    return await call();
  } catch (error) {
    if (hasAwsCode(error, 'NoSuchEntity', 'NoSuchEntityException')) return undefined;
    throw mapAwsError(error, action);
  }
}

/** Every item of a paged IAM listing (`Marker`/`IsTruncated`); `fetchPage` maps its own errors. */
export async function listAll<T>(fetchPage: (marker: string | undefined) => Promise<{ items: T[] | undefined; next: string | undefined }>): Promise<T[]> {
  const all: T[] = [];
  let marker: string | undefined;
  do {
    const page = await fetchPage(marker);
    all.push(...(page.items ?? []));
    marker = page.next;
  } while (marker !== undefined);
  return all;
}

// ── static: IAM user ─────────────────────────────────────────────────────────────────────────

async function userTags(scope: IamScope, user: string): Promise<Tag[]> {
  return listAll((marker) =>
    awsCall(`iam:ListUserTags on ${user}`, async () => {
      const page = await scope.iam.send(new ListUserTagsCommand({ UserName: user, Marker: marker }), sendOptions(scope.signal));
      return { items: page.Tags, next: page.IsTruncated ? page.Marker : undefined };
    }),
  );
}

/** What {@link readPrincipal} found: absent, or present with what the convergence compares. */
export interface PrincipalState {
  readonly exists: boolean;
  readonly arn?: string | undefined;
  readonly createDate?: Date | undefined;
  readonly boundaryArn?: string | undefined;
  /** The role's trust policy as IAM returned it (roles only). */
  readonly trustPolicy?: string | undefined;
  /** `owned`, or `adopt` (untagged, and the catalog adopts it): the caller tags it before other writes. */
  readonly decision?: OwnershipDecision | undefined;
}

/**
 * Reads a user or role and applies the owned-or-absent rule to it (read-only): `Conflict` when it
 * exists without this environment's ownership tags and `ref.kind` is not adopted, or carries another
 * environment's tag. Reusable for any principal logstack manages (pass its own `ref`).
 */
export async function readPrincipal(scope: IamScope, kind: PrincipalKind, name: string, ref: AwsResourceRef): Promise<PrincipalState> {
  if (kind === 'user') {
    const found = await readOrUndefined(`iam:GetUser ${name}`, () => scope.iam.send(new GetUserCommand({ UserName: name }), sendOptions(scope.signal)));
    if (found?.User === undefined) return { exists: false };
    const decision = decideOwnership(ref, await userTags(scope, name), scope.env);
    return { exists: true, arn: found.User.Arn, createDate: found.User.CreateDate, boundaryArn: found.User.PermissionsBoundary?.PermissionsBoundaryArn, decision };
  }
  const found = await readOrUndefined(`iam:GetRole ${name}`, () => scope.iam.send(new GetRoleCommand({ RoleName: name }), sendOptions(scope.signal)));
  if (found?.Role === undefined) return { exists: false };
  const decision = decideOwnership(ref, await roleTags(scope, name), scope.env);
  return {
    exists: true,
    arn: found.Role.Arn,
    createDate: found.Role.CreateDate,
    boundaryArn: found.Role.PermissionsBoundary?.PermissionsBoundaryArn,
    trustPolicy: found.Role.AssumeRolePolicyDocument,
    decision,
  };
}

/** Tags an adopted principal for this environment (a no-op for one already owned). */
export async function claimPrincipal(scope: IamScope, kind: PrincipalKind, name: string, state: PrincipalState): Promise<void> {
  if (state.decision !== 'adopt') return;
  const Tags = managedTags(scope.env);
  await awsCall(`iam:Tag${kind === 'user' ? 'User' : 'Role'} ${name}`, () =>
    kind === 'user'
      ? scope.iam.send(new TagUserCommand({ UserName: name, Tags }), sendOptions(scope.signal))
      : scope.iam.send(new TagRoleCommand({ RoleName: name, Tags }), sendOptions(scope.signal)),
  );
}

/** The `CreateUser`/`CreateRole` fields every principal logstack creates carries: ownership tags and the catalog's boundary. */
export function creationFields(env: Environment): { Tags: Tag[]; PermissionsBoundary?: string } {
  const boundary = checkedPermissionsBoundary(env);
  return boundary === undefined ? { Tags: managedTags(env) } : { Tags: managedTags(env), PermissionsBoundary: boundary };
}

/**
 * Puts the catalog's permissions boundary on an existing principal when its current boundary differs.
 * With no boundary in the catalog an existing boundary is left in place (logstack never widens a
 * principal's limits on its own). Returns whether it wrote. A boundary policy that does not exist is
 * `InvalidInput` naming `aws.permissionsBoundary`.
 */
export async function convergeBoundary(scope: IamScope, kind: PrincipalKind, name: string, state: PrincipalState, fresh: boolean): Promise<boolean> {
  const desired = checkedPermissionsBoundary(scope.env);
  if (desired === undefined || state.boundaryArn === desired) return false;
  await boundaryCall(scope, `iam:Put${kind === 'user' ? 'User' : 'Role'}PermissionsBoundary on ${name}`, fresh, () =>
    kind === 'user'
      ? scope.iam.send(new PutUserPermissionsBoundaryCommand({ UserName: name, PermissionsBoundary: desired }), sendOptions(scope.signal))
      : scope.iam.send(new PutRolePermissionsBoundaryCommand({ RoleName: name, PermissionsBoundary: desired }), sendOptions(scope.signal)),
  );
  return true;
}

/**
 * A create or put that names the catalog's permissions boundary: retried while IAM propagates when
 * `fresh`; a missing boundary policy is the catalog's fault (`InvalidInput` naming `aws.permissionsBoundary`).
 */
export async function boundaryCall<T>(scope: IamScope, action: string, fresh: boolean, call: () => Promise<T>): Promise<T> {
  const boundary = scope.env.aws.permissionsBoundary;
  try {
    return await (fresh ? retryWhilePropagating(action, call, { fresh, windowMs: scope.propagationWindowMs, signal: scope.signal }) : call());
  } catch (error) {
    if (boundary !== undefined && hasAwsCode(error, 'NoSuchEntity', 'NoSuchEntityException') && !fresh) {
      throw nonRetryable(
        FailureType.InvalidInput,
        `${action} was refused: the permissions boundary policy ${boundary} does not exist; create it, or fix aws.permissionsBoundary of environment "${scope.env.name}"`,
        { environment: scope.env.name, action },
      );
    }
    throw mapAwsError(error, action);
  }
}

/**
 * Ensures the Loki IAM user with the bucket-scoped inline policy. Creates the user when absent (tagged,
 * with the catalog's permissions boundary), puts the boundary and rewrites the policy only when they
 * differ. `Conflict` (nothing written) when a user of that name exists without this environment's
 * ownership tags and `aws.adopt` does not list `principal`. Calls right after the creation are retried
 * while IAM propagates the user.
 */
export async function ensureLokiUser(scope: IamScope): Promise<{ principalArn: string; created: boolean }> {
  const user = checkedPrincipalName(scope.env);
  const fields = creationFields(scope.env);
  const state = await readPrincipal(scope, 'user', user, lokiPrincipalRef(scope.env));
  let arn = state.arn;
  let fresh = isFresh(state.createDate);
  if (state.exists) {
    await claimPrincipal(scope, 'user', user, state);
    await convergeBoundary(scope, 'user', user, state, fresh);
  } else {
    const created = await boundaryCall(scope, `iam:CreateUser ${user}`, false, () =>
      scope.iam.send(new CreateUserCommand({ UserName: user, ...fields }), sendOptions(scope.signal)),
    );
    arn = created.User?.Arn;
    fresh = true;
  }
  if (arn === undefined) throw new Error(`IAM returned no ARN for user ${user}`);
  await ensureUserPolicy(scope, user, { justCreated: !state.exists, fresh });
  return { principalArn: arn, created: !state.exists };
}

async function ensureUserPolicy(scope: IamScope, user: string, when: { justCreated: boolean; fresh: boolean }): Promise<boolean> {
  const desired = lokiBucketPolicy(scope.env);
  const current = when.justCreated
    ? undefined
    : await readOrUndefined(`iam:GetUserPolicy ${BUCKET_POLICY_NAME} of ${user}`, () =>
        scope.iam.send(new GetUserPolicyCommand({ UserName: user, PolicyName: BUCKET_POLICY_NAME }), sendOptions(scope.signal)),
      );
  if (samePolicy(current?.PolicyDocument, desired)) return false;
  await propagating(scope, `iam:PutUserPolicy ${BUCKET_POLICY_NAME} on ${user}`, when.fresh, () =>
    scope.iam.send(
      new PutUserPolicyCommand({ UserName: user, PolicyName: BUCKET_POLICY_NAME, PolicyDocument: JSON.stringify(desired) }),
      sendOptions(scope.signal),
    ),
  );
  return true;
}

/** {@link retryWhilePropagating} with the scope's window and signal. */
export function propagating<T>(scope: IamScope, action: string, fresh: boolean, call: () => Promise<T>): Promise<T> {
  return retryWhilePropagating(action, call, { fresh, windowMs: scope.propagationWindowMs, signal: scope.signal });
}

/** Every access key of `user`, with its status. */
export async function listAccessKeys(scope: IamScope, user: string): Promise<AccessKeyMetadata[]> {
  return awsCall(`iam:ListAccessKeys of ${user}`, () => listAccessKeysUnmapped(scope, user));
}

/** Every access key of `user`, AWS errors as the SDK threw them (for {@link propagating}). */
function listAccessKeysUnmapped(scope: IamScope, user: string): Promise<AccessKeyMetadata[]> {
  return listAll(async (marker) => {
    const page = await scope.iam.send(new ListAccessKeysCommand({ UserName: user, Marker: marker }), sendOptions(scope.signal));
    return { items: page.AccessKeyMetadata, next: page.IsTruncated ? page.Marker : undefined };
  });
}

/** An access key in memory only: never returned from an activity, logged or put in an error. */
export interface AccessKeyMaterial {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

/**
 * Leaves `user` with exactly one access key and returns it. The stored key is kept when it is still
 * an Active key of that user (and its secret is known); every other key of the user is deleted
 * first — including one created by an earlier attempt that crashed before storing it — and then a
 * new key is created only if none was kept; keys left by a create whose answer was lost (and that the SDK
 * repeated) are deleted after it — searched for only when the create took more than one request. So any number of
 * retries ends with one key.
 */
export async function ensureSingleAccessKey(
  scope: IamScope,
  user: string,
  stored: Partial<AccessKeyMaterial> | undefined,
  fresh = false,
): Promise<{ key: AccessKeyMaterial; created: boolean; deleted: string[] }> {
  const keys = await propagating(scope, `iam:ListAccessKeys of ${user}`, fresh, () => listAccessKeysUnmapped(scope, user));
  const storedId = stored?.accessKeyId;
  const storedSecret = stored?.secretAccessKey;
  const keep = keys.find((k) => k.AccessKeyId === storedId && k.Status === 'Active') !== undefined && storedSecret ? storedId : undefined;
  const deleted: string[] = [];
  for (const key of keys) {
    if (key.AccessKeyId === undefined || key.AccessKeyId === keep) continue;
    await deleteAccessKey(scope, user, key.AccessKeyId);
    deleted.push(key.AccessKeyId);
  }
  if (keep !== undefined && storedSecret) return { key: { accessKeyId: keep, secretAccessKey: storedSecret }, created: false, deleted };
  let calls = 0;
  const made = await propagating(scope, `iam:CreateAccessKey for ${user}`, fresh, () => {
    calls++;
    return scope.iam.send(new CreateAccessKeyCommand({ UserName: user }), sendOptions(scope.signal));
  });
  const id = made.AccessKey?.AccessKeyId;
  const secret = made.AccessKey?.SecretAccessKey;
  if (!id || !secret) throw new Error(`IAM returned no access key for ${user}`);
  // CreateAccessKey has no idempotency token and the SDK repeats a call whose answer was lost: each lost
  // answer leaves a key whose secret nobody has. Every other key was deleted above, so any key but this one is such an orphan.
  // A create answered at its first request (one call, one attempt) cannot have left one; any repeat is followed by a search.
  if (calls === 1 && made.$metadata.attempts === 1) return { key: { accessKeyId: id, secretAccessKey: secret }, created: true, deleted };
  for (const key of await listAccessKeys(scope, user)) {
    if (key.AccessKeyId === undefined || key.AccessKeyId === id) continue;
    await deleteAccessKey(scope, user, key.AccessKeyId);
    deleted.push(key.AccessKeyId);
  }
  return { key: { accessKeyId: id, secretAccessKey: secret }, created: true, deleted };
}

async function deleteAccessKey(scope: IamScope, user: string, accessKeyId: string): Promise<void> {
  try {
    await scope.iam.send(new DeleteAccessKeyCommand({ UserName: user, AccessKeyId: accessKeyId }), sendOptions(scope.signal));
  } catch (error) {
    if (hasAwsCode(error, 'NoSuchEntity')) return;
    throw mapAwsError(error, `iam:DeleteAccessKey ${accessKeyId} of ${user}`);
  }
}

// ── sts: IAM role ────────────────────────────────────────────────────────────────────────────

async function roleTags(scope: IamScope, role: string): Promise<Tag[]> {
  return listAll((marker) =>
    awsCall(`iam:ListRoleTags on ${role}`, async () => {
      const page = await scope.iam.send(new ListRoleTagsCommand({ RoleName: role, Marker: marker }), sendOptions(scope.signal));
      return { items: page.Tags, next: page.IsTruncated ? page.Marker : undefined };
    }),
  );
}

/**
 * Ensures the Loki IAM role: trust policy for `sts:AssumeRoleWithWebIdentity` from the cluster's
 * OIDC provider limited to the LokiStack's service accounts and audience, the catalog's permissions
 * boundary, and the bucket-scoped inline policy. Creates the role when absent (tagged); rewrites each
 * only when it differs. `Conflict` (nothing written) when a role of that name exists without this
 * environment's ownership tags and `aws.adopt` does not list `principal`.
 */
export async function ensureLokiRole(scope: IamScope, accountId: string): Promise<{ principalArn: string; created: boolean }> {
  const role = checkedPrincipalName(scope.env);
  const trust = lokiTrustPolicy(scope.env, accountId);
  const fields = creationFields(scope.env);
  const state = await readPrincipal(scope, 'role', role, lokiPrincipalRef(scope.env));
  let arn = state.arn;
  let fresh = isFresh(state.createDate);
  if (state.exists) {
    await claimPrincipal(scope, 'role', role, state);
    await convergeBoundary(scope, 'role', role, state, fresh);
    if (!samePolicy(state.trustPolicy, trust)) {
      await propagating(scope, `iam:UpdateAssumeRolePolicy on ${role}`, fresh, () =>
        scope.iam.send(new UpdateAssumeRolePolicyCommand({ RoleName: role, PolicyDocument: JSON.stringify(trust) }), sendOptions(scope.signal)),
      );
    }
  } else {
    const created = await boundaryCall(scope, `iam:CreateRole ${role}`, false, () =>
      scope.iam.send(
        new CreateRoleCommand({
          RoleName: role,
          AssumeRolePolicyDocument: JSON.stringify(trust),
          Description: `Loki object storage access for environment ${scope.env.name} (managed by logstack)`,
          ...fields,
        }),
        sendOptions(scope.signal),
      ),
    );
    arn = created.Role?.Arn;
    fresh = true;
  }
  if (arn === undefined) throw new Error(`IAM returned no ARN for role ${role}`);
  await ensureRolePolicy(scope, role, { justCreated: !state.exists, fresh });
  return { principalArn: arn, created: !state.exists };
}

async function ensureRolePolicy(scope: IamScope, role: string, when: { justCreated: boolean; fresh: boolean }): Promise<boolean> {
  const desired = lokiBucketPolicy(scope.env);
  const current = when.justCreated
    ? undefined
    : await readOrUndefined(`iam:GetRolePolicy ${BUCKET_POLICY_NAME} of ${role}`, () =>
        scope.iam.send(new GetRolePolicyCommand({ RoleName: role, PolicyName: BUCKET_POLICY_NAME }), sendOptions(scope.signal)),
      );
  if (samePolicy(current?.PolicyDocument, desired)) return false;
  await propagating(scope, `iam:PutRolePolicy ${BUCKET_POLICY_NAME} on ${role}`, when.fresh, () =>
    scope.iam.send(
      new PutRolePolicyCommand({ RoleName: role, PolicyName: BUCKET_POLICY_NAME, PolicyDocument: JSON.stringify(desired) }),
      sendOptions(scope.signal),
    ),
  );
  return true;
}

/** The ARN of the Loki role, or undefined when it does not exist. Read-only. */
export async function lokiRoleArn(scope: IamScope): Promise<string | undefined> {
  const role = checkedPrincipalName(scope.env);
  const found = await readOrUndefined(`iam:GetRole ${role}`, () => scope.iam.send(new GetRoleCommand({ RoleName: role }), sendOptions(scope.signal)));
  return found?.Role?.Arn;
}

/** Whether `principalArn` names the environment's Loki user (static) or role (sts); `InvalidInput` otherwise. */
export function assertPrincipalArn(env: Environment, principalArn: string): void {
  const kind = env.aws.credentialMode === 'static' ? 'user' : 'role';
  const name = principalName(env);
  const match = /^arn:aws[a-z-]*:iam::\d{12}:(user|role)\/(?:[\w+=,.@/-]*\/)?([\w+=,.@-]+)$/.exec(principalArn);
  if (match?.[1] !== kind || match[2] !== name) {
    throw nonRetryable(
      FailureType.InvalidInput,
      `principalArn "${principalArn}" is not the ${kind} "${name}" of environment "${env.name}" (credentialMode ${env.aws.credentialMode}); ` +
        'pass the principalArn returned by ensureLokiCredentials',
      { environment: env.name },
    );
  }
}
