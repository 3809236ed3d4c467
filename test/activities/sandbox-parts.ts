/**
 * Shared fixtures of the activity tests: the sandbox's real parts (kube-apiservers, the Git remote,
 * moto), environment entries pointing at them, a scratch branch of the GitOps remote holding test
 * overlays, and a runner for activities inside `MockActivityEnvironment` (heartbeats, cancellation).
 * No test doubles: every call reaches a real server.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { parse, stringify } from 'yaml';
import { type Environment, type StateKey, parseCatalog } from '../../domain/index.ts';
import { createActivities } from '../../activities/index.ts';
import { createAwsClients } from '../../activities/aws/index.ts';
import { patchStatus } from '../../activities/kubernetes/apply.ts';
import { type KubeCluster, createKubeClusters } from '../../activities/kubernetes/cluster.ts';
import type { KubeObject } from '../../activities/kubernetes/objects.ts';
import { requireSandbox } from '../../sandbox/status.ts';
import { stateKeysFromEnv } from '../../sandbox/inputs.ts';

export const sandbox = requireSandbox();
export const clusters = createKubeClusters(sandbox.kubeconfig);
/** Field manager the tests use when they stand in for a controller writing status. */
export const STAND_IN = 'test-stand-in';

/** A short random suffix for names that must not collide between runs. */
export function suffix(): string {
  return randomBytes(3).toString('hex');
}

const catalog = parseCatalog(parse(readFileSync(join(import.meta.dirname, '../../sandbox/environments.yaml'), 'utf8')));

/** A sandbox catalog entry with `overrides` applied (deep for `loki`, `aws`, `cluster`). */
export function environment(name: 'dev' | 'staging' | 'production', overrides: Partial<Omit<Environment, 'loki' | 'aws' | 'cluster'>> & { loki?: Partial<Environment['loki']>; aws?: Partial<Environment['aws']>; cluster?: Partial<Environment['cluster']> } = {}): Environment {
  const base = catalog.environments.find((e) => e.name === name);
  if (!base) throw new Error(`sandbox catalog has no ${name}`);
  const { loki, aws, cluster, ...rest } = overrides;
  return { ...base, ...rest, loki: { ...base.loki, ...loki }, aws: { ...base.aws, ...aws }, cluster: { ...base.cluster, ...cluster } };
}

/** The kube client of an environment's cluster. */
export function clusterOf(env: Environment): KubeCluster {
  return clusters.forContext(env.cluster.context);
}

/** Runs git in `cwd` (tests only: seeding the remote). */
export function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=activity-tests', '-c', 'user.email=tests@localhost', '-c', 'commit.gpgsign=false', ...args], { cwd, encoding: 'utf8' }).trim();
}

/** A branch of the sandbox GitOps remote with extra files, for tests that need their own overlays and pins. */
export interface ScratchBranch {
  readonly branch: string;
  readonly clone: string;
  /** Commits `files` (path → YAML objects, or text) on the branch and pushes; returns the commit. */
  commit(files: Readonly<Record<string, readonly object[] | string>>, message: string): string;
  /** Removes the local clone (the branch stays on the remote, like any pushed work). */
  dispose(): void;
}

/** Creates `activities-test-<suffix>` from the remote's main. */
export function scratchBranch(): ScratchBranch {
  const clone = mkdtempSync(join(tmpdir(), 'logstack-test-seed-'));
  const branch = `activities-test-${suffix()}`;
  execFileSync('git', ['clone', '--quiet', sandbox.git.remote, clone]);
  git(clone, 'checkout', '--quiet', '-b', branch, 'origin/main');
  git(clone, 'push', '--quiet', 'origin', `HEAD:refs/heads/${branch}`);
  return {
    branch,
    clone,
    commit(files, message) {
      for (const [path, content] of Object.entries(files)) {
        const file = join(clone, path);
        mkdirSync(dirname(file), { recursive: true });
        writeFileSync(file, typeof content === 'string' ? content : content.map((o) => stringify(o, { version: '1.1' })).join('---\n'));
      }
      git(clone, 'add', '--all');
      git(clone, 'commit', '--quiet', '-m', message);
      git(clone, 'push', '--quiet', 'origin', `HEAD:refs/heads/${branch}`);
      return git(clone, 'rev-parse', 'HEAD');
    },
    dispose() {
      rmSync(clone, { recursive: true, force: true });
    },
  };
}

