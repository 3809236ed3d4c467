/**
 * `planAws`: what logstack's AWS convergence would change for an environment — the bucket's settings, the IAM
 * policy documents of the Loki principal and the ESO reader (statement by statement), the Loki secret's key
 * names — read with Get/List/Head/Describe calls only and compared with the desired state of
 * `domain/aws-plan.ts`, the very builders `ensureBucket`, `ensureLokiCredentials`, `ensureStoreCredential` and
 * `seedLokiSecret` write. A missing resource is planned as `create`; one that is not logstack's for this
 * environment (the convergence would fail `Conflict`) as `conflict`, so the plan itself never fails on it. The
 * secret's value is read to name the keys that would change and never leaves this module.
 */
import {
  GetBucketEncryptionCommand,
  GetBucketLifecycleConfigurationCommand,
  GetBucketPolicyCommand,
  GetBucketVersioningCommand,
  GetPublicAccessBlockCommand,
} from '@aws-sdk/client-s3';
import {
  GetRolePolicyCommand,
  GetUserPolicyCommand,
  ListAttachedRolePoliciesCommand,
  ListAttachedUserPoliciesCommand,
  ListGroupsForUserCommand,
  ListRolePoliciesCommand,
  ListUserPoliciesCommand,
} from '@aws-sdk/client-iam';
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import {
  desiredAwsState,
  FailureType,
  planAwsChanges,
  PUBLIC_ACCESS_FLAGS,
  RETENTION_RULE_ID,
  s3Endpoint,
  TLS_ONLY_SID,
  type AwsObservedState,
  type AwsPlan,
  type DesiredPrincipal,
  type Environment,
  type ObservedBucket,
  type ObservedPrincipal,
  type ObservedSecret,
} from '../../domain/index.ts';
import { awsCall, hasAwsCode, isApplicationFailure, mapAwsError } from '../errors.ts';
import { parsePolicyDocument, sendOptions } from './common.ts';
import { checkedOidcIssuer, checkedPrincipalName, listAccessKeys, lokiPrincipalRef, listAll, readOrUndefined, readPrincipal, type IamScope, type PrincipalKind } from './iam.ts';
import { bucketOwnership, readOptional, type BucketScope } from './s3.ts';
import { secretOwnership, parseSecretObject, type SecretScope } from './secrets-manager.ts';
import { readerSecretArns, storeReaderRef, type ReaderScope } from './store-reader.ts';

/** What the plan reads with. */
export interface PlanScope {
  readonly bucket: BucketScope;
  readonly secret: SecretScope;
  readonly reader: ReaderScope;
}

/** Runs an ownership read; a `Conflict` becomes the plan's `conflict` entry instead of failing the plan. */
async function orConflict<T>(read: () => Promise<T>): Promise<T | { exists: true; conflict: string }> {
  try {
    return await read();
  } catch (error) {
    if (isApplicationFailure(error) && error.type === FailureType.Conflict) return { exists: true, conflict: error.message };
    throw error;
  }
}

// ── the bucket ───────────────────────────────────────────────────────────────────────────────

async function observeBucket(scope: BucketScope): Promise<ObservedBucket> {
  const bucket = scope.env.aws.bucket;
  const o = sendOptions(scope.signal);
  const owner = { Bucket: bucket, ExpectedBucketOwner: scope.accountId };
  const ownership = await orConflict(() => bucketOwnership(scope));
  if (ownership === 'absent') return { exists: false };
  if (typeof ownership === 'object') return ownership;
  const pab = await readOptional(`s3:GetBucketPublicAccessBlock on ${bucket}`, () => scope.s3.send(new GetPublicAccessBlockCommand(owner), o), 'NoSuchPublicAccessBlockConfiguration');
  const encryption = await readOptional(`s3:GetEncryptionConfiguration on ${bucket}`, () => scope.s3.send(new GetBucketEncryptionCommand(owner), o), 'ServerSideEncryptionConfigurationNotFoundError');
  const versioning = await awsCall(`s3:GetBucketVersioning on ${bucket}`, () => scope.s3.send(new GetBucketVersioningCommand(owner), o));
  const lifecycle = await readOptional(`s3:GetLifecycleConfiguration on ${bucket}`, () => scope.s3.send(new GetBucketLifecycleConfigurationCommand(owner), o), 'NoSuchLifecycleConfiguration');
  const policy = await readOptional(`s3:GetBucketPolicy on ${bucket}`, () => scope.s3.send(new GetBucketPolicyCommand(owner), o), 'NoSuchBucketPolicy');
  const config = pab?.PublicAccessBlockConfiguration;
  const rule = lifecycle?.Rules?.find((r) => r.ID === RETENTION_RULE_ID);
  const filterKeys = Object.keys(rule?.Filter ?? {}).filter((k) => k !== 'Prefix');
  const prefix = rule?.Filter?.Prefix ?? rule?.Prefix;
  const statements = parsePolicyDocument(policy?.Policy) as { Statement?: unknown } | undefined;
  const list = statements?.Statement === undefined ? [] : Array.isArray(statements.Statement) ? (statements.Statement as unknown[]) : [statements.Statement];
  return {
    exists: true,
    ownership,
    versioning: versioning.Status === 'Enabled' || versioning.Status === 'Suspended' ? versioning.Status : undefined,
    encryption: encryption?.ServerSideEncryptionConfiguration?.Rules?.[0]?.ApplyServerSideEncryptionByDefault?.SSEAlgorithm,
    publicAccessBlock:
      config === undefined
        ? undefined
        : (Object.fromEntries(PUBLIC_ACCESS_FLAGS.filter((f) => config[f] !== undefined).map((f) => [f, config[f] === true]))),
    retention:
      rule === undefined
        ? undefined
        : {
            enabled: rule.Status === 'Enabled',
            wholeBucket: (prefix === undefined || prefix === '') && filterKeys.length === 0,
            days: rule.Expiration?.Days,
            noncurrentDays: rule.NoncurrentVersionExpiration?.NoncurrentDays,
            abortUploadDays: rule.AbortIncompleteMultipartUpload?.DaysAfterInitiation,
          },
    tlsStatement: list.find((s) => s !== null && typeof s === 'object' && (s as Record<string, unknown>)['Sid'] === TLS_ONLY_SID),
  };
}

