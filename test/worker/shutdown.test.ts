/**
 * The worker process on SIGTERM, on the sandbox: the real worker (`node worker/main.ts`, the
 * image's command) runs a bootstrap of staging whose LokiStack gate is waiting — the LokiStack's status is
 * cleared and no controller stand-ins of this test run yet, so nothing writes it. SIGTERM mid-activity: polling stops, the in-flight
 * activity gets `LOGSTACK_SHUTDOWN_GRACE_SECONDS` and is then cancelled, and the process exits 0. A second
 * worker on the same task queue, with the stand-ins now writing statuses, takes the workflow to completion.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { Client, Connection } from '@temporalio/client';
import proto from '@temporalio/proto';
import { requireSandbox } from '../../sandbox/status.ts';
import { startStandIns, startWorkerProcess } from '../support/processes.ts';
import { endLocksOnTaskQueue, endOrphanedLocks, knownGoodRevision } from './sandbox-runs.ts';
import { clearLokiStackStatus, clusterClient } from '../reliability/fault-runs.ts';

const ENV = 'staging';
const GRACE_SECONDS = 5;
/** The exit path after the grace period: cancelling the activity, draining, closing the connection. */
const EXIT_SLACK_SECONDS = 2;
const GATE_ACTIVITY = 'waitForLokiStackReady';
const STARTED = proto.temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('worker process: SIGTERM mid-activity on the sandbox', { timeout: 300_000 }, () => {
  const sandbox = requireSandbox();
  const taskQueue = `shutdown-${process.pid}`;
  let connection: Connection;
  let client: Client;
  const children: ChildProcess[] = [];
  let statusCleared = false;
  let standInsStarted = false;

  before(async () => {
    connection = await Connection.connect({ address: sandbox.temporal.address });
    client = new Client({ connection });
    await endOrphanedLocks(client, [ENV], 'worker shutdown test');
  });

  after(async () => {
    // Failed before the stand-ins ran: let stand-ins write the cleared status back for whoever runs next.
    if (statusCleared && !standInsStarted) {
      children.push(await startStandIns());
      await sleep(3_000);
    }
    const alive = children.filter((c) => c.exitCode === null && c.signalCode === null);
    const exits = alive.map((c) => new Promise((r) => c.once('exit', r)));
    for (const child of alive) child.kill('SIGTERM');
    await Promise.all(exits);
    if (client) await endLocksOnTaskQueue(client, [ENV], taskQueue, 'worker shutdown test');
    await connection?.close();
  });

  it('stops polling, cancels the waiting gate when the grace period ends, exits 0, and the workflow completes on the next worker', async (t) => {
    const revision = await knownGoodRevision(sandbox, ENV);
    const first = startWorkerProcess({ taskQueue, env: { LOGSTACK_SHUTDOWN_GRACE_SECONDS: String(GRACE_SECONDS) } });
    children.push(first.child);
    await first.running;

    // As if the Loki Operator had not reported yet. Stand-ins already running elsewhere write a status only when
    // the generation changes, so nothing writes it again until this test starts stand-ins of its own (which report
    // on every object they list at start): the LokiStack gate has to wait until then.
    await clearLokiStackStatus(clusterClient(sandbox, ENV));
    statusCleared = true;
    const handle = await client.workflow.start('bootstrapEnvironment', {
      taskQueue,
      workflowId: `shutdown-bootstrap-${ENV}-${process.pid}`,
      args: [{ environment: ENV, revision }],
    });

    // Wait until the LokiStack gate has been started by the first worker and is waiting.
    let waiting: { type: string; worker: string } | undefined;
    for (let i = 0; i < 600 && !waiting; i++) {
      const description = await handle.describe();
      assert.equal(
        description.status.name,
        'RUNNING',
        'the bootstrap is still running (no stand-ins write statuses yet)',
      );
      const pending = (description.raw.pendingActivities ?? []).find(
        (a) => a.state === STARTED && a.activityType?.name === GATE_ACTIVITY,
      );
      if (pending) waiting = { type: pending.activityType?.name ?? '', worker: pending.lastWorkerIdentity ?? '' };
      else await sleep(100);
    }
    assert.ok(waiting, `${GATE_ACTIVITY} is in flight`);
    assert.equal(waiting.worker, first.identity, 'on the first worker');

    const signalled = performance.now();
    first.child.kill('SIGTERM');
    const exit = await first.exited;
    const seconds = (exit.at - signalled) / 1000;
    assert.equal(exit.signal, null, `the worker exits by itself, not by the signal:\n${first.output().slice(-2000)}`);
    assert.equal(exit.code, 0, `clean exit:\n${first.output().slice(-2000)}`);
    assert.ok(
      seconds <= GRACE_SECONDS + EXIT_SLACK_SECONDS,
      `exited ${seconds.toFixed(1)} s after SIGTERM (grace ${GRACE_SECONDS} s)`,
    );
    t.diagnostic(
      `worker exited ${seconds.toFixed(2)} s after SIGTERM (grace ${GRACE_SECONDS} s), ${waiting.type} in flight`,
    );
    assert.match(first.output(), /"state":"DRAINED"/);
    assert.match(first.output(), /"state":"STOPPED"/);
    assert.equal((await handle.describe()).status.name, 'RUNNING', 'the workflow outlives its worker');

    const standIns = await startStandIns();
    standInsStarted = true;
    children.push(standIns);
    const second = startWorkerProcess({ taskQueue, env: { LOGSTACK_SHUTDOWN_GRACE_SECONDS: String(GRACE_SECONDS) } });
    children.push(second.child);
    await second.running;
    const result = (await handle.result()) as { environment: string; revision: string };
    assert.equal(result.environment, ENV);
    assert.equal(result.revision, revision);

    // The gate that was cut short ran again, on the second worker.
    const history = await handle.fetchHistory();
    const events = history.events ?? [];
    const scheduled = new Map<string, string>();
    for (const e of events) {
      const a = e.activityTaskScheduledEventAttributes;
      if (a?.activityType?.name && e.eventId != null) scheduled.set(String(e.eventId), a.activityType.name);
    }
    const rerun = events.some((e) => {
      const s = e.activityTaskStartedEventAttributes;
      return s && scheduled.get(String(s.scheduledEventId)) === waiting.type && s.identity === second.identity;
    });
    assert.ok(rerun, `${waiting.type} was retried on the second worker`);
    const completedBy = events.filter((e) => e.workflowTaskCompletedEventAttributes).at(-1)
      ?.workflowTaskCompletedEventAttributes?.identity;
    assert.equal(completedBy, second.identity, 'the second worker completed the workflow');
  });
});
