/**
 * Payload encryption shared by the worker, the client and the codec server: AES-256-GCM through
 * WebCrypto (`globalThis.crypto.subtle`), so the same code runs on Node and Deno. A room of its own
 * because both `worker/` and `client/` use it and neither may import the other; it imports only the
 * SDK's payload types and protobuf codec, no runtime built-ins.
 *
 * Each encrypted payload is the protobuf encoding of the original payload (metadata and data), sealed
 * with a fresh 96-bit IV; its metadata says `encoding: binary/encrypted`, names the key in
 * `encryption-key-id` and the additional-data format in `encryption-aad: namespace-v1`. The GCM
 * additional data binds the key id and the Temporal namespace (`namespace-v1\n<keyId>\n<namespace>`):
 * relabelling a payload with another key id, or replaying it into another namespace's history, fails
 * authentication instead of decrypting. Payloads written before the namespace binding (no
 * `encryption-aad` metadata; additional data = the key id alone) still decrypt in any namespace, so
 * running workflows and recorded histories stay readable; only the new form is written. Stripping the
 * `encryption-aad` label from a new payload does not downgrade it: it was sealed with the namespace, so
 * it then fails authentication. Keys rotate by id: the first key of `LOGSTACK_CODEC_KEYS` encrypts, every
 * listed key decrypts — and dropping a key after the workflows that used it have closed also ends the
 * acceptance of the old, unbound form under it.
 */
import type { DataConverter, Payload, PayloadCodec } from '@temporalio/common';
// CommonJS: only the default export is reliable across Node's and Deno's ESM interop.
import proto from '@temporalio/proto';

/** `encoding` metadata value of an encrypted payload. */
export const ENCRYPTED_ENCODING = 'binary/encrypted';
/** Metadata key naming the key a payload was encrypted with. */
export const KEY_ID_METADATA = 'encryption-key-id';
/** Metadata key naming the additional-data format; absent on payloads written before namespace binding. */
export const AAD_METADATA = 'encryption-aad';
/** The {@link AAD_METADATA} value of payloads bound to their key id and namespace. */
export const AAD_NAMESPACE_V1 = 'namespace-v1';
/** Environment variable holding `id1:base64key,id2:base64key` (first = active). */
export const CODEC_KEYS_ENV = 'LOGSTACK_CODEC_KEYS';

const IV_BYTES = 12;
const KEY_BYTES = 32;
const KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;
/** A Temporal namespace name as the codec accepts it (and the codec server reads it from `X-Namespace`). */
const NAMESPACE = /^[A-Za-z0-9._-]{1,255}$/;
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

/** True for a name the codec accepts as a Temporal namespace: letters, digits, `.`, `_`, `-`, 1–255 characters. */
export function isCodecNamespace(namespace: string): boolean {
  return NAMESPACE.test(namespace);
}

/** The GCM additional data of the `namespace-v1` form: key id and namespace, each free of newlines. */
const namespaceAad = (keyId: string, namespace: string): Uint8Array<ArrayBuffer> =>
  bytes(utf8.encode(`${AAD_NAMESPACE_V1}\n${keyId}\n${namespace}`));

/**
 * AES-256-GCM {@link PayloadCodec} of one Temporal namespace. `encode` encrypts every payload with the
 * active (first) key, bound to the key id and the namespace; `decode` decrypts payloads marked
 * `binary/encrypted` with the key they name (the namespace-bound form for this namespace, or the older
 * key-id-only form) and passes others through unchanged (inputs started by the Temporal CLI without a
 * codec stay readable).
 */
export class AesGcmCodec implements PayloadCodec {
  readonly #keys: ReadonlyMap<string, AesKey>;
  readonly #activeId: string;
  readonly #namespace: string;

  private constructor(keys: ReadonlyMap<string, AesKey>, activeId: string, namespace: string) {
    this.#keys = keys;
    this.#activeId = activeId;
    this.#namespace = namespace;
  }

  /**
   * Imports the keys (non-extractable). The first key is the active encryption key; `namespace` is the
   * Temporal namespace whose histories the payloads belong to.
   * @throws CodecConfigError for no key, a key that is not 32 bytes, or a malformed namespace.
   */
  static async create(keys: readonly CodecKey[], options: { readonly namespace: string }): Promise<AesGcmCodec> {
    const first = keys[0];
    if (!first) throw new CodecConfigError('the codec needs at least one key');
    if (!NAMESPACE.test(options.namespace)) {
      throw new CodecConfigError(`namespace "${options.namespace}" is not a Temporal namespace name (letters, digits, . _ -; 1–255)`);
    }
    const imported = new Map<string, AesKey>();
    for (const k of keys) {
      if (k.key.length !== KEY_BYTES) throw new CodecConfigError(`key "${k.id}" is ${k.key.length} bytes; AES-256 needs ${KEY_BYTES}`);
      imported.set(k.id, await globalThis.crypto.subtle.importKey('raw', bytes(k.key), 'AES-GCM', false, ['encrypt', 'decrypt']));
    }
    return new AesGcmCodec(imported, first.id, options.namespace);
  }