/** The full activity set over the sandbox, with its own Git working clone (and branch). */
export function sandboxActivities(options: { branch?: string; workdir?: string; stateKeys?: readonly StateKey[] } = {}) {
  const workdir = options.workdir ?? mkdtempSync(join(tmpdir(), 'logstack-test-clone-'));
  rmSync(workdir, { recursive: true, force: true });
  return createActivities({
    catalogPath: join(import.meta.dirname, '../../sandbox/environments.yaml'),
    stateKeys: options.stateKeys ?? stateKeysFromEnv(),
    kubeconfig: sandbox.kubeconfig,
    kubectlPath: sandbox.kubectl,
    awsClients: createAwsClients({ endpoint: sandbox.aws.endpoint, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } }),
    git: { remote: sandbox.git.remote, branch: options.branch ?? 'main', workdir },
  });
}

/** A kustomization listing `resources` (file names in the same directory). */
export function kustomization(resources: readonly string[]): string {
  return stringify({ apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization', resources });
}

/** Writes a controller's status in its place (the sandbox runs no such controller). */
export function writeStatus(cluster: KubeCluster, obj: Pick<KubeObject, 'apiVersion' | 'kind' | 'metadata'>, status: Record<string, unknown>): Promise<KubeObject> {
  return patchStatus(cluster, { apiVersion: obj.apiVersion, kind: obj.kind, name: obj.metadata.name, namespace: obj.metadata.namespace }, status, STAND_IN);
}

/** A condition as controllers write it. */
export function condition(type: string, status: 'True' | 'False' | 'Unknown', reason = 'Test'): Record<string, string> {
  return { type, status, reason, message: `${type} written by the test in the controller's place`, lastTransitionTime: new Date().toISOString() };
}

/** Activity failures are asserted by the tests; the SDK's own failure log would only repeat them. */
const quiet = new DefaultLogger('ERROR');

/** An activity run inside a mock activity context, recording heartbeats and allowing cancellation. */
export interface ActivityRun<R> {
  readonly result: Promise<R>;
  readonly heartbeats: unknown[];
  cancel(): void;
}

/** Runs `fn(input)` in a `MockActivityEnvironment` with the given activity id and heartbeat timeout. */
export function runInActivity<A, R>(fn: (input: A) => Promise<R>, input: A, info: { activityId?: string; heartbeatTimeoutMs?: number } = {}): ActivityRun<R> {
  const env = new MockActivityEnvironment({ activityId: info.activityId ?? `act-${suffix()}`, heartbeatTimeoutMs: info.heartbeatTimeoutMs ?? 3000 }, { logger: quiet });
  const heartbeats: unknown[] = [];
  env.on('heartbeat', (d: unknown) => heartbeats.push(d));
  return { result: env.run(fn, input), heartbeats, cancel: () => env.cancel() };
}

/** Resolves once `predicate` holds (checked every 20 ms), failing after `timeoutMs`. */
export async function eventually(predicate: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await predicate()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** The value of the apiserver gauge of open WATCH requests on `resource`. */
export async function apiserverWatches(cluster: KubeCluster, resource: string): Promise<number> {
  const text = await cluster.request<string>({ method: 'GET', path: '/metrics', text: true });
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('apiserver_longrunning_requests{') && line.includes(`resource="${resource}"`) && line.includes('verb="WATCH"')) {
      total += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return total;
}

/** The `type` of an ApplicationFailure thrown by `promise` (fails the test when it resolves). */
export async function failureTypeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
  } catch (error) {
    return (error as { type?: string }).type ?? (error as Error).name;
  }
  throw new Error('expected a failure');
}

/**
 * Two real commits of the sandbox's GitOps remote, made for `label` on a branch of their own
 * (`refs/heads/test/<label>`, main's tree, main as the first parent), so a fresh remote with a single commit
 * has them too. Returns `[older, newer]`. Main is never moved.
 */
export function twoRemoteCommits(label: string): [string, string] {
  const git = (...args: string[]): string =>
    execFileSync('git', ['-C', sandbox.git.remote, ...args], {
      encoding: 'utf8',
      env: { ...process.env, GIT_AUTHOR_NAME: 'State Test', GIT_AUTHOR_EMAIL: 'state-test@localhost', GIT_COMMITTER_NAME: 'State Test', GIT_COMMITTER_EMAIL: 'state-test@localhost' },
    }).trim();
  const tree = git('rev-parse', 'main^{tree}');
  const older = git('commit-tree', tree, '-p', 'main', '-m', `${label}: first`);
  const newer = git('commit-tree', tree, '-p', older, '-m', `${label}: second`);
  git('update-ref', `refs/heads/test/${label}`, newer);
  return [older, newer];
}
