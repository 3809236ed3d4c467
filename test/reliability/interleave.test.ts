/**
 * Two mutations of one environment started at the same instant under different workflow IDs never
 * interleave, on the sandbox's real parts: `rolloutEnvironment` and `bootstrapEnvironment` of dev, each with
 * a revision of its own (the LokiStack annotated differently), started together on the real worker process
 * of this test (dev's only gate is the real External Secrets Operator's sync; no stand-ins are involved).
 * Both complete — the second waits for `lock-dev`. The recorded times prove it: in each history, the span
 * from the first mutating activity scheduled to the last one closed does not overlap the other's, and the
 * second was started before the first's span ended (so it really had to wait); its progress says whom it
 * waited behind. The cluster agrees: the
 * deployed state ends at the revision of the one that finished last, with the first one's revision as the
 * verified revision before it, and the live LokiStack carries the last one's annotation.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { parse } from 'yaml';
import { inventoryId } from '../../activities/kubernetes/overlay.ts';
import { findEnvironment, parseCatalog, workflowIds } from '../../domain/index.ts';
import { progressQuery } from '../../workflows/messages.ts';
import { requireSandbox } from '../../sandbox/status.ts';
import { startWorkerProcess, type WorkerProcess } from '../support/processes.ts';
import { endLocksOnTaskQueue, endOrphanedLocks, ensureBootstrapped } from '../worker/sandbox-runs.ts';
import {
  activitySpans,
  deliveredObjects,
  deployedState,
  describeSpans,
  endRunning,
  keyOfRef,
  liveLokiStack,
  pushRunRevision,
  renderAt,
  resultOrExplain,
  RUN_ANNOTATION,
} from './fault-runs.ts';

const ENV = 'dev';
/** Activities that change dev or check it after a change: AWS writes, applies, the state record, gates. */
const MUTATING = /^(ensure\w+|seedLokiSecret|applyOverlay|pruneOverlay|recordDeployedState|approve\w+|waitFor\w+)$/;

/** One of the two runs. */
interface Run {
  readonly name: string;
  readonly handle: WorkflowHandle;
  readonly revision: string;
  readonly annotation: string;
}

/** When a run started and the span of its mutating activities (server times, ms since the epoch). */
interface Span {
  readonly run: Run;
  readonly startedAt: number;
  readonly from: number;
  readonly to: number;
  readonly mutating: number;
}

const iso = (ms: number): string => new Date(ms).toISOString();

