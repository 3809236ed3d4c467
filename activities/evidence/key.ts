/**
 * The worker's evidence key (`LOGSTACK_EVIDENCE_KEY`): ed25519, given as a PKCS#8 PEM or as its 32-byte seed
 * (base64 or hex), and the DSSE signing it does. The key id is the SHA-256 (hex) of the public key's DER
 * SubjectPublicKeyInfo, which `logstack evidence verify --key` computes the same way from the public key.
 */
import { createHash, createPrivateKey, createPublicKey, sign, type KeyObject } from 'node:crypto';
import {
  dsseBase64,
  envelopeText,
  EVIDENCE_KEY_ENV,
  EVIDENCE_PAYLOAD_TYPE,
  preAuthEncoding,
  statementBytes,
  type DsseEnvelope,
  type EvidenceStatement,
} from '../../domain/index.ts';

/** A parsed evidence key: the private key, its public half and its key id. */
export interface EvidenceKey {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly keyid: string;
}

/** DER prefix of an ed25519 PKCS#8 private key, before its 32-byte seed (RFC 8410). */
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** SHA-256 (hex) of the public key's DER SubjectPublicKeyInfo. */
export function evidenceKeyId(publicKey: KeyObject): string {
  return createHash('sha256').update(publicKey.export({ format: 'der', type: 'spki' })).digest('hex');
}

function seedOf(spec: string): Buffer | undefined {
  if (/^[0-9a-fA-F]{64}$/.test(spec)) return Buffer.from(spec, 'hex');
  if (/^[A-Za-z0-9+/]{43}=?$/.test(spec)) {
    const bytes = Buffer.from(spec, 'base64');
    return bytes.length === 32 ? bytes : undefined;
  }
  return undefined;
}

/**
 * Parses `LOGSTACK_EVIDENCE_KEY`.
 * @throws Error saying what is expected (never echoing the key) when it is not an ed25519 PKCS#8 PEM or seed.
 */
export function parseEvidenceKey(spec: string): EvidenceKey {
  const text = spec.trim();
  let privateKey: KeyObject;
  try {
    const seed = seedOf(text);
    privateKey = seed
      ? createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' })
      : createPrivateKey({ key: text.replace(/\\n/g, '\n'), format: 'pem' });
  } catch {
    throw new Error(`${EVIDENCE_KEY_ENV} is not an ed25519 PKCS#8 PEM nor a 32-byte seed (base64 or 64 hex digits)`);
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new Error(`${EVIDENCE_KEY_ENV} is a ${privateKey.asymmetricKeyType ?? 'unknown'} key; evidence is signed with ed25519`);
  }
  const publicKey = createPublicKey(privateKey);
  return { privateKey, publicKey, keyid: evidenceKeyId(publicKey) };
}

/** Signs `statement` into a DSSE envelope (deterministic: ed25519 and canonical JSON give the same bytes on a retry). */
export function signStatement(statement: EvidenceStatement, key: EvidenceKey): DsseEnvelope {
  const payload = statementBytes(statement);
  const sig = sign(null, preAuthEncoding(EVIDENCE_PAYLOAD_TYPE, payload), key.privateKey);
  return { payloadType: EVIDENCE_PAYLOAD_TYPE, payload: dsseBase64(payload), signatures: [{ keyid: key.keyid, sig: dsseBase64(sig) }] };
}

/** The stored text of the signed statement. */
export function signedEvidenceText(statement: EvidenceStatement, key: EvidenceKey): string {
  return envelopeText(signStatement(statement, key));
}
