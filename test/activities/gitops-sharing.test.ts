/**
 * Git work shared between concurrent activities, against the sandbox's bare GitOps remote: resolutions that
 * arrive together share one fetch (and still see everything pushed before they were asked), a full commit SHA
 * the clone holds asks the remote nothing, the renders of several overlays of one commit share one exported
 * tree, and a (commit, overlay) is rendered once while it stays kept. Git and kubectl run through wrappers that record each subcommand, so the test counts what really ran.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openGitRepo, parseRefs, type GitRepo } from '../../activities/gitops/git.ts';
import { createOverlayRenderer } from '../../activities/gitops/render.ts';
import { resolveRevision } from '../../activities/gitops/revisions.ts';
import { git, kustomization, sandbox, scratchBranch, suffix, type ScratchBranch } from './sandbox-parts.ts';

let branch: ScratchBranch;
let scratch: string;
let log: string;
let repo: GitRepo;
const annotated = `t-annotated-${suffix()}`;

/** The git subcommands run since the last call (the word after the `-c key=value` pairs). */
function ran(): string[] {
  const lines = readFileSync(log, 'utf8').split('\n').filter(Boolean);
  writeFileSync(log, '');
  return lines;
}
const count = (lines: readonly string[], subcommand: string): number => lines.filter((l) => l === subcommand).length;

