/**
 * Signed approvals, pure: SSHSIG parsing and verification against a signature made by OpenSSH's ssh-keygen
 * (`ssh-keygen -Y sign -n logstack-approval`, vectors below: public keys and a signature only), the statement's
 * byte form, the time window and the catalog rules. Runs on Node and on Deno (`deno task test`).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  APPROVAL_NAMESPACE,
  approvalStatement,
  assertApprovalTime,
  DomainError,
  FailureType,
  parseCatalog,
  parseSshPublicKey,
  parseSshSignature,
  sameSshKey,
  sshFingerprint,
  verifyApprovalSignature,
  verifySignedDecision,
  verifySshSignature,
  type ApprovalStatementFields,
  type CatalogInput,
} from '../../domain/index.ts';

const BOB = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIkyM6N44ns5R6GHrm4WMHUCu5U8LuolxK54IVodjcoR bob@example';
const CAROL = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINKxQPu5ZRLwJ8+2N9xIKXnb8btZtSTXejjkTez+Qm+X carol@example';
/** `ssh-keygen -Y check-novalidate` says of it: Good "logstack-approval" signature with ED25519 key SHA256:Q4jvDHGR+5Nm5gEkDk6r19PozSZUfQt15ZNpVDahUgM. */
const BOB_SIGNATURE = `-----BEGIN SSH SIGNATURE-----
U1NIU0lHAAAAAQAAADMAAAALc3NoLWVkMjU1MTkAAAAgiTIzo3jiezlHoYeubhYwdQK7lT
wu6iXErnghWh2NyhEAAAARbG9nc3RhY2stYXBwcm92YWwAAAAAAAAABnNoYTUxMgAAAFMA
AAALc3NoLWVkMjU1MTkAAABAX+p/6AF+EpSyDczxrCMNroBagv6OqoVTWx5sP7N30/6mJr
2rWJLeSNC32r7sZv7P0inl5v3jwokCQhglbM7vBg==
-----END SSH SIGNATURE-----
`;
const FIELDS: ApprovalStatementFields = {
  workflowId: 'promote-production',
  runId: '0193a0b4-0000-7000-8000-000000000001',
  environment: 'production',
  revision: '2b2b2b2'.padEnd(40, '0'),
  digest: `sha256:${'4'.repeat(64)}`,
  decision: 'approve',
  by: 'bob',
  time: '2026-12-02T15:00:00Z',
};
/** The statement the signature above was made over, byte for byte. */
const STATEMENT = `logstack-approval/v1
workflow-id: "promote-production"
run-id: "0193a0b4-0000-7000-8000-000000000001"
environment: "production"
revision: "2b2b2b2000000000000000000000000000000000"
digest: "sha256:4444444444444444444444444444444444444444444444444444444444444444"
decision: "approve"
approver: "bob"
time: "2026-12-02T15:00:00Z"
`;

function throwsType(fn: () => unknown, type: string, message?: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof DomainError, String(error));
    assert.equal(error.type, type, error.message);
    if (message) assert.match(error.message, message);
    return true;
  });
}

