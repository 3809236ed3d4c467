/**
 * The Loki Operator's object-storage rules for an S3 LokiStack, applied before any side effect.
 *
 * The operator reads the Secret named by `spec.storage.secret.name` in the LokiStack's namespace and refuses
 * it (the stack turns Degraded, never Ready) when: `bucketnames` is missing; in **static** mode `endpoint`,
 * `access_key_id` or `access_key_secret` is missing, or the endpoint is not an http(s) URL, has a path, or
 * — for AWS — is not `https://s3.<region>.amazonaws.com` / `https://vpce-<id>.s3.<region>.vpce.amazonaws.com`
 * (no bucket in the host) with `<region>` equal to `region`; in **token** mode (chosen when `role_arn` is
 * set) `region` is missing; in **token-cco** mode `role_arn` is set or `region` is missing; `forcepathstyle`
 * is not `true`/`false`; `sse_type` is not `SSE-KMS`/`SSE-S3`, or `SSE-KMS` lacks `sse_kms_key_id`.
 * The operator stops at the first; these rules report every one.
 *
 * In this tree the Secret is produced by External Secrets: an `ExternalSecret` whose `spec.target.template`
 * names the keys, filled from the Secrets Manager secret that logstack seeds from the catalog (bucket,
 * region, the regional endpoint, and the access key or the role). The rules evaluate that template over the
 * values the catalog gives, so a template naming a wrong key, a hard-coded endpoint in another region, or a
 * `role_arn` in a static environment is found in Git, not on the cluster.
 */
import { LOKI_SECRET_KEYS, s3Endpoint } from '../environments.ts';
import {
  type OperatorRuleViolation,
  type RenderedObject,
  type RuleEnvironment,
  groupOf,
  listAt,
  recordAt,
  refOf,
  stringAt,
  violationsOf,
} from './objects.ts';

/** One key of the storage Secret as the operator will read it: `text` undefined when present but not known here (a credential). */
export interface StorageSecretValue {
  readonly text: string | undefined;
  /** Where the value comes from: `Kind/ns/name` and the field that sets it. */
  readonly object: string;
  readonly field: string;
}

/** The storage Secret's keys as the operator will see them, or why they cannot be known. */
export type StorageSecret = ReadonlyMap<string, StorageSecretValue>;

/** The Loki Operator's credential modes for object storage. */
export type CredentialMode = 'static' | 'token' | 'token-cco';

const AWS_SUFFIX = '.amazonaws.com';
const S3_ENDPOINT = /^https:\/\/s3\.([a-z0-9-]+)\.amazonaws\.com$/;
const VPC_ENDPOINT = /^https:\/\/vpce-[a-z0-9-]+\.s3\.([a-z0-9-]+)\.vpce\.amazonaws\.com$/;
const S3_WITH_BUCKET = /^https:\/\/[a-z0-9.-]+\.s3\.[a-z0-9-]+\.amazonaws\.com$/;
const VPC_WITH_BUCKET = /^https:\/\/[a-z0-9.-]+\.vpce-[a-z0-9-]+\.s3\.[a-z0-9-]+\.vpce\.amazonaws\.com$/;
const SSE_TYPES = ['SSE-KMS', 'SSE-S3'];

/** A value the rules cannot see (an access key, a role ARN): present, never empty, never checked by value. */
const HIDDEN = undefined;

/**
 * The Secrets Manager document logstack seeds for the environment (activities/aws/secrets-manager.ts):
 * the keys of {@link LOKI_SECRET_KEYS} for its credential mode, with the catalog's values where they are
 * catalog facts and hidden values for the credential.
 */
export function catalogSecretDocument(env: RuleEnvironment): ReadonlyMap<string, string | undefined> {
  const known: Record<string, string> = { bucketnames: env.aws.bucket, region: env.aws.region, endpoint: s3Endpoint(env.aws.region) };
  return new Map(LOKI_SECRET_KEYS[env.aws.credentialMode].map((key) => [key, known[key] ?? HIDDEN]));
}

const TEMPLATE_ACTION = /\{\{-?\s*(.*?)\s*-?\}\}/g;
const FIELD_REFERENCE = /^\.([A-Za-z_][A-Za-z0-9_]*)$/;