const configMap = (name: string): string =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n  namespace: default\ndata:\n  a: "1"\n`;

describe('Git work shared by concurrent activities', () => {
  before(() => {
    branch = scratchBranch();
    scratch = mkdtempSync(join(tmpdir(), 'logstack-test-sharing-'));
    log = join(scratch, 'git.log');
    writeFileSync(log, '');
    const wrapper = join(scratch, 'git');
    writeFileSync(
      wrapper,
      `#!/bin/sh\nskip=\nfor a in "$@"; do\n  if [ -n "$skip" ]; then skip=; continue; fi\n  if [ "$a" = "-c" ]; then skip=1; continue; fi\n  echo "$a" >> '${log}'; break\ndone\nexec git "$@"\n`,
    );
    chmodSync(wrapper, 0o755);
    repo = openGitRepo({ remote: sandbox.git.remote, branch: branch.branch, workdir: join(scratch, 'clone'), gitPath: wrapper, author: { name: 'logstack test', email: 'test@localhost' } });
  });
  after(() => {
    try {
      git(branch.clone, 'push', '--quiet', 'origin', '--delete', branch.branch, annotated);
    } finally {
      branch.dispose();
      rmSync(scratch, { recursive: true, force: true });
    }
  });

  it('twenty resolutions asked together share one fetch and one ref listing; each sees what was pushed before it was asked', async () => {
    await resolveRevision(repo, branch.branch); // clones
    const first = branch.commit({ [`notes/${suffix()}.txt`]: 'one\n' }, 'first');
    ran();
    const answers = await Promise.all(Array.from({ length: 20 }, () => resolveRevision(repo, branch.branch)));
    assert.deepEqual(new Set(answers), new Set([first]));
    const together = ran();
    assert.equal(count(together, 'fetch'), 1, together.join(' '));
    assert.equal(count(together, 'for-each-ref'), 1, together.join(' '));
    assert.equal(count(together, 'rev-parse'), 0, together.join(' '));

    // A push after that fetch is seen by the next resolution: it fetches again.
    const second = branch.commit({ [`notes/${suffix()}.txt`]: 'two\n' }, 'second');
    assert.equal(await resolveRevision(repo, branch.branch), second);
    assert.equal(count(ran(), 'fetch'), 1);
  });

  it('an annotated tag resolves to its commit from the listing; a short SHA asks git; a full SHA the clone holds asks the remote nothing', async () => {
    const unlisted = branch.commit({ [`notes/${suffix()}.txt`]: 'unlisted\n' }, 'never a tip when fetched');
    const commit = branch.commit({ [`notes/${suffix()}.txt`]: 'tip\n' }, 'the tip');
    git(branch.clone, 'tag', '-a', '-m', 'annotated', annotated);
    git(branch.clone, 'push', '--quiet', 'origin', annotated);
    ran();
    assert.equal(await resolveRevision(repo, annotated), commit);
    assert.deepEqual(ran(), ['fetch', 'for-each-ref']);
    assert.equal(await resolveRevision(repo, commit.slice(0, 10)), commit);
    assert.ok(count(ran(), 'rev-parse') >= 1);

    // Listed with a fetch: known without git.
    assert.equal(await resolveRevision(repo, commit), commit);
    assert.deepEqual(ran(), []);
    // Held by the clone but never listed: git once, no fetch.
    assert.equal(await resolveRevision(repo, unlisted), unlisted);
    assert.equal(await resolveRevision(repo, unlisted), unlisted);
    assert.deepEqual(ran(), ['rev-parse']);
    // Pushed after the last fetch: fetched then.
    const pushed = branch.commit({ [`notes/${suffix()}.txt`]: 'pushed\n' }, 'pushed later');
    assert.equal(await resolveRevision(repo, pushed), pushed);
    assert.equal(count(ran(), 'fetch'), 1);
    // On no remote at all: refused after one fetch.
    const unknown = '0123456789abcdef0123456789abcdef01234567';
    const error = await resolveRevision(repo, unknown).catch((e: unknown) => e);
    assert.equal((error as { type?: string }).type, 'InvalidInput');
    assert.match((error as Error).message, /not a branch, tag or commit of the GitOps remote/);
    assert.equal(count(ran(), 'fetch'), 1);
  });

  it('a working directory not yet cloned answers nothing from a repository it sits in: the commit is looked for on the remote', async () => {
    const outer = mkdtempSync(join(tmpdir(), 'logstack-test-outer-'));
    try {
      execFileSync('git', ['init', '--quiet', outer]);
      execFileSync('git', ['-C', outer, '-c', 'user.name=t', '-c', 'user.email=t@localhost', '-c', 'commit.gpgsign=false', 'commit', '--quiet', '--allow-empty', '-m', 'only here']);
      const foreign = execFileSync('git', ['-C', outer, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
      const workdir = join(outer, 'clone');
      mkdirSync(workdir);
      const fresh = openGitRepo({ remote: sandbox.git.remote, branch: branch.branch, workdir, author: { name: 'logstack test', email: 'test@localhost' } });
      const error = await resolveRevision(fresh, foreign).catch((e: unknown) => e);
      assert.equal((error as { type?: string }).type, 'InvalidInput', String(error));
      assert.equal(await resolveRevision(fresh, branch.branch), git(branch.clone, 'rev-parse', 'HEAD'), 'the clone made on the way answers for the remote');
    } finally {
      rmSync(outer, { recursive: true, force: true });
    }
  });

  it('renders of two overlays of one commit export its tree once; a commit that fell out of the kept trees is exported again', async () => {
    const dir = `gitops/overlays/t-share-${suffix()}`;
    const commit = branch.commit(
      {
        [`${dir}/a/kustomization.yaml`]: kustomization(['cm.yaml']),
        [`${dir}/a/cm.yaml`]: configMap('a'),
        [`${dir}/b/kustomization.yaml`]: kustomization(['cm.yaml']),
        [`${dir}/b/cm.yaml`]: configMap('b'),
        [`${dir}/c/kustomization.yaml`]: kustomization(['cm.yaml']),
        [`${dir}/c/cm.yaml`]: configMap('c'),
      },
      'two overlays',
    );
    const renderer = createOverlayRenderer(repo, sandbox.kubectl);
    ran();
    const [a, b] = await Promise.all([renderer.render(commit, `${dir}/a`), renderer.render(commit, `${dir}/b`)]);
    assert.deepEqual([a.objects[0]?.metadata.name, b.objects[0]?.metadata.name], ['a', 'b']);
    assert.equal(count(ran(), 'archive'), 1);

    // Five newer commits push this one out of the four kept trees: its next overlay is exported anew.
    for (let i = 0; i < 5; i++) {
      const newer = branch.commit({ [`${dir}/n${i}/kustomization.yaml`]: kustomization(['cm.yaml']), [`${dir}/n${i}/cm.yaml`]: configMap(`n${i}`) }, `newer ${i}`);
      await renderer.render(newer, `${dir}/n${i}`);
    }
    assert.equal(count(ran(), 'archive'), 5);
    const c = await renderer.render(commit, `${dir}/c`);
    assert.equal(c.objects[0]?.metadata.name, 'c');
    assert.equal(count(ran(), 'archive'), 1);
  });

  it('a render stays kept while twenty other overlays are rendered: rendering it again runs no kustomize, and each caller gets its own copy', async () => {
    const dir = `gitops/overlays/t-kept-${suffix()}`;
    const names = Array.from({ length: 21 }, (_, i) => `o${i}`);
    const commit = branch.commit(
      Object.fromEntries(names.flatMap((n) => [[`${dir}/${n}/kustomization.yaml`, kustomization(['cm.yaml'])], [`${dir}/${n}/cm.yaml`, configMap(n)]])),
      'twenty-one overlays',
    );
    const kustomizeLog = join(scratch, 'kustomize.log');
    writeFileSync(kustomizeLog, '');
    const kubectl = join(scratch, 'kubectl');
    writeFileSync(kubectl, `#!/bin/sh\necho "$1" >> '${kustomizeLog}'\nexec '${sandbox.kubectl}' "$@"\n`);
    chmodSync(kubectl, 0o755);
    const kustomizeRuns = (): number => readFileSync(kustomizeLog, 'utf8').split('\n').filter((l) => l === 'kustomize').length;
    const renderer = createOverlayRenderer(repo, kubectl);

    const first = await renderer.render(commit, `${dir}/o0`);
    for (const n of names.slice(1)) await renderer.render(commit, `${dir}/${n}`);
    assert.equal(kustomizeRuns(), 21);
    const again = await renderer.render(commit, `${dir}/o0`);
    assert.equal(kustomizeRuns(), 21, 'a kept render runs kustomize again');
    assert.equal(again.digest, first.digest);
    assert.deepEqual(again.objects, first.objects);
    assert.notEqual(again.objects, first.objects, 'a kept render hands out its own objects');
    (again.objects[0] as { data?: Record<string, string> }).data = { changed: 'by a caller' };
    assert.deepEqual((await renderer.render(commit, `${dir}/o0`)).objects, first.objects, 'a caller changed the kept render');
  });

  it('parseRefs keeps commits, peels one tag object and marks anything else for git (pure)', () => {
    const c = 'a'.repeat(40);
    const t = 'b'.repeat(40);
    const refs = parseRefs(
      [`${c} commit   refs/remotes/origin/main`, `${t} tag ${c} commit refs/tags/v1`, `${t} tag ${'d'.repeat(40)} tag refs/tags/nested`, `${'e'.repeat(40)} tree   refs/tags/tree`, ''].join('\n'),
    );
    assert.deepEqual([...refs], [
      ['refs/remotes/origin/main', c],
      ['refs/tags/v1', c],
      ['refs/tags/nested', null],
      ['refs/tags/tree', null],
    ]);
  });
});
