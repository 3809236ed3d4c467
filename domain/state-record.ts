/**
 * The deployed-state record's integrity rules, pure so that the worker's activities and the CLI's
 * `logstack state` commands apply exactly the same ones: the canonical encoding its HMAC covers, the
 * signature format, the key list (`LOGSTACK_STATE_KEYS`), and the checks that need no I/O (field
 * shapes, field ownership). The MAC itself is computed by the caller (`node:crypto` in the worker and
 * the CLI), since this room imports no runtime built-in.
 */
import { FIELD_MANAGER } from './ids.ts';
import { isCommitSha } from './revision.ts';

/** Field manager that owns a well-kept record (logstack's own, as for every object it applies). */
export const STATE_FIELD_MANAGER = FIELD_MANAGER;
/** Environment variable holding the record keys, `id:base64key,…` (the first signs, all verify). */
export const STATE_KEYS_ENV = 'LOGSTACK_STATE_KEYS';
/** Version prefix of the signature format. */
export const STATE_SIGNATURE_VERSION = 'v1';
/** Smallest accepted key: 32 bytes, the output length of SHA-256 (RFC 2104's recommended minimum for HMAC). */
export const STATE_KEY_MIN_BYTES = 32;
/** The record's signed fields, in the order the canonical encoding lists them. */
export const STATE_RECORD_FIELDS = ['environment', 'revision', 'verified', 'verifiedAt', 'previousRevision'] as const;
/** The data key holding the signature. */
export const STATE_SIGNATURE_FIELD = 'signature';

/** One signed field of the record. */
export type StateRecordField = (typeof STATE_RECORD_FIELDS)[number];
/** The record's fields as stored in the ConfigMap's `data` (strings; absent optional values are `''`). */
export type StateRecordData = Readonly<Record<StateRecordField, string>>;

/** One HMAC key of `LOGSTACK_STATE_KEYS`. */
export interface StateKey {
  readonly id: string;
  /** At least {@link STATE_KEY_MIN_BYTES} bytes. */
  readonly key: Uint8Array;
}

/** HMAC-SHA256 of `message` (UTF-8) under `key`, supplied by the caller's runtime. */
export type StateMac = (key: Uint8Array, message: string) => Uint8Array;

const KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;
const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;

/** The bytes of standard or URL-safe base64, padded or not. */
function fromBase64(digits: string): Uint8Array {
  const standard = digits.replace(/=+$/, '').replace(/-/g, '+').replace(/_/g, '/');
  const whole = standard.length % 4 === 1 ? standard.slice(0, -1) : standard;
  return Uint8Array.from(atob(whole.padEnd(Math.ceil(whole.length / 4) * 4, '=')), (c) => c.charCodeAt(0));
}

/** Standard, padded base64. */
function toBase64(data: Uint8Array): string {
  let text = '';
  for (const byte of data) text += String.fromCharCode(byte);
  return btoa(text);
}

/** The key list with each key replaced by `***`: safe to print in an error. */
export function redactStateKeys(spec: string): string {
  return spec
    .split(',')
    .map((entry) => {
      const colon = entry.indexOf(':');
      return colon < 0 ? '***' : `${entry.slice(0, colon).trim()}:***`;
    })
    .join(',');
}

/**
 * Parses `id:base64key,…`. Guarantees: on success at least one key, ids unique and made of letters,
 * digits, `. _ -`, every key at least 32 bytes. Never echoes key material in a problem.
 * @returns the keys, or one problem sentence per wrong entry (and none of the keys).
 */
export function parseStateKeys(spec: string): { readonly keys: readonly StateKey[]; readonly problems: readonly string[] } {
  const entries = spec
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e.length > 0);
  if (entries.length === 0) return { keys: [], problems: ['needs at least one id:base64key entry (generate a key with `openssl rand -base64 32`)'] };
  const keys: StateKey[] = [];
  const problems: string[] = [];
  for (const [i, entry] of entries.entries()) {
    const colon = entry.indexOf(':');
    const id = colon < 0 ? '' : entry.slice(0, colon);
    const encoded = colon < 0 ? '' : entry.slice(colon + 1);
    if (!KEY_ID.test(id) || encoded.length === 0) {
      problems.push(`entry ${i + 1} must look like id:base64key (id of letters, digits, . _ -, at most 64)`);
      continue;
    }
    if (!BASE64.test(encoded)) {
      problems.push(`key "${id}" is not base64`);
      continue;
    }
    const key = fromBase64(encoded);
    if (key.length < STATE_KEY_MIN_BYTES) {
      problems.push(`key "${id}" is ${key.length} bytes; at least ${STATE_KEY_MIN_BYTES} are needed (\`openssl rand -base64 32\`)`);
      continue;
    }
    if (keys.some((k) => k.id === id)) {
      problems.push(`key id "${id}" is listed twice`);
      continue;
    }
    keys.push({ id, key });
  }
  return problems.length > 0 ? { keys: [], problems } : { keys, problems };
}

/**
 * The exact bytes the signature covers: a JSON array of a format tag and the five fields in
 * {@link STATE_RECORD_FIELDS} order. Unambiguous (no value can shift into another field) and stable
 * across runtimes.
 */
export function canonicalStateRecord(data: StateRecordData): string {
  return JSON.stringify([`logstack-state/${STATE_SIGNATURE_VERSION}`, ...STATE_RECORD_FIELDS.map((f) => data[f])]);
}

/** `v1:<keyId>:<base64 HMAC-SHA256>` over {@link canonicalStateRecord}, with the first (active) key. */
export function signStateRecord(data: StateRecordData, keys: readonly StateKey[], mac: StateMac): string {
  const active = keys[0];
  if (!active) throw new Error(`${STATE_KEYS_ENV} holds no key to sign with`);
  return `${STATE_SIGNATURE_VERSION}:${active.id}:${toBase64(mac(active.key, canonicalStateRecord(data)))}`;
}

