/**
 * Temporal restarts in the middle of a promotion, on the sandbox's real parts: a private, file-backed
 * Temporal dev server of this test (the shared one is never touched), the real worker process pointed at
 * it, the sandbox's clusters, moto and Git remote, and the controller stand-ins for the statuses of OLM,
 * the Loki Operator and the Cluster Logging Operator. `promoteEnvironment` dev → staging runs; while one
 * of its activities is in flight on the worker the server is killed with SIGKILL, stays down for a few
 * seconds, and is started again on the same database file and port. The worker is not restarted: it has
 * to reconnect by itself, and the promotion has to complete with the right result and staging's deployed
 * state at the promoted revision.
 *
 * Environment locks live in Temporal, so the private server's locks do not serialise these runs with runs
 * on the shared server: CI runs test files one at a time, which is what keeps dev and staging to this test.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { Client, Connection } from '@temporalio/client';
import type { BootstrapResult, PromoteResult, RolloutResult } from '../../domain/index.ts';
import { requireSandbox } from '../../sandbox/status.ts';
import { startStandIns, startWorkerProcess, type WorkerProcess } from '../support/processes.ts';
import { knownGoodRevision } from '../worker/sandbox-runs.ts';
import { activitySpans, clearLokiStackStatus, clusterClient, deployedState, describeSpans, pushRunRevision, resultOrExplain, sleep, waitForActivityInFlight } from './fault-runs.ts';
import { startPrivateTemporal, type PrivateTemporal } from './private-temporal.ts';

/** How long the server stays down: longer than the worker's first reconnect attempts. */
const DOWN_MS = 8_000;
/**
 * The gate the server dies under. Its status is cleared and nothing writes it until the server is back, so
 * the gate is certain to be waiting when the kill comes (a gate whose status is already current passes in
 * milliseconds, before a poll of `describe` sees it).
 */
const GATE = 'waitForLokiStackReady';

