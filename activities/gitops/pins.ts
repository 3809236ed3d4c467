/**
 * Where an environment's pinned revision lives in Git, and how it is written.
 *
 * **Layout.** `gitops/pins/<environment>.yaml` holds one Kustomize patch of the environment's Argo CD
 * Application that sets `spec.source.targetRevision` to the pinned full commit SHA (and repeats it in
 * the annotation `logstack.io/pinned-revision`). The app-of-apps kustomization lists the file under
 * `patches:`, so the root Application, which tracks the branch, makes each environment's Application
 * follow exactly the pinned commit. Files are written with structured YAML, never string templates.
 *
 * **Guarantees.** Pinning is idempotent (no commit when the file already names the commit) and safe
 * against concurrent pushers: on a rejected push the clone is reset to the remote tip, the pin is
 * re-checked and re-applied, and the push retried (bounded).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { parse, stringify } from 'yaml';
import { type Environment, FailureType, isCommitSha, shortSha } from '../../domain/index.ts';
import { nonRetryable } from '../errors.ts';
import { CommandError } from './exec.ts';
import type { GitRepo } from './git.ts';

/** Annotation repeating the pinned commit on the patched Application. */
export const PINNED_REVISION_ANNOTATION = 'logstack.io/pinned-revision';

/** Repository path of an environment's pin file. */
export function pinPath(environment: string): string {
  return `gitops/pins/${environment}.yaml`;
}

const MAX_PUSH_ATTEMPTS = 5;

/** The Argo CD Application an environment's pin patches. */
function applicationOf(env: Environment): { name: string; namespace: string } {
  return { name: env.argocd?.application ?? `logging-${env.name}`, namespace: env.argocd?.namespace ?? 'openshift-gitops' };
}

/** The pin document: a patch of the Application's `spec.source.targetRevision`. */
export function pinDocument(env: Environment, commit: string): string {
  const app = applicationOf(env);
  const doc = {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Application',
    metadata: { name: app.name, namespace: app.namespace, annotations: { [PINNED_REVISION_ANNOTATION]: commit } },
    spec: { source: { targetRevision: commit } },
  };
  return `# The revision Argo CD deploys to ${env.name}. Written by logstack (pinRevision); change it by promoting.\n${stringify(doc)}`;
}

/** The commit a pin document names, or null when it names none (or is not a pin). */
export function pinnedCommitOf(text: string): string | null {
  const doc = parse(text) as { spec?: { source?: { targetRevision?: unknown } } } | null;
  const value = doc?.spec?.source?.targetRevision;
  return typeof value === 'string' && isCommitSha(value) ? value : null;
}

async function readPinAtTip(repo: GitRepo, env: string): Promise<string | null> {
  try {
    return pinnedCommitOf(await repo.git(['show', `refs/remotes/origin/${repo.config.branch}:${pinPath(env)}`]));
  } catch (error) {
    if (error instanceof CommandError) return null;
    throw error;
  }
}

/**
 * Reads the commit `environment` is pinned to on the remote branch; null when it has no pin yet.
 */
export async function readPinnedRevision(repo: GitRepo, env: Environment): Promise<string | null> {
  return repo.exclusive(async () => {
    await repo.sync();
    return readPinAtTip(repo, env.name);
  });
}

/** Commits the pin on top of the remote tip; returns the new commit. */
async function commitPin(repo: GitRepo, env: Environment, commit: string): Promise<string> {
  const { branch, workdir } = repo.config;
  await repo.git(['checkout', '--quiet', '--force', '-B', branch, `refs/remotes/origin/${branch}`]);
  await repo.git(['clean', '-fdq']);
  const file = join(workdir, pinPath(env.name));
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, pinDocument(env, commit));
  if (pinnedCommitOf(await readFile(file, 'utf8')) !== commit) throw new Error(`pin file ${pinPath(env.name)} did not round-trip`);
  await repo.git(['add', '--', pinPath(env.name)]);
  await repo.git(['commit', '--quiet', '-m', `Pin ${env.name} to ${shortSha(commit)}`, '-m', `logstack pinned ${env.name} to ${commit}.`]);
  return (await repo.git(['rev-parse', 'HEAD'])).trim();
}

function isRejectedPush(error: unknown): boolean {
  return error instanceof CommandError && /rejected|non-fast-forward|fetch first|failed to update ref|cannot lock ref/i.test(error.stderr);
}

/**
 * Pins `env` to `commit` on the remote branch. Idempotent: returns `changed: false` and the tip when
 * already pinned. The commit must exist on the remote.
 * @throws ApplicationFailure `InvalidInput` for a non-SHA or unknown commit; a transient error when
 *   the push keeps losing races after 5 attempts.
 */
export async function pinRevision(repo: GitRepo, env: Environment, commit: string): Promise<{ pinCommit: string; changed: boolean }> {
  if (!isCommitSha(commit)) {
    throw nonRetryable(FailureType.InvalidInput, `pinRevision needs a full 40-hex commit SHA; got "${commit.slice(0, 80)}" — resolve it first`, { commit });
  }
  return repo.exclusive(async () => {
    const { branch } = repo.config;
    for (let attempt = 1; attempt <= MAX_PUSH_ATTEMPTS; attempt++) {
      await repo.sync();
      if (!(await repo.hasCommit(commit))) {
        throw nonRetryable(FailureType.InvalidInput, `commit ${commit} is not on the GitOps remote; push it before pinning`, { commit });
      }
      if ((await readPinAtTip(repo, env.name)) === commit) {
        return { pinCommit: (await repo.git(['rev-parse', `refs/remotes/origin/${branch}`])).trim(), changed: false };
      }
      const pinCommit = await commitPin(repo, env, commit);
      try {
        await repo.git(['push', '--quiet', 'origin', `HEAD:refs/heads/${branch}`]);
        return { pinCommit, changed: true };
      } catch (error) {
        if (!isRejectedPush(error) || attempt === MAX_PUSH_ATTEMPTS) throw error;
      }
    }
    throw new Error('unreachable');
  });
}