/**
 * Evaluates one ESO (engine v2) template value over `source`: `{{ .key }}` is replaced by the key's value;
 * any other action (a function, a pipeline) makes the result unknown. Keys the source lacks are returned.
 */
export function evaluateTemplate(template: string, source: ReadonlyMap<string, string | undefined> | undefined): { text: string | undefined; missing: string[] } {
  const missing: string[] = [];
  let known = true;
  const text = template.replace(TEMPLATE_ACTION, (_whole, action: string) => {
    const ref = FIELD_REFERENCE.exec(action);
    if (!ref || source === undefined) {
      known = false;
      return '';
    }
    const key = ref[1] as string;
    if (!source.has(key)) missing.push(key);
    const value = source.get(key);
    if (value === undefined) known = false;
    return value ?? '';
  });
  return { text: known ? text : undefined, missing };
}

function decodeBase64(text: string): string | undefined {
  try {
    return new TextDecoder().decode(Uint8Array.from(atob(text), (c) => c.charCodeAt(0)));
  } catch {
    return undefined;
  }
}

/** The keys a plain `Secret` holds (`data` decoded, `stringData` winning as the API server merges it). */
function fromSecret(secret: RenderedObject): StorageSecret {
  const object = refOf(secret);
  const keys = new Map<string, StorageSecretValue>();
  for (const [key, value] of Object.entries(recordAt(secret, 'data') ?? {})) {
    keys.set(key, { text: typeof value === 'string' ? decodeBase64(value) : undefined, object, field: `data.${key}` });
  }
  for (const [key, value] of Object.entries(recordAt(secret, 'stringData') ?? {})) {
    keys.set(key, { text: typeof value === 'string' ? value : undefined, object, field: `stringData.${key}` });
  }
  return keys;
}

/**
 * The keys an `ExternalSecret` will write into its target, with the values the catalog's secret gives them.
 * Problems with the template itself (a key the source does not hold, a source that is not the catalog's
 * secret) are reported as violations.
 */
function fromExternalSecret(es: RenderedObject, env: RuleEnvironment, violations: OperatorRuleViolation[]): StorageSecret {
  const object = refOf(es);
  const refuse = violationsOf(es, 'logstack');
  const catalogDoc = catalogSecretDocument(env);
  // Where the data comes from: `dataFrom[].extract.key` of the catalog's secret gives the catalog document.
  let source: Map<string, string | undefined> | undefined = new Map();
  let opaqueSource = false;
  listAt(es, 'spec', 'dataFrom').forEach((entry, i) => {
    const key = stringAt(entry, 'extract', 'key');
    if (key === env.aws.secretName) {
      for (const [k, v] of catalogDoc) source?.set(k, v);
    } else if (key !== undefined) {
      violations.push(refuse(`spec.dataFrom[${i}].extract.key`, `reads ${key}, but the catalog's Loki secret for ${env.name} is ${env.aws.secretName} (aws.secretName); logstack seeds and rotates only that one`));
      opaqueSource = true;
    } else {
      opaqueSource = true;
    }
  });
  if (opaqueSource) source = undefined;
  const keys = new Map<string, StorageSecretValue>();
  const template = recordAt(es, 'spec', 'target', 'template');
  const merge = stringAt(template, 'mergePolicy') === 'Merge';
  // Without a template, or with `mergePolicy: Merge`, the source's own keys land in the Secret too.
  if (template === undefined || merge) {
    for (const [k, v] of source ?? []) keys.set(k, { text: v, object, field: `spec.dataFrom (${k})` });
  }
  listAt(es, 'spec', 'data').forEach((entry, i) => {
    const key = stringAt(entry, 'secretKey');
    if (key !== undefined) keys.set(key, { text: HIDDEN, object, field: `spec.data[${i}].secretKey` });
  });
  for (const [key, value] of Object.entries(recordAt(template, 'data') ?? {})) {
    const field = `spec.target.template.data.${key}`;
    if (typeof value !== 'string') {
      keys.set(key, { text: HIDDEN, object, field });
      continue;
    }
    const { text, missing } = evaluateTemplate(value, source);
    for (const m of missing) {
      violations.push(refuse(field, `the template reads .${m}, which the catalog's secret ${env.aws.secretName} does not hold (${env.aws.credentialMode} mode holds ${[...catalogDoc.keys()].join(', ')}); the key would be empty`));
    }
    keys.set(key, { text: missing.length > 0 ? '' : text, object, field });
  }
  return keys;
}

