/**
 * A real worker process whose kubeconfig holds only the token of this run's copy of the worker service account
 * (test/reliability/rbac-identity.ts) bootstraps staging and reports drift, refused nothing by the API server.
 * The revision it delivers carries this tree's orchestrator RBAC, so the worker applies exactly the rights it
 * runs with. Statuses of OLM, the Loki Operator and the Cluster Logging Operator are written by the sandbox
 * stand-ins.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import type { BootstrapResult, DriftResult } from '../../domain/index.ts';
import { ROOT, startStandIns, startWorkerProcess, type WorkerProcess } from '../support/processes.ts';
import { endLocksOnTaskQueue, endOrphanedLocks, knownGoodRevision } from '../worker/sandbox-runs.ts';
import { ENV, RUN, rbacIdentity, sandbox } from './rbac-identity.ts';

const execFileAsync = promisify(execFile);

const git = (cwd: string, ...args: string[]) =>
  execFileAsync('git', ['-C', cwd, '-c', 'user.name=RBAC Test', '-c', 'user.email=rbac-test@localhost', ...args]).then(
    (r) => r.stdout.trim(),
  );

/**
 * A commit on a branch of the GitOps remote: `base` with this tree's gitops/base/orchestrator, so the
 * revision the worker delivers carries exactly the rights bound to the token. `base` itself when equal.
 */
async function revisionWithThisRbac(base: string): Promise<string> {
  const work = mkdtempSync(join(tmpdir(), 'logstack-rbac-'));
  try {
    await execFileAsync('git', ['clone', '--quiet', sandbox.git.remote, work]);
    await git(work, 'checkout', '--quiet', '-b', RUN, base);
    const dir = 'gitops/base/orchestrator';
    rmSync(join(work, dir), { recursive: true, force: true });
    cpSync(join(ROOT, dir), join(work, dir), { recursive: true });
    await git(work, 'add', '--all', dir);
    if ((await git(work, 'status', '--porcelain')) === '') return base;
    await git(work, 'commit', '--quiet', '-m', "The worker's RBAC as in the tree under test");
    await git(work, 'push', '--quiet', 'origin', `HEAD:refs/heads/${RUN}`);
    return await git(work, 'rev-parse', 'HEAD');
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

describe(
  `worker RBAC from gitops/base/orchestrator on the ${ENV} cluster: a worker authenticated by its token (controller statuses written by stand-ins)`,
  { concurrency: false, timeout: 900_000 },
  () => {
    const identity = rbacIdentity();
    let connection: Connection;
    let client: Client;
    const taskQueue = `rbac-${process.pid}`;
    const children: ChildProcess[] = [];
    let worker: WorkerProcess | undefined;

    before(async () => {
      connection = await Connection.connect({ address: sandbox.temporal.address });
      client = new Client({ connection });
      await endOrphanedLocks(client, [ENV], 'RBAC test');
      await identity.setUp();
    });

    after(async () => {
      const alive = children.filter((c) => c.exitCode === null && c.signalCode === null);
      const exits = alive.map((c) => new Promise((r) => c.once('exit', r)));
      for (const child of alive) child.kill('SIGTERM');
      await Promise.all(exits);
      if (client) await endLocksOnTaskQueue(client, [ENV], taskQueue, 'RBAC test');
      await connection?.close();
      await identity.tearDown();
    });

    it('a worker process authenticated only by the token bootstraps staging and reports drift (controller statuses written by stand-ins)', async (t) => {
      const base = await knownGoodRevision(sandbox, ENV);
      // The revision carries this tree's orchestrator RBAC, so the bootstrap below applies (and dry-runs) exactly the
      // Roles and ClusterRole the token holds. (What is live afterwards is not checked: other runs deliver to the cluster too.)
      const revision = await revisionWithThisRbac(base);
      t.diagnostic(
        `delivering ${revision.slice(0, 12)} (${revision === base ? 'the known-good revision' : `known-good ${base.slice(0, 12)} + this tree's orchestrator RBAC`})`,
      );
      children.push(await startStandIns());
      worker = startWorkerProcess({ taskQueue, env: { KUBECONFIG: identity.tokenConfig } });
      children.push(worker.child);
      await worker.running;

      const started = performance.now();
      const bootstrap = (await client.workflow.execute('bootstrapEnvironment', {
        taskQueue,
        workflowId: `${RUN}-bootstrap-${ENV}`,
        args: [{ environment: ENV, revision }],
      })) as BootstrapResult;
      assert.equal(bootstrap.revision, revision);
      assert.deepEqual(
        bootstrap.gates.map((g) => g.gate),
        ['external-secrets-synced', 'operators-succeeded', 'lokistack-ready', 'log-forwarder-ready'],
      );
      const drift = (await client.workflow.execute('remediateDrift', {
        taskQueue,
        workflowId: `${RUN}-drift-${ENV}`,
        args: [{ environments: [ENV], mode: 'report' }],
      })) as DriftResult;
      t.diagnostic(
        `bootstrap + drift report with the token: ${((performance.now() - started) / 1000).toFixed(1)} s; ${drift.findings.length} drift findings`,
      );
      const refusals = drift.findings.filter((f) => /forbidden|refused access|AccessDenied/i.test(JSON.stringify(f)));
      assert.deepEqual(refusals, [], 'the drift scan was refused nothing');

      const log = worker.output();
      assert.doesNotMatch(
        log,
        /forbidden|"status":403|AccessDenied/i,
        'no activity attempt was refused by the API server',
      );
      assert.ok(!log.includes(identity.token), 'the worker never logs its token');
    });
  },
);