// ── IAM principals ───────────────────────────────────────────────────────────────────────────

async function inlinePolicy(scope: IamScope, kind: PrincipalKind, name: string, policy: string): Promise<unknown> {
  const o = sendOptions(scope.signal);
  const found = await readOrUndefined<{ PolicyDocument?: string | undefined }>(`iam:Get${kind === 'user' ? 'User' : 'Role'}Policy ${policy} of ${name}`, () =>
    kind === 'user' ? scope.iam.send(new GetUserPolicyCommand({ UserName: name, PolicyName: policy }), o) : scope.iam.send(new GetRolePolicyCommand({ RoleName: name, PolicyName: policy }), o),
  );
  return found?.PolicyDocument === undefined ? null : (parsePolicyDocument(found.PolicyDocument) ?? { unparsable: true });
}

/** The rights the reader would lose: other inline policies, attached policies, groups (users). */
async function otherRights(scope: IamScope, kind: PrincipalKind, name: string, keep: readonly string[]): Promise<string[]> {
  const o = sendOptions(scope.signal);
  const K = kind === 'user' ? 'User' : 'Role';
  const inline = await listAll((m) =>
    awsCall(`iam:List${K}Policies of ${name}`, async () => {
      const p = kind === 'user' ? await scope.iam.send(new ListUserPoliciesCommand({ UserName: name, Marker: m }), o) : await scope.iam.send(new ListRolePoliciesCommand({ RoleName: name, Marker: m }), o);
      return { items: p.PolicyNames, next: p.IsTruncated ? p.Marker : undefined };
    }),
  );
  const attached = await listAll((m) =>
    awsCall(`iam:ListAttached${K}Policies of ${name}`, async () => {
      const p =
        kind === 'user' ? await scope.iam.send(new ListAttachedUserPoliciesCommand({ UserName: name, Marker: m }), o) : await scope.iam.send(new ListAttachedRolePoliciesCommand({ RoleName: name, Marker: m }), o);
      return { items: p.AttachedPolicies, next: p.IsTruncated ? p.Marker : undefined };
    }),
  );
  const groups =
    kind === 'user'
      ? await listAll((m) =>
          awsCall(`iam:ListGroupsForUser ${name}`, async () => {
            const p = await scope.iam.send(new ListGroupsForUserCommand({ UserName: name, Marker: m }), o);
            return { items: p.Groups, next: p.IsTruncated ? p.Marker : undefined };
          }),
        )
      : [];
  return [
    ...inline.filter((n) => !keep.includes(n)).map((n) => `inline:${n}`),
    ...attached.flatMap((a) => (a.PolicyArn === undefined ? [] : [`attached:${a.PolicyArn}`])),
    ...groups.flatMap((g) => (g.GroupName === undefined ? [] : [`group:${g.GroupName}`])),
  ];
}

