/**
 * Adversarial rows of signed evidence: forged or edited records refused by the offline
 * verification, and takeovers of the S3 evidence location refused by `recordEvidence` before any write. The
 * S3 rows run against the sandbox's shared moto with names unique to this process (random suffix) and compare
 * the AWS part of the inventory filtered to those names — other helpers change moto, the clusters and Git at
 * the same time, and no row here touches a cluster or the sandbox's Git remote (the Git rows use a local
 * repository). The S3 object listing of a row's bucket is compared too (the inventory holds no objects).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes, sign, verify } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, ListObjectVersionsCommand, PutBucketTaggingCommand } from '@aws-sdk/client-s3';
import { createEvidenceActivities, evidenceKeyId, parseEvidenceKey, signStatement } from '../../activities/evidence/index.ts';
import type { AwsClients } from '../../activities/aws/index.ts';
import { commitInRepository } from '../../client/local/git-objects.ts';
import {
  dsseBase64,
  dsseBytes,
  envelopeText,
  EVIDENCE_PAYLOAD_TYPE,
  evidenceStatement,
  preAuthEncoding,
  statementBytes,
  verifyEvidence,
  type Environment,
  type EvidenceStatement,
} from '../../domain/index.ts';
import { requireSandbox, type SandboxRuntime } from '../../sandbox/status.ts';
import { motoClients, rejection, testEnvironment } from '../activities/aws-moto.ts';
import { diffInventory, takeInventory } from './inventory.ts';

const SUFFIX = randomBytes(4).toString('hex');
const REGION = 'us-east-1';
const worker = parseEvidenceKey(randomBytes(32).toString('base64'));
const checks = { key: { keyid: worker.keyid, verify: (m: Uint8Array, s: Uint8Array) => verify(null, m, worker.publicKey, s) } };
const dir = mkdtempSync(join(tmpdir(), 'logstack-adv-evidence-'));

/** A local repository with one commit: the commit records are about. */
function localRepository(): { path: string; commit: string } {
  const path = join(dir, 'repo');
  execFileSync('git', ['init', '--quiet', '--initial-branch=main', path]);
  execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@localhost', '-c', 'commit.gpgsign=false', 'commit', '--quiet', '--allow-empty', '-m', `seed ${SUFFIX}`], { cwd: path });
  return { path, commit: execFileSync('git', ['rev-parse', 'HEAD'], { cwd: path, encoding: 'utf8' }).trim() };
}

function rowEnvironment(row: string): Environment {
  return {
    ...testEnvironment({ name: `adv-ev-${row}`, region: REGION, bucket: `logstack-adv-ev-${row}-${SUFFIX}` }),
    evidence: { bucket: `logstack-adv-ev-${row}-${SUFFIX}-records`, prefix: 'records', retentionDays: 1 },
  };
}

function statementAbout(env: Pick<Environment, 'name'>, commit: string, outcome: 'succeeded' | 'failed' = 'failed'): EvidenceStatement {
  return evidenceStatement('file:///srv/gitops.git', commit, {
    workflow: { type: 'rolloutEnvironment', id: `rollout-${env.name}`, runId: 'run-1' },
    environment: env.name,
    from: null,
    to: env.name,
    revision: commit,
    previousRevision: null,
    outcome,
    ...(outcome === 'failed' ? { failure: 'GateFailed: lokistack-ready did not become ready' } : {}),
    delivery: { mode: 'direct' },
    diffDigest: null,
    approvals: [],
    gates: [],
    rollback: null,
    startedAt: '2026-12-02T09:59:00.000Z',
    finishedAt: '2026-12-02T10:01:00.000Z',
  });
}

