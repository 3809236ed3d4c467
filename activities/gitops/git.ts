/**
 * The worker's working clone of the GitOps remote, driven through the `git` CLI. One clone per
 * worker process; operations on it are serialised in-process, and pushes are made safe against
 * other workers by fetch → re-apply → push retries.
 *
 * **Argument safety.** Every git call that takes a ref, a commit or a path puts `--end-of-options` (or
 * `--`) before it, so a value beginning with `-` is never read as an option; the branch is checked at
 * open. **Credentials** belong in the environment (a credential helper, `GIT_ASKPASS`, `GIT_CONFIG_*`) or
 * an SSH agent, not in the remote URL: a URL that carries `user:password@` still works, but it is shown
 * only as {@link GitRepo.displayRemote} (userinfo replaced by `***`) and git's stderr is redacted the same
 * way in every error (`exec.ts`).
 */
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { CommandError, redactUrl, run } from './exec.ts';

/** Where the GitOps repository lives and who commits to it. */
export interface GitConfig {
  /** URL or path of the remote pins are pushed to. */
  readonly remote: string;
  /** Branch pins are committed to. */
  readonly branch: string;
  /** Directory of this worker's working clone (created when missing). */
  readonly workdir: string;
  readonly author: { readonly name: string; readonly email: string };
  /** The `git` binary; defaults to `git` on PATH. */
  readonly gitPath?: string;
}

/** The working clone. */
export interface GitRepo {
  readonly config: GitConfig;
  /** The remote as it may be logged or stored: without credentials. */
  readonly displayRemote: string;
  /** Runs `git args…` in the clone and returns stdout. */
  git(args: readonly string[]): Promise<string>;
  /** Runs `fn` while no other operation of this process uses the clone. */
  exclusive<T>(fn: () => Promise<T>): Promise<T>;
  /** Clones when needed, then fetches branches and tags from the remote (pruning deleted ones). */
  sync(): Promise<void>;
  /** True when `commit` exists in the clone. A commit found once is not asked of git again (the clone keeps it). */
  hasCommit(commit: string): Promise<boolean>;
  /**
   * Fetches, then returns the remote's branches and tags as read right after that fetch, in one exclusive
   * step. The fetch always starts after the call: callers that ask while one is queued but not yet started
   * share it, so a burst of resolutions costs one fetch instead of one each.
   */
  fetchRefs(): Promise<RemoteRefs>;
}

/**
 * Branches (`refs/remotes/origin/<name>`) and tags (`refs/tags/<name>`) → the commit each names, or `null`
 * for a ref that does not name a commit directly or through one tag object (the caller asks git).
 */
export type RemoteRefs = ReadonlyMap<string, string | null>;

const COMMIT_SHA = /^[0-9a-f]{40}$/;

/** Parses `git for-each-ref --format='%(objectname) %(objecttype) %(*objectname) %(*objecttype) %(refname)'`. */
export function parseRefs(out: string): RemoteRefs {
  const refs = new Map<string, string | null>();
  for (const line of out.split('\n')) {
    const [object, type, peeled, peeledType, ref] = line.split(' ');
    if (!ref) continue;
    const commit = type === 'commit' ? object : peeledType === 'commit' ? peeled : undefined;
    refs.set(ref, commit !== undefined && COMMIT_SHA.test(commit) ? commit : null);
  }
  return refs;
}

const GIT_ENV = {
  GIT_TERMINAL_PROMPT: '0',
  GIT_PAGER: 'cat',
  GIT_CONFIG_NOSYSTEM: '1',
  LC_ALL: 'C',
} as const;

/** A branch name git would accept, that no git command could read as an option. */
const BRANCH_NAME = /^(?!-)(?!.*\.\.)(?!.*\/\/)(?!.*@\{)[A-Za-z0-9._/-]{1,200}(?<![./])$/;

/**
 * Opens (lazily clones) the working clone described by `config`. Nothing runs until first use.
 * @throws Error when the branch is not a plain branch name (a leading `-`, `..`, `@{`, other characters).
 */
export function openGitRepo(config: GitConfig): GitRepo {
  if (!BRANCH_NAME.test(config.branch)) {
    throw new Error(`the GitOps branch ${JSON.stringify(config.branch.slice(0, 80))} is not a plain branch name (letters, digits, . _ / -, no leading -, no ..)`);
  }
  const gitBin = config.gitPath ?? 'git';
  let queue: Promise<unknown> = Promise.resolve();
  const identity = ['-c', `user.name=${config.author.name}`, '-c', `user.email=${config.author.email}`, '-c', 'commit.gpgsign=false'];

  // Git never looks above the clone's own directory for a repository: before the first clone, or if the clone was
  // removed, a command run there fails instead of answering from a repository the directory happens to sit in.
  const env = { ...GIT_ENV, HOME: process.env['HOME'] ?? '/tmp', GIT_CEILING_DIRECTORIES: dirname(resolve(config.workdir)) };
  const git = (args: readonly string[]): Promise<string> => run(gitBin, [...identity, ...args], { cwd: config.workdir, env });

  const readRefs = async (): Promise<RemoteRefs> =>
    parseRefs(await git(['for-each-ref', '--format=%(objectname) %(objecttype) %(*objectname) %(*objecttype) %(refname)', 'refs/remotes/origin', 'refs/tags']));

  const ensureClone = async (): Promise<void> => {
    if (existsSync(join(config.workdir, '.git'))) return;
    await rm(config.workdir, { recursive: true, force: true });
    await mkdir(dirname(config.workdir), { recursive: true });
    await run(gitBin, ['clone', '--quiet', '--no-checkout', '--', config.remote, config.workdir], { env: GIT_ENV, timeoutMs: 300_000 });
  };

  const exclusive = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = queue.then(fn, fn);
    queue = next.catch(() => undefined);
    return next;
  };
  const sync = async (): Promise<void> => {
    await ensureClone();
    await git(['fetch', '--quiet', '--prune', '--prune-tags', '--tags', '--force', 'origin']);
  };
  /** The queued, not yet started fetch that new callers join. */
  let queuedFetch: Promise<RemoteRefs> | undefined;
  /** Commits known to be in the clone. */
  const held = new Set<string>();

  return {
    config,
    displayRemote: redactUrl(config.remote),
    git,
    exclusive,
    sync,
    fetchRefs() {
      queuedFetch ??= exclusive(async () => {
        queuedFetch = undefined;
        await sync();
        return readRefs();
      });
      return queuedFetch;
    },
    async hasCommit(commit) {
      if (held.has(commit)) return true;
      try {
        await git(['cat-file', '-e', '--end-of-options', `${commit}^{commit}`]);
        held.add(commit);
        return true;
      } catch (error) {
        if (error instanceof CommandError) return false;
        throw error;
      }
    },
  };
}
