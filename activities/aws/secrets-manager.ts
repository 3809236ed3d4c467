/**
 * The Loki object-storage secret in Secrets Manager, in exactly the shape the Loki Operator reads
 * (docs/architecture.md#loki-object-storage-secret-s3). A version is put only when the content differs; results carry the ARN, version id
 * and a SHA-256 — never a value. Secret values are never logged and never placed in an error.
 */
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  TagResourceCommand,
  type DescribeSecretResponse,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { FailureType, LOKI_SECRET_KEYS, principalName, s3Endpoint, type Environment } from '../../domain/index.ts';
import { awsCall, hasAwsCode, mapAwsError, nonRetryable } from '../errors.ts';
import { canonicalJson, decideOwnership, isFresh, managedTags, sendOptions, sha256Hex, type AwsResourceRef, type OwnershipDecision } from './common.ts';
import {
  assertPrincipalArn,
  checkedPrincipalName,
  claimPrincipal,
  ensureSingleAccessKey,
  listAccessKeys,
  lokiPrincipalRef,
  lokiRoleArn,
  readPrincipal,
  type IamScope,
} from './iam.ts';

/** What every secret call needs; `iam` serves the static mode's access key. */
export interface SecretScope {
  readonly sm: SecretsManagerClient;
  readonly iam: IamScope;
  readonly env: Environment;
  readonly signal: AbortSignal | undefined;
}

/** The Loki secret's JSON object: every value a string. */
export type LokiSecretDocument = Readonly<Record<string, string>>;

/** What `seedLokiSecret` returns: identifiers and a hash only. */
export interface SeedResult {
  readonly secretArn: string;
  readonly versionId: string;
  /** SHA-256 (hex) of the canonical JSON of the current version. */
  readonly sha256: string;
  /** True when this call put a new version (or created the secret). */
  readonly changed: boolean;
}

/** The Loki document for sts mode: bucket, region and the role to assume. */
export function stsDocument(env: Environment, roleArn: string): LokiSecretDocument {
  return { bucketnames: env.aws.bucket, region: env.aws.region, role_arn: roleArn };
}

/** The Loki document for static mode: bucket, regional endpoint (no bucket in it), region and the key. */
export function staticDocument(env: Environment, accessKeyId: string, accessKeySecret: string): LokiSecretDocument {
  return {
    bucketnames: env.aws.bucket,
    endpoint: s3Endpoint(env.aws.region),
    region: env.aws.region,
    access_key_id: accessKeyId,
    access_key_secret: accessKeySecret,
  };
}

