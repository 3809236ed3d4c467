/**
 * `kubectl kustomize` of an overlay for `logstack render`. This is the one place the CLI spawns a
 * process (allowed for this file only in eslint.config.js): rendering is local by nature, and kubectl's
 * embedded kustomize is the same renderer the worker's activities use.
 *
 * **Confinement.** Before kubectl runs, the checkout is held to the worker's rules
 * (`domain/render-confinement.ts`): a symlink anywhere under `gitops/` is refused, and the overlay's
 * kustomization graph is inspected with only the checkout's `gitops/` visible — what the worker's exported
 * tree holds — so a URL, a remote base, an absolute path, an escape, a missing path, a symlink, a Helm chart
 * or a non-builtin plugin is refused with the worker's message naming file, field and value (exit 1). kubectl
 * then runs with `LoadRestrictionsRootOnly` and the worker's closed-network environment.
 */
import { execFile } from 'node:child_process';
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  inspectKustomizationGraph,
  KUSTOMIZE_ENV,
  kustomizeArgs,
  RenderRefused,
  symlinksMessage,
  type RenderTree,
  type RenderTreeEntry,
} from '../../domain/render-confinement.ts';
import { FailureType } from '../../domain/index.ts';
import { CliError, ExitCode } from '../errors.ts';
import { printable } from '../printable.ts';

/** The part of a checkout a render may read: the worker exports only this folder of a commit. */
const GITOPS = 'gitops';
/** At most this many entries under `gitops/` are looked at for symlinks. */
const MAX_SCANNED = 20_000;

/** The kubectl to use: `--kubectl`, `LOGSTACK_KUBECTL` (as the worker), else `kubectl` on PATH. */
export function kubectlPath(flag: string | undefined, env: Readonly<Record<string, string | undefined>>): string {
  return flag ?? env['LOGSTACK_KUBECTL'] ?? 'kubectl';
}

function entryAt(path: string): RenderTreeEntry | undefined {
  try {
    const stat = lstatSync(path);
    return { kind: stat.isSymbolicLink() ? 'symlink' : stat.isDirectory() ? 'directory' : stat.isFile() ? 'file' : 'other', size: stat.size };
  } catch {
    return undefined;
  }
}

/** The checkout under `root` as the confinement rules read it: only `gitops/` exists in it. */
export function checkoutTree(root: string): RenderTree {
  const visible = (path: string): boolean => path === GITOPS || path.startsWith(`${GITOPS}/`);
  return {
    entry: (path) => Promise.resolve(visible(path) ? entryAt(join(root, path)) : undefined),
    text: (path) => Promise.resolve(readFileSync(join(root, path), 'utf8')),
  };
}

/** The symlinks under `root`/gitops (root-relative posix paths, in directory order), without following any. */
export function symlinksInCheckout(root: string): string[] {
  const found: string[] = [];
  const pending = [GITOPS];
  let seen = 0;
  while (pending.length > 0 && seen < MAX_SCANNED) {
    const dir = pending.pop() as string;
    let names: string[];
    try {
      names = readdirSync(join(root, dir)).sort();
    } catch {
      continue;
    }
    for (const name of names) {
      seen++;
      const path = `${dir}/${name}`;
      const kind = entryAt(join(root, path))?.kind;
      if (kind === 'symlink') found.push(path);
      else if (kind === 'directory') pending.push(path);
    }
  }
  return found;
}

/**
 * Holds the overlay `overlay` (like `gitops/overlays/dev`) of the checkout at `root` to the worker's
 * confinement rules, reading only what the rules read.
 * @throws CliError (exit 1, `ManifestRejected`) naming the file, the field and the value refused.
 */
export async function confineOverlay(root: string, overlay: string): Promise<void> {
  const refused = (message: string): CliError =>
    new CliError(printable(`refused (${FailureType.ManifestRejected}): ${overlay} in ${root} cannot be rendered: ${message}`), ExitCode.failed);
  const links = symlinksInCheckout(root);
  if (links.length > 0) throw refused(symlinksMessage(links, `in ${root}`));
  try {
    await inspectKustomizationGraph(checkoutTree(root), overlay);
  } catch (error) {
    if (error instanceof RenderRefused) throw refused(error.message);
    throw error;
  }
}

/**
 * Renders the overlay directory with `kubectl kustomize --load-restrictor LoadRestrictionsRootOnly` (no
 * shell, 2 min, 64 MiB of output, `env` with the worker's closed-network variables over it). Call
 * {@link confineOverlay} first.
 * @throws CliError when kubectl is missing or kustomize fails (its stderr included).
 */
export function renderOverlay(kubectl: string, overlayDir: string, env: Readonly<Record<string, string | undefined>>): Promise<string> {
  return new Promise((resolve, reject) => {
    const options = { timeout: 120_000, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' as const, env: { ...env, ...KUSTOMIZE_ENV } };
    execFile(kubectl, kustomizeArgs(overlayDir), options, (error, stdout, stderr) => {
      if (!error) {
        resolve(stdout);
        return;
      }
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        reject(new CliError(`kubectl not found at "${kubectl}"; install it, or pass --kubectl / set LOGSTACK_KUBECTL`, ExitCode.failed));
        return;
      }
      reject(new CliError(`kustomize could not build ${overlayDir}:\n${stderr.trim().slice(0, 4000)}`, ExitCode.failed));
    });
  });
}
