/**
 * The evidence record's encoding and its offline verification: a DSSE envelope (ed25519, PAE) of an in-toto
 * Statement v1, signed as the worker signs it and verified as `logstack evidence verify` does. Every changed
 * byte of a stored record is refused with a reason. Runs on Node and Deno.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, verify } from 'node:crypto';
import { parseEvidenceKey, signedEvidenceText, signStatement, type EvidenceKey } from '../../activities/evidence/key.ts';
import {
  dsseBase64,
  dsseBytes,
  envelopeText,
  evidenceGitPath,
  evidenceObjectKey,
  evidenceStatement,
  preAuthEncoding,
  remoteWithoutCredentials,
  verifyEvidence,
  type EvidenceChecks,
  type EvidencePredicate,
} from '../../domain/index.ts';

const SHA = 'a'.repeat(40);
const PREV = 'b'.repeat(40);
const SEED_HEX = '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60';

const predicate: EvidencePredicate = {
  workflow: { type: 'promoteEnvironment', id: 'promote-production', runId: '3f1c2e7a-0000-4000-8000-000000000001' },
  environment: 'production',
  from: 'staging',
  to: 'production',
  revision: SHA,
  previousRevision: PREV,
  outcome: 'succeeded',
  delivery: { mode: 'direct' },
  diffDigest: `sha256:${'5'.repeat(64)}`,
  approvals: [{ name: 'bob', decision: 'approve', at: '2026-12-02T10:00:00.000Z', digest: `sha256:${'5'.repeat(64)}`, signature: '-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----' }],
  gates: [{ gate: 'lokistack-ready', passedAt: '2026-12-02T10:05:00.000Z', detail: 'Ready=True' }],
  rollback: null,
  startedAt: '2026-12-02T09:59:00.000Z',
  finishedAt: '2026-12-02T10:06:00.000Z',
};
const statement = evidenceStatement('https://deploy:s3cr3t@git.example.com/logstack.git', SHA, predicate);

const key = parseEvidenceKey(SEED_HEX);
const checksFor = (k: EvidenceKey, extra: Partial<EvidenceChecks> = {}): EvidenceChecks => ({
  key: { keyid: k.keyid, verify: (message, signature) => verify(null, message, k.publicKey, signature) },
  ...extra,
});
const text = signedEvidenceText(statement, key);

describe('evidence record: DSSE envelope of an in-toto statement', () => {
  it('round-trips: the signed record verifies and gives back the statement; signing is deterministic', async () => {
    const verdict = await verifyEvidence(text, checksFor(key));
    assert.ok(verdict.ok, JSON.stringify(verdict));
    assert.deepEqual(verdict.statement, statement);
    assert.equal(signedEvidenceText(statement, key), text, 'a retry signs the same bytes');
    assert.match(verdict.notes.join('\n'), /subject commit not checked/);
    assert.match(verdict.notes.join('\n'), /1 approval signature\(s\) not checked/);
  });

  it('is a DSSE envelope of an in-toto Statement v1 whose subject is the commit, named without credentials', () => {
    const envelope = JSON.parse(text) as { payloadType: string; payload: string; signatures: { keyid: string; sig: string }[] };
    assert.equal(envelope.payloadType, 'application/vnd.in-toto+json');
    assert.deepEqual(Object.keys(envelope), ['payloadType', 'payload', 'signatures']);
    assert.equal(envelope.signatures[0]?.keyid, key.keyid);
    const payload = JSON.parse(new TextDecoder().decode(dsseBytes(envelope.payload) ?? new Uint8Array())) as typeof statement;
    assert.equal(payload._type, 'https://in-toto.io/Statement/v1');
    assert.equal(payload.predicateType, 'https://logstack.io/promotion/v1');
    assert.deepEqual(payload.subject, [{ name: `https://git.example.com/logstack.git@${SHA}`, digest: { gitCommit: SHA } }]);
    assert.ok(!text.includes('s3cr3t'));
    // The signature covers the PAE, per the DSSE spec: "DSSEv1 <len> <type> <len> <body>".
    const pae = new TextDecoder().decode(preAuthEncoding('application/vnd.in-toto+json', new TextEncoder().encode('hello')));
    assert.equal(pae, 'DSSEv1 28 application/vnd.in-toto+json 5 hello');
    assert.ok(verify(null, preAuthEncoding(envelope.payloadType, dsseBytes(envelope.payload) ?? new Uint8Array()), key.publicKey, dsseBytes(envelope.signatures[0]?.sig ?? '') ?? new Uint8Array()));
  });

  it('refuses a changed payload byte: the signature does not verify', async () => {
    const envelope = signStatement(statement, key);
    const bytes = dsseBytes(envelope.payload) ?? new Uint8Array();
    const changed = bytes.slice();
    const at = new TextDecoder().decode(bytes).indexOf('succeeded');
    changed[at] = 'S'.charCodeAt(0);
    const verdict = await verifyEvidence(envelopeText({ ...envelope, payload: dsseBase64(changed) }), checksFor(key));
    assert.ok(!verdict.ok);
    assert.match(verdict.problems.join('\n'), /signature of keyid [0-9a-f]{64} does not verify over the payload/);
  });

  it('refuses a changed signature byte', async () => {
    const envelope = signStatement(statement, key);
    const sig = dsseBytes(envelope.signatures[0]?.sig ?? '') ?? new Uint8Array();
    sig[10] = (sig[10] ?? 0) ^ 1;
    const verdict = await verifyEvidence(envelopeText({ ...envelope, signatures: [{ keyid: key.keyid, sig: dsseBase64(sig) }] }), checksFor(key));
    assert.ok(!verdict.ok);
    assert.match(verdict.problems.join('\n'), /does not verify/);
  });

  it('refuses a changed keyid, and a record checked with another key, naming both key ids', async () => {
    const envelope = signStatement(statement, key);
    const otherId = `${key.keyid.slice(0, -1)}${key.keyid.endsWith('0') ? '1' : '0'}`;
    const tampered = await verifyEvidence(envelopeText({ ...envelope, signatures: [{ keyid: otherId, sig: envelope.signatures[0]?.sig ?? '' }] }), checksFor(key));
    assert.ok(!tampered.ok);
    assert.match(tampered.problems.join('\n'), new RegExp(`no signature by the given key: the envelope names keyid ${otherId}, the key given is ${key.keyid}`));
    const other = parseEvidenceKey(dsseBase64(new Uint8Array(32).fill(7)));
    const wrongKey = await verifyEvidence(text, checksFor(other));
    assert.ok(!wrongKey.ok);
    assert.match(wrongKey.problems.join('\n'), /no signature by the given key/);
  });

  it('refuses every single changed byte of the stored record, each with a reason', async () => {
    let refused = 0;
    for (let i = 0; i < text.length; i++) {
      const code = text.charCodeAt(i);
      const flipped = `${text.slice(0, i)}${String.fromCharCode(code === 0x41 ? 0x42 : code ^ 0x01)}${text.slice(i + 1)}`;
      const verdict = await verifyEvidence(flipped, checksFor(key));
      assert.ok(!verdict.ok, `byte ${i} (${JSON.stringify(text[i])}) changed and still accepted`);
      assert.ok(verdict.problems.length > 0 && verdict.problems.every((p) => p.length > 10));
      refused++;
    }
    assert.equal(refused, text.length);
  });

  it('refuses whitespace added outside the signed payload, and a non-canonical payload encoding', async () => {
    const spaced = await verifyEvidence(text.replace('","payload"', '", "payload"'), checksFor(key));
    assert.ok(!spaced.ok);
    assert.match(spaced.problems.join('\n'), /not the canonical envelope text/);
    const notJson = await verifyEvidence('{"payloadType":', checksFor(key));
    assert.ok(!notJson.ok);
    assert.match(notJson.problems[0] ?? '', /not JSON/);
  });

  it('checks the subject commit and the approvals through the hooks', async () => {
    const missing = await verifyEvidence(text, checksFor(key, { commitExists: () => false }));
    assert.ok(!missing.ok);
    assert.match(missing.problems.join('\n'), new RegExp(`subject commit ${SHA} does not exist in the given repository`));
    const present = await verifyEvidence(text, checksFor(key, { commitExists: (c) => c === SHA, approvals: () => null }));
    assert.ok(present.ok);
    assert.deepEqual(present.notes, []);
    const badApproval = await verifyEvidence(text, checksFor(key, { approvals: (a) => (a.name === 'bob' ? 'signed by a key not in the catalog' : null) }));
    assert.ok(!badApproval.ok);
    assert.match(badApproval.problems.join('\n'), /the approval by bob does not verify: signed by a key not in the catalog/);
  });

  it('reads the key as PKCS#8 PEM, hex seed or base64 seed (one key id), and refuses other keys', () => {
    const pem = key.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    assert.equal(parseEvidenceKey(pem).keyid, key.keyid);
    assert.equal(parseEvidenceKey(dsseBase64(Uint8Array.from(SEED_HEX.match(/../g) ?? [], (h) => parseInt(h, 16)))).keyid, key.keyid);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    assert.throws(() => parseEvidenceKey(rsa), /LOGSTACK_EVIDENCE_KEY is a rsa key; evidence is signed with ed25519/);
    assert.throws(() => parseEvidenceKey('not a key'), (e: Error) => /not an ed25519 PKCS#8 PEM nor a 32-byte seed/.test(e.message) && !e.message.includes('not a key'));
  });

  it('names the storage places: S3 key per run, Git file per workflow', () => {
    assert.equal(evidenceObjectKey('records/', 'dev', 'rollout-dev', 'r1'), 'records/dev/rollout-dev/r1.intoto.json');
    assert.equal(evidenceObjectKey('', 'dev', 'rollout-dev', 'r1'), 'dev/rollout-dev/r1.intoto.json');
    assert.equal(evidenceGitPath('staging', 'promote-staging'), 'evidence/staging/promote-staging.intoto.json');
    assert.equal(remoteWithoutCredentials('https://user:tok@host/x.git'), 'https://host/x.git');
    assert.equal(remoteWithoutCredentials('git@github.com:org/repo.git'), 'git@github.com:org/repo.git');
    assert.equal(remoteWithoutCredentials('file:///srv/gitops.git'), 'file:///srv/gitops.git');
  });
});