describe('SSHSIG (ssh-keygen -Y sign)', () => {
  it('parses ssh-keygen’s signature: version 1, namespace, sha512, the signer’s key', () => {
    const parsed = parseSshSignature(BOB_SIGNATURE);
    assert.equal(parsed.namespace, APPROVAL_NAMESPACE);
    assert.equal(parsed.hashAlgorithm, 'sha512');
    assert.equal(parsed.signature.length, 64);
    assert.equal(parsed.publicKey.canonical, BOB.split(' ').slice(0, 2).join(' '));
    assert.equal(sshFingerprint(BOB), 'SHA256:Q4jvDHGR+5Nm5gEkDk6r19PozSZUfQt15ZNpVDahUgM');
  });

  it('verifies over exactly the statement, with the catalog key, in the namespace', () => {
    assert.equal(approvalStatement(FIELDS), STATEMENT);
    assert.equal(verifyApprovalSignature(FIELDS, BOB_SIGNATURE, BOB).ok, true);
    assert.equal(verifyApprovalSignature({ ...FIELDS, time: '2026-12-02T15:00:01Z' }, BOB_SIGNATURE, BOB).ok, false);
    assert.equal(verifySshSignature(BOB_SIGNATURE, STATEMENT, APPROVAL_NAMESPACE, BOB).ok, true);
    const tampered = verifySshSignature(BOB_SIGNATURE, STATEMENT.replace('"bob"', '"Bob"'), APPROVAL_NAMESPACE, BOB);
    assert.deepEqual([tampered.ok, !tampered.ok && tampered.reason], [false, 'signature']);
    const otherKey = verifySshSignature(BOB_SIGNATURE, STATEMENT, APPROVAL_NAMESPACE, CAROL);
    assert.deepEqual([otherKey.ok, !otherKey.ok && otherKey.reason], [false, 'key']);
    const otherNamespace = verifySshSignature(BOB_SIGNATURE, STATEMENT, 'git', BOB);
    assert.deepEqual([otherNamespace.ok, !otherNamespace.ok && otherNamespace.reason], [false, 'namespace']);
  });

  it('fails when a character of the signature blob is changed, in R or in S', () => {
    const body = BOB_SIGNATURE.split('\n').slice(1, -2).join('');
    // The last 64 bytes are the ed25519 signature: flip one bit in R and one in S.
    for (const offset of [body.length - 80, body.length - 10]) {
      const chars = [...body];
      chars[offset] = chars[offset] === 'A' ? 'B' : 'A';
      const armored = `-----BEGIN SSH SIGNATURE-----\n${chars.join('')}\n-----END SSH SIGNATURE-----\n`;
      let ok: boolean;
      try {
        ok = verifySshSignature(armored, STATEMENT, APPROVAL_NAMESPACE, BOB).ok;
      } catch {
        ok = false;
      }
      assert.equal(ok, false, `offset ${offset}`);
    }
  });

  it('refuses malformed signatures and keys as InvalidInput', () => {
    throwsType(() => parseSshSignature('hello'), FailureType.InvalidInput, /armored SSH signature/);
    throwsType(() => parseSshSignature('-----BEGIN SSH SIGNATURE-----\n!!!!\n-----END SSH SIGNATURE-----'), FailureType.InvalidInput, /base64/);
    throwsType(() => parseSshSignature('-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----'), FailureType.InvalidInput, /truncated/);
    throwsType(() => parseSshSignature('x'.repeat(5000)), FailureType.InvalidInput, /longer than/);
    throwsType(() => parseSshPublicKey('ssh-rsa AAAAB3NzaC1yc2E= x'), FailureType.InvalidInput);
    throwsType(() => parseSshPublicKey('ssh-ed25519 AAAA'), FailureType.InvalidInput);
    assert.equal(sameSshKey(BOB, `${BOB.split(' ').slice(0, 2).join(' ')} another-comment`), true);
    assert.equal(sameSshKey(BOB, CAROL), false);
  });
});