describe('adversarial: signed evidence', () => {
  const repo = localRepository();
  let sandbox: SandboxRuntime;
  let aws: AwsClients;
  let activities: ReturnType<typeof createEvidenceActivities>;
  /** The AWS part of the inventory, filtered to this process's names. */
  const ours = async (): Promise<Record<string, string>> =>
    Object.fromEntries(Object.entries((await takeInventory(sandbox)).aws).filter(([k]) => k.includes(SUFFIX)));
  const unchanged = (before: Record<string, string>, after: Record<string, string>): void =>
    assert.deepEqual(
      diffInventory({ takenAt: '', tookMs: 0, aws: before, clusters: {}, git: {} }, { takenAt: '', tookMs: 0, aws: after, clusters: {}, git: {} }),
      [],
    );

  before(() => {
    sandbox = requireSandbox();
    aws = motoClients(sandbox.aws.endpoint);
    activities = createEvidenceActivities({ evidenceKey: worker.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), aws, repo: () => Promise.reject(new Error('no Git in these rows')) });
  });
  after(() => {
    aws.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('adversarial: a record whose payload was edited (failed turned into succeeded, envelope re-encoded) is refused: the signature does not verify', async () => {
    const envelope = signStatement(statementAbout({ name: 'dev' }, repo.commit), worker);
    const edited = new TextDecoder().decode(dsseBytes(envelope.payload) ?? new Uint8Array()).replace('"outcome":"failed"', '"outcome":"succeeded"');
    const verdict = await verifyEvidence(envelopeText({ ...envelope, payload: dsseBase64(new TextEncoder().encode(edited)) }), checks);
    assert.ok(!verdict.ok);
    assert.match(verdict.problems.join('\n'), /does not verify over the payload/);
  });

  it("adversarial: a record forged with another key but carrying the worker's keyid is refused", async () => {
    const forger = generateKeyPairSync('ed25519');
    const payload = statementBytes(statementAbout({ name: 'dev' }, repo.commit, 'succeeded'));
    const sig = sign(null, preAuthEncoding(EVIDENCE_PAYLOAD_TYPE, payload), forger.privateKey);
    const forged = envelopeText({ payloadType: EVIDENCE_PAYLOAD_TYPE, payload: dsseBase64(payload), signatures: [{ keyid: worker.keyid, sig: dsseBase64(sig) }] });
    const verdict = await verifyEvidence(forged, checks);
    assert.ok(!verdict.ok);
    assert.match(verdict.problems.join('\n'), new RegExp(`signature of keyid ${worker.keyid} does not verify`));
    // Verified with the forger's own key, it names a key id that is not the worker's.
    assert.notEqual(evidenceKeyId(forger.publicKey), worker.keyid);
  });

  it('adversarial: a correctly signed record about a commit that is not in the GitOps clone is refused', async () => {
    const ghost = 'f'.repeat(40);
    const text = envelopeText(signStatement(statementAbout({ name: 'dev' }, ghost, 'succeeded'), worker));
    const verdict = await verifyEvidence(text, { ...checks, commitExists: (c) => commitInRepository(repo.path, c) });
    assert.ok(!verdict.ok);
    assert.deepEqual(verdict.problems, [`the subject commit ${ghost} does not exist in the given repository`]);
  });

  it("adversarial: a second, different record under a run's S3 key (a replayed or altered write) is Conflict; the stored record, its versions and the bucket are unchanged", async () => {
    const env = rowEnvironment('overwrite');
    const first = await activities.recordEvidence({ environment: env, statement: statementAbout(env, repo.commit, 'failed') });
    const s3 = aws.s3(REGION);
    const listing = async () => (await s3.send(new ListObjectVersionsCommand({ Bucket: env.evidence?.bucket }))).Versions?.map((v) => `${v.Key} ${v.VersionId} ${v.ETag}`);
    const before = await ours();
    const objects = await listing();
    const failure = await rejection(activities.recordEvidence({ environment: env, statement: statementAbout(env, repo.commit, 'succeeded') }));
    assert.equal(failure.type, 'Conflict');
    assert.match(failure.message, new RegExp(`s3://${env.evidence?.bucket ?? ''}/${first.location.s3?.key ?? ''} already holds a different evidence record`));
    assert.deepEqual(await listing(), objects);
    unchanged(before, await ours());
  });

  it('adversarial: an evidence bucket tagged for another environment is Conflict before any write', async () => {
    const env = rowEnvironment('other-env');
    const s3 = aws.s3(REGION);
    const Bucket = env.evidence?.bucket ?? '';
    await s3.send(new CreateBucketCommand({ Bucket }));
    await s3.send(new PutBucketTaggingCommand({ Bucket, Tagging: { TagSet: [{ Key: 'app', Value: 'logstack' }, { Key: 'logstack.io/environment', Value: 'production' }] } }));
    const before = await ours();
    const failure = await rejection(activities.recordEvidence({ environment: env, statement: statementAbout(env, repo.commit) }));
    assert.equal(failure.type, 'Conflict');
    assert.match(failure.message, new RegExp(`S3 evidence bucket "${Bucket}" belongs to environment "production"`));
    assert.equal((await s3.send(new ListObjectVersionsCommand({ Bucket }))).Versions, undefined, 'no record written');
    unchanged(before, await ours());
  });

  it('adversarial: an untagged evidence bucket someone else made is Conflict (never adopted implicitly), nothing written', async () => {
    const env = rowEnvironment('untagged');
    const s3 = aws.s3(REGION);
    const Bucket = env.evidence?.bucket ?? '';
    await s3.send(new CreateBucketCommand({ Bucket }));
    const before = await ours();
    const failure = await rejection(activities.recordEvidence({ environment: env, statement: statementAbout(env, repo.commit) }));
    assert.equal(failure.type, 'Conflict');
    assert.match(failure.message, /exists but logstack did not create it .* add "bucket" to aws\.adopt/);
    assert.equal((await s3.send(new ListObjectVersionsCommand({ Bucket }))).Versions, undefined);
    unchanged(before, await ours());
  });

  it('adversarial: a worker without an evidence key refuses (InvalidInput) and creates no bucket', async () => {
    const env = rowEnvironment('keyless');
    const keyless = createEvidenceActivities({ evidenceKey: undefined, aws, repo: () => Promise.reject(new Error('unused')) });
    const before = await ours();
    const failure = await rejection(keyless.recordEvidence({ environment: env, statement: statementAbout(env, repo.commit) }));
    assert.equal(failure.type, 'InvalidInput');
    assert.match(failure.message, /no evidence key/);
    unchanged(before, await ours());
  });
});
