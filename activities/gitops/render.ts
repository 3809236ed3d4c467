/**
 * Renders a Kustomize overlay of the GitOps repository exactly as it is at one commit: the `gitops/`
 * tree of that commit is exported with `git archive` into a private temporary directory and built
 * with `kubectl kustomize`. The working clone's checkout is never touched, so renders of different
 * commits can run side by side. A commit's tree is exported once and shared, read-only, by the renders of
 * all its overlays (the few most recent commits are kept; a tree is removed once no render uses it).
 *
 * **Confinement.** A render reads only what the commit holds: the commit must be a full SHA; a tree with
 * a symlink under `gitops/` is refused before it is exported; and the overlay's kustomization graph is
 * inspected before kustomize runs (`confine.ts`, over the rules in `domain/render-confinement.ts` that
 * `logstack render` shares: no URL, remote base, absolute path, escape, symlink or Helm chart) — each
 * refusal the non-retryable `ManifestRejected` naming the file and field. kustomize then runs with
 * `LoadRestrictionsRootOnly`, in the exported tree, with network proxies pointed at a closed port and
 * Git's protocols disabled (`kustomizeArgs`, `KUSTOMIZE_ENV`), as a second line behind the inspection.
 */
import { createHash } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { FailureType, isCommitSha } from '../../domain/index.ts';
import { KUSTOMIZE_ENV, kustomizeArgs, symlinksMessage } from '../../domain/render-confinement.ts';
import { nonRetryable } from '../errors.ts';
import type { KubeObject } from '../kubernetes/objects.ts';
import { RenderRefused, inspectRenderTree, symlinksInTree } from './confine.ts';
import { CommandError, run } from './exec.ts';
import type { GitRepo } from './git.ts';

/** A rendered overlay: the objects, and a digest of the rendered YAML. Never leaves the worker. */
export interface RenderedOverlay {
  readonly commit: string;
  readonly overlay: string;
  /** `sha256:<hex>` of kustomize's output. */
  readonly digest: string;
  readonly objects: readonly KubeObject[];
  /** Object count per kind. */
  readonly kinds: Readonly<Record<string, number>>;
}

const OVERLAY_PATH = /^gitops\/(?!.*\.\.)[A-Za-z0-9._/-]+$/;
/**
 * Characters of rendered JSON kept for later renders of the same (commit, overlay): about 4 MiB of heap (the JSON
 * is ASCII), some 250 renders of an environment overlay. A run renders its overlay several times (pre-flight,
 * diff, apply), minutes apart under load; a cache of a few entries lost them all when many environments ran at
 * once.
 */
const KEPT_CHARS = 4 * 1024 * 1024;
/** Exported commit trees kept for later renders. */
const TREE_LIMIT = 4;

/** Renders overlays, each (commit, overlay) once per worker while it stays kept. */
export interface OverlayRenderer {
  /**
   * Renders `overlay` at the full commit `commit`.
   * @throws ApplicationFailure `InvalidInput` (not a full 40-hex SHA, bad path, missing overlay), `ManifestRejected`
   *   (a remote reference, a symlink, a Helm chart or an escape in the tree — naming file and field —, or kustomize failed).
   */
  render(commit: string, overlay: string): Promise<RenderedOverlay>;
}

/** A finished render as kept: its objects as JSON text, so every hit gets its own copy. */
interface KeptRender {
  readonly digest: string;
  readonly json: string;
  readonly kinds: Readonly<Record<string, number>>;
}

/**
 * Creates a renderer over `repo` that runs `kubectl kustomize` with the given kubectl binary. A (commit, overlay)
 * is rendered once: concurrent calls share the render in flight, and later calls get a fresh copy of the kept
 * result (least recently used dropped first, {@link KEPT_CHARS} in all) without running kustomize again. A failed
 * render is not kept.
 */
