/**
 * The payload codec, pure (no Temporal server): round trip through the SDK's data converter, key
 * rotation by id, tamper detection, unknown key ids, and configuration errors. Runs on Node and Deno.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import proto from '@temporalio/proto';
import {
  AAD_METADATA,
  AesGcmCodec,
  CodecConfigError,
  ENCRYPTED_ENCODING,
  KEY_ID_METADATA,
  codecFromEnv,
  dataConverterFromEnv,
  generateCodecKey,
  parseCodecKeys,
} from '../../codec/codec.ts';

const text = new TextDecoder();
const key = (byte: number): string => btoa(String.fromCharCode(...new Uint8Array(32).fill(byte)));
const K1 = `k1:${key(1)}`;
const K2 = `k2:${key(2)}`;
const NS = { namespace: 'default' } as const;

const plain = (value: unknown): Payload => defaultPayloadConverter.toPayload(value);
const value = (payload: Payload | undefined): unknown => defaultPayloadConverter.fromPayload(payload ?? {});
const meta = (payload: Payload | undefined, k: string): string | undefined => {
  const v = payload?.metadata?.[k];
  return v ? text.decode(v) : undefined;
};

/**
 * A payload in the form written before namespace binding (additional data = the key id alone, no
 * `encryption-aad` metadata), sealed here with WebCrypto exactly as the earlier codec sealed it.
 */
async function legacySeal(keyId: string, raw: Uint8Array, payload: Payload): Promise<Payload> {
  const k = await globalThis.crypto.subtle.importKey('raw', new Uint8Array(raw), 'AES-GCM', false, ['encrypt']);
  const iv = globalThis.crypto.getRandomValues(new Uint8Array(12));
  const id = new TextEncoder().encode(keyId);
  const plainBytes = new Uint8Array(proto.temporal.api.common.v1.Payload.encode(payload).finish());
  const sealed = new Uint8Array(await globalThis.crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: id }, k, plainBytes));
  const data = new Uint8Array(12 + sealed.length);
  data.set(iv, 0);
  data.set(sealed, 12);
  return { metadata: { encoding: new TextEncoder().encode(ENCRYPTED_ENCODING), [KEY_ID_METADATA]: id }, data };
}

describe('payload codec: ciphertext bound to its namespace', () => {
  it('writes the namespace-v1 form, which decrypts in its namespace only', async () => {
    const prod = await AesGcmCodec.create(parseCodecKeys(K1), { namespace: 'logstack-prod' });
    const other = prod.forNamespace('logstack-dev');
    assert.equal(other.namespace, 'logstack-dev');
    const [sealed] = await prod.encode([plain({ approvedBy: 'bob' })]);
    assert.equal(meta(sealed, AAD_METADATA), 'namespace-v1');
    assert.deepEqual(value((await prod.decode([sealed ?? {}]))[0]), { approvedBy: 'bob' });
    await assert.rejects(other.decode([sealed ?? {}]), (error: Error) => {
      assert.equal(error.name, 'PayloadDecryptionError');
      assert.match(error.message, /failed authentication in namespace "logstack-dev"/);
      return true;
    });
  });

  it('still decrypts payloads written before the binding (no encryption-aad), in any namespace', async () => {
    const [k1] = parseCodecKeys(K1);
    assert.ok(k1);
    const old = await legacySeal('k1', k1.key, plain({ environment: 'production' }));
    for (const namespace of ['default', 'logstack-prod']) {
      const codec = await AesGcmCodec.create([k1], { namespace });
      assert.deepEqual(value((await codec.decode([old]))[0]), { environment: 'production' });
    }
  });

  it('does not downgrade: a new payload stripped of its encryption-aad label fails authentication', async () => {
    const codec = await AesGcmCodec.create(parseCodecKeys(K1), NS);
    const [sealed] = await codec.encode([plain('bound')]);
    const metadata = { ...sealed?.metadata };
    delete metadata[AAD_METADATA];
    await assert.rejects(codec.decode([{ ...sealed, metadata }]), /failed authentication/);
    const relabelled = { ...sealed, metadata: { ...sealed?.metadata, [AAD_METADATA]: new TextEncoder().encode('namespace-v9') } };
    await assert.rejects(codec.decode([relabelled]), /encryption-aad "namespace-v9", which this codec does not know/);
  });

  it('refuses a malformed namespace', async () => {
    await assert.rejects(AesGcmCodec.create(parseCodecKeys(K1), { namespace: '' }), CodecConfigError);
    const codec = await AesGcmCodec.create(parseCodecKeys(K1), NS);
    assert.throws(() => codec.forNamespace('a\nb'), CodecConfigError);
  });
});