/** Byte equality whose time does not depend on where the inputs differ. */
function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < Math.max(a.length, b.length); i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}

/**
 * Checks `signature` against the record's fields with every key (rotation: old keys still verify).
 * @returns null when it verifies, else what is wrong with it.
 */
export function signatureProblem(data: StateRecordData, signature: string | undefined, keys: readonly StateKey[], mac: StateMac): string | null {
  if (!signature) return `it carries no "${STATE_SIGNATURE_FIELD}"`;
  const match = /^v1:([A-Za-z0-9._-]{1,64}):([A-Za-z0-9+/]+={0,2})$/.exec(signature);
  if (!match?.[1] || !match[2]) return `its signature is not in the form ${STATE_SIGNATURE_VERSION}:<keyId>:<base64 HMAC-SHA256>`;
  const [, keyId, digits] = match;
  const key = keys.find((k) => k.id === keyId);
  if (!key) return `its signature names key "${keyId}", which is not among the configured keys (${keys.map((k) => k.id).join(', ') || 'none'})`;
  if (!constantTimeEqual(fromBase64(digits), mac(key.key, canonicalStateRecord(data)))) {
    return `its signature does not match its content under key "${keyId}" (the content was changed after signing, or the signature was forged)`;
  }
  return null;
}

/** Problems of the field values themselves: full SHAs, a boolean `verified`, the right environment. */
export function stateShapeProblems(data: Readonly<Record<string, string | undefined>>, environment: string): string[] {
  const problems: string[] = [];
  const revision = data['revision'] ?? '';
  if (!isCommitSha(revision)) problems.push(`revision ${JSON.stringify(revision)} is not a full 40-hex commit SHA`);
  const previous = data['previousRevision'] ?? '';
  if (previous !== '' && !isCommitSha(previous)) problems.push(`previousRevision ${JSON.stringify(previous)} is not a full 40-hex commit SHA`);
  const verified = data['verified'] ?? '';
  if (verified !== 'true' && verified !== 'false') problems.push(`verified ${JSON.stringify(verified)} is neither "true" nor "false"`);
  if ((data['environment'] ?? '') !== environment) problems.push(`environment ${JSON.stringify(data['environment'] ?? '')} is not "${environment}"`);
  return problems;
}

/** The part of a `metadata.managedFields` entry the ownership check reads. */
export interface FieldOwnership {
  readonly manager?: string;
  readonly operation?: string;
  readonly fieldsV1?: unknown;
}

/** Managers other than logstack owning keys of `data`, with the keys each owns (sorted). */
export function foreignDataOwners(managedFields: readonly FieldOwnership[] | undefined): { manager: string; operation: string; fields: string[] }[] {
  const owners: { manager: string; operation: string; fields: string[] }[] = [];
  for (const entry of managedFields ?? []) {
    if (entry.manager === STATE_FIELD_MANAGER) continue;
    const data = (entry.fieldsV1 as Record<string, unknown> | undefined)?.['f:data'];
    if (!data || typeof data !== 'object') continue;
    const fields = Object.keys(data)
      .filter((k) => k.startsWith('f:'))
      .map((k) => k.slice(2))
      .sort();
    if (fields.length > 0) owners.push({ manager: entry.manager ?? '(unnamed)', operation: entry.operation ?? '?', fields });
  }
  return owners;
}

/** The record's fields out of a ConfigMap's `data`; a missing field reads as `''`. */
export function stateRecordData(data: Readonly<Record<string, string | undefined>> | undefined): StateRecordData {
  return Object.fromEntries(STATE_RECORD_FIELDS.map((f) => [f, data?.[f] ?? ''])) as StateRecordData;
}

/**
 * Every check that needs no I/O, in the order a person would fix them: field shapes, the signature,
 * then field ownership. Empty when the record passes them (the caller still checks that its commits
 * exist in the GitOps remote).
 */
export function stateRecordProblems(
  configMap: { readonly data?: Readonly<Record<string, string | undefined>>; readonly managedFields?: readonly FieldOwnership[] },
  environment: string,
  keys: readonly StateKey[],
  mac: StateMac,
): string[] {
  const problems = stateShapeProblems(configMap.data ?? {}, environment);
  const signature = signatureProblem(stateRecordData(configMap.data), configMap.data?.[STATE_SIGNATURE_FIELD], keys, mac);
  if (signature) problems.push(signature);
  for (const owner of foreignDataOwners(configMap.managedFields)) {
    problems.push(`data field${owner.fields.length > 1 ? 's' : ''} ${owner.fields.join(', ')} ${owner.fields.length > 1 ? 'are' : 'is'} owned by field manager "${owner.manager}" (${owner.operation}), not "${STATE_FIELD_MANAGER}": a hand edit`);
  }
  return problems;
}

/** The refusal message: the ConfigMap, its cluster context, every problem, and how to fix it. */
export function stateRecordRefusal(environment: string, configMap: string, context: string, problems: readonly string[]): string {
  return `the deployed-state record ConfigMap ${configMap} on cluster context "${context}" is not trustworthy: ${problems.map((p, i) => `(${i + 1}) ${p}`).join('; ')} — ${stateRepairAdvice(environment)}`;
}

/** The advice every refusal ends with. */
export function stateRepairAdvice(environment: string): string {
  return `inspect it with \`logstack state show ${environment}\`, then rewrite it deliberately with \`logstack state repair ${environment}\` (add --revision <sha> and --verified/--no-verified to state what is true)`;
}