/** The ExternalSecret writing Secret `namespace/name` (its `spec.target.name`, else its own name). */
function externalSecretFor(objects: readonly RenderedObject[], namespace: string, name: string): RenderedObject | undefined {
  return objects.find(
    (o) => o.kind === 'ExternalSecret' && groupOf(o) === 'external-secrets.io' && o.metadata.namespace === namespace && (stringAt(o, 'spec', 'target', 'name') ?? o.metadata.name) === name,
  );
}

/**
 * The credential mode the operator will pick: `spec.storage.secret.credentialMode` when set, else token
 * mode when the secret has a non-empty `role_arn`, else static. (On a cluster installed in token-cco mode
 * the operator defaults to token-cco; logstack's catalog has no such mode, so that is not assumed.)
 */
export function credentialModeOf(stack: RenderedObject, secret: StorageSecret): CredentialMode {
  const set = stringAt(stack, 'spec', 'storage', 'secret', 'credentialMode');
  if (set === 'static' || set === 'token' || set === 'token-cco') return set;
  const role = secret.get('role_arn');
  return role !== undefined && role.text !== '' ? 'token' : 'static';
}

/** The Loki Operator's endpoint rules (static mode), every failure. */
export function endpointProblems(endpoint: string, region: string | undefined): string[] {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return ['endpoint for S3 must be an HTTP or HTTPS URL'];
  }
  const problems: string[] = [];
  const scheme = url.protocol.replace(/:$/, '');
  if (scheme !== 'http' && scheme !== 'https') problems.push(`scheme of S3 endpoint URL is unsupported: ${scheme}`);
  if (url.pathname !== '' && url.pathname !== '/') problems.push(`endpoint for S3 must not include a path: ${url.pathname}`);
  if (!url.hostname.endsWith(AWS_SUFFIX)) return problems;
  if (region === undefined || region === '') problems.push('missing secret field: region (an AWS endpoint needs it)');
  if (S3_WITH_BUCKET.test(endpoint) || VPC_WITH_BUCKET.test(endpoint)) {
    problems.push('bucket name must not be included in AWS S3 endpoint URL');
    return problems;
  }
  const match = S3_ENDPOINT.exec(endpoint) ?? VPC_ENDPOINT.exec(endpoint);
  if (!match) {
    // A path was already reported; the AWS form is judged on the URL without it, as the operator's regex fails on it too.
    if (problems.length === 0) problems.push(`endpoint for AWS S3 is invalid, must match either https://s3.region.amazonaws.com or https://vpce-id.s3.region.vpce.amazonaws.com: ${endpoint}`);
    return problems;
  }
  if (region !== undefined && region !== '' && match[1] !== region) {
    problems.push(`endpoint for AWS S3 must include correct region: expected region ${region}, got ${match[1]}`);
  }
  return problems;
}

/**
 * Every violation of the LokiStack's object-storage Secret: where it comes from (a `Secret` or an
 * `ExternalSecret` in the same overlay), the operator's rules for its credential mode, and the catalog's
 * bucket, region and credential mode.
 */
