/**
 * SSH signatures (the SSHSIG format of `ssh-keygen -Y sign`, the one Git uses for signed commits), verified in
 * pure JavaScript: no I/O, no Node built-in, deterministic — so it runs inside workflow code (update validators),
 * on Node and on Deno. Only ed25519 keys are accepted.
 *
 * Format (OpenSSH `PROTOCOL.sshsig`): the armored blob `-----BEGIN SSH SIGNATURE-----` … holds
 * `"SSHSIG" ‖ uint32 version (1) ‖ string publickey ‖ string namespace ‖ string reserved ‖ string hash_algorithm ‖
 * string signature`; the signature is made over `"SSHSIG" ‖ string namespace ‖ string reserved ‖
 * string hash_algorithm ‖ string H(message)` with H = SHA-512 or SHA-256.
 */
import { hashes, verify } from '@noble/ed25519';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { DomainError, FailureType } from './failures.ts';

// Synchronous verification (update validators are synchronous) needs SHA-512 configured once, at import.
if (hashes.sha512 === undefined) hashes.sha512 = sha512;

const MAGIC = 'SSHSIG';
const KEY_TYPE = 'ssh-ed25519';
const BEGIN = '-----BEGIN SSH SIGNATURE-----';
const END = '-----END SSH SIGNATURE-----';
/** Largest armored signature accepted: an ed25519 one is about 300 characters. */
export const MAX_ARMORED_SIGNATURE = 4096;

/** An ed25519 public key in OpenSSH form (`ssh-ed25519 AAAA… [comment]`), decoded. */
export interface SshPublicKey {
  /** The wire blob (`string "ssh-ed25519" ‖ string key`), the identity compared byte for byte. */
  readonly blob: Uint8Array;
  /** The 32-byte ed25519 public key. */
  readonly key: Uint8Array;
  /** `ssh-ed25519 <base64 blob>`, without the comment: the canonical text of the key. */
  readonly canonical: string;
}

/** A parsed SSHSIG signature. */
export interface SshSignature {
  readonly publicKey: SshPublicKey;
  readonly namespace: string;
  readonly reserved: Uint8Array;
  readonly hashAlgorithm: 'sha512' | 'sha256';
  /** The 64-byte ed25519 signature. */
  readonly signature: Uint8Array;
}

function malformed(message: string): DomainError {
  return new DomainError({ type: FailureType.InvalidInput, message });
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64_INDEX = new Map<string, number>([...B64].map((c, i) => [c, i]));

/** Strict standard base64 (padding required, no other characters); undefined when it is not. */
export function decodeBase64(text: string): Uint8Array | undefined {
  if (text.length % 4 !== 0) return undefined;
  const pad = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const c of text.slice(0, text.length - pad)) {
    const v = B64_INDEX.get(c);
    if (v === undefined) return undefined;
    value = ((value << 6) | v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push((value >> bits) & 0xff);
    }
  }
  const bytes = Uint8Array.from(out);
  // Non-canonical trailing bits would let two texts decode to one blob: refuse them.
  return encodeBase64(bytes) === text ? bytes : undefined;
}

/** Standard base64 with padding. */
export function encodeBase64(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const a = bytes[i] ?? 0;
    const b = bytes[i + 1] ?? 0;
    const c = bytes[i + 2] ?? 0;
    const n = (a << 16) | (b << 8) | c;
    out += B64[(n >> 18) & 63];
    out += B64[(n >> 12) & 63];
    out += i + 1 < bytes.length ? B64[(n >> 6) & 63] : '=';
    out += i + 2 < bytes.length ? B64[n & 63] : '=';
  }
  return out;
}

/** UTF-8 bytes of `text` (no TextEncoder needed: the workflow sandbox and Deno alike). */
export function utf8(text: string): Uint8Array {
  const out: number[] = [];
  for (const ch of text) {
    const cp = ch.codePointAt(0) ?? 0;
    if (cp < 0x80) out.push(cp);
    else if (cp < 0x800) out.push(0xc0 | (cp >> 6), 0x80 | (cp & 63));
    else if (cp < 0x10000) out.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63));
    else out.push(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 63), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63));
  }
  return Uint8Array.from(out);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** SSH wire reader: uint32 and length-prefixed strings, refusing anything past the end. */