  /**
   * The same keys for another namespace (the codec server serves every namespace its caller names).
   * @throws CodecConfigError for a malformed namespace.
   */
  forNamespace(namespace: string): AesGcmCodec {
    if (!NAMESPACE.test(namespace)) {
      throw new CodecConfigError(`namespace "${namespace}" is not a Temporal namespace name (letters, digits, . _ -; 1–255)`);
    }
    return namespace === this.#namespace ? this : new AesGcmCodec(this.#keys, this.#activeId, namespace);
  }

  /** The namespace payloads are bound to. */
  get namespace(): string {
    return this.#namespace;
  }

  /** Id of the key new payloads are encrypted with. */
  get activeKeyId(): string {
    return this.#activeId;
  }

  /** Ids of every key that can decrypt. */
  get keyIds(): readonly string[] {
    return [...this.#keys.keys()];
  }

  /** Encrypts each payload with the active key, bound to the key id and the namespace (`namespace-v1`). */
  async encode(payloads: Payload[]): Promise<Payload[]> {
    const key = this.#keys.get(this.#activeId);
    if (!key) throw new CodecConfigError(`active key "${this.#activeId}" is missing`);
    const aad = namespaceAad(this.#activeId, this.#namespace);
    const keyId = utf8.encode(this.#activeId);
    return Promise.all(
      payloads.map(async (payload) => {
        const plain = bytes(ProtoPayload.encode(payload).finish());
        const iv = globalThis.crypto.getRandomValues(new Uint8Array(IV_BYTES));
        const sealed = new Uint8Array(await globalThis.crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: aad }, key, plain));
        const data = new Uint8Array(IV_BYTES + sealed.length);
        data.set(iv, 0);
        data.set(sealed, IV_BYTES);
        return {
          metadata: {
            encoding: utf8.encode(ENCRYPTED_ENCODING),
            [KEY_ID_METADATA]: new Uint8Array(keyId),
            [AAD_METADATA]: utf8.encode(AAD_NAMESPACE_V1),
          },
          data,
        };
      }),
    );
  }

  /**
   * Decrypts payloads marked `binary/encrypted`: the `namespace-v1` form with this codec's namespace, and
   * the older form (no `encryption-aad`) with the key id alone.
   * @throws PayloadDecryptionError for a key id this codec does not hold, a missing key id, an unknown
   * `encryption-aad` format, or a payload that fails authentication (tampered with, relabelled, or sealed
   * for another namespace).
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
        const rawFormat = payload.metadata?.[AAD_METADATA];
        const format = rawFormat ? fromUtf8.decode(rawFormat) : undefined;
        if (format !== undefined && format !== AAD_NAMESPACE_V1) {
          throw new PayloadDecryptionError(`encrypted payload (key "${keyId}") names ${AAD_METADATA} "${format}", which this codec does not know`, keyId);
        }
        // Only a held key id reaches here, so it is free of newlines like every id LOGSTACK_CODEC_KEYS accepts.
        const aad = format === AAD_NAMESPACE_V1 ? namespaceAad(keyId, this.#namespace) : bytes(rawId);
        const data = payload.data ?? new Uint8Array();
        if (data.length < IV_BYTES + 16) throw new PayloadDecryptionError(`encrypted payload (key "${keyId}") is truncated`, keyId);
        let plain: ArrayBuffer;
        try {
          plain = await globalThis.crypto.subtle.decrypt(
            { name: 'AES-GCM', iv: bytes(data.subarray(0, IV_BYTES)), additionalData: aad },
            key,
            bytes(data.subarray(IV_BYTES)),
          );
        } catch {
          throw new PayloadDecryptionError(
            format === AAD_NAMESPACE_V1
              ? `encrypted payload (key "${keyId}") failed authentication in namespace "${this.#namespace}": it was altered, sealed for another namespace, or sealed with another key under that id`
              : `encrypted payload (key "${keyId}") failed authentication: it was altered, or sealed with another key under that id`,
            keyId,
          );
        }
        const decoded = ProtoPayload.decode(new Uint8Array(plain));
        return { metadata: decoded.metadata, data: decoded.data };
      }),
    );
  }
}

/**
 * The codec configured by `LOGSTACK_CODEC_KEYS` for `namespace`, or undefined when it is unset (payloads
 * stay plain JSON; secrets still never enter history because activities return references).
 * @throws CodecConfigError when the variable is set but malformed, or the namespace is.
 */
export async function codecFromEnv(
  env: Readonly<Record<string, string | undefined>>,
  namespace: string,
): Promise<AesGcmCodec | undefined> {
  const spec = env[CODEC_KEYS_ENV];
  if (spec === undefined || spec.trim() === '') return undefined;
  return AesGcmCodec.create(parseCodecKeys(spec), { namespace });
}

/**
 * The data converter for `Client`/`Worker` options of `namespace`: `{ payloadCodecs: [codec] }` when
 * `LOGSTACK_CODEC_KEYS` is set, else undefined (the SDK default).
 */
export async function dataConverterFromEnv(
  env: Readonly<Record<string, string | undefined>>,
  namespace: string,
): Promise<DataConverter | undefined> {
  const codec = await codecFromEnv(env, namespace);
  return codec ? { payloadCodecs: [codec] } : undefined;
}
