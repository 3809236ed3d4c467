/**
 * Payload encryption shared by the worker, the client and the codec server: AES-256-GCM through
 * WebCrypto (`globalThis.crypto.subtle`), so the same code runs on Node and Deno. A room of its own
 * because both `worker/` and `client/` use it and neither may import the other; it imports only the
 * SDK's payload types and protobuf codec, no runtime built-ins.
 *
 * Each encrypted payload is the protobuf encoding of the original payload (metadata and data), sealed
 * with a fresh 96-bit IV; its metadata says `encoding: binary/encrypted` and names the key in
 * `encryption-key-id`. The key id is also bound as GCM additional data, so relabelling a payload with
 * another key id fails authentication instead of decrypting under the wrong key. Keys rotate by id:
 * the first key of `LOGSTACK_CODEC_KEYS` encrypts, every listed key decrypts.
 */
import type { DataConverter, Payload, PayloadCodec } from '@temporalio/common';
// CommonJS: only the default export is reliable across Node's and Deno's ESM interop.
import proto from '@temporalio/proto';

/** `encoding` metadata value of an encrypted payload. */
export const ENCRYPTED_ENCODING = 'binary/encrypted';
/** Metadata key naming the key a payload was encrypted with. */
export const KEY_ID_METADATA = 'encryption-key-id';
/** Environment variable holding `id1:base64key,id2:base64key` (first = active). */
export const CODEC_KEYS_ENV = 'LOGSTACK_CODEC_KEYS';

const IV_BYTES = 12;
const KEY_BYTES = 32;
const KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;
const ProtoPayload = proto.temporal.api.common.v1.Payload;

/**
 * The WebCrypto key type as the running platform declares it (Node's and Deno's declarations differ;
 * both accept their own).
 */
type AesKey = Awaited<ReturnType<typeof globalThis.crypto.subtle.importKey>>;

/** A copy backed by a plain ArrayBuffer, the BufferSource WebCrypto's typings ask for. */
const bytes = (view: Uint8Array): Uint8Array<ArrayBuffer> => new Uint8Array(view);

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

/**
 * The bytes of standard or URL-safe base64 digits, padded or not. As Node's decoder does, a lone last
 * digit (less than a byte) is dropped, so a key of the wrong size is reported by its size.
 */
function fromBase64(digits: string): Uint8Array {
  const standard = digits.replace(/=+$/, '').replace(/-/g, '+').replace(/_/g, '/');
  const whole = standard.length % 4 === 1 ? standard.slice(0, -1) : standard;
  return Uint8Array.from(atob(whole.padEnd(Math.ceil(whole.length / 4) * 4, '=')), (c) => c.charCodeAt(0));
}

/** Standard, padded base64. */
const toBase64 = (data: Uint8Array): string => btoa(String.fromCharCode(...data));

/** One raw AES-256 key and its id. */
export interface CodecKey {
  readonly id: string;
  /** 32 bytes. */
  readonly key: Uint8Array;
}

/** The codec configuration is wrong (bad `LOGSTACK_CODEC_KEYS`); the message says how to fix it. */
export class CodecConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CodecConfigError';
  }
}

/** A payload cannot be decrypted: unknown key id, missing key id, or failed authentication. */
export class PayloadDecryptionError extends Error {
  readonly keyId: string | undefined;
  constructor(message: string, keyId: string | undefined) {
    super(message);
    this.name = 'PayloadDecryptionError';
    this.keyId = keyId;
  }
}

/**
 * Parses `id1:base64key,id2:base64key`. Ids are letters, digits, `.`, `_`, `-`; each key is 32 bytes
 * of standard or URL-safe base64 (e.g. `openssl rand -base64 32`).
 * @throws CodecConfigError naming the entry at fault.
 */
export function parseCodecKeys(spec: string): CodecKey[] {
  const entries = spec
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e.length > 0);
  if (entries.length === 0) {
    throw new CodecConfigError(`${CODEC_KEYS_ENV} is empty; set it to id:base64key[,id:base64key…] (generate a key with \`openssl rand -base64 32\`)`);
  }
  const keys: CodecKey[] = [];
  for (const [i, entry] of entries.entries()) {
    const colon = entry.indexOf(':');
    const id = colon < 0 ? '' : entry.slice(0, colon);
    const encoded = colon < 0 ? '' : entry.slice(colon + 1);
    if (!KEY_ID.test(id) || encoded.length === 0) {
      throw new CodecConfigError(`${CODEC_KEYS_ENV} entry ${i + 1} must look like id:base64key (id of letters, digits, . _ -)`);
    }
    if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(encoded)) {
      throw new CodecConfigError(`${CODEC_KEYS_ENV} key "${id}" is not base64`);
    }
    const key = fromBase64(encoded);
    if (key.length !== KEY_BYTES) {
      throw new CodecConfigError(`${CODEC_KEYS_ENV} key "${id}" is ${key.length} bytes; AES-256 needs exactly ${KEY_BYTES} (\`openssl rand -base64 32\`)`);
    }
    if (keys.some((k) => k.id === id)) throw new CodecConfigError(`${CODEC_KEYS_ENV} lists key id "${id}" twice`);
    keys.push({ id, key });
  }
  return keys;
}

/** A new random key in `LOGSTACK_CODEC_KEYS` entry form, `id:base64`. */
export function generateCodecKey(id: string): string {
  if (!KEY_ID.test(id)) throw new CodecConfigError(`key id "${id}" must be letters, digits, . _ - (≤ 64)`);
  return `${id}:${toBase64(globalThis.crypto.getRandomValues(new Uint8Array(KEY_BYTES)))}`;
}

