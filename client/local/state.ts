/**
 * The local reads and writes of `logstack state show|repair`: the environment's deployed-state record
 * and Argo CD Application through `kubectl` (the clusters come from `KUBECONFIG`, as for every kubectl
 * call, so exec plugins and OIDC logins work unchanged), and the GitOps remote through `git`. Like
 * `client/local/render.ts`, this file may spawn processes (eslint.config.js): a deliberate repair by a
 * person runs with that person's own credentials, not the worker's.
 */
import { execFile } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FIELD_MANAGER, STATE_NAMESPACE, type StateMac, stateConfigMapName } from '../../domain/index.ts';
import { CliError, ExitCode } from '../errors.ts';

/** HMAC-SHA256 of the UTF-8 `message` under `key` (the worker computes the same with the same rules). */
export const hmacSha256: StateMac = (key, message) => new Uint8Array(createHmac('sha256', key).update(message, 'utf8').digest());

/** The variables the child processes see: the CLI's own (KUBECONFIG, Git's configuration variables). */
type Env = Readonly<Record<string, string | undefined>>;

/** One `metadata.managedFields` entry, as kubectl prints it. */
export interface ManagedFields {
  readonly manager?: string;
  readonly operation?: string;
  readonly apiVersion?: string;
  readonly fieldsType?: string;
  readonly fieldsV1?: unknown;
  readonly time?: string;
}

/** The record's ConfigMap as read (data and ownership). */
export interface LiveConfigMap {
  readonly metadata: { readonly name: string; readonly namespace: string; readonly resourceVersion: string; readonly managedFields?: readonly ManagedFields[] };
  readonly data?: Readonly<Record<string, string>>;
}

function run(file: string, args: readonly string[], env: Env, input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(file, [...args], { env: { ...env }, timeout: 120_000, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (!error) {
        resolve(stdout);
        return;
      }
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        reject(new CliError(`${file} not found; install it${file.endsWith('kubectl') ? ', or pass --kubectl / set LOGSTACK_KUBECTL' : ''}`, ExitCode.failed));
        return;
      }
      reject(new CliError(`${[file, ...args.slice(0, 4)].join(' ')} failed: ${(stderr || error.message).trim().slice(0, 2000)}`, ExitCode.failed));
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** kubectl against one context of the kubeconfig. */
export class Kubectl {
  readonly #kubectl: string;
  readonly #context: string;
  readonly #env: Env;

  constructor(kubectl: string, context: string, env: Env) {
    this.#kubectl = kubectl;
    this.#context = context;
    this.#env = env;
  }

  #run(args: readonly string[], input?: string): Promise<string> {
    return run(this.#kubectl, ['--context', this.#context, ...args], this.#env, input);
  }

  /** The environment's record ConfigMap with its managed fields; undefined when absent. */
  async readRecord(environment: string): Promise<LiveConfigMap | undefined> {
    const out = await this.#run(['get', 'configmap', '--namespace', STATE_NAMESPACE, stateConfigMapName(environment), '--ignore-not-found', '--show-managed-fields', '--output', 'json']);
    return out.trim() === '' ? undefined : (JSON.parse(out) as LiveConfigMap);
  }

  /**
   * The Argo CD Application's synced revision, sync and health status; undefined when it does not exist,
   * or the cluster serves no Argo CD Applications.
   */
  async readApplication(namespace: string, name: string): Promise<{ revision: string | null; sync: string | null; health: string | null } | undefined> {
    let out: string;
    try {
      out = await this.#run(['get', 'applications.argoproj.io', '--namespace', namespace, name, '--ignore-not-found', '--output', 'json']);
    } catch (error) {
      if (error instanceof CliError && /doesn't have a resource type|the server could not find the requested resource/.test(error.message)) return undefined;
      throw error;
    }
    if (out.trim() === '') return undefined;
    const status = (JSON.parse(out) as { status?: { sync?: { revision?: string; status?: string }; health?: { status?: string } } }).status;
    return { revision: status?.sync?.revision ?? null, sync: status?.sync?.status ?? null, health: status?.health?.status ?? null };
  }

  /** Server-side applies `objects` as logstack, with `force` taking over fields other managers hold. */
  async apply(objects: readonly object[], force: boolean): Promise<void> {
    const list = { apiVersion: 'v1', kind: 'List', items: objects };
    await this.#run(['apply', '--server-side', `--field-manager=${FIELD_MANAGER}`, ...(force ? ['--force-conflicts'] : []), '--filename', '-', '--output', 'name'], JSON.stringify(list));
  }

  /** Applies a JSON patch to the record ConfigMap (as logstack). */
  async patchRecord(environment: string, patch: readonly object[]): Promise<void> {
    await this.#run(['patch', 'configmap', '--namespace', STATE_NAMESPACE, stateConfigMapName(environment), `--field-manager=${FIELD_MANAGER}`, '--type', 'json', '--patch', JSON.stringify(patch)]);
  }

  /** True when the namespace exists. */
  async hasNamespace(name: string): Promise<boolean> {
    return (await this.#run(['get', 'namespace', name, '--ignore-not-found', '--output', 'name'])).trim() !== '';
  }
}

/**
 * Which of `commits` (full SHAs) are commits of the GitOps remote: one bare clone of its branches and
 * tags into a temporary directory, removed afterwards. Git's own configuration variables apply
 * (`url.<base>.insteadOf`, credentials helpers).
 */
export async function commitsInRemote(remote: string, commits: readonly string[], env: Env): Promise<Set<string>> {
  const found = new Set<string>();
  if (commits.length === 0) return found;
  const dir = await mkdtemp(join(tmpdir(), 'logstack-state-'));
  const gitEnv = { ...env, GIT_TERMINAL_PROMPT: '0' };
  try {
    await run('git', ['clone', '--bare', '--quiet', '--', remote, join(dir, 'remote.git')], gitEnv);
    for (const commit of new Set(commits)) {
      try {
        await run('git', ['--git-dir', join(dir, 'remote.git'), 'cat-file', '-e', `${commit}^{commit}`], gitEnv);
        found.add(commit);
      } catch (error) {
        if (!(error instanceof CliError)) throw error;
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return found;
}
