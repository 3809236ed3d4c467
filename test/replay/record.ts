/**
 * Re-records the workflow histories replayed by `replay.test.ts`: runs one scenario per workflow type (and
 * per interesting branch) on the time-skipping test server with the activity doubles, and writes each
 * history as JSON to `histories/<scenario>.json`.
 *
 *   npm run test:replay:record
 *
 * Re-record only when a workflow changed on purpose — and then version the change with patching, since
 * running executions replay their old histories.
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import type { WorkflowHandle } from '@temporalio/client';
import { approveUpdate, progressQuery, rejectUpdate } from '../../workflows/messages.ts';
import { bootstrapEnvironment, migrateProduction, promoteEnvironment, remediateDrift, rolloutEnvironment } from '../../workflows/index.ts';
import { watchWhileLive } from '../workflows/doubles.ts';
import { REV } from '../workflows/fixtures.ts';
import { settle, startHarness, waitUntil, type Harness } from '../workflows/harness.ts';
import { historyToPlain } from './history-json.ts';

const HISTORIES = new URL('./histories/', import.meta.url);

async function save(scenario: string, handle: WorkflowHandle, runId?: string): Promise<void> {
  const history = await (runId ? handle.client.getHandle(handle.workflowId, runId) : handle).fetchHistory();
  // One event per line: compact, and diffs stay readable.
  const { events = [] } = historyToPlain(history) as { events?: unknown[] };
  writeFileSync(new URL(`${scenario}.json`, HISTORIES), `{"events":[\n${events.map((e) => JSON.stringify(e)).join(',\n')}\n]}\n`);
  console.log(`recorded ${scenario} (${history.events?.length ?? 0} events)`);
}

const phase = (handle: WorkflowHandle, wanted: string) => waitUntil(() => handle.query(progressQuery), (p) => p.phase === wanted);
const quiet = (p: Promise<unknown>) => p.catch(() => undefined);

async function record(h: Harness): Promise<void> {
  const { client } = h.env;
  const taskQueue = h.taskQueue;

  h.world.reset();
  const bootstrap = await client.workflow.start(bootstrapEnvironment, { taskQueue, workflowId: 'bootstrap-dev', args: [{ environment: 'dev' }] });
  await bootstrap.result();
  await save('bootstrapEnvironment--dev-direct', bootstrap);

  h.world.reset();
  const argo = await client.workflow.start(bootstrapEnvironment, { taskQueue, workflowId: 'bootstrap-staging', args: [{ environment: 'staging', revision: 'v1.0.0' }] });
  await argo.result();
  await save('bootstrapEnvironment--staging-argocd', argo);

  h.world.reset();
  h.world.verified('dev', REV.v1, REV.main);
  h.world.gateFails = (gate, _env, live) => gate === 'lokistack-ready' && live === REV.v2;
  const rolledBack = await client.workflow.start(rolloutEnvironment, { taskQueue, workflowId: 'rollout-dev', args: [{ environment: 'dev', revision: REV.v2 }] });
  await rolledBack.result();
  await save('rolloutEnvironment--gate-failed-rolled-back', rolledBack);

  h.world.reset();
  h.world.verified('dev', REV.v1);
  h.world.gateFails = () => true;
  const rollbackFailed = await client.workflow.start(rolloutEnvironment, { taskQueue, workflowId: 'rollout-dev-2', args: [{ environment: 'dev', revision: REV.v2 }] });
  await quiet(rollbackFailed.result());
  await save('rolloutEnvironment--rollback-failed', rollbackFailed);

  h.world.reset();
  h.world.verified('dev', REV.v1);
  h.world.overrides.waitForLokiStackReady = watchWhileLive(h.world, 'lokistack-ready', REV.v2);
  const cancelled = await client.workflow.start(rolloutEnvironment, { taskQueue, workflowId: 'rollout-dev-3', args: [{ environment: 'dev', revision: REV.v2 }] });
  await phase(cancelled, 'verifying');
  await waitUntil(() => cancelled.query(progressQuery), (p) => p.steps.some((s) => s.name.startsWith('wait for LokiStack') && s.status === 'running'));
  await cancelled.cancel();
  await quiet(cancelled.result());
  await save('rolloutEnvironment--cancelled-rolled-back', cancelled);

  h.world.reset();
  h.world.verified('staging', REV.v2);
  h.world.verified('production', REV.v1);
  const approved = await client.workflow.start(promoteEnvironment, {
    taskQueue,
    workflowId: 'promote-production',
    args: [{ from: 'staging', to: 'production', requestedBy: 'alice' }],
  });
  await phase(approved, 'awaiting-approval');
  await quiet(approved.executeUpdate(approveUpdate, { args: [{ by: 'alice' }] }));
  await approved.executeUpdate(approveUpdate, { args: [{ by: 'bob', comment: 'diff reviewed' }] });
  await approved.result();
  await save('promoteEnvironment--approved', approved);

  h.world.reset();
  h.world.verified('staging', REV.v2);
  const rejected = await client.workflow.start(promoteEnvironment, {
    taskQueue,
    workflowId: 'promote-production-2',
    args: [{ from: 'staging', to: 'production', requestedBy: 'alice' }],
  });
  await phase(rejected, 'awaiting-approval');
  await rejected.executeUpdate(rejectUpdate, { args: [{ by: 'carol', reason: 'needs a change ticket' }] });
  await quiet(rejected.result());
  await save('promoteEnvironment--rejected', rejected);

  h.world.reset();
  h.world.verified('staging', REV.v2);
  const timedOut = await client.workflow.start(promoteEnvironment, {
    taskQueue,
    workflowId: 'promote-production-3',
    args: [{ from: 'staging', to: 'production', approvalTimeoutSeconds: 3600 }],
  });
  await quiet(timedOut.result());
  await save('promoteEnvironment--timed-out', timedOut);

  h.world.reset();
  h.world.verified('dev', REV.v2);
  const auto = await client.workflow.start(promoteEnvironment, { taskQueue, workflowId: 'promote-staging', args: [{ from: 'dev', to: 'staging' }] });
  await auto.result();
  await save('promoteEnvironment--not-protected', auto);

  h.world.reset();
  h.world.inventory = {
    objects: [
      { ref: 'Secret/openshift-logging/logging-loki-s3', managedBy: 'script' },
      { ref: 'LokiStack/openshift-logging/logging-loki', managedBy: 'client-side-apply' },
      { ref: 'Namespace/openshift-logging', managedBy: 'logstack' },
    ],
  };
  const migrate = await client.workflow.start(migrateProduction, { taskQueue, workflowId: 'migrate-production', args: [{}] });
  await migrate.result();
  await save('migrateProduction--adopt', migrate);
  const plan = await client.workflow.start(migrateProduction, { taskQueue, workflowId: 'migrate-production-plan', args: [{ dryRun: true }] });
  await plan.result();
  await save('migrateProduction--dry-run', plan);

  h.world.reset();
  h.world.findings.set('dev', [
    { environment: 'dev', class: 'aws', object: 'bucket logstack-dev-loki', detail: 'versioning Suspended', safeToRemediate: true },
    { environment: 'dev', class: 'operators', object: 'Subscription loki-operator', detail: 'CSV Failed', safeToRemediate: false },
  ]);
  const drift = await client.workflow.start(remediateDrift, {
    taskQueue,
    workflowId: 'drift-remediation',
    args: [{ mode: 'remediate' }, { findings: [], remediated: [], continueAsNewAfterEvents: 30 }],
  });
  await drift.result();
  await save('remediateDrift--remediate-first-run', drift, drift.firstExecutionRunId);
  await save('remediateDrift--remediate-last-run', drift, (await client.workflow.getHandle('drift-remediation').describe()).runId);

  // Contention: a second rollout waits behind the first; the lock's own history shows the queue.
  h.world.reset();
  let release!: () => void;
  const latch = new Promise<void>((resolve) => (release = resolve));
  h.world.overrides.waitForLokiStackReady = async () => {
    await latch;
    return { gate: 'lokistack-ready', ok: true, detail: 'Ready', waitedMs: 1 };
  };
  const first = await client.workflow.start(rolloutEnvironment, { taskQueue, workflowId: 'rollout-staging', args: [{ environment: 'staging', revision: REV.v1 }] });
  await phase(first, 'verifying');
  const second = await client.workflow.start(rolloutEnvironment, { taskQueue, workflowId: 'rollout-staging-2', args: [{ environment: 'staging', revision: REV.v2 }] });
  await phase(second, 'waiting-for-lock');
  release();
  await settle(first);
  await settle(second);
  await save('rolloutEnvironment--waited-for-lock', second);
  await save('environmentLock--staging', client.workflow.getHandle('lock-staging'));
}

const h = await startHarness('logstack-record');
try {
  mkdirSync(HISTORIES, { recursive: true });
  for (const f of readdirSync(HISTORIES)) if (f.endsWith('.json')) rmSync(new URL(f, HISTORIES));
  await record(h);
} finally {
  await h.stop();
}
