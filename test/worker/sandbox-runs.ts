/**
 * Helpers for tests that run real workflows on the shared sandbox next to other runs.
 *
 * Environment locks left behind by workers that are gone:
 * A lock workflow (`lock-<env>`) runs on the lock task queue of the worker that first asked for it, which is
 * the worker's own task queue unless `LOGSTACK_LOCK_TASK_QUEUE` says otherwise. Tests run workers on task
 * queues of their own, so once such a worker stops, its locks have nobody to run them and the next workflow
 * that asks for one waits forever. These helpers terminate a lock only when no worker
 * answers for it (its `lockState` query gets no answer) — the case the lock's own documentation allows —
 * and let a test end the locks that its own, stopping worker was serving.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Client } from '@temporalio/client';
import { WorkflowTypes, workflowIds } from '../../domain/index.ts';
import type { SandboxRuntime } from '../../sandbox/status.ts';
import { deployedState } from '../reliability/fault-runs.ts';
import { startStandIns } from '../support/processes.ts';

const execFileAsync = promisify(execFile);

const QUERY_DEADLINE_MS = 5_000;

/** Terminates `lock-<env>` of each environment when it runs but no worker answers its query. Returns the ones ended. */
export async function endOrphanedLocks(
  client: Client,
  environments: readonly string[],
  reason: string,
): Promise<string[]> {
  const ended: string[] = [];
  for (const env of environments) {
    const handle = client.workflow.getHandle(workflowIds.lock(env));
    const description = await handle.describe().catch(() => undefined);
    if (description?.status.name !== 'RUNNING') continue;
    const answered = await client.connection
      .withDeadline(Date.now() + QUERY_DEADLINE_MS, () => handle.query('lockState'))
      .then(() => true)
      .catch(() => false);
    if (answered) continue;
    await handle.terminate(`${reason}: no worker serves task queue ${description.taskQueue}`);
    ended.push(handle.workflowId);
  }
  return ended;
}

/** Terminates the locks that run on `taskQueue` (whose worker is about to stop). Returns the ones ended. */
export async function endLocksOnTaskQueue(
  client: Client,
  environments: readonly string[],
  taskQueue: string,
  reason: string,
): Promise<string[]> {
  const ended: string[] = [];
  for (const env of environments) {
    const handle = client.workflow.getHandle(workflowIds.lock(env));
    const description = await handle.describe().catch(() => undefined);
    if (description?.status.name !== 'RUNNING' || description.taskQueue !== taskQueue) continue;
    await handle.terminate(`${reason}: the worker of task queue ${taskQueue} stops`);
    ended.push(handle.workflowId);
  }
  return ended;
}

/** The revision `env`'s deployed-state record names as verified, if it does. */
async function verifiedRevision(sandbox: SandboxRuntime, env: string): Promise<string | undefined> {
  const state = await deployedState(sandbox, env);
  return state['verified'] === 'true' && state['revision'] ? state['revision'] : undefined;
}

/** The GitOps remote's first commit (the seed). */
async function seedRevision(sandbox: SandboxRuntime): Promise<string> {
  const { stdout } = await execFileAsync('git', ['-C', sandbox.git.remote, 'rev-list', '--max-parents=0', 'HEAD']);
  const seed = stdout.trim().split('\n')[0];
  if (!seed) throw new Error(`the GitOps remote ${sandbox.git.remote} has no commit`);
  return seed;
}

/**
 * A revision known to deliver cleanly to `env`: its verified revision, or else the GitOps remote's first
 * commit (the seed). The branch head is not used, because other tests push commits that break the stack on purpose.
 */
export async function knownGoodRevision(sandbox: SandboxRuntime, env: string): Promise<string> {
  return (await verifiedRevision(sandbox, env)) ?? seedRevision(sandbox);
}

/**
 * Makes sure `env` has been bootstrapped to a verified revision, as a test that starts from a running estate needs
 * (a rollout, say): when its deployed-state record is not verified, bootstraps it at the GitOps remote's first commit on
 * `taskQueue` (whose worker must be running), with the controller stand-ins writing statuses while it runs, and
 * waits for that. Returns the verified revision. Costs one read when an earlier test already did it.
 */
export async function ensureBootstrapped(client: Client, sandbox: SandboxRuntime, env: string, taskQueue: string): Promise<string> {
  const verified = await verifiedRevision(sandbox, env);
  if (verified) return verified;
  const revision = await seedRevision(sandbox);
  const standIns = await startStandIns();
  try {
    await client.workflow.execute(WorkflowTypes.bootstrapEnvironment, {
      taskQueue,
      workflowId: `test-set-up-bootstrap-${env}-${process.pid}`,
      args: [{ environment: env, revision }],
    });
  } finally {
    if (standIns.exitCode === null && standIns.signalCode === null) {
      const exited = new Promise((resolve) => standIns.once('exit', resolve));
      standIns.kill('SIGTERM');
      await exited;
    }
  }
  return revision;
}