export function createOverlayRenderer(repo: GitRepo, kubectlPath: string): OverlayRenderer {
  const inFlight = new Map<string, Promise<RenderedOverlay>>();
  const kept = new Map<string, KeptRender>();
  let keptChars = 0;
  const trees = createTreeCache(repo);

  const keep = (key: string, rendered: RenderedOverlay): void => {
    const json = JSON.stringify(rendered.objects);
    if (json.length > KEPT_CHARS) return;
    kept.set(key, { digest: rendered.digest, json, kinds: rendered.kinds });
    keptChars += json.length;
    for (const [oldest, entry] of kept) {
      if (keptChars <= KEPT_CHARS) break;
      kept.delete(oldest);
      keptChars -= entry.json.length;
    }
  };

  return {
    render(commit, overlay) {
      const key = `${commit}:${overlay}`;
      const hit = kept.get(key);
      if (hit) {
        kept.delete(key);
        kept.set(key, hit);
        return Promise.resolve({ commit, overlay, digest: hit.digest, objects: JSON.parse(hit.json) as KubeObject[], kinds: { ...hit.kinds } });
      }
      let pending = inFlight.get(key);
      if (!pending) {
        pending = renderUncached(trees, kubectlPath, commit, overlay);
        inFlight.set(key, pending);
        pending.then(
          (rendered) => {
            keep(key, rendered);
            inFlight.delete(key);
          },
          () => inFlight.delete(key),
        );
      }
      return pending;
    },
  };
}

/** Exported `gitops/` trees by commit, shared by the renders of every overlay of that commit. */
interface TreeCache {
  /** Runs `fn` with the directory holding `commit`'s exported tree; the tree stays while `fn` runs. */
  withTree<T>(commit: string, fn: (dir: string) => Promise<T>): Promise<T>;
}

interface ExportedTree {
  readonly dir: Promise<string>;
  users: number;
}

/** Tree directories still on disk, removed when the process exits. */
const liveTrees = new Set<string>();
let exitHook = false;

function removeTree(dir: string): void {
  liveTrees.delete(dir);
  void rm(dir, { recursive: true, force: true });
}

/**
 * Keeps the trees of the {@link TREE_LIMIT} most recently used commits. A tree that falls out while renders
 * still read it is removed when the last of them ends; a failed export is forgotten, so the next render retries.
 */
function createTreeCache(repo: GitRepo): TreeCache {
  const trees = new Map<string, ExportedTree>();
  if (!exitHook) {
    exitHook = true;
    process.once('exit', () => {
      for (const dir of liveTrees) rmSync(dir, { recursive: true, force: true });
    });
  }
  const release = (commit: string, tree: ExportedTree): void => {
    tree.users--;
    if (tree.users === 0 && trees.get(commit) !== tree) void tree.dir.then(removeTree, () => undefined);
  };
  const evict = (): void => {
    for (const [commit, tree] of trees) {
      if (trees.size <= TREE_LIMIT) return;
      trees.delete(commit);
      if (tree.users === 0) void tree.dir.then(removeTree, () => undefined);
    }
  };
  return {
    async withTree(commit, fn) {
      let tree = trees.get(commit);
      if (tree) trees.delete(commit);
      else {
        const created: ExportedTree = { dir: exportCommit(repo, commit), users: 0 };
        created.dir.then((dir) => liveTrees.add(dir), () => trees.get(commit) === created && trees.delete(commit));
        tree = created;
      }
      trees.set(commit, tree);
      tree.users++;
      evict();
      try {
        return await fn(await tree.dir);
      } finally {
        release(commit, tree);
      }
    },
  };
}

/**
 * Exports `commit`'s `gitops/` tree into a new temporary directory, after checking that the commit is on the
 * remote and that its tree holds no symlink.
 * @throws ApplicationFailure `InvalidInput` (not on the remote, no gitops/ tree), `ManifestRejected` (a symlink).
 */
