/**
 * Heartbeat timeout with real workers on the sandbox's Temporal dev server: the gate activity runs
 * in a separate worker process, which is killed mid-wait; Temporal notices the missing heartbeats
 * within the 2 s heartbeat timeout and the workflow sees a HEARTBEAT timeout.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { environment, eventually, sandbox, suffix } from './sandbox-parts.ts';

Runtime.install({ logger: new DefaultLogger('WARN') });
const id = suffix();
const workflowQueue = `t-heartbeat-wf-${id}`;
const activityQueue = `t-heartbeat-act-${id}`;
let child: ChildProcess | undefined;

function startActivityWorker(): Promise<ChildProcess> {
  const proc = spawn(process.execPath, [join(import.meta.dirname, 'fixtures/activity-worker.ts'), activityQueue], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    proc.stdout.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ready')) resolve(proc);
    });
    proc.once('exit', (code) => reject(new Error(`activity worker exited early (${code})`)));
  });
}

describe('heartbeat timeout with real workers', { timeout: 120_000 }, () => {
  after(() => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
  });

  it('a worker killed mid-gate is detected by its missing heartbeats (test leaves the LokiStack absent)', async (t) => {
    const connection = await NativeConnection.connect({ address: sandbox.temporal.address });
    const worker = await Worker.create({ connection, taskQueue: workflowQueue, workflowsPath: join(import.meta.dirname, 'fixtures/heartbeat-workflow.ts') });
    child = await startActivityWorker();
    const client = new Client({ connection: await Connection.connect({ address: sandbox.temporal.address }) });
    const env = environment('dev', { loki: { namespace: `t-heartbeat-${id}` } });
    const result = await worker.runUntil(async () => {
      const handle = await client.workflow.start('gateUntilWorkerDies', { taskQueue: workflowQueue, workflowId: `heartbeat-${id}`, args: [{ environment: env, activityTaskQueue: activityQueue }] });
      await eventually(async () => {
        const description = await handle.describe();
        return (description.raw.pendingActivities ?? []).some((a) => Number(a.attempt) >= 1 && a.lastStartedTime);
      }, 30_000, 'the gate activity to start');
      const exited = once(child!, 'exit');
      child!.kill('SIGKILL');
      await exited;
      const killedAt = Date.now();
      const outcome = await handle.result();
      return { outcome, detectedAfterMs: Date.now() - killedAt };
    });
    t.diagnostic(`workflow saw ${result.outcome} ${result.detectedAfterMs} ms after the kill`);
    assert.match(String(result.outcome), /timeout:.*HEARTBEAT/);
    assert.ok(result.detectedAfterMs < 15_000, `detected after ${result.detectedAfterMs} ms`);
    await connection.close();
  });
});
