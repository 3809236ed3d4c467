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
  PutRolePolicyCommand,
  PutUserPolicyCommand,
  UpdateAssumeRolePolicyCommand,
  type AccessKeyMetadata,
  type IAMClient,
  type Tag,
} from '@aws-sdk/client-iam';
import { FailureType, principalName, type Environment } from '../../domain/index.ts';
import { awsCall, hasAwsCode, mapAwsError, nonRetryable } from '../errors.ts';
import { bucketArn, bucketObjectsArn, canonicalJson, isManaged, managedTags, parsePolicyDocument, partitionOf, sendOptions } from './common.ts';

/** Name of the inline policy logstack puts on the Loki user or role. */
export const BUCKET_POLICY_NAME = 'logstack-loki-bucket';

/** What every IAM call needs. */
export interface IamScope {
  readonly iam: IAMClient;
  readonly env: Environment;
  readonly signal: AbortSignal | undefined;
}

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

/** The inline policy: list the bucket, read/write/delete its objects — that bucket only. */
export function lokiBucketPolicy(env: Environment): Record<string, unknown> {
  return {
    Version: '2012-10-17',
    Statement: [
      { Sid: 'LokiListBucket', Effect: 'Allow', Action: ['s3:ListBucket'], Resource: [bucketArn(env)] },
      { Sid: 'LokiObjects', Effect: 'Allow', Action: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'], Resource: [bucketObjectsArn(env)] },
    ],
  };
}

/** The Kubernetes service accounts of the LokiStack that assume the role (ingesters/queriers and the ruler). */
export function lokiServiceAccounts(env: Environment): string[] {
  return [`system:serviceaccount:${env.loki.namespace}:${env.loki.stackName}`, `system:serviceaccount:${env.loki.namespace}:${env.loki.stackName}-ruler`];
}

/** The sts role's trust policy: web-identity federation from the cluster's OIDC provider, Loki's service accounts only. */
export function lokiTrustPolicy(env: Environment, accountId: string): Record<string, unknown> {
  const issuer = checkedOidcIssuer(env);
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Principal: { Federated: `arn:${partitionOf(env.aws.region)}:iam::${accountId}:oidc-provider/${issuer}` },
        Action: 'sts:AssumeRoleWithWebIdentity',
        Condition: { StringEquals: { [`${issuer}:sub`]: lokiServiceAccounts(env) } },
      },
    ],
  };
}

function samePolicy(current: string | undefined, desired: Record<string, unknown>): boolean {
  const parsed = parsePolicyDocument(current);
  return parsed !== undefined && canonicalJson(parsed) === canonicalJson(desired);
}

function notManaged(kind: 'user' | 'role', name: string, env: Environment): Error {
  return nonRetryable(
    FailureType.Conflict,
    `IAM ${kind} "${name}" exists but was not created by logstack (no tag app=logstack), so logstack will not change it` +
      `${kind === 'user' ? ' or its access keys' : ''}. Tag it app=logstack to hand it over, or set aws.principalName of environment "${env.name}" to another name`,
    { environment: env.name, [kind]: name },
  );
}

async function readOrUndefined<T>(action: string, call: () => Promise<T>): Promise<T | undefined> {
  try {
    return await call();
  } catch (error) {
    if (hasAwsCode(error, 'NoSuchEntity', 'NoSuchEntityException')) return undefined;
    throw mapAwsError(error, action);
  }
}