/**
 * AES-256-GCM {@link PayloadCodec}. `encode` encrypts every payload with the active (first) key;
 * `decode` decrypts payloads marked `binary/encrypted` with the key they name and passes others through
 * unchanged (inputs started by the Temporal CLI without a codec stay readable).
 */
export class AesGcmCodec implements PayloadCodec {
  readonly #keys: ReadonlyMap<string, AesKey>;
  readonly #activeId: string;

  private constructor(keys: ReadonlyMap<string, AesKey>, activeId: string) {
    this.#keys = keys;
    this.#activeId = activeId;
  }

  /** Imports the keys (non-extractable). The first key is the active encryption key. */
  static async create(keys: readonly CodecKey[]): Promise<AesGcmCodec> {
    const first = keys[0];
    if (!first) throw new CodecConfigError('the codec needs at least one key');
    const imported = new Map<string, AesKey>();
    for (const k of keys) {
      if (k.key.length !== KEY_BYTES) throw new CodecConfigError(`key "${k.id}" is ${k.key.length} bytes; AES-256 needs ${KEY_BYTES}`);
      imported.set(k.id, await globalThis.crypto.subtle.importKey('raw', bytes(k.key), 'AES-GCM', false, ['encrypt', 'decrypt']));
    }
    return new AesGcmCodec(imported, first.id);
  }

  /** Id of the key new payloads are encrypted with. */
  get activeKeyId(): string {
    return this.#activeId;
  }

  /** Ids of every key that can decrypt. */
  get keyIds(): readonly string[] {
    return [...this.#keys.keys()];
  }

  /** Encrypts each payload with the active key. */
  async encode(payloads: Payload[]): Promise<Payload[]> {
    const key = this.#keys.get(this.#activeId);
    if (!key) throw new CodecConfigError(`active key "${this.#activeId}" is missing`);
    const aad = bytes(utf8.encode(this.#activeId));
    return Promise.all(
      payloads.map(async (payload) => {
        const plain = bytes(ProtoPayload.encode(payload).finish());
        const iv = globalThis.crypto.getRandomValues(new Uint8Array(IV_BYTES));
        const sealed = new Uint8Array(await globalThis.crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: aad }, key, plain));
        const data = new Uint8Array(IV_BYTES + sealed.length);
        data.set(iv, 0);
        data.set(sealed, IV_BYTES);
        return {
          metadata: { encoding: utf8.encode(ENCRYPTED_ENCODING), [KEY_ID_METADATA]: aad },
          data,
        };
      }),
    );
  }

  /**
   * Decrypts payloads marked `binary/encrypted`.
   * @throws PayloadDecryptionError for a key id this codec does not hold, a missing key id, or a payload
   * that fails authentication (tampered with, or relabelled).
   */
  async decode(payloads: Payload[]): Promise<Payload[]> {
    return Promise.all(
      payloads.map(async (payload) => {
        const encoding = payload.metadata?.['encoding'];
        if (!encoding || fromUtf8.decode(encoding) !== ENCRYPTED_ENCODING) return payload;
        const rawId = payload.metadata?.[KEY_ID_METADATA];
        if (!rawId) throw new PayloadDecryptionError(`encrypted payload has no ${KEY_ID_METADATA} metadata; it was not written by this codec`, undefined);
        const keyId = fromUtf8.decode(rawId);
        const key = this.#keys.get(keyId);
        if (!key) {
          throw new PayloadDecryptionError(
            `payload was encrypted with key id "${keyId}", which ${CODEC_KEYS_ENV} does not hold (it holds: ${this.keyIds.join(', ')}); add that key to decrypt it`,
            keyId,
          );
        }
        const data = payload.data ?? new Uint8Array();
        if (data.length < IV_BYTES + 16) throw new PayloadDecryptionError(`encrypted payload (key "${keyId}") is truncated`, keyId);
        let plain: ArrayBuffer;
        try {
          plain = await globalThis.crypto.subtle.decrypt(
            { name: 'AES-GCM', iv: bytes(data.subarray(0, IV_BYTES)), additionalData: bytes(rawId) },
            key,
            bytes(data.subarray(IV_BYTES)),
          );
        } catch {
          throw new PayloadDecryptionError(`encrypted payload (key "${keyId}") failed authentication: it was altered, or sealed with another key under that id`, keyId);
        }
        const decoded = ProtoPayload.decode(new Uint8Array(plain));
        return { metadata: decoded.metadata, data: decoded.data };
      }),
    );
  }
}

/**
 * The codec configured by `LOGSTACK_CODEC_KEYS`, or undefined when it is unset (payloads stay plain
 * JSON; secrets still never enter history because activities return references).
 * @throws CodecConfigError when the variable is set but malformed.
 */
export async function codecFromEnv(
  env: Readonly<Record<string, string | undefined>>,
): Promise<AesGcmCodec | undefined> {
  const spec = env[CODEC_KEYS_ENV];
  if (spec === undefined || spec.trim() === '') return undefined;
  return AesGcmCodec.create(parseCodecKeys(spec));
}

/**
 * The data converter for `Client`/`Worker` options: `{ payloadCodecs: [codec] }` when
 * `LOGSTACK_CODEC_KEYS` is set, else undefined (the SDK default).
 */
export async function dataConverterFromEnv(
  env: Readonly<Record<string, string | undefined>>,
): Promise<DataConverter | undefined> {
  const codec = await codecFromEnv(env);
  return codec ? { payloadCodecs: [codec] } : undefined;
}