/** One principal as read, and its ARN when it exists and is logstack's (the Loki secret's credential names it). */
async function observePrincipal(scope: ReaderScope, desired: DesiredPrincipal): Promise<{ observed: ObservedPrincipal; arn?: string | undefined }> {
  const ref = desired.role === 'loki' ? lokiPrincipalRef(scope.env) : storeReaderRef(scope.env);
  const state = await orConflict(() => readPrincipal(scope, desired.kind, desired.name, ref));
  if ('conflict' in state) return { observed: state };
  if (!state.exists) return { observed: { exists: false } };
  const policies: Record<string, unknown> = {};
  for (const name of Object.keys(desired.policies)) policies[name] = await inlinePolicy(scope, desired.kind, desired.name, name);
  const observed: ObservedPrincipal = {
    exists: true,
    ownership: state.decision ?? 'owned',
    boundary: state.boundaryArn,
    trust: state.trustPolicy === undefined ? undefined : parsePolicyDocument(state.trustPolicy),
    policies,
    otherRights: desired.exclusive ? await otherRights(scope, desired.kind, desired.name, Object.keys(desired.policies)) : [],
  };
  return { observed, arn: state.arn };
}

// ── the Loki secret ──────────────────────────────────────────────────────────────────────────

/** Keys whose value `seedLokiSecret` would write anew: location fields that differ, and the credential it would replace. */
async function changedValues(scope: SecretScope, document: Record<string, unknown>, lokiArn: string | undefined): Promise<string[]> {
  const env = scope.env;
  const text = (k: string): string | undefined => (typeof document[k] === 'string' && document[k] !== '' ? document[k] : undefined);
  const wanted: Record<string, string | undefined> = { bucketnames: env.aws.bucket, region: env.aws.region };
  if (env.aws.credentialMode === 'static') wanted['endpoint'] = s3Endpoint(env.aws.region);
  else wanted['role_arn'] = lokiArn;
  const changed = Object.entries(wanted)
    .filter(([k, v]) => k in document && text(k) !== v)
    .map(([k]) => k);
  if (env.aws.credentialMode === 'static' && 'access_key_id' in document) {
    // The seed keeps the stored key while it is an Active key of the Loki user; otherwise it makes a new one.
    const id = text('access_key_id');
    let active = false;
    if (id !== undefined && text('access_key_secret') !== undefined && lokiArn !== undefined) {
      const keys = await listAccessKeys(scope.iam, checkedPrincipalName(env));
      active = keys.some((k) => k.AccessKeyId === id && k.Status === 'Active');
    }
    if (!active) changed.push('access_key_id', ...('access_key_secret' in document ? ['access_key_secret'] : []));
  }
  return changed.sort();
}

async function observeSecret(scope: SecretScope, lokiArn: string | undefined): Promise<ObservedSecret> {
  const owned = await orConflict(() => secretOwnership(scope));
  if ('conflict' in owned) return owned;
  const arn = owned.described?.ARN;
  if (owned.decision === 'absent' || arn === undefined) return { exists: false };
  let text: string | undefined;
  try {
    text = (await scope.sm.send(new GetSecretValueCommand({ SecretId: arn }), sendOptions(scope.signal))).SecretString;
  } catch (error) {
    // A secret created without a value has no AWSCURRENT version yet.
    if (!hasAwsCode(error, 'ResourceNotFoundException')) throw mapAwsError(error, `secretsmanager:GetSecretValue ${scope.env.aws.secretName}`);
  }
  const document = parseSecretObject(text);
  text = undefined;
  if (document === undefined) return { exists: true, ownership: owned.decision, keys: null, valueChanges: [] };
  return { exists: true, ownership: owned.decision, keys: Object.keys(document).sort(), valueChanges: await changedValues(scope, document, lokiArn) };
}

// ── the plan ─────────────────────────────────────────────────────────────────────────────────

/**
 * Reads the environment's AWS resources and plans what the convergence would change. Read-only (S3 Get/Head/
 * ListBuckets, IAM Get/List, Secrets Manager Describe/Get, STS GetCallerIdentity); names and key names only.
 * `InvalidInput` for an sts environment without a usable `cluster.oidcIssuer`; AWS refusals as `AccessDenied`.
 */
export async function readAwsPlan(scope: PlanScope, revision: string): Promise<AwsPlan> {
  const env: Environment = scope.bucket.env;
  const oidcIssuer = env.aws.credentialMode === 'sts' ? checkedOidcIssuer(env) : undefined;
  const desired = desiredAwsState(env, { accountId: scope.reader.accountId, readerSecretArns: await readerSecretArns(scope.reader), oidcIssuer });
  const bucket = await observeBucket(scope.bucket);
  const principals: { observed: ObservedPrincipal; arn?: string | undefined }[] = [];
  for (const p of desired.principals) principals.push(await observePrincipal(scope.reader, p));
  const observed: AwsObservedState = {
    bucket,
    principals: principals.map((p) => p.observed),
    secret: await observeSecret(scope.secret, principals[0]?.arn),
  };
  return planAwsChanges({ environment: env.name, revision }, desired, observed);
}