async function listAll<T>(fetchPage: (marker: string | undefined) => Promise<{ items: T[] | undefined; next: string | undefined }>): Promise<T[]> {
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

/**
 * Ensures the Loki IAM user with the bucket-scoped inline policy. Creates the user when absent (tagged),
 * rewrites the policy only when its document differs. `Conflict` (nothing written) when a user of
 * that name exists without the `app=logstack` tag.
 */
export async function ensureLokiUser(scope: IamScope): Promise<{ principalArn: string; created: boolean }> {
  const user = checkedPrincipalName(scope.env);
  const existing = await readOrUndefined(`iam:GetUser ${user}`, () => scope.iam.send(new GetUserCommand({ UserName: user }), sendOptions(scope.signal)));
  let arn = existing?.User?.Arn;
  if (existing !== undefined && !isManaged(await userTags(scope, user))) throw notManaged('user', user, scope.env);
  if (existing === undefined) {
    const created = await awsCall(`iam:CreateUser ${user}`, () =>
      scope.iam.send(new CreateUserCommand({ UserName: user, Tags: managedTags(scope.env) }), sendOptions(scope.signal)),
    );
    arn = created.User?.Arn;
  }
  if (arn === undefined) throw new Error(`IAM returned no ARN for user ${user}`);
  await ensureUserPolicy(scope, user);
  return { principalArn: arn, created: existing === undefined };
}

async function ensureUserPolicy(scope: IamScope, user: string): Promise<boolean> {
  const desired = lokiBucketPolicy(scope.env);
  const current = await readOrUndefined(`iam:GetUserPolicy ${BUCKET_POLICY_NAME} of ${user}`, () =>
    scope.iam.send(new GetUserPolicyCommand({ UserName: user, PolicyName: BUCKET_POLICY_NAME }), sendOptions(scope.signal)),
  );
  if (samePolicy(current?.PolicyDocument, desired)) return false;
  await awsCall(`iam:PutUserPolicy ${BUCKET_POLICY_NAME} on ${user}`, () =>
    scope.iam.send(
      new PutUserPolicyCommand({ UserName: user, PolicyName: BUCKET_POLICY_NAME, PolicyDocument: JSON.stringify(desired) }),
      sendOptions(scope.signal),
    ),
  );
  return true;
}

/** Every access key of `user`, with its status. */
export async function listAccessKeys(scope: IamScope, user: string): Promise<AccessKeyMetadata[]> {
  return listAll((marker) =>
    awsCall(`iam:ListAccessKeys of ${user}`, async () => {
      const page = await scope.iam.send(new ListAccessKeysCommand({ UserName: user, Marker: marker }), sendOptions(scope.signal));
      return { items: page.AccessKeyMetadata, next: page.IsTruncated ? page.Marker : undefined };
    }),
  );
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
 * repeated) are deleted after it. So any number of retries ends with one key.
 */
export async function ensureSingleAccessKey(
  scope: IamScope,
  user: string,
  stored: Partial<AccessKeyMaterial> | undefined,
): Promise<{ key: AccessKeyMaterial; created: boolean; deleted: string[] }> {
  const keys = await listAccessKeys(scope, user);
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
  const made = await awsCall(`iam:CreateAccessKey for ${user}`, () => scope.iam.send(new CreateAccessKeyCommand({ UserName: user }), sendOptions(scope.signal)));
  const id = made.AccessKey?.AccessKeyId;
  const secret = made.AccessKey?.SecretAccessKey;
  if (!id || !secret) throw new Error(`IAM returned no access key for ${user}`);
  // CreateAccessKey has no idempotency token and the SDK repeats a call whose answer was lost: each lost
  // answer leaves a key whose secret nobody has. Every other key was deleted above, so any key but this one is such an orphan.
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
 * OIDC provider limited to the LokiStack's service accounts, and the bucket-scoped inline policy.
 * Creates the role when absent (tagged); rewrites either document only when it differs. `Conflict`
 * (nothing written) when a role of that name exists without the `app=logstack` tag.
 */
export async function ensureLokiRole(scope: IamScope, accountId: string): Promise<{ principalArn: string; created: boolean }> {
  const role = checkedPrincipalName(scope.env);
  const trust = lokiTrustPolicy(scope.env, accountId);
  const existing = await readOrUndefined(`iam:GetRole ${role}`, () => scope.iam.send(new GetRoleCommand({ RoleName: role }), sendOptions(scope.signal)));
  if (existing !== undefined && !isManaged(await roleTags(scope, role))) throw notManaged('role', role, scope.env);
  let arn = existing?.Role?.Arn;
  if (existing === undefined) {
    const created = await awsCall(`iam:CreateRole ${role}`, () =>
      scope.iam.send(
        new CreateRoleCommand({
          RoleName: role,
          AssumeRolePolicyDocument: JSON.stringify(trust),
          Description: `Loki object storage access for environment ${scope.env.name} (managed by logstack)`,
          Tags: managedTags(scope.env),
        }),
        sendOptions(scope.signal),
      ),
    );
    arn = created.Role?.Arn;
  } else if (!samePolicy(existing.Role?.AssumeRolePolicyDocument, trust)) {
    await awsCall(`iam:UpdateAssumeRolePolicy on ${role}`, () =>
      scope.iam.send(new UpdateAssumeRolePolicyCommand({ RoleName: role, PolicyDocument: JSON.stringify(trust) }), sendOptions(scope.signal)),
    );
  }
  if (arn === undefined) throw new Error(`IAM returned no ARN for role ${role}`);
  await ensureRolePolicy(scope, role);
  return { principalArn: arn, created: existing === undefined };
}

async function ensureRolePolicy(scope: IamScope, role: string): Promise<boolean> {
  const desired = lokiBucketPolicy(scope.env);
  const current = await readOrUndefined(`iam:GetRolePolicy ${BUCKET_POLICY_NAME} of ${role}`, () =>
    scope.iam.send(new GetRolePolicyCommand({ RoleName: role, PolicyName: BUCKET_POLICY_NAME }), sendOptions(scope.signal)),
  );
  if (samePolicy(current?.PolicyDocument, desired)) return false;
  await awsCall(`iam:PutRolePolicy ${BUCKET_POLICY_NAME} on ${role}`, () =>
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
