/**
 * `recordEvidence` against real parts: the sandbox's moto for the S3 evidence location (names unique to this
 * process; moto is shared, never reset here) and a local bare Git repository for the record beside the pins.
 * The stored bytes verify offline; a retry stores nothing new; another record under the same key is refused.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes, verify } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  GetBucketTaggingCommand,
  GetBucketVersioningCommand,
  GetObjectCommand,
  GetObjectLockConfigurationCommand,
  ListObjectVersionsCommand,
} from '@aws-sdk/client-s3';
import { createEvidenceActivities, parseEvidenceKey } from '../../activities/evidence/index.ts';
import { openGitRepo, type GitRepo } from '../../activities/gitops/git.ts';
import type { AwsClients } from '../../activities/aws/index.ts';
import { evidenceStatement, verifyEvidence, type Environment, type EvidencePredicate, type EvidenceStatement } from '../../domain/index.ts';
import { motoClients, motoEndpoint, rejection, testEnvironment } from './aws-moto.ts';

const SUFFIX = randomBytes(4).toString('hex');
const SEED = randomBytes(32).toString('base64');
const key = parseEvidenceKey(SEED);
const checks = { key: { keyid: key.keyid, verify: (m: Uint8Array, s: Uint8Array) => verify(null, m, key.publicKey, s) } };
const dir = mkdtempSync(join(tmpdir(), 'logstack-evidence-activity-'));

const git = (cwd: string, ...args: string[]): string =>
  execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@localhost', '-c', 'commit.gpgsign=false', ...args], { cwd, encoding: 'utf8' }).trim();

/** A bare remote with one commit on main (the commit the records are about). */
function bareRemote(): { remote: string; commit: string } {
  const remote = join(dir, 'remote.git');
  const work = join(dir, 'seed');
  execFileSync('git', ['init', '--quiet', '--bare', '--initial-branch=main', remote]);
  execFileSync('git', ['clone', '--quiet', remote, work]);
  git(work, 'commit', '--quiet', '--allow-empty', '-m', `seed ${SUFFIX}`);
  git(work, 'push', '--quiet', 'origin', 'HEAD:main');
  return { remote, commit: git(work, 'rev-parse', 'HEAD') };
}

function environment(row: string, extra: Partial<Environment> = {}): Environment {
  return {
    ...testEnvironment({ name: `ev-${row}`, region: 'us-east-1', bucket: `logstack-ev-${row}-${SUFFIX}` }),
    evidence: { bucket: `logstack-ev-${row}-${SUFFIX}-evidence`, prefix: 'records', retentionDays: 1 },
    ...extra,
  };
}

function statementFor(env: Environment, commit: string, runId: string, outcome: EvidencePredicate['outcome'] = 'succeeded'): EvidenceStatement {
  return evidenceStatement('https://user:token@gitops.example/logstack.git', commit, {
    workflow: { type: 'rolloutEnvironment', id: `rollout-${env.name}`, runId },
    environment: env.name,
    from: null,
    to: env.name,
    revision: commit,
    previousRevision: null,
    outcome,
    delivery: { mode: env.delivery },
    diffDigest: null,
    approvals: [],
    gates: [{ gate: 'external-secrets-synced', passedAt: '2026-12-02T10:00:00.000Z' }],
    rollback: null,
    startedAt: '2026-12-02T09:59:00.000Z',
    finishedAt: '2026-12-02T10:01:00.000Z',
  });
}