export function checkLokiStorage(stack: RenderedObject, objects: readonly RenderedObject[], env: RuleEnvironment): OperatorRuleViolation[] {
  const violations: OperatorRuleViolation[] = [];
  const onStack = violationsOf(stack, 'loki-operator');
  const namespace = stack.metadata.namespace ?? '';
  const name = stringAt(stack, 'spec', 'storage', 'secret', 'name');
  const type = stringAt(stack, 'spec', 'storage', 'secret', 'type');
  if (name === undefined) return [onStack('spec.storage.secret.name', 'Missing object storage secret: spec.storage.secret.name is required')];
  if (type !== 's3') {
    violations.push(violationsOf(stack, 'logstack')('spec.storage.secret.type', `is ${type ?? 'not set'}; the catalog keeps ${env.name}'s logs in the AWS S3 bucket ${env.aws.bucket}, so it must be s3`));
  }
  const plain = objects.find((o) => o.kind === 'Secret' && groupOf(o) === '' && o.metadata.namespace === namespace && o.metadata.name === name);
  const external = plain ? undefined : externalSecretFor(objects, namespace, name);
  if (!plain && !external) {
    violations.push(onStack('spec.storage.secret.name', `Missing object storage secret: no Secret or ExternalSecret in this overlay writes ${namespace}/${name}`));
    return violations;
  }
  const source = (plain ?? external) as RenderedObject;
  const secret = plain ? fromSecret(plain) : fromExternalSecret(source, env, violations);
  if (type !== 's3') return violations;
  const loki = violationsOf(source, 'loki-operator');
  const ours = violationsOf(source, 'logstack');
  const fieldOf = (key: string, fallback: string) => secret.get(key)?.field ?? fallback;
  const dataField = (key: string) => (plain ? `data.${key}` : external && recordAt(external, 'spec', 'target', 'template') ? `spec.target.template.data.${key}` : `data.${key}`);
  const value = (key: string) => secret.get(key);
  const present = (key: string) => {
    const v = value(key);
    return v !== undefined && v.text !== '';
  };
  const missing = (key: string) => violations.push(loki(dataField(key), `missing secret field: ${key}`));

  if (!present('bucketnames')) missing('bucketnames');
  else {
    const buckets = value('bucketnames')?.text;
    if (buckets !== undefined && !buckets.split(',').map((b) => b.trim()).includes(env.aws.bucket)) {
      violations.push(ours(fieldOf('bucketnames', dataField('bucketnames')), `bucketnames is ${buckets}; the catalog's bucket for ${env.name} is ${env.aws.bucket} (aws.bucket)`));
    }
  }
  const region = value('region')?.text;
  if (region !== undefined && region !== '' && region !== env.aws.region) {
    violations.push(ours(fieldOf('region', dataField('region')), `region is ${region}; the catalog puts ${env.name} in ${env.aws.region} (aws.region)`));
  }
  const pathStyle = value('forcepathstyle');
  if (pathStyle?.text !== undefined && pathStyle.text !== 'true' && pathStyle.text !== 'false') {
    violations.push(loki(pathStyle.field, `forcepathstyle must be "true" or "false": ${pathStyle.text}`));
  }
  const sse = value('sse_type')?.text;
  if (sse !== undefined && sse !== '') {
    if (!SSE_TYPES.includes(sse)) violations.push(loki(fieldOf('sse_type', dataField('sse_type')), `unsupported SSE type (supported: SSE-KMS, SSE-S3): ${sse}`));
    else if (sse === 'SSE-KMS' && !present('sse_kms_key_id')) missing('sse_kms_key_id');
  }

  const mode = credentialModeOf(stack, secret);
  const wanted = env.aws.credentialMode === 'sts' ? 'token' : 'static';
  if (mode !== wanted) {
    violations.push(
      ours(
        present('role_arn') ? fieldOf('role_arn', dataField('role_arn')) : dataField('role_arn'),
        `the operator will read this secret in ${mode} mode${mode === 'token' ? ' (role_arn is set)' : ''}; the catalog's credentialMode ${env.aws.credentialMode} needs ${wanted} mode`,
      ),
    );
  }
  if (mode === 'token-cco') {
    if (present('role_arn')) violations.push(loki(fieldOf('role_arn', dataField('role_arn')), 'secret field not allowed: role_arn (token-cco mode uses the role given at operator installation)'));
    if (!present('region')) missing('region');
  } else if (mode === 'token') {
    if (!present('region')) missing('region');
  } else {
    const endpoint = value('endpoint');
    if (!present('endpoint')) missing('endpoint');
    else if (endpoint?.text !== undefined) {
      for (const problem of endpointProblems(endpoint.text, region)) violations.push(loki(endpoint.field, problem));
    }
    if (!present('access_key_id')) missing('access_key_id');
    if (!present('access_key_secret')) missing('access_key_secret');
  }
  return violations;
}
