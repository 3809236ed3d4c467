/**
 * The approvals inside an evidence record, checked offline against a catalog: each signed approval must verify —
 * `ssh-keygen -Y sign` over the approval statement rebuilt from the record — by the key the catalog lists for that
 * approver. Keys and signatures are real (`ssh-keygen`); the record is signed as the worker signs it, so each
 * refusal below comes from the approval check alone, not from the envelope.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { verify } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { parseEvidenceKey, signedEvidenceText } from '../../activities/evidence/key.ts';
import {
  approvalStatement,
  catalogApprovalVerifier,
  evidenceStatement,
  parseCatalog,
  verifyEvidence,
  type Catalog,
  type EvidenceApproval,
  type EvidencePredicate,
} from '../../domain/index.ts';
import { generateTestKeys } from '../support/ssh-keys.ts';
import { cli } from './helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'logstack-evidence-approvals-'));
const keys = generateTestKeys(['bob', 'alice', 'mallory']);
after(() => {
  keys.close();
  rmSync(dir, { recursive: true, force: true });
});

const SHA = 'c'.repeat(40);
const DIGEST = `sha256:${'7'.repeat(64)}`;
const workflow = { type: 'promoteEnvironment', id: 'promote-production', runId: '3f1c2e7a-0000-4000-8000-0000000000aa' };
const signedTime = '2026-12-02T10:00:00.000Z';

/** The shipped catalog with bob and alice (their generated keys) as production's approvers. */
function catalogWith(approvers: readonly { name: string; key: string }[]): { catalog: Catalog; file: string } {
  const doc = parse(readFileSync(new URL('../../gitops/environments.yaml', import.meta.url), 'utf8')) as {
    environments: { name: string; approvers: unknown }[];
  };
  const production = doc.environments.find((e) => e.name === 'production');
  assert.ok(production, 'the shipped catalog has production');
  production.approvers = approvers;
  const file = join(dir, `catalog-${approvers.map((a) => a.name).join('-')}.yaml`);
  writeFileSync(file, stringify(doc));
  return { catalog: parseCatalog(doc, file), file };
}

/** bob's approval of the diff, signed by `signer` (bob himself unless a forgery is wanted). */
function approvalBy(signer: string, fields: { digest?: string } = {}): EvidenceApproval {
  const digest = fields.digest ?? DIGEST;
  const statementText = approvalStatement({
    workflowId: workflow.id,
    runId: workflow.runId,
    environment: 'production',
    revision: SHA,
    digest,
    decision: 'approve',
    comment: 'diff reviewed',
    by: 'bob',
    time: signedTime,
  });
  return { name: 'bob', decision: 'approve', at: '2026-12-02T10:00:03.000Z', digest: DIGEST, signature: keys.sign(signer, statementText), signedTime, comment: 'diff reviewed' };
}

const worker = parseEvidenceKey(Buffer.alloc(32, 9).toString('base64'));
const checks = { key: { keyid: worker.keyid, verify: (m: Uint8Array, s: Uint8Array) => verify(null, m, worker.publicKey, s) } };

function record(approval: EvidenceApproval): string {
  const predicate: EvidencePredicate = {
    workflow,
    environment: 'production',
    from: 'staging',
    to: 'production',
    revision: SHA,
    previousRevision: null,
    outcome: 'succeeded',
    delivery: { mode: 'direct' },
    diffDigest: DIGEST,
    approvals: [approval],
    gates: [],
    rollback: null,
    startedAt: '2026-12-02T09:59:00.000Z',
    finishedAt: '2026-12-02T10:06:00.000Z',
  };
  return signedEvidenceText(evidenceStatement('https://git.example.com/platform/logstack.git', SHA, predicate), worker);
}

const approvers = [
  { name: 'bob', key: keys.publicKey('bob') },
  { name: 'alice', key: keys.publicKey('alice') },
];
const { catalog, file: catalogFile } = catalogWith(approvers);

describe('evidence: approvals verified against the catalog, offline', () => {
  it("accepts bob's approval signed by bob's catalog key", async () => {
    const verdict = await verifyEvidence(record(approvalBy('bob')), { ...checks, approvals: catalogApprovalVerifier(catalog) });
    assert.ok(verdict.ok, JSON.stringify(verdict));
    assert.doesNotMatch(verdict.notes.join('\n'), /not checked \(no approval verifier/);
  });

  it("refuses an approval named bob but signed by another key (alice's, or one the catalog does not know)", async () => {
    for (const signer of ['alice', 'mallory']) {
      const verdict = await verifyEvidence(record(approvalBy(signer)), { ...checks, approvals: catalogApprovalVerifier(catalog) });
      assert.ok(!verdict.ok, `${signer}'s signature passed as bob's`);
      assert.match(verdict.problems.join('\n'), /the approval by bob does not verify/);
    }
  });

  it('refuses a signature over another diff than the one the record says was approved', async () => {
    const verdict = await verifyEvidence(record(approvalBy('bob', { digest: `sha256:${'8'.repeat(64)}` })), { ...checks, approvals: catalogApprovalVerifier(catalog) });
    assert.ok(!verdict.ok);
    assert.match(verdict.problems.join('\n'), /the approval by bob does not verify/);
  });

  it('refuses when the catalog lists no key for the approver', async () => {
    const { catalog: without } = catalogWith([{ name: 'alice', key: keys.publicKey('alice') }, { name: 'carol', key: keys.publicKey('mallory') }]);
    const verdict = await verifyEvidence(record(approvalBy('bob')), { ...checks, approvals: catalogApprovalVerifier(without) });
    assert.ok(!verdict.ok);
    assert.match(verdict.problems.join('\n'), /lists no key for approver "bob"/);
  });

  it('logstack evidence verify --catalog: exit 0 for the genuine record, 1 naming the approver for the forged one', async () => {
    const publicPem = join(dir, 'worker.pub.pem');
    writeFileSync(publicPem, worker.publicKey.export({ format: 'pem', type: 'spki' }));
    const genuine = join(dir, 'genuine.intoto.json');
    const forged = join(dir, 'forged.intoto.json');
    writeFileSync(genuine, record(approvalBy('bob')));
    writeFileSync(forged, record(approvalBy('mallory')));
    const ok = await cli(['evidence', 'verify', genuine, '--key', publicPem, '--catalog', catalogFile]);
    assert.equal(ok.code, 0, ok.err);
    assert.match(ok.out, /evidence verified/);
    const refused = await cli(['evidence', 'verify', forged, '--key', publicPem, '--catalog', catalogFile]);
    assert.equal(refused.code, 1, refused.out);
    assert.match(refused.err, /the approval by bob does not verify/);
    const unchecked = await cli(['evidence', 'verify', forged, '--key', publicPem]);
    assert.equal(unchecked.code, 0, 'without a catalog the approvals are reported unchecked, not verified');
    assert.match(unchecked.out, /approval signature\(s\) not checked/);
  });
});