class WireReader {
  #offset = 0;
  readonly bytes: Uint8Array;
  readonly what: string;
  constructor(bytes: Uint8Array, what: string) {
    this.bytes = bytes;
    this.what = what;
  }
  get done(): boolean {
    return this.#offset === this.bytes.length;
  }
  raw(length: number): Uint8Array {
    if (this.#offset + length > this.bytes.length) throw malformed(`${this.what} is truncated`);
    const out = this.bytes.subarray(this.#offset, this.#offset + length);
    this.#offset += length;
    return out;
  }
  uint32(): number {
    const b = this.raw(4);
    return (((b[0] ?? 0) << 24) >>> 0) + ((b[1] ?? 0) << 16) + ((b[2] ?? 0) << 8) + (b[3] ?? 0);
  }
  string(): Uint8Array {
    return this.raw(this.uint32());
  }
  text(): string {
    const bytes = this.string();
    if (!bytes.every((b) => b >= 0x20 && b < 0x7f)) throw malformed(`${this.what} holds a non-ASCII name`);
    return String.fromCharCode(...bytes);
  }
}

function sshString(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + bytes.length);
  const n = bytes.length;
  out.set([(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff], 0);
  out.set(bytes, 4);
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function publicKeyFromBlob(blob: Uint8Array, what: string): SshPublicKey {
  const reader = new WireReader(blob, what);
  const type = reader.text();
  if (type !== KEY_TYPE) throw malformed(`${what} is a ${type} key; only ssh-ed25519 keys are accepted`);
  const key = reader.string();
  if (key.length !== 32 || !reader.done) throw malformed(`${what} is not a 32-byte ed25519 key`);
  return { blob, key: Uint8Array.from(key), canonical: `${KEY_TYPE} ${encodeBase64(blob)}` };
}

/**
 * Parses an OpenSSH public key line `ssh-ed25519 AAAA… [comment]` (as in `~/.ssh/id_ed25519.pub`).
 * @throws DomainError `InvalidInput` when it is not an ed25519 key in that form.
 */
export function parseSshPublicKey(line: string): SshPublicKey {
  const parts = line.trim().split(/\s+/);
  const [type, data] = parts;
  if (type !== KEY_TYPE || data === undefined) throw malformed('an SSH public key must read "ssh-ed25519 AAAA… [comment]"');
  const blob = decodeBase64(data);
  if (!blob) throw malformed('the SSH public key is not valid base64');
  return publicKeyFromBlob(blob, 'the SSH public key');
}

/** True when two OpenSSH public key lines name the same key (comments ignored); false when either does not parse. */
export function sameSshKey(a: string, b: string): boolean {
  try {
    return sameBytes(parseSshPublicKey(a).blob, parseSshPublicKey(b).blob);
  } catch {
    return false;
  }
}

/**
 * Parses an armored SSH signature (`-----BEGIN SSH SIGNATURE-----` …).
 * @throws DomainError `InvalidInput` naming what is malformed.
 */
export function parseSshSignature(armored: string): SshSignature {
  if (armored.length > MAX_ARMORED_SIGNATURE) throw malformed(`the SSH signature is longer than ${MAX_ARMORED_SIGNATURE} characters`);
  const text = armored.replace(/\r\n/g, '\n').trim();
  if (!text.startsWith(BEGIN) || !text.endsWith(END)) {
    throw malformed(`the signature must be an armored SSH signature (${BEGIN} … ${END}), as ssh-keygen -Y sign writes it`);
  }
  const body = text.slice(BEGIN.length, text.length - END.length).replace(/\s+/g, '');
  const bytes = decodeBase64(body);
  if (!bytes) throw malformed('the SSH signature is not valid base64');
  const reader = new WireReader(bytes, 'the SSH signature');
  if (String.fromCharCode(...reader.raw(MAGIC.length)) !== MAGIC) throw malformed('the SSH signature does not start with SSHSIG');
  const version = reader.uint32();
  if (version !== 1) throw malformed(`the SSH signature has version ${version}; only version 1 is known`);
  const publicKey = publicKeyFromBlob(Uint8Array.from(reader.string()), 'the SSH signature’s public key');
  const namespace = reader.text();
  const reserved = Uint8Array.from(reader.string());
  const hashAlgorithm = reader.text();
  if (hashAlgorithm !== 'sha512' && hashAlgorithm !== 'sha256') throw malformed(`the SSH signature uses hash ${hashAlgorithm}; sha512 or sha256 expected`);
  const sig = new WireReader(Uint8Array.from(reader.string()), 'the SSH signature blob');
  if (!reader.done) throw malformed('the SSH signature has trailing bytes');
  const sigType = sig.text();
  if (sigType !== KEY_TYPE) throw malformed(`the SSH signature is of type ${sigType}; ssh-ed25519 expected`);
  const signature = Uint8Array.from(sig.string());
  if (signature.length !== 64 || !sig.done) throw malformed('the SSH signature is not a 64-byte ed25519 signature');
  return { publicKey, namespace, reserved, hashAlgorithm, signature };
}

/** The bytes an SSHSIG signature signs: `"SSHSIG" ‖ string namespace ‖ string reserved ‖ string hash ‖ string H(message)`. */
export function sshSignedData(message: Uint8Array, namespace: string, hashAlgorithm: 'sha512' | 'sha256', reserved: Uint8Array = new Uint8Array()): Uint8Array {
  const digest = hashAlgorithm === 'sha512' ? sha512(message) : sha256(message);
  return concat(utf8(MAGIC), sshString(utf8(namespace)), sshString(reserved), sshString(utf8(hashAlgorithm)), sshString(digest));
}

/** Why a signature was not accepted; `ok` when it verifies. */
export type SshVerification =
  | { readonly ok: true; readonly signature: SshSignature }
  | { readonly ok: false; readonly reason: 'namespace' | 'key' | 'signature'; readonly message: string };

/**
 * Verifies an armored SSH signature over `message` in `namespace` by exactly `publicKey` (an OpenSSH key line):
 * the namespace must match, the key embedded in the signature must be that key, and the ed25519 signature must
 * verify (RFC 8032 strict, as OpenSSH). Deterministic and synchronous.
 * @throws DomainError `InvalidInput` when the signature or the key is malformed.
 */
export function verifySshSignature(armored: string, message: string | Uint8Array, namespace: string, publicKey: string): SshVerification {
  const parsed = parseSshSignature(armored);
  const expected = parseSshPublicKey(publicKey);
  if (parsed.namespace !== namespace) {
    return { ok: false, reason: 'namespace', message: `the signature is for namespace "${parsed.namespace}", not "${namespace}" (sign with ssh-keygen -Y sign -n ${namespace})` };
  }
  if (!sameBytes(parsed.publicKey.blob, expected.blob)) {
    return { ok: false, reason: 'key', message: `the signature was made with key ${parsed.publicKey.canonical}, not ${expected.canonical}` };
  }
  const bytes = typeof message === 'string' ? utf8(message) : message;
  const signed = sshSignedData(bytes, namespace, parsed.hashAlgorithm, parsed.reserved);
  let valid = false;
  try {
    valid = verify(parsed.signature, signed, expected.key, { zip215: false });
  } catch {
    valid = false;
  }
  return valid ? { ok: true, signature: parsed } : { ok: false, reason: 'signature', message: 'the signature does not verify over this statement (signed another statement, or altered)' };
}

/** The key's fingerprint as `ssh-keygen -l` prints it: `SHA256:<base64 of SHA-256 of the blob, unpadded>`. */
export function sshFingerprint(key: string | SshPublicKey): string {
  const parsed = typeof key === 'string' ? parseSshPublicKey(key) : key;
  return `SHA256:${encodeBase64(sha256(parsed.blob)).replace(/=+$/, '')}`;
}