describe('two mutations of dev started at once under different workflow IDs', { timeout: 600_000 }, () => {
  const sandbox = requireSandbox();
  const catalog = parseCatalog(parse(readFileSync(sandbox.catalog, 'utf8')));
  const taskQueue = `reliability-interleave-${process.pid}`;
  let connection: Connection;
  let client: Client;
  let worker: WorkerProcess;
  const started: WorkflowHandle[] = [];

  before(async () => {
    connection = await Connection.connect({ address: sandbox.temporal.address });
    client = new Client({ connection });
    await endOrphanedLocks(client, [ENV], 'interleave test');
    worker = startWorkerProcess({ taskQueue });
    await worker.running;
  });

  after(async () => {
    if (client) await endRunning(started, 'interleave test ended');
    if (worker && worker.child.exitCode === null && worker.child.signalCode === null) {
      worker.child.kill('SIGTERM');
      await worker.exited;
    }
    if (client) await endLocksOnTaskQueue(client, [ENV], taskQueue, 'interleave test');
    await connection?.close();
  });

  it('rolloutEnvironment and bootstrapEnvironment of dev: both complete, one after the other, and dev ends at the last one\'s revision', async (t) => {
    const env = findEnvironment(catalog, ENV);
    // The rollout needs dev bootstrapped (whichever of the two takes the lock first).
    const base = await ensureBootstrapped(client, sandbox, ENV, taskQueue);
    const stamp = Date.now();
    const [rolloutRevision, bootstrapRevision] = await Promise.all(
      ['a', 'b'].map((side) => pushRunRevision(sandbox, base, `interleave-${side}-${stamp}`)),
    );
    assert.ok(rolloutRevision && bootstrapRevision);

    const [rolloutHandle, bootstrapHandle] = await Promise.all([
      client.workflow.start('rolloutEnvironment', {
        taskQueue,
        workflowId: `interleave-rollout-${ENV}-${process.pid}`,
        args: [{ environment: ENV, revision: rolloutRevision, reason: 'interleave test' }],
      }),
      client.workflow.start('bootstrapEnvironment', {
        taskQueue,
        workflowId: `interleave-bootstrap-${ENV}-${process.pid}`,
        args: [{ environment: ENV, revision: bootstrapRevision }],
      }),
    ]);
    started.push(rolloutHandle, bootstrapHandle);
    const runs: Run[] = [
      { name: 'rollout', handle: rolloutHandle, revision: rolloutRevision, annotation: `interleave-a-${stamp}` },
      { name: 'bootstrap', handle: bootstrapHandle, revision: bootstrapRevision, annotation: `interleave-b-${stamp}` },
    ];
    const results = (await Promise.all(runs.map((r) => resultOrExplain(r.handle)))) as { revision: string; rolledBack?: boolean }[];
    for (const [i, run] of runs.entries()) {
      assert.equal(results[i]?.revision, run.revision, `${run.name} delivered its own revision`);
      assert.notEqual(results[i]?.rolledBack, true, `${run.name} passed its gates`);
    }

    const spans: Span[] = [];
    for (const run of runs) {
      const activities = await activitySpans(run.handle);
      const mutating = activities.filter((s) => MUTATING.test(s.type));
      assert.ok(mutating.length > 0 && mutating.every((s) => s.closedAt !== undefined), `${run.name} ran mutating activities:\n${describeSpans(activities)}`);
      const description = await run.handle.describe();
      spans.push({
        run,
        startedAt: description.startTime.getTime(),
        from: Math.min(...mutating.map((s) => s.scheduledAt)),
        to: Math.max(...mutating.map((s) => s.closedAt ?? Number.NaN)),
        mutating: mutating.length,
      });
    }
    spans.sort((a, b) => a.from - b.from);
    const [first, second] = spans;
    assert.ok(first && second);
    for (const s of spans) {
      t.diagnostic(`${s.run.name} started ${iso(s.startedAt)}; ${s.mutating} mutating activities from ${iso(s.from)} to ${iso(s.to)}`);
    }
    assert.ok(second.startedAt < first.to, `the ${second.run.name} was started before the ${first.run.name} had finished changing dev, so it had to wait`);
    assert.ok(first.to <= second.from, `no overlap: the ${first.run.name} ended its changes (${iso(first.to)}) before the ${second.run.name} began (${iso(second.from)})`);

    // Their own records of the lock, from their progress: the second waited. When the first found dev free, the
    // second waited behind it; when another run held dev then, both waited behind that one.
    const lockDetail = async (run: Run): Promise<string> =>
      (await run.handle.query(progressQuery)).steps.find((s) => s.name.includes(workflowIds.lock(ENV)))?.detail ?? '';
    const [firstLock, secondLock] = [await lockDetail(first.run), await lockDetail(second.run)];
    t.diagnostic(`lock: ${first.run.name} "${firstLock}", ${second.run.name} "${secondLock}"`);
    if (firstLock === 'granted') {
      assert.match(secondLock, new RegExp(`^granted after waiting behind \\w+ ${first.run.handle.workflowId}$`));
    } else {
      assert.match(firstLock, /^granted after waiting behind /);
      assert.match(secondLock, /^granted after waiting behind /);
    }

    const state = await deployedState(sandbox, ENV);
    assert.equal(state['revision'], second.run.revision, 'dev records the revision of the one that finished last');
    assert.equal(state['verified'], 'true');
    assert.equal(state['previousRevision'], first.run.revision, 'and, as the verified revision before it, the first one\'s');
    const lokiStack = await liveLokiStack(sandbox, ENV);
    assert.equal(lokiStack.annotations[RUN_ANNOTATION], second.run.annotation, 'the live LokiStack is the last revision\'s');

    const rendered = await renderAt(sandbox, second.run.revision, env.overlay);
    const live = await deliveredObjects(sandbox, ENV, inventoryId(ENV, env.overlay), rendered);
    const expected = new Set(rendered.map((o) => keyOfRef(o)));
    assert.deepEqual([...expected].filter((k) => !live.has(k)), [], 'every object of the last revision is live');
    assert.deepEqual([...live.keys()].filter((k) => !expected.has(k)), [], 'and nothing else carries its apply set label');
  });
});