/** Parses a stored secret string as a JSON object. Never throws and never echoes the text (parse errors quote it). */
export function parseSecretObject(text: string | undefined): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  try {
    const parsed = JSON.parse(text) as unknown;
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function stringField(document: Record<string, unknown> | undefined, key: string): string | undefined {
  const value = document?.[key];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

// ── reads ────────────────────────────────────────────────────────────────────────────────────

async function describeSecret(scope: SecretScope): Promise<DescribeSecretResponse | undefined> {
  const name = scope.env.aws.secretName;
  try {
    return await scope.sm.send(new DescribeSecretCommand({ SecretId: name }), sendOptions(scope.signal));
  } catch (error) {
    if (hasAwsCode(error, 'ResourceNotFoundException')) return undefined;
    throw mapAwsError(error, `secretsmanager:DescribeSecret ${name}`);
  }
}

/** The current version's id and parsed content; `document` undefined when there is no usable JSON object. */
async function readCurrentVersion(scope: SecretScope, arn: string): Promise<{ versionId: string | undefined; document: Record<string, unknown> | undefined }> {
  try {
    const value = await scope.sm.send(new GetSecretValueCommand({ SecretId: arn }), sendOptions(scope.signal));
    return { versionId: value.VersionId, document: parseSecretObject(value.SecretString) };
  } catch (error) {
    // A secret created without a value has no AWSCURRENT version yet.
    if (hasAwsCode(error, 'ResourceNotFoundException')) return { versionId: undefined, document: undefined };
    throw mapAwsError(error, `secretsmanager:GetSecretValue ${scope.env.aws.secretName}`);
  }
}

function scheduledForDeletion(scope: SecretScope, described: DescribeSecretResponse): Error {
  const name = scope.env.aws.secretName;
  return nonRetryable(
    FailureType.Conflict,
    `Secrets Manager secret "${name}" is scheduled for deletion (${described.DeletedDate?.toISOString() ?? 'date unknown'}); ` +
      `restore it (aws secretsmanager restore-secret --secret-id ${name}) or set aws.secretName of environment "${scope.env.name}" to another name`,
    { environment: scope.env.name, secret: name },
  );
}

// ── seed ─────────────────────────────────────────────────────────────────────────────────────

async function desiredDocument(
  scope: SecretScope,
  principalArn: string,
  current: Record<string, unknown> | undefined,
  freshUser: boolean,
): Promise<LokiSecretDocument> {
  if (scope.env.aws.credentialMode === 'sts') return stsDocument(scope.env, principalArn);
  const user = checkedPrincipalName(scope.env);
  const stored = { accessKeyId: stringField(current, 'access_key_id'), secretAccessKey: stringField(current, 'access_key_secret') };
  const { key } = await ensureSingleAccessKey(scope.iam, user, stored, freshUser);
  return staticDocument(scope.env, key.accessKeyId, key.secretAccessKey);
}

/** The Loki secret as a resource logstack would write, for ownership messages. */
export function lokiSecretRef(env: Environment): AwsResourceRef {
  return { kind: 'secret', label: 'Secrets Manager secret', name: env.aws.secretName, field: 'aws.secretName' };
}

/**
 * The owned-or-absent rule for the Loki secret (read-only): `absent`, `owned`, or `adopt`; `Conflict`
 * when it is scheduled for deletion, carries another environment's tag, or is someone else's and
 * `aws.adopt` does not list `secret`. Returns what DescribeSecret said, for the caller's writes.
 */
export async function secretOwnership(scope: SecretScope): Promise<{ decision: 'absent' | OwnershipDecision; described: DescribeSecretResponse | undefined }> {
  const described = await describeSecret(scope);
  if (described?.ARN === undefined) return { decision: 'absent', described };
  if (described.DeletedDate !== undefined) throw scheduledForDeletion(scope, described);
  return { decision: decideOwnership(lokiSecretRef(scope.env), described.Tags, scope.env), described };
}

async function createSecret(scope: SecretScope, text: string): Promise<{ arn: string; versionId: string }> {
  const name = scope.env.aws.secretName;
  const created = await awsCall(`secretsmanager:CreateSecret ${name}`, () =>
    scope.sm.send(
      new CreateSecretCommand({
        Name: name,
        SecretString: text,
        Description: `Loki object storage (S3) credentials for environment ${scope.env.name}, managed by logstack`,
        Tags: managedTags(scope.env),
      }),
      sendOptions(scope.signal),
    ),
  );
  if (created.ARN === undefined || created.VersionId === undefined) throw new Error(`Secrets Manager returned no ARN/version for ${name}`);
  return { arn: created.ARN, versionId: created.VersionId };
}

async function putVersion(scope: SecretScope, arn: string, text: string): Promise<string> {
  const put = await awsCall(`secretsmanager:PutSecretValue ${scope.env.aws.secretName}`, () =>
    scope.sm.send(new PutSecretValueCommand({ SecretId: arn, SecretString: text }), sendOptions(scope.signal)),
  );
  if (put.VersionId === undefined) throw new Error(`Secrets Manager returned no version for ${scope.env.aws.secretName}`);
  return put.VersionId;
}

async function tagAdopted(scope: SecretScope, arn: string): Promise<void> {
  await awsCall(`secretsmanager:TagResource ${scope.env.aws.secretName}`, () =>
    scope.sm.send(new TagResourceCommand({ SecretId: arn, Tags: managedTags(scope.env) }), sendOptions(scope.signal)),
  );
}

/** Static mode: the Loki user whose keys are about to change must be this environment's (or adopted). Returns whether it is fresh. */
async function claimLokiUser(scope: SecretScope): Promise<boolean> {
  if (scope.env.aws.credentialMode !== 'static') return false;
  const user = checkedPrincipalName(scope.env);
  const state = await readPrincipal(scope.iam, 'user', user, lokiPrincipalRef(scope.env));
  if (!state.exists) return false;
  await claimPrincipal(scope.iam, 'user', user, state);
  return isFresh(state.createDate);
}

/**
 * Writes the Loki-shaped JSON for the environment's credential mode. Creates the secret (tagged) when
 * absent; puts a new version only when the canonical JSON differs from the current version (a
 * second run returns `changed: false` and the same version). Static mode keeps the stored access key
 * while it is an Active key of the Loki user, otherwise rotates it so the user ends with exactly one
 * key. `InvalidInput` for a principal ARN that is not the environment's; `Conflict` for a secret
 * scheduled for deletion, or a secret or Loki user not tagged for this environment (and not adopted
 * through `aws.adopt`) — all before any write. An adopted secret is tagged before its value changes.
 */
export async function seedSecret(scope: SecretScope, principalArn: string): Promise<SeedResult> {
  assertPrincipalArn(scope.env, principalArn);
  const { decision, described } = await secretOwnership(scope);
  const freshUser = await claimLokiUser(scope);
  if (decision === 'adopt' && described?.ARN !== undefined) await tagAdopted(scope, described.ARN);
  const current = described?.ARN === undefined ? undefined : await readCurrentVersion(scope, described.ARN);
  const desired = canonicalJson(await desiredDocument(scope, principalArn, current?.document, freshUser));
  const sha256 = sha256Hex(desired);
  if (described?.ARN === undefined) {
    const created = await createSecret(scope, desired);
    return { secretArn: created.arn, versionId: created.versionId, sha256, changed: true };
  }
  const currentVersion = current?.document !== undefined && canonicalJson(current.document) === desired ? current.versionId : undefined;
  if (currentVersion !== undefined) return { secretArn: described.ARN, versionId: currentVersion, sha256, changed: false };
  const versionId = await putVersion(scope, described.ARN, desired);
  return { secretArn: described.ARN, versionId, sha256, changed: true };
}

// ── inspect ──────────────────────────────────────────────────────────────────────────────────

function shapeDrift(document: Record<string, unknown>, mode: Environment['aws']['credentialMode']): string[] {
  const expected: readonly string[] = LOKI_SECRET_KEYS[mode];
  const present = Object.keys(document);
  return [
    ...expected.filter((k) => !present.includes(k)).map((k) => `key ${k} is missing`),
    ...present.filter((k) => !expected.includes(k)).map((k) => `unexpected key ${k} (Loki reads exactly ${expected.join(', ')} in ${mode} mode)`),
    ...expected.filter((k) => present.includes(k) && stringField(document, k) === undefined).map((k) => `key ${k} is empty or not a string`),
  ];
}

function locationDrift(document: Record<string, unknown>, env: Environment): string[] {
  const drift: string[] = [];
  if (stringField(document, 'bucketnames') !== env.aws.bucket) drift.push(`bucketnames does not name the catalog bucket ${env.aws.bucket}`);
  if (stringField(document, 'region') !== env.aws.region) drift.push(`region does not match the catalog region ${env.aws.region}`);
  if (env.aws.credentialMode === 'static' && stringField(document, 'endpoint') !== s3Endpoint(env.aws.region)) {
    drift.push(`endpoint is not ${s3Endpoint(env.aws.region)}`);
  }
  return drift;
}

async function credentialDrift(scope: SecretScope, document: Record<string, unknown>): Promise<string[]> {
  const name = principalName(scope.env);
  if (scope.env.aws.credentialMode === 'sts') {
    const roleArn = await lokiRoleArn(scope.iam);
    if (roleArn === undefined) return [`IAM role ${name} does not exist`];
    return stringField(document, 'role_arn') === roleArn ? [] : [`role_arn does not name IAM role ${name}`];
  }
  const keyId = stringField(document, 'access_key_id');
  if (keyId === undefined) return [];
  try {
    const keys = await listAccessKeys(scope.iam, name);
    return keys.some((k) => k.AccessKeyId === keyId && k.Status === 'Active') ? [] : [`access_key_id is not an active access key of IAM user ${name}`];
  } catch (error) {
    if (hasAwsCode(error, 'NoSuchEntity')) return [`IAM user ${name} does not exist`];
    throw error;
  }
}

/**
 * Reports whether the secret exists and matches what Loki needs: exactly the mode's keys, the
 * catalog's bucket, region (and endpoint), and a live credential (an Active key of the Loki user, or
 * the Loki role's ARN). Read-only; the drift sentences name keys and expected values, never stored values.
 */
export async function inspectSecret(scope: SecretScope): Promise<{ exists: boolean; drift: string[] }> {
  const name = scope.env.aws.secretName;
  const described = await describeSecret(scope);
  if (described?.ARN === undefined) return { exists: false, drift: [`secret ${name} does not exist`] };
  if (described.DeletedDate !== undefined) return { exists: true, drift: [`secret ${name} is scheduled for deletion`] };
  const { document } = await readCurrentVersion(scope, described.ARN);
  if (document === undefined) return { exists: true, drift: [`secret ${name} has no current value that is a JSON object`] };
  const drift = [...shapeDrift(document, scope.env.aws.credentialMode), ...locationDrift(document, scope.env), ...(await credentialDrift(scope, document))];
  return { exists: true, drift };
}