describe('Temporal restart mid-promotion (private dev server; statuses written by stand-ins)', { timeout: 600_000 }, () => {
  const sandbox = requireSandbox();
  const taskQueue = `reliability-restart-${process.pid}`;
  let temporal: PrivateTemporal;
  let connection: Connection;
  let client: Client;
  let worker: WorkerProcess;
  let standIns: ChildProcess | undefined;

  before(async () => {
    temporal = await startPrivateTemporal(sandbox.temporal.cli);
    connection = await Connection.connect({ address: temporal.address });
    client = new Client({ connection });
    worker = startWorkerProcess({ taskQueue, env: { TEMPORAL_ADDRESS: temporal.address } });
    standIns = await startStandIns();
    await worker.running;
  });

  /** Ends this test's stand-ins (and waits until they are gone). */
  async function stopStandIns(): Promise<void> {
    const running = standIns;
    standIns = undefined;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill('SIGTERM');
    await exited;
  }

  after(async () => {
    const children = [worker?.child, standIns].filter((c): c is ChildProcess => c !== undefined && c.exitCode === null && c.signalCode === null);
    const exits = children.map((c) => new Promise((r) => c.once('exit', r)));
    for (const child of children) child.kill('SIGTERM');
    await Promise.all(exits);
    await connection?.close();
    // The private server ends with its locks: nothing of this run is left on the shared server.
    await temporal?.dispose();
  });

  it('SIGKILL of the server while a promotion activity is in flight: the worker reconnects by itself and the promotion completes', async (t) => {
    // dev needs a verified revision that staging does not run yet, or the promotion has nothing to do.
    let devState = await deployedState(sandbox, 'dev');
    if (devState['verified'] !== 'true') {
      const bootstrap = (await resultOrExplain(
        await client.workflow.start('bootstrapEnvironment', {
          taskQueue,
          workflowId: `restart-bootstrap-dev-${process.pid}`,
          args: [{ environment: 'dev', revision: await knownGoodRevision(sandbox, 'dev') }],
        }),
      )) as BootstrapResult;
      t.diagnostic(`dev bootstrapped at ${bootstrap.revision}`);
      devState = await deployedState(sandbox, 'dev');
    }
    const stagingBefore = await deployedState(sandbox, 'staging');
    let revision = devState['revision'] ?? '';
    if (revision === stagingBefore['revision']) {
      revision = await pushRunRevision(sandbox, revision, `restart-${Date.now()}`);
      const rollout = (await resultOrExplain(
        await client.workflow.start('rolloutEnvironment', {
          taskQueue,
          workflowId: `restart-rollout-dev-${process.pid}`,
          args: [{ environment: 'dev', revision, reason: 'a revision for staging to promote' }],
        }),
      )) as RolloutResult;
      assert.equal(rollout.rolledBack, false, 'dev verified the new revision');
      t.diagnostic(`dev rolled out to ${revision}`);
    }
    assert.equal((await deployedState(sandbox, 'dev'))['verified'], 'true', 'dev has a verified revision');

    // Until the server has been killed and started again, nothing writes staging's LokiStack status.
    await stopStandIns();
    await clearLokiStackStatus(clusterClient(sandbox, 'staging'));
    const handle = await client.workflow.start('promoteEnvironment', {
      taskQueue,
      workflowId: `restart-promote-staging-${process.pid}`,
      args: [{ from: 'dev', to: 'staging', requestedBy: 'reliability' }],
    });
    const inFlight = await waitForActivityInFlight(handle, (type) => type === GATE, 300_000, 50);
    assert.equal(inFlight.worker, worker.identity, 'the activity runs on the worker process');
    const pidBefore = temporal.pid;
    const killed = await temporal.kill('SIGKILL');
    const killedAt = Date.now();
    assert.equal(killed.signal, 'SIGKILL');
    t.diagnostic(`server killed while ${inFlight.type} (attempt ${inFlight.attempt}) was in flight`);
    await sleep(DOWN_MS);
    await temporal.start();
    const restartedAt = Date.now();
    assert.notEqual(temporal.pid, pidBefore, 'a new server process');
    // The Loki Operator's stand-in reports the LokiStack Ready again: the gate that waited through the crash passes.
    standIns = await startStandIns();

    const result = (await resultOrExplain(handle)) as PromoteResult;
    const completedAt = Date.now();
    assert.equal(result.from, 'dev');
    assert.equal(result.to, 'staging');
    assert.equal(result.revision, revision, 'the revision verified in dev was promoted');
    assert.equal(result.rolledBack, false);
    const lastVerified = stagingBefore['verified'] === 'true' ? stagingBefore['revision'] : stagingBefore['previousRevision'];
    assert.equal(result.previousRevision, lastVerified || null, `staging's last verified revision before the promotion (staging was ${JSON.stringify(stagingBefore)})`);
    const staging = await deployedState(sandbox, 'staging');
    assert.equal(staging['revision'], revision, 'staging records the promoted revision');
    assert.equal(staging['verified'], 'true', 'verified by every gate of staging');

    assert.equal(worker.child.exitCode, null, 'the same worker process, never restarted');
    assert.equal(worker.child.signalCode, null);
    // It saw the server go away (its polls failed with Unavailable) and came back on its own connection.
    const lost = worker.output().match(/poll_(?:workflow|activity)_task_queue retried \d+ times.*Unavailable/g) ?? [];
    assert.ok(lost.length > 0, `the worker's polls failed while the server was down:\n${worker.output().slice(-2000)}`);
    // The history survived the crash and the run went on after it: nothing closes while the server is down, so
    // every activity closed after the kill closed after the restart.
    const spans = await activitySpans(handle);
    const afterRestart = spans.filter((s) => s.closedAt !== undefined && s.closedAt >= killedAt);
    assert.ok(afterRestart.length > 0, `activities completed after the restart:\n${describeSpans(spans)}`);
    const cutShort = spans.filter((s) => s.type === inFlight.type && s.scheduledAt <= killedAt).at(-1);
    assert.equal(cutShort?.outcome, 'completed', `the gate that was waiting when the server died completed:\n${describeSpans(spans)}`);
    assert.ok(spans.every((s) => s.outcome === 'completed'), `every activity completed:\n${describeSpans(spans)}`);
    t.diagnostic(`${inFlight.type} closed by attempt ${cutShort.attempt ?? '?'} ${(((cutShort.closedAt ?? 0) - restartedAt) / 1000).toFixed(1)} s after the restart`);
    t.diagnostic(`down ${((restartedAt - killedAt) / 1000).toFixed(1)} s; completed ${((completedAt - restartedAt) / 1000).toFixed(1)} s after the restart`);
    t.diagnostic(`activities:\n${describeSpans(spans)}`);
  });
});
