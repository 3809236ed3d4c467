/**
 * The evidence record of a Git-delivered (Argo CD) environment, beside its pin: the file
 * `evidence/<env>/<workflowId>.intoto.json` on the GitOps branch, committed after the pin. A file, not a
 * git note on the pin commit: it is cloned and fetched with the branch by everyone (notes are not fetched by
 * default and many hosts neither show nor protect them), it is reviewed like the pins, and the branch's own
 * protection covers it. The pin commit itself is unchanged, so Argo CD (which follows the pinned commit, not
 * the branch tip) does nothing. Idempotent: when the file at the tip already holds these bytes nothing is
 * committed; a newer run under the same workflow ID (IDs are reused once a run has closed) commits its own
 * record over it, and Git's history keeps every earlier one.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { CommandError } from '../gitops/exec.ts';
import type { GitRepo } from '../gitops/git.ts';

const MAX_PUSH_ATTEMPTS = 5;

async function fileAtTip(repo: GitRepo, path: string): Promise<string | null> {
  try {
    return await repo.git(['show', '--end-of-options', `refs/remotes/origin/${repo.config.branch}:${path}`]);
  } catch (error) {
    if (error instanceof CommandError) return null;
    throw error;
  }
}

async function tip(repo: GitRepo): Promise<string> {
  return (await repo.git(['rev-parse', '--verify', '--end-of-options', `refs/remotes/origin/${repo.config.branch}^{commit}`])).trim();
}

function isRejectedPush(error: unknown): boolean {
  return error instanceof CommandError && /rejected|non-fast-forward|fetch first|failed to update ref|cannot lock ref/i.test(error.stderr);
}

/**
 * Commits `text` as `path` on the remote branch (on top of its tip) and pushes it; retries a push that lost
 * a race after re-reading the remote.
 * @returns the commit holding the record, and whether this call made it.
 */
export async function commitEvidenceFile(repo: GitRepo, path: string, text: string, message: readonly string[]): Promise<{ commit: string; changed: boolean }> {
  return repo.exclusive(async () => {
    const { branch, workdir } = repo.config;
    for (let attempt = 1; attempt <= MAX_PUSH_ATTEMPTS; attempt++) {
      await repo.sync();
      if ((await fileAtTip(repo, path)) === text) return { commit: await tip(repo), changed: false };
      await repo.git(['switch', '--quiet', '--discard-changes', '--force-create', branch, '--end-of-options', `refs/remotes/origin/${branch}`]);
      await repo.git(['clean', '-fdq']);
      const file = join(workdir, path);
      await mkdir(dirname(file), { recursive: true });
      await writeFile(file, text);
      await repo.git(['add', '--', path]);
      await repo.git(['commit', '--quiet', ...message.flatMap((m) => ['-m', m])]);
      const commit = (await repo.git(['rev-parse', '--verify', '--end-of-options', 'HEAD^{commit}'])).trim();
      try {
        await repo.git(['push', '--quiet', '--end-of-options', 'origin', `HEAD:refs/heads/${branch}`]);
        return { commit, changed: true };
      } catch (error) {
        if (!isRejectedPush(error) || attempt === MAX_PUSH_ATTEMPTS) throw error;
      }
    }
    throw new Error('unreachable');
  });
}
