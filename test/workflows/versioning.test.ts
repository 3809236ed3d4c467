/**
 * Worker Versioning on a local Temporal dev server (the time-skipping server does not model it): every
 * workflow type declares its behaviour, an unversioned worker runs them without naming one, and a promotion
 * waiting for its approver moves on to a new build when that build replaces the only worker.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { WorkflowHandle } from '@temporalio/client';
import proto from '@temporalio/proto';
import type { NativeConnection } from '@temporalio/worker';
import * as workflowTypes from '../../workflows/index.ts';
import { bootstrapEnvironment, promoteEnvironment } from '../../workflows/index.ts';
import { approveUpdate, progressQuery } from '../../workflows/messages.ts';
import { versioningBehaviors } from '../../workflows/versioning.ts';
import { DoubleWorld } from './doubles.ts';
import { REV } from './fixtures.ts';
import { doublesWorker, useDevServer, waitUntil, wid } from './harness.ts';

const { VersioningBehavior } = proto.temporal.api.enums.v1;

/** The behaviour each workflow task completion of `handle` reported, with the build that completed it. */
async function completions(handle: WorkflowHandle): Promise<{ behavior: string; buildId: string }[]> {
  const history = await handle.fetchHistory();
  return (history.events ?? []).flatMap((e) => {
    const done = e.workflowTaskCompletedEventAttributes;
    if (!done) return [];
    return [
      {
        behavior: VersioningBehavior[done.versioningBehavior ?? 0] ?? '?',
        buildId: done.deploymentVersion?.buildId ?? '',
      },
    ];
  });
}

/** `promise`, or a failure after `ms`: a worker's `runUntil` must end, and shut its worker down, even when a workflow never does. */
function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  const deadline = new Promise<never>((_, reject) =>
    setTimeout(() => reject(new Error(`${what} did not end within ${ms} ms`)), ms).unref(),
  );
  return Promise.race([promise, deadline]);
}

describe('Worker Versioning (local dev server)', () => {
  const server = useDevServer();
  const world = new DoubleWorld();

  /** A worker of build `buildId` in deployment `deploymentName`, whose own default would pin workflows. */
  const build = (connection: NativeConnection, taskQueue: string, deploymentName: string, buildId: string) =>
    doublesWorker(connection, world, {
      taskQueue,
      // PINNED as the worker's default: what the workflows record must come from their own declaration.
      workerDeploymentOptions: {
        version: { deploymentName, buildId },
        useWorkerVersioning: true,
        defaultVersioningBehavior: 'PINNED',
      },
    });

  /** Makes `buildId` current; the server knows a version only after its worker's first poll, so this retries. */
  const makeCurrent = (deploymentName: string, buildId: string) =>
    waitUntil(
      () =>
        server.env.connection.workflowService.setWorkerDeploymentCurrentVersion({
          namespace: 'default',
          deploymentName,
          buildId,
        }),
      () => true,
    );

  it('declares a behaviour on every workflow type the worker bundles', () => {
    for (const [type, workflow] of Object.entries(workflowTypes)) {
      assert.ok(type in versioningBehaviors, `${type} has no behaviour in versioningBehaviors`);
      const declared = (workflow as { workflowDefinitionOptions?: unknown }).workflowDefinitionOptions;
      assert.equal(typeof declared, 'function', `${type} does not declare its behaviour`);
    }
  });

  it(
    'runs every workflow on an unversioned worker without naming a behaviour, which the server would refuse',
    { timeout: 60_000 },
    async () => {
      world.reset();
      const taskQueue = wid('unversioned');
      const worker = await doublesWorker(server.env.nativeConnection, world, { taskQueue });
      const handle = await worker.runUntil(async () => {
        const started = await server.env.client.workflow.start(bootstrapEnvironment, {
          taskQueue,
          workflowId: wid('bootstrap'),
          args: [{ environment: 'dev' }],
        });
        await within(30_000, 'bootstrapEnvironment', started.result());
        return started;
      });
      const behaviours = new Set(
        [...(await completions(handle)), ...(await completions(server.env.client.workflow.getHandle('lock-dev')))].map(
          (c) => c.behavior,
        ),
      );
      assert.deepEqual([...behaviours], ['VERSIONING_BEHAVIOR_UNSPECIFIED']);
    },
  );

  it(
    'moves a promotion waiting for approval to the build that replaced the only worker, and finishes it there',
    { timeout: 120_000 },
    async () => {
      world.reset();
      world.verified('staging', REV.v2);
      world.verified('production', REV.v1);
      const { nativeConnection, client } = server.env;
      const taskQueue = wid('versioned');
      const deploymentName = wid('logstack');

      const first = await build(nativeConnection, taskQueue, deploymentName, 'build-1');
      const promotion = await first.runUntil(async () => {
        await makeCurrent(deploymentName, 'build-1');
        const handle = await client.workflow.start(promoteEnvironment, {
          taskQueue,
          workflowId: wid('promote'),
          args: [{ from: 'staging', to: 'production', requestedBy: 'alice' }],
        });
        await waitUntil(
          () => handle.query(progressQuery),
          (p) => p.phase === 'awaiting-approval',
        );
        return handle;
      });
      const waiting = await completions(promotion);
      assert.ok(waiting.length > 0);
      assert.ok(
        waiting.every((c) => c.behavior === 'VERSIONING_BEHAVIOR_AUTO_UPGRADE' && c.buildId === 'build-1'),
        JSON.stringify(waiting),
      );

      // build-1 is gone; build-2 takes its place and becomes current while the promotion still waits.
      const second = await build(nativeConnection, taskQueue, deploymentName, 'build-2');
      const result = await second.runUntil(async () => {
        await makeCurrent(deploymentName, 'build-2');
        await promotion.executeUpdate(approveUpdate, { args: [{ by: 'bob' }] });
        return within(60_000, 'promoteEnvironment', promotion.result());
      });
      assert.equal(result.approvedBy, 'bob');
      assert.equal(world.live.get('production'), REV.v2);
      const after = (await completions(promotion)).slice(waiting.length);
      assert.ok(
        after.length > 0 &&
          after.every((c) => c.behavior === 'VERSIONING_BEHAVIOR_AUTO_UPGRADE' && c.buildId === 'build-2'),
        JSON.stringify(after),
      );
      const lock = await completions(client.workflow.getHandle('lock-production'));
      assert.ok(
        lock.every((c) => c.behavior === 'VERSIONING_BEHAVIOR_AUTO_UPGRADE'),
        JSON.stringify(lock),
      );
    },
  );
});
