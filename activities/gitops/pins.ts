/**
 * Where an environment's pinned revision lives in Git, and how it is written.
 *
 * **Layout.** `gitops/apps/environments/<environment>.yaml` is the pin file: a small YAML document
 * `{ environment: <name>, revision: <full commit SHA> }`. The `logstack-environments` ApplicationSet
 * reads these files with its git files generator (on the branch) and renders each environment's
 * Argo CD Application with `targetRevision: {{ .revision }}`, so Argo CD follows exactly the pinned
 * commit. A pin whose `revision` is not a full SHA (e.g. `main` before the first promotion) counts as
 * "not pinned". The file is edited structurally (comments kept), never templated.
 *
 * **Guarantees.** Pinning is idempotent (no commit when the file already names the commit) and safe
 * against concurrent pushers: on a rejected push the clone is reset to the remote tip, the pin is
 * re-checked and re-applied, and the push retried (bounded).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Document, parse, parseDocument } from 'yaml';
import { type Environment, FailureType, isCommitSha, shortSha } from '../../domain/index.ts';
import { nonRetryable } from '../errors.ts';
import { CommandError } from './exec.ts';
import type { GitRepo } from './git.ts';

/** Repository path of an environment's pin file. */
export function pinPath(environment: string): string {
  return `gitops/apps/environments/${environment}.yaml`;
}

const MAX_PUSH_ATTEMPTS = 5;

/**
 * The pin file's new text: `existing` with `revision` set (comments and other keys kept), or a new
 * document when there is none.
 */
export function pinDocument(env: Environment, commit: string, existing?: string): string {
  // YAML 1.1 rules, as Argo CD's Go parser reads them: a SHA that looks like a number stays quoted.
  const doc = existing !== undefined ? parseDocument(existing, { version: '1.1' }) : new Document({}, { version: '1.1' });
  doc.set('environment', env.name);
  doc.set('revision', commit);
  if (existing === undefined) {
    doc.commentBefore = ` The commit of this repository that ${env.name} runs; written by promotion and rollout, read by the\n logstack-environments ApplicationSet. Never hand-edit during a running promotion.`;
  }
  return doc.toString();
}

/** The commit a pin document names, or null when it names none (or no full SHA). */
export function pinnedCommitOf(text: string): string | null {
  const doc = parse(text, { version: '1.1' }) as { revision?: unknown } | null;
  const value = doc?.revision;
  return typeof value === 'string' && isCommitSha(value) ? value : null;
}

async function readPinAtTip(repo: GitRepo, env: string): Promise<string | null> {
  try {
    return pinnedCommitOf(await repo.git(['show', '--end-of-options', `refs/remotes/origin/${repo.config.branch}:${pinPath(env)}`]));
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
  await repo.git(['switch', '--quiet', '--discard-changes', '--force-create', branch, '--end-of-options', `refs/remotes/origin/${branch}`]);
  await repo.git(['clean', '-fdq']);
  const file = join(workdir, pinPath(env.name));
  await mkdir(dirname(file), { recursive: true });
  const existing = existsSync(file) ? await readFile(file, 'utf8') : undefined;
  await writeFile(file, pinDocument(env, commit, existing));
  if (pinnedCommitOf(await readFile(file, 'utf8')) !== commit) throw new Error(`pin file ${pinPath(env.name)} did not round-trip`);
  await repo.git(['add', '--', pinPath(env.name)]);
  await repo.git(['commit', '--quiet', '-m', `Pin ${env.name} to ${shortSha(commit)}`, '-m', `logstack pinned ${env.name} to ${commit}.`]);
  return (await repo.git(['rev-parse', '--verify', '--end-of-options', 'HEAD^{commit}'])).trim();
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
        return { pinCommit: (await repo.git(['rev-parse', '--verify', '--end-of-options', `refs/remotes/origin/${branch}^{commit}`])).trim(), changed: false };
      }
      const pinCommit = await commitPin(repo, env, commit);
      try {
        await repo.git(['push', '--quiet', '--end-of-options', 'origin', `HEAD:refs/heads/${branch}`]);
        return { pinCommit, changed: true };
      } catch (error) {
        if (!isRejectedPush(error) || attempt === MAX_PUSH_ATTEMPTS) throw error;
      }
    }
    throw new Error('unreachable');
  });
}
