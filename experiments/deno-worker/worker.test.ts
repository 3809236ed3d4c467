/**
 * Smoke test of the EXPERIMENTAL Deno worker (`deno task worker:experimental`, experiments/deno-worker/worker.ts)
 * on the sandbox's Temporal: what runs under Deno today, checked from Node through the server's records.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { requireSandbox } from '../../sandbox/status.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DENO = fileURLToPath(new URL('../../node_modules/@deno/linux-x64-glibc/deno', import.meta.url));
const TIMEOUT_MS = 180_000;

interface Outcome {
  readonly ok: boolean;
  readonly stage?: string;
  readonly error?: string;
  readonly result?: { workflowId: string; result?: string; findings?: number; remediated?: number };
}
interface Summary {
  readonly experiment: 'deno-worker';
  readonly ok: boolean;
  readonly trivial: Outcome;
  readonly logstack: Outcome;
}

/** Runs the task with a deadline; resolves with its exit code and output. */
function runExperiment(): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(DENO, ['task', 'worker:experimental'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(
          `deno task worker:experimental did not end within ${TIMEOUT_MS / 1000} s:\n${out.slice(-3000)}\n${err.slice(-3000)}`,
        ),
      );
    }, TIMEOUT_MS);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

describe('experimental: Deno worker (deno task worker:experimental)', { timeout: TIMEOUT_MS + 30_000 }, () => {
  const sandbox = requireSandbox();
  let connection: Connection;
  let client: Client;
  let run: { code: number | null; out: string; err: string };
  let summary: Summary;

  before(async () => {
    connection = await Connection.connect({ address: sandbox.temporal.address });
    client = new Client({ connection });
    run = await runExperiment();
    const last = run.out
      .split('\n')
      .filter((l) => l.startsWith('{"experiment":'))
      .at(-1);
    assert.ok(last, `no summary line:\n${run.out.slice(-3000)}\n${run.err.slice(-3000)}`);
    summary = JSON.parse(last) as Summary;
  });
  after(async () => {
    await connection?.close();
  });

  it('experimental: on Deno the Node-API bridge loads and a trivial workflow with one activity completes', async () => {
    assert.equal(summary.trivial.ok, true, JSON.stringify(summary.trivial));
    for (const stage of ['runtime', 'import-sdk', 'connect', 'bundle', 'create-worker', 'run-workflow']) {
      assert.match(run.out, new RegExp(`\\{"stage":"${stage}","ok":true`), `stage ${stage}`);
    }
    const reported = summary.trivial.result;
    assert.ok(reported);
    assert.match(reported.result ?? '', /^hello logstack, from an activity on Deno \d+\.\d+\.\d+$/);
    // The server's record, read from Node: the run completed with that result.
    const handle = client.workflow.getHandle(reported.workflowId);
    assert.equal((await handle.describe()).status.name, 'COMPLETED');
    assert.equal(await handle.result(), reported.result);
  });

  it('experimental: on Deno the logstack worker (real workflows and activities) completes a drift report of dev', async () => {
    assert.equal(summary.logstack.ok, true, JSON.stringify(summary.logstack));
    const reported = summary.logstack.result;
    assert.ok(reported);
    const handle = client.workflow.getHandle(reported.workflowId);
    const description = await handle.describe();
    assert.equal(description.status.name, 'COMPLETED');
    assert.equal(description.type, 'remediateDrift');
    const result = (await handle.result()) as { findings: unknown[]; remediated: unknown[] };
    assert.equal(result.findings.length, reported.findings);
    assert.equal(result.remediated.length, 0, 'report mode changes nothing');
    const history = await handle.fetchHistory();
    const activities = (history.events ?? []).filter((e) => e.activityTaskCompletedEventAttributes).length;
    assert.ok(activities >= 2, `real activities ran on Deno (catalog, drift scan): ${activities}`);
    assert.equal(run.code, 0, run.err.slice(-2000));
  });
});
