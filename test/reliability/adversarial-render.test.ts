/**
 * Adversarial table of render confinement: hostile content in a pushed branch must not reach kustomize. Each row
 * pushes nothing new (the hostile commits are pushed once, on a branch of this test's own,
 * `activities-test-<suffix>`, deleted at the end), asks the worker's real activities — or, for the issue's
 * reproduction, a real worker process running a production rollout — to render it, and asserts the typed
 * refusal, that the URLs served by this test were never fetched (a loopback HTTP server counts every request),
 * and that the inventory of what the row could touch is unchanged: the production cluster (the rows render
 * production's overlays and apply to production only) and this test's Git refs. Other helpers change dev,
 * staging, AWS and their own Git branches at the same time, so the inventory diff is filtered to those parts.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { stringify } from 'yaml';
import { createLoadCatalog } from '../../activities/catalog.ts';
import { openGitRepo } from '../../activities/gitops/git.ts';
import { createOverlayRenderer } from '../../activities/gitops/render.ts';
import { environment, git, sandbox, sandboxActivities, scratchBranch, suffix, type ScratchBranch } from '../activities/sandbox-parts.ts';
import { startWorkerProcess, type WorkerProcess } from '../support/processes.ts';
import { endLocksOnTaskQueue, endOrphanedLocks } from '../worker/sandbox-runs.ts';
import { diffInventory, takeInventory, type Inventory } from './inventory.ts';

const production = environment('production');
const kustomization = (body: Record<string, unknown>): string =>
  stringify({ apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization', ...body });

/** The type of an ApplicationFailure anywhere on the cause chain, and the messages along it. */
function failureOf(error: unknown): { type: string | undefined; text: string } {
  let type: string | undefined;
  const messages: string[] = [];
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    messages.push(e.message, JSON.stringify((e as { details?: unknown }).details ?? null));
    type ??= (e as { type?: string }).type;
  }
  return { type, text: messages.join('\n') };
}

async function refusal(promise: Promise<unknown>): Promise<{ type: string | undefined; text: string }> {
  try {
    await promise;
  } catch (error) {
    return failureOf(error);
  }
  return assert.fail('expected a refusal, got a result');
}