describe('payload codec (AES-256-GCM, WebCrypto)', () => {
  it('round-trips JSON payloads, hiding the plaintext and naming the key', async () => {
    const codec = await AesGcmCodec.create(parseCodecKeys(K1), NS);
    const input = { environment: 'production', secretArn: 'arn:aws:secretsmanager:eu-west-1:123:secret:loki', note: 'ünïcode ✓' };
    const [encoded] = await codec.encode([plain(input)]);
    assert.equal(meta(encoded, 'encoding'), ENCRYPTED_ENCODING);
    assert.equal(meta(encoded, KEY_ID_METADATA), 'k1');
    assert.ok(!text.decode(encoded?.data ?? new Uint8Array()).includes('secretsmanager'), 'ciphertext does not contain the plaintext');
    const [decoded] = await codec.decode(encoded ? [encoded] : []);
    assert.deepEqual(value(decoded), input);
    assert.equal(meta(decoded, 'encoding'), 'json/plain');
  });

  it('uses a fresh IV per payload, so equal values encrypt differently', async () => {
    const codec = await AesGcmCodec.create(parseCodecKeys(K1), NS);
    const [a, b] = await codec.encode([plain('same'), plain('same')]);
    assert.notDeepEqual(a?.data, b?.data);
  });

  it('passes unencrypted payloads through on decode (inputs started without a codec)', async () => {
    const codec = await AesGcmCodec.create(parseCodecKeys(K1), NS);
    const p = plain({ environment: 'dev' });
    const [out] = await codec.decode([p]);
    assert.equal(out, p);
    assert.deepEqual(await codec.decode([]), []);
  });

  it('rotates keys by id: the first key encrypts, every listed key decrypts', async () => {
    const old = await AesGcmCodec.create(parseCodecKeys(K1), NS);
    const [sealedWithK1] = await old.encode([plain('written before rotation')]);
    const rotated = await AesGcmCodec.create(parseCodecKeys(`${K2},${K1}`), NS);
    assert.equal(rotated.activeKeyId, 'k2');
    assert.deepEqual(rotated.keyIds, ['k2', 'k1']);
    const [sealedWithK2] = await rotated.encode([plain('written after rotation')]);
    assert.equal(meta(sealedWithK2, KEY_ID_METADATA), 'k2');
    const [a, b] = await rotated.decode([sealedWithK1 ?? {}, sealedWithK2 ?? {}]);
    assert.equal(value(a), 'written before rotation');
    assert.equal(value(b), 'written after rotation');
  });

  it('refuses an unknown key id with a message naming the id and the keys held', async () => {
    const writer = await AesGcmCodec.create(parseCodecKeys(K2), NS);
    const [sealed] = await writer.encode([plain('x')]);
    const reader = await AesGcmCodec.create(parseCodecKeys(K1), NS);
    await assert.rejects(reader.decode([sealed ?? {}]), (error: Error) => {
      assert.equal(error.name, 'PayloadDecryptionError');
      assert.match(error.message, /key id "k2"/);
      assert.match(error.message, /LOGSTACK_CODEC_KEYS/);
      assert.match(error.message, /holds: k1/);
      return true;
    });
  });

  it('detects tampering: a flipped ciphertext bit, a flipped IV bit, a truncated payload', async () => {
    const codec = await AesGcmCodec.create(parseCodecKeys(K1), NS);
    const [sealed] = await codec.encode([plain({ revision: 'abc' })]);
    const data = sealed?.data ?? new Uint8Array();
    for (const index of [data.length - 1, 20, 0]) {
      const altered = new Uint8Array(data);
      altered[index] = (altered[index] ?? 0) ^ 0x01;
      await assert.rejects(codec.decode([{ ...sealed, data: altered }]), /failed authentication/);
    }
    await assert.rejects(codec.decode([{ ...sealed, data: data.subarray(0, 20) }]), /truncated/);
  });

  it('binds the key id: relabelling a payload with another held key fails authentication', async () => {
    const k1 = parseCodecKeys(K1)[0];
    assert.ok(k1);
    // Two ids for the same key bytes: only the AAD binding can tell them apart.
    const codec = await AesGcmCodec.create([k1, { id: 'k1-alias', key: k1.key }], NS);
    const [sealed] = await codec.encode([plain('bound')]);
    const relabelled: Payload = { ...sealed, metadata: { ...sealed?.metadata, [KEY_ID_METADATA]: new TextEncoder().encode('k1-alias') } };
    await assert.rejects(codec.decode([relabelled]), /failed authentication/);
  });

  it('refuses an encrypted payload without a key id', async () => {
    const codec = await AesGcmCodec.create(parseCodecKeys(K1), NS);
    const [sealed] = await codec.encode([plain('x')]);
    const metadata = { ...sealed?.metadata };
    delete metadata[KEY_ID_METADATA];
    await assert.rejects(codec.decode([{ ...sealed, metadata }]), /no encryption-key-id/);
  });

  it('parses LOGSTACK_CODEC_KEYS and explains each malformed entry', () => {
    assert.deepEqual(
      parseCodecKeys(` ${K1} , ${K2} `).map((k) => [k.id, k.key.length]),
      [
        ['k1', 32],
        ['k2', 32],
      ],
    );
    assert.throws(() => parseCodecKeys(''), CodecConfigError);
    assert.throws(() => parseCodecKeys('nokey'), /entry 1 must look like id:base64key/);
    assert.throws(() => parseCodecKeys(`k1:${btoa('short')}`), /is 5 bytes; AES-256 needs exactly 32/);
    assert.throws(() => parseCodecKeys(`k1:not base64!`), /not base64/);
    assert.throws(() => parseCodecKeys(`${K1},${K1}`), /twice/);
    assert.throws(() => parseCodecKeys(`bad id:${key(1)}`), /entry 1/);
  });

  it('reads a key in standard or URL-safe base64, padded or not, to the same bytes', () => {
    const raw = Uint8Array.from({ length: 32 }, (_, i) => 0xf8 + (i % 8));
    const standard = btoa(String.fromCharCode(...raw));
    assert.match(standard, /[+/]/, 'the key has bytes whose standard and URL-safe forms differ');
    const urlSafe = standard.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
    assert.deepEqual(parseCodecKeys(`s:${standard}`)[0]?.key, raw);
    assert.deepEqual(parseCodecKeys(`u:${urlSafe}`)[0]?.key, raw);
    // A lone last digit carries less than a byte: the key is reported by its size, as for any short key.
    assert.throws(() => parseCodecKeys('k1:short'), /"k1" is 3 bytes; AES-256 needs exactly 32/);
  });

  it('generates keys that parse, and builds the data converter from the environment', async () => {
    const generated = generateCodecKey('2026-01');
    assert.equal(parseCodecKeys(generated)[0]?.id, '2026-01');
    assert.equal(parseCodecKeys(generated)[0]?.key.length, 32);
    assert.equal(await codecFromEnv({}, 'default'), undefined);
    assert.equal(await dataConverterFromEnv({ LOGSTACK_CODEC_KEYS: '' }, 'default'), undefined);
    const converter = await dataConverterFromEnv({ LOGSTACK_CODEC_KEYS: generated }, 'default');
    assert.equal(converter?.payloadCodecs?.length, 1);
    await assert.rejects(codecFromEnv({ LOGSTACK_CODEC_KEYS: 'x' }, 'default'), CodecConfigError);
  });
});
