/**
 * `logstack evidence verify` in-process, offline: a record signed as the worker signs it is accepted with the
 * worker's public key and a clone holding the subject commit (loose and packed objects); a flipped byte, a
 * wrong key or a commit missing from the clone is refused (exit 1) saying why. Runs on Node and Deno.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseEvidenceKey, signedEvidenceText } from '../../activities/evidence/key.ts';
import { commitInRepository } from '../../client/local/git-objects.ts';
import { evidenceStatement, type EvidencePredicate } from '../../domain/index.ts';
import { cli } from './helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'logstack-evidence-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const git = (cwd: string, ...args: string[]): string =>
  execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@localhost', '-c', 'commit.gpgsign=false', ...args], { cwd, encoding: 'utf8' }).trim();

/** A repository with two commits; returns its path and the commits. */
function repository(name: string): { path: string; first: string; second: string } {
  const path = join(dir, name);
  execFileSync('git', ['init', '--quiet', '--initial-branch=main', path]);
  // Each repository its own content: identical trees, authors and times would make identical commits.
  writeFileSync(join(path, 'a.txt'), `one ${name}\n`);
  git(path, 'add', 'a.txt');
  git(path, 'commit', '--quiet', '-m', 'one');
  const first = git(path, 'rev-parse', 'HEAD');
  writeFileSync(join(path, 'a.txt'), `two ${name}\n`);
  git(path, 'commit', '--quiet', '-am', 'two');
  return { path, first, second: git(path, 'rev-parse', 'HEAD') };
}

const key = parseEvidenceKey(Buffer.alloc(32, 3).toString('base64'));
const publicPem = join(dir, 'evidence.pub.pem');
writeFileSync(publicPem, key.publicKey.export({ format: 'pem', type: 'spki' }));

function record(commit: string): string {
  const predicate: EvidencePredicate = {
    workflow: { type: 'rolloutEnvironment', id: 'rollout-dev', runId: 'run-1' },
    environment: 'dev',
    from: null,
    to: 'dev',
    revision: commit,
    previousRevision: null,
    outcome: 'succeeded',
    delivery: { mode: 'direct' },
    diffDigest: null,
    approvals: [],
    gates: [{ gate: 'external-secrets-synced', passedAt: '2026-12-02T10:00:00.000Z' }],
    rollback: null,
    startedAt: '2026-12-02T09:59:00.000Z',
    finishedAt: '2026-12-02T10:01:00.000Z',
  };
  const file = join(dir, `${commit}.intoto.json`);
  writeFileSync(file, signedEvidenceText(evidenceStatement('file:///srv/gitops.git', commit, predicate), key));
  return file;
}

describe('logstack evidence verify (offline)', () => {
  const repo = repository('loose');

  it('accepts a record with the public key and a clone holding the subject commit', async () => {
    const res = await cli(['evidence', 'verify', record(repo.second), '--key', publicPem, '--repo', repo.path]);
    assert.equal(res.code, 0, res.err);
    assert.match(res.out, new RegExp(`^evidence verified: signed by ${key.keyid}`, 'm'));
    assert.match(res.out, new RegExp(`rolloutEnvironment rollout-dev \\(run run-1\\): dev at ${repo.second}, succeeded`));
    assert.match(res.out, /present in/);
  });

  it('refuses a record with one flipped byte, naming why (exit 1)', async () => {
    const file = record(repo.second);
    const text = readFileSync(file, 'utf8');
    const at = text.indexOf('"sig":"') + 12;
    writeFileSync(file, `${text.slice(0, at)}${text[at] === 'A' ? 'B' : 'A'}${text.slice(at + 1)}`);
    const res = await cli(['evidence', 'verify', file, '--key', publicPem]);
    assert.equal(res.code, 1);
    assert.match(res.err, /^evidence refused: the signature of keyid [0-9a-f]{64} does not verify/m);
  });

  it('refuses a record checked with another key, and a subject commit missing from the clone', async () => {
    const other = parseEvidenceKey(Buffer.alloc(32, 9).toString('base64'));
    const otherHex = other.publicKey.export({ format: 'der', type: 'spki' }).subarray(12).toString('hex');
    const wrongKey = await cli(['evidence', 'verify', record(repo.second), '--key', otherHex]);
    assert.equal(wrongKey.code, 1);
    assert.match(wrongKey.err, /no signature by the given key/);
    const elsewhere = repository('elsewhere');
    const missing = await cli(['evidence', 'verify', record(elsewhere.first), '--key', publicPem, '--repo', repo.path]);
    assert.equal(missing.code, 1);
    assert.match(missing.err, new RegExp(`the subject commit ${elsewhere.first} does not exist in the given repository`));
  });

  it('finds commits in packed objects and in a clone, and not trees or blobs', () => {
    const packed = repository('packed');
    git(packed.path, 'gc', '--quiet', '--aggressive');
    assert.ok(commitInRepository(packed.path, packed.first));
    assert.ok(commitInRepository(packed.path, packed.second));
    const tree = git(packed.path, 'rev-parse', 'HEAD^{tree}');
    assert.ok(!commitInRepository(packed.path, tree), 'a tree is not a commit');
    const clone = join(dir, 'clone');
    execFileSync('git', ['clone', '--quiet', packed.path, clone]);
    assert.ok(commitInRepository(clone, packed.first));
    assert.ok(!commitInRepository(clone, repo.first));
    assert.throws(() => commitInRepository(dir, packed.first), /is not a Git repository/);
  });

  it('refuses a --key that is not an ed25519 public key (usage, exit 2)', async () => {
    const res = await cli(['evidence', 'verify', record(repo.second), '--key', 'nonsense']);
    assert.equal(res.code, 2);
    assert.match(res.err, /--key is not an ed25519 public key/);
  });
});