describe('adversarial: hostile kustomizations and Git arguments (production cluster, a branch of this test)', { concurrency: false, timeout: 240_000 }, () => {
  let server: Server;
  let port = 0;
  const hits: string[] = [];
  let branch: ScratchBranch;
  let hostile = '';
  let withSymlink = '';
  let baseline: Inventory;
  const acts = sandboxActivities();

  /** Differences of the parts a row could touch: the production cluster and this test's branch. */
  async function touched(): Promise<string[]> {
    const now = await takeInventory(sandbox);
    return diffInventory(baseline, now).filter((line) => / cluster production /.test(line) || (line.startsWith('git ') && line.includes(branch.branch)));
  }

  before(async () => {
    server = createServer((req, res) => {
      hits.push(`${req.method ?? ''} ${req.url ?? ''}`);
      res.setHeader('content-type', 'application/yaml');
      res.end(stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'fetched-from-url', namespace: 'default' }, data: { from: 'url' } }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
    const url = `http://127.0.0.1:${port}/x.yaml`;

    branch = scratchBranch();
    hostile = branch.commit(
      {
        // The reproduction: the catalog's own overlay of production lists a URL.
        'gitops/overlays/production/kustomization.yaml': `${git(branch.clone, 'show', 'HEAD:gitops/overlays/production/kustomization.yaml')}\n# added by the adversarial test\n`.replace(
          /^resources:\n/m,
          `resources:\n  - ${url}\n`,
        ),
        'gitops/overlays/adv-url/kustomization.yaml': kustomization({ resources: ['../../base', url] }),
        'gitops/overlays/adv-remote-base/kustomization.yaml': kustomization({ resources: ['../../base', 'github.com/org/repo//path?ref=x'] }),
        'gitops/overlays/adv-git-ssh/kustomization.yaml': kustomization({ resources: ['../../base'], components: ['git@github.com:org/repo.git//components/x'] }),
        'gitops/overlays/adv-escape/kustomization.yaml': kustomization({ resources: ['../../base'], patches: [{ path: '../../../../../../etc/passwd' }] }),
        'gitops/overlays/adv-generator/kustomization.yaml': kustomization({
          resources: ['../../base'],
          configMapGenerator: [{ name: 'fetched', namespace: 'default', files: [`x.yaml=http://127.0.0.1:${port}/gen.yaml`] }],
        }),
        'gitops/overlays/adv-helm/kustomization.yaml': kustomization({
          resources: ['../../base'],
          helmCharts: [{ name: 'evil', repo: `http://127.0.0.1:${port}/charts`, version: '1.0.0', releaseName: 'evil' }],
        }),
      },
      'adversarial render overlays',
    );
    assert.match(git(branch.clone, 'show', `${hostile}:gitops/overlays/production/kustomization.yaml`), new RegExp(`- ${url}`), 'the production overlay lists the URL');
    const dir = join(branch.clone, 'gitops/overlays/adv-symlink');
    execFileSync('mkdir', ['-p', dir]);
    symlinkSync('/etc/passwd', join(dir, 'passwd.yaml'));
    withSymlink = branch.commit({ 'gitops/overlays/adv-symlink/kustomization.yaml': kustomization({ resources: ['../../base', 'passwd.yaml'] }) }, 'a symlink to /etc/passwd');
    baseline = await takeInventory(sandbox);
  });

  after(async () => {
    if (branch) {
      try {
        git(branch.clone, 'push', '--quiet', 'origin', '--delete', branch.branch);
      } finally {
        branch.dispose();
      }
    }
    await new Promise<void>((resolve) => server?.close(() => resolve()));
  });

  const rows: { row: string; overlay: string; file: string; field: RegExp; symlink?: boolean }[] = [
    { row: 'remote resource URL in resources', overlay: 'adv-url', file: 'gitops/overlays/adv-url/kustomization.yaml', field: /resources\[1\]/ },
    { row: 'remote base github.com/org/repo//path?ref=x', overlay: 'adv-remote-base', file: 'gitops/overlays/adv-remote-base/kustomization.yaml', field: /resources\[1\]/ },
    { row: 'git@ remote in components', overlay: 'adv-git-ssh', file: 'gitops/overlays/adv-git-ssh/kustomization.yaml', field: /components\[0\]/ },
    { row: 'patch path escaping the repository (../../..)', overlay: 'adv-escape', file: 'gitops/overlays/adv-escape/kustomization.yaml', field: /patches\[0\]\.path/ },
    { row: 'configMapGenerator files entry with a URL', overlay: 'adv-generator', file: 'gitops/overlays/adv-generator/kustomization.yaml', field: /configMapGenerator\[0\]\.files\[0\]/ },
    { row: 'helmCharts with a chart repository', overlay: 'adv-helm', file: 'gitops/overlays/adv-helm/kustomization.yaml', field: /helmCharts/ },
    { row: 'symlink to /etc/passwd in the tree', overlay: 'adv-symlink', file: 'gitops/overlays/adv-symlink/passwd.yaml', field: /symlink/, symlink: true },
  ];
  for (const r of rows) {
    it(`adversarial: ${r.row} is refused ManifestRejected before kustomize runs, naming file and field; nothing fetched or applied`, async () => {
      const before = hits.length;
      const { type, text } = await refusal(
        acts.applyOverlay({ environment: production, revision: r.symlink ? withSymlink : hostile, overlay: `gitops/overlays/${r.overlay}` }),
      );
      assert.equal(type, 'ManifestRejected', text);
      assert.ok(text.includes(r.file), `names the file ${r.file}: ${text}`);
      assert.match(text, r.field);
      assert.equal(hits.length - before, 0, `the served URL was fetched: ${hits.join(', ')}`);
      assert.deepEqual(await touched(), []);
    });
  }

  it('adversarial: abbreviated commit to render() is refused InvalidInput before git or kustomize runs', async () => {
    const workdir = mkdtempSync(join(tmpdir(), 'logstack-adv-render-'));
    rmSync(workdir, { recursive: true, force: true });
    try {
      const repo = openGitRepo({ remote: sandbox.git.remote, branch: 'main', workdir, author: { name: 't', email: 't@localhost' } });
      const renderer = createOverlayRenderer(repo, sandbox.kubectl);
      for (const commit of [hostile.slice(0, 12), hostile.toUpperCase(), `${hostile}^`, 'main']) {
        const { type, text } = await refusal(renderer.render(commit, 'gitops/overlays/production'));
        assert.equal(type, 'InvalidInput', text);
        assert.match(text, /full 40-hex commit SHA/);
      }
      assert.equal(existsSync(workdir), false, 'no clone was made: refused before git ran');
    } finally {
      rmSync(workdir, { recursive: true, force: true });
    }
    assert.deepEqual(await touched(), []);
  });

  it('adversarial: ref beginning with - is never read as an option by git (render, resolve, hasCommit)', async () => {
    const marker = join(tmpdir(), `logstack-adv-${suffix()}`);
    const workdir = mkdtempSync(join(tmpdir(), 'logstack-adv-git-'));
    rmSync(workdir, { recursive: true, force: true });
    try {
      const repo = openGitRepo({ remote: sandbox.git.remote, branch: 'main', workdir, author: { name: 't', email: 't@localhost' } });
      await repo.sync();
      assert.equal(await repo.hasCommit(`--output=${marker}`), false);
      assert.equal(await repo.hasCommit('--batch-all-objects'), false);
      const render = await refusal(createOverlayRenderer(repo, sandbox.kubectl).render(`--output=${marker}`, 'gitops/overlays/production'));
      assert.equal(render.type, 'InvalidInput', render.text);
      const apply = await refusal(acts.applyOverlay({ environment: production, revision: `--output=${marker}` }));
      assert.equal(apply.type, 'InvalidInput', apply.text);
      assert.throws(() => openGitRepo({ remote: sandbox.git.remote, branch: '--upload-pack=touch /tmp/x', workdir, author: { name: 't', email: 't@localhost' } }), /not a plain branch name/);
      assert.equal(existsSync(marker), false, 'git wrote no file named by the ref');
    } finally {
      rmSync(workdir, { recursive: true, force: true });
      rmSync(marker, { force: true });
    }
    assert.deepEqual(await touched(), []);
  });

  it('adversarial: credentialed remote URL is never printed (git errors, displayed remote, catalog returned to workflows)', async () => {
    const secret = `s3cr3t-${suffix()}`;
    // A port nobody listens on: the clone fails, and its error is what could leak the URL.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const closedPort = (closed.address() as { port: number }).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const remote = `http://alice:${secret}@127.0.0.1:${closedPort}/logstack.git`;
    const workdir = mkdtempSync(join(tmpdir(), 'logstack-adv-cred-'));
    rmSync(workdir, { recursive: true, force: true });
    const dir = mkdtempSync(join(tmpdir(), 'logstack-adv-catalog-'));
    try {
      const repo = openGitRepo({ remote, branch: 'main', workdir, author: { name: 't', email: 't@localhost' } });
      assert.equal(repo.displayRemote.includes(secret), false);
      assert.match(repo.displayRemote, /http:\/\/\*\*\*@127\.0\.0\.1/);
      const error = await repo.sync().then(() => assert.fail('clone of a closed port succeeded'), (e: unknown) => e as Error & { stderr?: string });
      assert.equal(`${error.message}\n${error.stderr ?? ''}\n${String(error.stack)}`.includes(secret), false, `the secret leaked: ${error.message}`);
      // The catalog as it enters history.
      const catalogText = execFileSync('cat', [sandbox.catalog], { encoding: 'utf8' }).replace(/remote: .*/, `remote: ${remote}`);
      writeFileSync(join(dir, 'catalog.yaml'), catalogText);
      const loaded = await createLoadCatalog({ catalogPath: join(dir, 'catalog.yaml') })();
      assert.equal(JSON.stringify(loaded).includes(secret), false);
      assert.equal(loaded.gitops.remote, `http://***@127.0.0.1:${closedPort}/logstack.git`);
    } finally {
      rmSync(workdir, { recursive: true, force: true });
      rmSync(dir, { recursive: true, force: true });
    }
    assert.deepEqual(await touched(), []);
  });

  it('adversarial: the issue\'s reproduction — a production rollout of a branch whose overlay lists a served URL fails ManifestRejected; the URL is never fetched; nothing applied', async () => {
    const taskQueue = `adversarial-render-${process.pid}`;
    const connection = await Connection.connect({ address: sandbox.temporal.address });
    const client = new Client({ connection });
    let worker: WorkerProcess | undefined;
    try {
      await endOrphanedLocks(client, ['production'], 'adversarial render test');
      worker = startWorkerProcess({ taskQueue });
      await worker.running;
      const before = hits.length;
      const handle = await client.workflow.start('rolloutEnvironment', {
        taskQueue,
        workflowId: `adversarial-render-rollout-${suffix()}`,
        args: [{ environment: 'production', revision: hostile, reason: 'adversarial render test', failIfLocked: true }],
      });
      const { type, text } = await refusal(handle.result());
      assert.equal(type, 'ManifestRejected', text);
      assert.match(text, /gitops\/overlays\/production\/kustomization\.yaml/);
      assert.match(text, /resources\[0\]/);
      assert.equal(hits.length - before, 0, `the worker fetched the URL: ${hits.join(', ')}`);
      assert.deepEqual(await touched(), []);
    } finally {
      if (worker && worker.child.exitCode === null) {
        const exited = worker.exited;
        worker.child.kill('SIGTERM');
        await exited;
      }
      await endLocksOnTaskQueue(client, ['production'], taskQueue, 'adversarial render test');
      await connection.close();
    }
  });
});
