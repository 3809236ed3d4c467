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
import { inspectRenderTree, remoteOrAbsolute, symlinksInTree } from '../../activities/gitops/confine.ts';
import { redactCredentials } from '../../activities/gitops/exec.ts';
import { openGitRepo } from '../../activities/gitops/git.ts';
import { pinPath, readPinnedRevision } from '../../activities/gitops/pins.ts';
import type { Environment } from '../../domain/index.ts';
import { environment, failureTypeOf, git, kustomization, sandbox, sandboxActivities, scratchBranch, suffix, type ScratchBranch } from './sandbox-parts.ts';

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

/** Brings the test's clone to the branch's tip on the remote (the pin tests push to it). */
function catchUp(): void {
  git(branch.clone, 'fetch', '--quiet', 'origin', branch.branch);
  git(branch.clone, 'reset', '--quiet', '--hard', 'FETCH_HEAD');
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
  after(() => {
    // The branch and tag are this test's own: delete them from the remote.
    try {
      git(branch.clone, 'push', '--quiet', 'origin', '--delete', branch.branch, tag);
    } finally {
      branch.dispose();
    }
  });

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

  it('renderOverlay renders a local overlay that uses every kind of local path field (generators, patches, inline patches, a transformer file); nothing refused', async () => {
    const acts = sandboxActivities({ branch: branch.branch });
    const dir = `gitops/overlays/t-local-${suffix()}`;
    catchUp();
    const commit = branch.commit(
      {
        [`${dir}/kustomization.yaml`]: [
          {
            apiVersion: 'kustomize.config.k8s.io/v1beta1',
            kind: 'Kustomization',
            resources: ['cm.yaml'],
            configMapGenerator: [{ name: 'generated', files: ['settings.txt', 'renamed=settings.txt'], envs: ['vars.env'] }],
            patches: [{ path: 'patch.yaml' }],
            patchesStrategicMerge: ['apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: plain\ndata:\n  inline: "yes"\n'],
            transformers: ['labels.yaml'],
          },
        ],
        [`${dir}/cm.yaml`]: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'plain', namespace: 'default' }, data: { a: '1' } }],
        [`${dir}/patch.yaml`]: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'plain' }, data: { patched: 'yes' } }],
        [`${dir}/labels.yaml`]: [{ apiVersion: 'builtin', kind: 'LabelTransformer', metadata: { name: 'labels' }, labels: { team: 'logs' }, fieldSpecs: [{ path: 'metadata/labels', create: true }] }],
        [`${dir}/settings.txt`]: 'x=1\n',
        [`${dir}/vars.env`]: 'A=1\n',
      },
      'a local overlay',
    );
    const rendered = await acts.renderOverlay({ environment: dev, revision: commit, overlay: dir });
    assert.equal(rendered.commit, commit);
    assert.deepEqual(rendered.kinds, { ConfigMap: 2 });
  });

  it('the sandbox overlays and every kustomization of gitops/ pass the inspection', async () => {
    const root = join(import.meta.dirname, '../..');
    const dirs = execFileSync('git', ['ls-files', 'gitops'], { cwd: root, encoding: 'utf8' })
      .split('\n')
      .filter((f) => f.endsWith('/kustomization.yaml'))
      .map((f) => f.slice(0, -'/kustomization.yaml'.length));
    assert.ok(dirs.length >= 10);
    for (const dir of dirs) await inspectRenderTree(root, dir);
  });

  it('renderOverlay refuses a remote resource with ManifestRejected naming file and field, and an abbreviated commit with InvalidInput', async () => {
    const acts = sandboxActivities({ branch: branch.branch });
    const dir = `gitops/overlays/t-remote-${suffix()}`;
    catchUp();
    const commit = branch.commit({ [`${dir}/kustomization.yaml`]: kustomization(['https://example.invalid/x.yaml']) }, 'a remote resource');
    const error = await acts.renderOverlay({ environment: dev, revision: commit, overlay: dir }).then(
      () => assert.fail('rendered'),
      (e: unknown) => e as Error & { type?: string; details?: unknown[] },
    );
    assert.equal(error.type, 'ManifestRejected');
    assert.match(error.message, new RegExp(`${dir}/kustomization\\.yaml: resources\\[0\\] "https://example\\.invalid/x\\.yaml" is refused: a URL`));
    assert.deepEqual((error.details?.[0] as { file?: string; field?: string }) ?? {}, { ...(error.details?.[0] as object), file: `${dir}/kustomization.yaml`, field: 'resources[0]' });
    const workdir = mkdtempSync(join(tmpdir(), 'logstack-test-render-'));
    rmSync(workdir, { recursive: true, force: true });
    const { createOverlayRenderer } = await import('../../activities/gitops/render.ts');
    const renderer = createOverlayRenderer(openGitRepo({ remote: sandbox.git.remote, branch: 'main', workdir, author: { name: 't', email: 't@localhost' } }), sandbox.kubectl);
    assert.equal(await failureTypeOf(renderer.render(commit.slice(0, 7), 'gitops/overlays/dev')), 'InvalidInput');
    rmSync(workdir, { recursive: true, force: true });
  });

  it('classifies path values and redacts URL credentials (pure)', () => {
    for (const remote of ['http://h/x.yaml', 'https://github.com/o/r', 'git@github.com:o/r.git', 'github.com/o/r//p?ref=v1', 'gitlab.com/o/r', 'alice@host:repo', 'base?ref=main', '/etc/passwd', '~/x', 'C:\\x', '']) {
      assert.ok(remoteOrAbsolute(remote), `${remote} refused`);
    }
    for (const local of ['../../base', 'patches/a.yaml', 'x.yaml', 'dir.with.dots/k']) assert.equal(remoteOrAbsolute(local), undefined, local);
    assert.deepEqual(symlinksInTree('100644 blob abc\tgitops/a.yaml\n120000 blob def\tgitops/link.yaml\n'), ['gitops/link.yaml']);
    assert.equal(redactCredentials("fatal: unable to access 'https://alice:p@ss@host/r.git/'"), "fatal: unable to access 'https://***@host/r.git/'");
    assert.equal(redactCredentials('https://token@github.com/o/r and git@github.com:o/r'), 'https://***@github.com/o/r and git@github.com:o/r');
  });
});
