/**
 * Confinement of the worker's renders: the rules of `domain/render-confinement.ts` (shared with
 * `logstack render`) applied to the tree a render exported, read with `node:fs`. Before `kubectl kustomize`
 * runs, the overlay's kustomization graph is inspected — no URL, remote base, absolute path, escape,
 * missing path, symlink, Helm chart or non-builtin plugin — and a refusal names the file (relative to the
 * exported root), the field and the value; the renderer raises it as the non-retryable `ManifestRejected`.
 */
import { lstat, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { inspectKustomizationGraph, type RenderTree } from '../../domain/render-confinement.ts';

export { KUSTOMIZATION_FILES, RenderRefused, remoteOrAbsolute, type RenderRefusal } from '../../domain/render-confinement.ts';

/** The exported tree under `root`, read-only, as the confinement rules read it. */
export function exportedTree(root: string): RenderTree {
  const base = resolve(root);
  return {
    async entry(path) {
      const stat = await lstat(join(base, path)).catch(() => undefined);
      if (!stat) return undefined;
      const kind = stat.isSymbolicLink() ? 'symlink' : stat.isDirectory() ? 'directory' : stat.isFile() ? 'file' : 'other';
      return { kind, size: stat.size };
    },
    text: (path) => readFile(join(base, path), 'utf8'),
  };
}

/**
 * Inspects the kustomization graph of `overlay` (a path relative to `root`) in an exported tree.
 * Read-only; reads only kustomization and plugin files (at most 1 MiB each, 1000 in all).
 * @throws RenderRefused naming the first file, field and value that may not be rendered.
 */
export function inspectRenderTree(root: string, overlay: string): Promise<void> {
  return inspectKustomizationGraph(exportedTree(root), overlay);
}

/**
 * The symlinks among `git ls-tree -r` output lines (`<mode> <type> <object>\t<path>`): mode 120000.
 * Pure.
 */
export function symlinksInTree(lsTree: string): string[] {
  return lsTree
    .split('\n')
    .filter((line) => line.startsWith('120000 '))
    .map((line) => line.slice(line.indexOf('\t') + 1));
}
