/**
 * Git activities against the sandbox's bare GitOps remote, through real `git` working clones: each
 * test works on its own scratch branch, never on the project's own repository.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openGitRepo } from '../../activities/gitops/git.ts';
import { pinPath, readPinnedRevision } from '../../activities/gitops/pins.ts';
import type { Environment } from '../../domain/index.ts';
import { environment, failureTypeOf, git, sandbox, sandboxActivities, scratchBranch, suffix, type ScratchBranch } from './sandbox-parts.ts';

let branch: ScratchBranch;
let base: string;
let tagged: string;
const tag = `t-release-${suffix()}`;
const dev = environment('dev', { name: `pin-${suffix()}` });
const staging = environment('staging', { name: `pin-${suffix()}` });

/** The pin as the drift scan reads it (`readPinnedRevision`), through a fresh working clone of its own. */
async function readPin(env: Environment): Promise<{ commit: string | null }> {
  const workdir = mkdtempSync(join(tmpdir(), 'logstack-test-pin-'));
  rmSync(workdir, { recursive: true, force: true });
  try {
    const repo = openGitRepo({ remote: sandbox.git.remote, branch: branch.branch, workdir, author: { name: 'logstack test', email: 'test@localhost' } });
    return { commit: await readPinnedRevision(repo, env) };
  } finally {
    rmSync(workdir, { recursive: true, force: true });
  }
}

function remoteLog(ref: string): string[] {
  return execFileSync('git', ['--git-dir', sandbox.git.remote, 'log', '--format=%H', ref], { encoding: 'utf8' }).trim().split('\n');
}

describe('Git activities on the sandbox remote', () => {
  before(() => {
    branch = scratchBranch();
    base = git(branch.clone, 'rev-parse', 'HEAD');
    tagged = branch.commit({ [`notes/${suffix()}.txt`]: 'tagged\n' }, 'a tagged commit');
    git(branch.clone, 'tag', tag);
    git(branch.clone, 'push', '--quiet', 'origin', tag);
  });
  after(() => branch.dispose());

  it('resolveRevision resolves a branch, a tag, a short and a full SHA to the full commit', async () => {
    const acts = sandboxActivities({ branch: branch.branch });
    assert.equal((await acts.resolveRevision({ revision: branch.branch })).commit, tagged);
    assert.equal((await acts.resolveRevision({ revision: tag })).commit, tagged);
    assert.equal((await acts.resolveRevision({ revision: tagged.slice(0, 10) })).commit, tagged);
    assert.equal((await acts.resolveRevision({ revision: base })).commit, base);
  });

  it('resolveRevision refuses unknown revisions and bad syntax with InvalidInput', async () => {
    const acts = sandboxActivities({ branch: branch.branch });
    assert.equal(await failureTypeOf(acts.resolveRevision({ revision: 'no-such-branch' })), 'InvalidInput');
    assert.equal(await failureTypeOf(acts.resolveRevision({ revision: '--upload-pack=evil' })), 'InvalidInput');
    assert.equal(await failureTypeOf(acts.resolveRevision({ revision: 'a..b' })), 'InvalidInput');
  });

  it('pinRevision twice: one commit on the branch, then changed=false; readPinnedRevision reads it back', async () => {
    const acts = sandboxActivities({ branch: branch.branch });
    assert.deepEqual(await readPin(dev), { commit: null });
    const before = remoteLog(branch.branch).length;
    const first = await acts.pinRevision({ environment: dev, commit: base });
    assert.equal(first.changed, true);
    const second = await acts.pinRevision({ environment: dev, commit: base });
    assert.deepEqual(second, { pinCommit: first.pinCommit, changed: false });
    assert.equal(remoteLog(branch.branch).length, before + 1, 'exactly one pin commit');
    assert.deepEqual(await readPin(dev), { commit: base });
    const file = execFileSync('git', ['--git-dir', sandbox.git.remote, 'show', `${branch.branch}:${pinPath(dev.name)}`], { encoding: 'utf8' });
    assert.match(file, new RegExp(`environment: ${dev.name}`));
    assert.match(file, new RegExp(`revision: "?${base}"?`));
  });

  it('concurrent pins from two workers (two clones) both land on the branch (a rejected push is retried on the new tip)', async () => {
    const one = sandboxActivities({ branch: branch.branch });
    const two = sandboxActivities({ branch: branch.branch });
    await Promise.all([one.resolveRevision({ revision: base }), two.resolveRevision({ revision: base })]);
    const [a, b] = await Promise.all([one.pinRevision({ environment: dev, commit: tagged }), two.pinRevision({ environment: staging, commit: tagged })]);
    assert.equal(a.changed && b.changed, true);
    assert.deepEqual(await readPin(dev), { commit: tagged });
    assert.deepEqual(await readPin(staging), { commit: tagged });
  });

  it('pinRevision refuses a non-SHA and a commit the remote does not have, without pushing', async () => {
    const acts = sandboxActivities({ branch: branch.branch });
    const before = remoteLog(branch.branch).length;
    assert.equal(await failureTypeOf(acts.pinRevision({ environment: dev, commit: 'main' })), 'InvalidInput');
    assert.equal(await failureTypeOf(acts.pinRevision({ environment: dev, commit: '0123456789abcdef0123456789abcdef01234567' })), 'InvalidInput');
    assert.equal(remoteLog(branch.branch).length, before);
  });
});