describe('approval statement', () => {
  it('quotes every value, so no value can forge a line; binds the comment or the reason', () => {
    const forged = approvalStatement({ ...FIELDS, workflowId: 'x"\nrun-id: "y' });
    assert.equal(forged.split('\n').length, STATEMENT.split('\n').length);
    assert.match(approvalStatement({ ...FIELDS, comment: 'diff reviewed' }), /\ncomment: "diff reviewed"\napprover: "bob"\n/);
    assert.match(approvalStatement({ ...FIELDS, decision: 'reject', reason: 'not now' }), /\ndecision: "reject"\nreason: "not now"\napprover/);
  });

  it('bounds the signed time: not before the request was shown (less a minute), not 5 minutes ahead of workflow time', () => {
    const shown = '2026-12-02T14:59:00Z';
    const now = Date.parse('2026-12-02T15:01:00Z');
    assertApprovalTime('2026-12-02T15:00:00Z', shown, now);
    assertApprovalTime('2026-12-02T14:58:30Z', shown, now);
    assertApprovalTime('2026-12-02T15:05:59Z', shown, now);
    throwsType(() => assertApprovalTime('2026-12-02T14:57:59Z', shown, now), FailureType.NotAuthorized, /before this request was shown/);
    throwsType(() => assertApprovalTime('2026-12-02T15:06:01Z', shown, now), FailureType.NotAuthorized, /ahead of workflow time/);
  });

  it('verifySignedDecision: the request as the workflow knows it, four-eyes by key', () => {
    const production = parseCatalog(catalog({ approvals: 'signed', approvers: [{ name: 'bob', key: BOB }, { name: 'carol', key: CAROL }] })).environments[2];
    assert.ok(production);
    const request = { workflowId: FIELDS.workflowId, runId: FIELDS.runId, revision: FIELDS.revision, digest: FIELDS.digest, shownAt: '2026-12-02T14:59:00Z', requestedBy: 'carol' };
    const decision = { decision: 'approve' as const, by: 'bob', signature: BOB_SIGNATURE, time: FIELDS.time };
    const now = Date.parse('2026-12-02T15:00:10Z');
    assert.equal(verifySignedDecision(production, request, decision, now), BOB.split(' ').slice(0, 2).join(' '));
    throwsType(() => verifySignedDecision(production, { ...request, runId: 'other' }, decision, now), FailureType.NotAuthorized, /does not verify/);
    throwsType(() => verifySignedDecision(production, { ...request, revision: '3'.repeat(40) }, decision, now), FailureType.NotAuthorized, /does not verify/);
    throwsType(() => verifySignedDecision(production, { ...request, digest: `sha256:${'5'.repeat(64)}` }, decision, now), FailureType.NotAuthorized, /does not verify/);
    throwsType(() => verifySignedDecision(production, request, { ...decision, by: 'carol' }, now), FailureType.NotAuthorized, /made with key/);
    throwsType(() => verifySignedDecision(production, { ...request, requestedBy: 'BOB' }, decision, now), FailureType.NotAuthorized, /four-eyes/);
    throwsType(() => verifySignedDecision(production, request, { ...decision, signature: undefined }, now), FailureType.NotAuthorized, /signed approvals only/);
    throwsType(() => verifySignedDecision(production, request, { ...decision, time: undefined }, now), FailureType.InvalidInput, /needs "time"/);
  });
});

const catalog = (production: Record<string, unknown>): CatalogInput =>
  ({
    apiVersion: 'logstack.io/v1',
    kind: 'EnvironmentCatalog',
    promotionOrder: ['dev', 'staging', 'production'],
    gitops: { remote: 'file:///tmp/gitops.git' },
    environments: ['dev', 'staging', 'production'].map((name) => ({
      name,
      cluster: { context: `ctx-${name}` },
      aws: { region: 'eu-west-1', bucket: `logstack-${name}-loki`, secretName: `logstack/${name}/loki`, credentialMode: 'static' },
      overlay: `gitops/overlays/${name}`,
      delivery: 'direct',
      loki: { size: '1x.small' },
      retentionDays: 7,
      ...(name === 'production' ? { protected: true, approvers: ['alice', 'bob'], ...production } : {}),
    })),
  });

describe('catalog: approvers with keys, approvals: signed | named', () => {
  it('accepts plain names (named, the default) and { name, key } entries', () => {
    const named = parseCatalog(catalog({})).environments[2];
    assert.deepEqual([named?.approvals, named?.approvers], [undefined, ['alice', 'bob']]);
    const mixed = parseCatalog(catalog({ approvals: 'named', approvers: ['alice', { name: 'bob', key: BOB }] })).environments[2];
    assert.deepEqual(mixed?.approvers, ['alice', { name: 'bob', key: BOB }]);
  });

  it('refuses signed approvals with an approver without a key, a shared key, or a key that is not ed25519', () => {
    throwsType(() => parseCatalog(catalog({ approvals: 'signed', approvers: ['alice', { name: 'bob', key: BOB }] })), FailureType.InvalidInput, /approvers\.0: approvals: signed needs a key for every approver; "alice" has none/);
    throwsType(
      () => parseCatalog(catalog({ approvals: 'signed', approvers: [{ name: 'alice', key: BOB }, { name: 'bob', key: BOB.replace('bob@example', 'other') }] })),
      FailureType.InvalidInput,
      /"bob" has the same key as "alice"/,
    );
    throwsType(() => parseCatalog(catalog({ approvals: 'signed', approvers: [{ name: 'alice', key: 'ssh-rsa AAAAB3NzaC1yc2E= a' }, { name: 'bob', key: BOB }] })), FailureType.InvalidInput, /an SSH ed25519 public key/);
    throwsType(() => parseCatalog(catalog({ approvals: 'sometimes' })), FailureType.InvalidInput, /approvals/);
  });
});