async function exportCommit(repo: GitRepo, commit: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'logstack-render-'));
  try {
    await exportTree(repo, commit, dir);
    return dir;
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    if (error instanceof CommandError) {
      throw nonRetryable(FailureType.InvalidInput, `commit ${commit} has no gitops/ tree: ${error.stderr.trim().slice(0, 300)}`, { commit });
    }
    throw error;
  }
}

async function exportTree(repo: GitRepo, commit: string, dir: string): Promise<void> {
  const tar = join(dir, 'tree.tar');
  await repo.exclusive(async () => {
    if (!(await repo.hasCommit(commit))) await repo.sync();
    if (!(await repo.hasCommit(commit))) {
      throw nonRetryable(FailureType.InvalidInput, `commit ${commit} is not on the GitOps remote`, { commit });
    }
    const links = symlinksInTree(await repo.git(['ls-tree', '-r', '--full-tree', '--end-of-options', commit, 'gitops']));
    if (links.length > 0) {
      throw nonRetryable(
        FailureType.ManifestRejected,
        symlinksMessage(links, `at ${commit}`),
        { commit, file: links[0] ?? '', field: '(symlink)', symlinks: links.slice(0, 20) },
      );
    }
    // No `--` after --end-of-options: git archive would read it as a pathspec.
    await repo.git(['archive', '--format=tar', '-o', tar, '--end-of-options', commit, 'gitops']);
  });
  await run('tar', ['-xf', tar, '-C', dir]);
  await rm(tar);
}

/** Parses kustomize output into objects; skips empty documents. */
export function parseManifests(text: string): KubeObject[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as KubeObject | null)
    .filter((o): o is KubeObject => o !== null && typeof o === 'object' && typeof o.kind === 'string');
}

function countKinds(objects: readonly KubeObject[]): Record<string, number> {
  const kinds: Record<string, number> = {};
  for (const o of objects) kinds[o.kind] = (kinds[o.kind] ?? 0) + 1;
  return kinds;
}

async function renderUncached(trees: TreeCache, kubectlPath: string, commit: string, overlay: string): Promise<RenderedOverlay> {
  if (typeof commit !== 'string' || !isCommitSha(commit)) {
    throw nonRetryable(FailureType.InvalidInput, `render needs a full 40-hex commit SHA; got ${JSON.stringify(String(commit).slice(0, 80))} — resolve the revision first`, { commit: String(commit).slice(0, 80) });
  }
  if (!OVERLAY_PATH.test(overlay)) {
    throw nonRetryable(FailureType.InvalidInput, `overlay "${overlay}" must be a path under gitops/ without "..", like gitops/overlays/dev`, { overlay });
  }
  return trees.withTree(commit, async (dir) => {
    const target = join(dir, overlay);
    if (!existsSync(target)) {
      throw nonRetryable(FailureType.InvalidInput, `overlay ${overlay} does not exist at commit ${commit}; fix the overlay path in the catalog`, { overlay, commit });
    }
    try {
      await inspectRenderTree(dir, overlay);
    } catch (error) {
      if (error instanceof RenderRefused) {
        const { file, field, value, reason } = error.refusal;
        throw nonRetryable(FailureType.ManifestRejected, `${overlay} at ${commit} cannot be rendered: ${error.message}`, { overlay, commit, file, field, value, reason });
      }
      throw error;
    }
    let text: string;
    try {
      text = await run(kubectlPath, kustomizeArgs(target), { timeoutMs: 120_000, cwd: dir, env: KUSTOMIZE_ENV });
    } catch (error) {
      if (error instanceof CommandError) {
        throw nonRetryable(FailureType.ManifestRejected, `kustomize could not build ${overlay} at ${commit}: ${error.stderr.trim().slice(0, 1500)}`, { overlay, commit });
      }
      throw error;
    }
    const objects = parseManifests(text);
    const digest = `sha256:${createHash('sha256').update(text).digest('hex')}`;
    return { commit, overlay, digest, objects, kinds: countKinds(objects) };
  });
}