describe('recordEvidence (moto S3, local Git)', () => {
  let aws: AwsClients;
  let repo: GitRepo;
  let seed: { remote: string; commit: string };
  let activities: ReturnType<typeof createEvidenceActivities>;

  before(() => {
    aws = motoClients(motoEndpoint());
    seed = bareRemote();
    repo = openGitRepo({ remote: seed.remote, branch: 'main', workdir: join(dir, 'clone'), author: { name: 'logstack', email: 'logstack@localhost' } });
    activities = createEvidenceActivities({ evidenceKey: SEED, aws, repo: () => Promise.resolve(repo) });
  });
  after(() => {
    aws.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates the evidence bucket owned, versioned and object-locked, and writes the record once under the run key', async () => {
    const env = environment('s3');
    const statement = statementFor(env, seed.commit, 'run-1');
    const recorded = await activities.recordEvidence({ environment: env, statement });
    const bucket = env.evidence?.bucket ?? '';
    const key = `records/${env.name}/rollout-${env.name}/run-1.intoto.json`;
    assert.deepEqual({ bucket: recorded.location.s3?.bucket, key: recorded.location.s3?.key }, { bucket, key });
    assert.equal(recorded.location.git, undefined, 'direct delivery: no Git record');
    const s3 = aws.s3('us-east-1');
    const stored = await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body?.transformToString('utf-8');
    assert.equal(stored, recorded.envelope);
    assert.ok((await verifyEvidence(stored ?? '', checks)).ok);
    assert.ok(!(stored ?? '').includes('token'), 'the remote is named without credentials');
    assert.equal((await s3.send(new GetBucketVersioningCommand({ Bucket: bucket }))).Status, 'Enabled');
    const lock = (await s3.send(new GetObjectLockConfigurationCommand({ Bucket: bucket }))).ObjectLockConfiguration;
    assert.deepEqual({ enabled: lock?.ObjectLockEnabled, mode: lock?.Rule?.DefaultRetention?.Mode, days: lock?.Rule?.DefaultRetention?.Days }, { enabled: 'Enabled', mode: 'GOVERNANCE', days: 1 });
    const tags = (await s3.send(new GetBucketTaggingCommand({ Bucket: bucket }))).TagSet ?? [];
    assert.deepEqual(tags.map((t) => `${t.Key}=${t.Value}`).sort(), ['app=logstack', `logstack.io/environment=${env.name}`]);
    // A retry signs the same bytes and stores nothing new.
    const again = await activities.recordEvidence({ environment: env, statement });
    assert.equal(again.envelope, recorded.envelope);
    const versions = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: key }));
    assert.equal(versions.Versions?.length, 1, 'one version of the record');
  });

  it('refuses (Conflict) a different record under the same run key, leaving the stored one alone', async () => {
    const env = environment('conflict');
    const first = await activities.recordEvidence({ environment: env, statement: statementFor(env, seed.commit, 'run-1') });
    const failure = await rejection(activities.recordEvidence({ environment: env, statement: statementFor(env, seed.commit, 'run-1', 'failed') }));
    assert.equal(failure.type, 'Conflict');
    assert.match(failure.message, /already holds a different evidence record; a record is written once and never replaced/);
    const s3 = aws.s3('us-east-1');
    const key = first.location.s3?.key ?? '';
    const stored = await (await s3.send(new GetObjectCommand({ Bucket: env.evidence?.bucket, Key: key }))).Body?.transformToString('utf-8');
    assert.equal(stored, first.envelope);
    assert.equal((await s3.send(new ListObjectVersionsCommand({ Bucket: env.evidence?.bucket, Prefix: key }))).Versions?.length, 1);
  });

  it('commits the record beside the pins for Argo CD delivery, once, and a later run of the workflow ID over it', async () => {
    const env: Environment = { ...environment('git'), evidence: undefined, delivery: 'argocd', argocd: { application: 'logging-ev', namespace: 'openshift-gitops' } };
    const statement = statementFor(env, seed.commit, 'run-1');
    const recorded = await activities.recordEvidence({ environment: env, statement });
    const path = `evidence/${env.name}/rollout-${env.name}.intoto.json`;
    assert.equal(recorded.location.git?.path, path);
    assert.equal(recorded.location.s3, undefined);
    const atTip = git(dir, '--git-dir', seed.remote, 'show', `main:${path}`);
    assert.equal(`${atTip}\n`, recorded.envelope);
    assert.equal(git(dir, '--git-dir', seed.remote, 'rev-parse', 'main'), recorded.location.git?.commit);
    assert.match(git(dir, '--git-dir', seed.remote, 'log', '-1', '--format=%s', 'main'), /^Evidence of rolloutEnvironment rollout-ev-git in ev-git: [0-9a-f]{7} succeeded$/);
    // Retried: nothing new.
    const again = await activities.recordEvidence({ environment: env, statement });
    assert.equal(again.location.git?.commit, recorded.location.git?.commit);
    assert.equal(git(dir, '--git-dir', seed.remote, 'rev-list', '--count', 'main'), '2');
    // A later run under the same ID: a new commit; the earlier record stays in history.
    const later = await activities.recordEvidence({ environment: env, statement: statementFor(env, seed.commit, 'run-2') });
    assert.notEqual(later.location.git?.commit, recorded.location.git?.commit);
    assert.equal(`${git(dir, '--git-dir', seed.remote, 'show', `${recorded.location.git?.commit ?? ''}:${path}`)}\n`, recorded.envelope);
  });

  it('fails InvalidInput without an evidence key, writing nothing', async () => {
    const env = environment('nokey');
    const keyless = createEvidenceActivities({ evidenceKey: undefined, aws, repo: () => Promise.resolve(repo) });
    const failure = await rejection(keyless.recordEvidence({ environment: env, statement: statementFor(env, seed.commit, 'run-1') }));
    assert.equal(failure.type, 'InvalidInput');
    assert.match(failure.message, /the worker has no evidence key: set LOGSTACK_EVIDENCE_KEY/);
    const s3 = aws.s3('us-east-1');
    await assert.rejects(s3.send(new GetBucketVersioningCommand({ Bucket: env.evidence?.bucket })), /NoSuchBucket|NotFound|does not exist/);
  });
});
