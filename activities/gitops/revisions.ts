/**
 * Resolving what a person types (branch, tag, short or full SHA) to a full commit of the GitOps
 * remote, after a fetch so the answer is the remote's, not a stale local ref. A full commit SHA the clone
 * already holds needs no fetch: it names the same commit for ever.
 */
import { FailureType, assertRevisionSyntax, isCommitSha } from '../../domain/index.ts';
import { fromDomainError, nonRetryable } from '../errors.ts';
import { CommandError } from './exec.ts';
import type { GitRepo, RemoteRefs } from './git.ts';

async function tryRevParse(repo: GitRepo, ref: string): Promise<string | undefined> {
  try {
    const out = (await repo.git(['rev-parse', '--verify', '--quiet', '--end-of-options', `${ref}^{commit}`])).trim();
    return isCommitSha(out) ? out : undefined;
  } catch (error) {
    if (error instanceof CommandError) return undefined;
    throw error;
  }
}

/** Per working clone: full SHAs already resolved (a commit SHA names the same commit for ever). */
const resolvedShas = new WeakMap<GitRepo, Map<string, string>>();

function shasOf(repo: GitRepo): Map<string, string> {
  let known = resolvedShas.get(repo);
  if (!known) resolvedShas.set(repo, (known = new Map<string, string>()));
  return known;
}

/** `sha^{commit}` of a full SHA the clone holds, asked of git once per clone; undefined when it holds no such object. */
async function peelSha(repo: GitRepo, sha: string): Promise<string | undefined> {
  const known = shasOf(repo);
  const cached = known.get(sha);
  if (cached) return cached;
  const commit = await repo.exclusive(() => tryRevParse(repo, sha));
  if (commit) known.set(sha, commit);
  return commit;
}

/** Remembers the commits a ref listing names, so resolving one of them later asks neither the remote nor git. */
function rememberListed(repo: GitRepo, refs: RemoteRefs): void {
  const known = shasOf(repo);
  for (const commit of refs.values()) if (commit !== null) known.set(commit, commit);
}

/** Candidate refs in order of precedence: remote branch, tag, then a short commit id. */
function candidates(revision: string): string[] {
  const list = [`refs/remotes/origin/${revision}`, `refs/tags/${revision}`];
  if (/^[0-9a-f]{4,39}$/.test(revision)) list.push(revision);
  return list;
}

/**
 * Resolves `revision` to a full commit SHA. A full SHA names that object, as it does for git (never a branch or
 * tag of the same name): one the clone holds resolves without asking the remote (a commit SHA names the same
 * commit for ever), any other after a fetch. Anything else — a branch, a tag, a short SHA — resolves as the
 * remote has it after a fetch that starts after the call (concurrent resolutions share one fetch:
 * `GitRepo.fetchRefs`); branches and tags are read from the refs listed with that fetch, and only a short
 * commit id, or a tag that does not name a commit directly, asks git.
 * Read-only apart from fetching.
 * @throws ApplicationFailure `InvalidInput` when the syntax is wrong, or the remote has no such
 *   branch, tag or commit (or a short SHA is ambiguous).
 */
export async function resolveRevision(repo: GitRepo, revision: string): Promise<string> {
  try {
    assertRevisionSyntax(revision);
  } catch (error) {
    throw fromDomainError(error);
  }
  if (isCommitSha(revision)) {
    const held = await peelSha(repo, revision);
    if (held) return held;
    rememberListed(repo, await repo.fetchRefs());
    const fetched = await peelSha(repo, revision);
    if (fetched) return fetched;
    throw notOnRemote(revision);
  }
  const refs = await repo.fetchRefs();
  rememberListed(repo, refs);
  for (const ref of candidates(revision)) {
    const listed = refs.get(ref);
    if (listed) return listed;
    // A branch or tag the listing does not have is not on the remote; one it could not peel, and a commit id, ask git.
    if (listed === undefined && ref.startsWith('refs/')) continue;
    const commit = await repo.exclusive(() => tryRevParse(repo, ref));
    if (commit) return commit;
  }
  throw notOnRemote(revision);
}

function notOnRemote(revision: string): ReturnType<typeof nonRetryable> {
  return nonRetryable(
    FailureType.InvalidInput,
    `revision "${revision}" is not a branch, tag or commit of the GitOps remote (or a short SHA matching several commits); push it first or use a longer SHA`,
    { revision },
  );
}

/**
 * A check that a full commit SHA exists in the GitOps remote, for the deployed-state record. Cheap:
 * a commit found once is remembered for the life of the worker (commits are immutable), and the remote
 * is fetched only when the working clone does not already hold the commit.
 */
export function createCommitExists(repo: () => Promise<GitRepo>): (commit: string) => Promise<boolean> {
  const known = new Set<string>();
  return async (commit) => {
    if (!isCommitSha(commit)) return false;
    if (known.has(commit)) return true;
    const clone = await repo();
    const found = await clone.exclusive(async () => {
      if (await clone.hasCommit(commit).catch(() => false)) return true;
      await clone.sync();
      return clone.hasCommit(commit);
    });
    if (found) known.add(commit);
    return found;
  };
}
