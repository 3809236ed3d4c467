/**
 * Records the workflow histories replayed by `replay.test.ts`: runs scenarios on the time-skipping test
 * server with the activity doubles and writes each history as JSON to `histories/<name>.json`.
 *
 *   npm run test:replay:record                 # records the scenarios that have no history yet
 *   npm run test:replay:record -- <name> ...   # records these again, replacing their histories
 *
 * A history is a record of what running executions did: it is never re-recorded to make replay pass. A
 * workflow change that breaks replay is versioned with a patch (`workflows/patches.ts`); new scenarios (a
 * new branch, a new patch's marker) get new files.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import type { WorkflowHandle } from '@temporalio/client';
import { approveUpdate, progressQuery, rejectUpdate } from '../../workflows/messages.ts';
import {
  bootstrapEnvironment,
  migrateProduction,
  promoteEnvironment,
  remediateDrift,
  rolloutEnvironment,
} from '../../workflows/index.ts';
import { rejectApplyOf, watchWhileLive } from '../workflows/doubles.ts';
import { REV } from '../workflows/fixtures.ts';
import { settle, startHarness, waitUntil, type Harness } from '../workflows/harness.ts';
import { historyToPlain } from './history-json.ts';
import { approvalStatement } from '../../domain/index.ts';
import { generateTestKeys } from '../support/ssh-keys.ts';

const HISTORIES = new URL('./histories/', import.meta.url);

/** Writes the history of `handle` (or of its run `runId`) as `histories/<name>.json`. */
type Save = (name: string, handle: WorkflowHandle, runId?: string) => Promise<void>;

/** One scenario: the history files it writes, and how it runs on a fresh world. */
interface Scenario {
  readonly files: readonly string[];
  run(h: Harness, save: Save): Promise<void>;
}

const phase = (handle: WorkflowHandle, wanted: string) =>
  waitUntil(
    () => handle.query(progressQuery),
    (p) => p.phase === wanted,
  );
const quiet = (p: Promise<unknown>) => p.catch(() => undefined);

/** A promotion of the revision verified in staging to production, requested by alice, once it waits for approval. */
async function awaitingApproval(h: Harness, workflowId: string): Promise<WorkflowHandle> {
  h.world.verified('staging', REV.v2);
  const handle = await h.start(
    promoteEnvironment,
    [{ from: 'staging', to: 'production', requestedBy: 'alice' }],
    workflowId,
  );
  await phase(handle, 'awaiting-approval');
  return handle;
}

/** Runs one workflow to its end (success or failure) and saves its history under `name`. */
const single = (
  name: string,
  start: (h: Harness) => Promise<WorkflowHandle>,
  setUp: (h: Harness) => void = () => undefined,
): Scenario => ({
  files: [name],
  async run(h, save) {
    setUp(h);
    const handle = await start(h);
    await quiet(handle.result());
    await save(name, handle);
  },
});

/**
 * A promotion to production (verified at v1) approved by bob after alice, its requester, was refused: saved under
 * `name` once it completed.
 */
const approvedPromotion = (name: string, workflowId: string): Scenario => ({
  files: [name],
  async run(h, save) {
    h.world.verified('production', REV.v1);
    const approved = await awaitingApproval(h, workflowId);
    await quiet(approved.executeUpdate(approveUpdate, { args: [{ by: 'alice' }] }));
    await approved.executeUpdate(approveUpdate, { args: [{ by: 'bob', comment: 'diff reviewed' }] });
    await approved.result();
    await save(name, approved);
  },
});

const SCENARIOS: readonly Scenario[] = [
  single('bootstrapEnvironment--dev-direct', (h) =>
    h.start(bootstrapEnvironment, [{ environment: 'dev' }], 'bootstrap-dev'),
  ),
  single('bootstrapEnvironment--staging-argocd', (h) =>
    h.start(bootstrapEnvironment, [{ environment: 'staging', revision: 'v1.0.0' }], 'bootstrap-staging'),
  ),
  single(
    'rolloutEnvironment--gate-failed-rolled-back',
    (h) => h.start(rolloutEnvironment, [{ environment: 'dev', revision: REV.v2 }], 'rollout-dev'),
    (h) => {
      h.world.verified('dev', REV.v1, REV.main);
      h.world.gateFails = (gate, _env, live) => gate === 'lokistack-ready' && live === REV.v2;
    },
  ),
  single(
    'rolloutEnvironment--rollback-failed',
    (h) => h.start(rolloutEnvironment, [{ environment: 'dev', revision: REV.v2 }], 'rollout-dev-2'),
    (h) => {
      h.world.verified('dev', REV.v1);
      h.world.gateFails = () => true;
    },
  ),
  {
    files: ['rolloutEnvironment--cancelled-rolled-back'],
    async run(h, save) {
      h.world.verified('dev', REV.v1);
      h.world.overrides.waitForLokiStackReady = watchWhileLive(h.world, 'lokistack-ready', REV.v2);
      const cancelled = await h.start(rolloutEnvironment, [{ environment: 'dev', revision: REV.v2 }], 'rollout-dev-3');
      await phase(cancelled, 'verifying');
      await waitUntil(
        () => cancelled.query(progressQuery),
        (p) => p.steps.some((s) => s.name.startsWith('wait for LokiStack') && s.status === 'running'),
      );
      await cancelled.cancel();
      await quiet(cancelled.result());
      await save('rolloutEnvironment--cancelled-rolled-back', cancelled);
    },
  },
  approvedPromotion('promoteEnvironment--approved', 'promote-production'),
  {
    // Signed approval (approvals: signed): the handler verifies the SSH signature again on replay.
    files: ['promoteEnvironment--approved-signed'],
    async run(h, save) {
      const keys = generateTestKeys(['alice', 'bob', 'carol']);
      try {
        h.world.editCatalog((doc) => {
          const production = doc.environments.find((e) => e.name === 'production');
          if (!production) throw new Error('the fixture catalog has no production');
          production.approvers = ['alice', 'bob', 'carol'].map((name) => ({ name, key: keys.publicKey(name) }));
          production.approvals = 'signed';
        });
        h.world.verified('production', REV.v1);
        // The workflow ID is the history's name: the replay test replays each history under its name, and the signed
        // statement names the workflow ID.
        const approved = await awaitingApproval(h, 'promoteEnvironment--approved-signed');
        const waiting = (await approved.query(progressQuery)).awaitingApproval;
        if (!waiting?.runId || !waiting.revision || !waiting.digest || !waiting.shownAt) throw new Error('progress shows no signed request');
        const time = waiting.shownAt;
        const statement = approvalStatement({
          workflowId: approved.workflowId,
          runId: waiting.runId,
          environment: 'production',
          revision: waiting.revision,
          digest: waiting.digest,
          decision: 'approve',
          by: 'bob',
          time,
        });
        await approved.executeUpdate(approveUpdate, { args: [{ by: 'bob', signature: keys.sign('bob', statement), time, digest: waiting.digest }] });
        await approved.result();
        await save('promoteEnvironment--approved-signed', approved);
      } finally {
        keys.close();
      }
    },
  },
  {
    files: ['promoteEnvironment--rejected'],
    async run(h, save) {
      const rejected = await awaitingApproval(h, 'promote-production-2');
      await rejected.executeUpdate(rejectUpdate, { args: [{ by: 'carol', reason: 'needs a change ticket' }] });
      await quiet(rejected.result());
      await save('promoteEnvironment--rejected', rejected);
    },
  },
  single(
    'promoteEnvironment--timed-out',
    (h) =>
      h.start(
        promoteEnvironment,
        [{ from: 'staging', to: 'production', approvalTimeoutSeconds: 3600 }],
        'promote-production-3',
      ),
    (h) => h.world.verified('staging', REV.v2),
  ),
  single(
    'promoteEnvironment--not-protected',
    (h) => h.start(promoteEnvironment, [{ from: 'dev', to: 'staging' }], 'promote-staging'),
    (h) => h.world.verified('dev', REV.v2),
  ),
  {
    files: ['migrateProduction--adopt', 'migrateProduction--dry-run'],
    async run(h, save) {
      h.world.inventory = {
        objects: [
          { ref: 'Secret/openshift-logging/logging-loki-s3', managedBy: 'script' },
          { ref: 'LokiStack/openshift-logging/logging-loki', managedBy: 'client-side-apply' },
          { ref: 'Namespace/openshift-logging', managedBy: 'logstack' },
        ],
      };
      const migrate = await h.start(migrateProduction, [{ requestedBy: 'alice' }], 'migrate-production');
      await migrate.result();
      await save('migrateProduction--adopt', migrate);
      const plan = await h.start(migrateProduction, [{ dryRun: true }], 'migrate-production-plan');
      await plan.result();
      await save('migrateProduction--dry-run', plan);
    },
  },
  // Patch protected-change-needs-requester: a change to a protected environment names who asks for it.
  single(
    'promoteEnvironment--protected-needs-requester',
    (h) => h.start(promoteEnvironment, [{ from: 'staging', to: 'production' }], 'promote-production-anonymous'),
    (h) => h.world.verified('staging', REV.v2),
  ),
  single('migrateProduction--protected-needs-requester', (h) =>
    h.start(migrateProduction, [{}], 'migrate-production-anonymous'),
  ),
  {
    files: ['remediateDrift--remediate-first-run', 'remediateDrift--remediate-last-run'],
    async run(h, save) {
      h.world.findings.set('dev', [
        {
          environment: 'dev',
          class: 'aws',
          object: 'bucket logstack-dev-loki',
          detail: 'versioning Suspended',
          safeToRemediate: true,
        },
        {
          environment: 'dev',
          class: 'operators',
          object: 'Subscription loki-operator',
          detail: 'CSV Failed',
          safeToRemediate: false,
        },
      ]);
      const drift = await h.start(
        remediateDrift,
        [{ mode: 'remediate' }, { findings: [], remediated: [], continueAsNewAfterEvents: 30 }],
        'drift-remediation',
      );
      await drift.result();
      await save('remediateDrift--remediate-first-run', drift, drift.firstExecutionRunId);
      await save('remediateDrift--remediate-last-run', drift, (await drift.describe()).runId);
    },
  },
  {
    // Contention: a second rollout waits behind the first; the lock's own history shows the queue.
    files: ['rolloutEnvironment--waited-for-lock', 'environmentLock--staging'],
    async run(h, save) {
      const { second } = await contention(h);
      await save('rolloutEnvironment--waited-for-lock', second);
      await save('environmentLock--staging', h.env.client.workflow.getHandle('lock-staging'));
    },
  },
  {
    // Patch lock-local-activities: the lease asked for and released by local activities, granted at once and after waiting.
    files: ['rolloutEnvironment--lock-local-granted', 'rolloutEnvironment--lock-local-waited'],
    async run(h, save) {
      const { first, second } = await contention(h);
      await save('rolloutEnvironment--lock-local-granted', first);
      await save('rolloutEnvironment--lock-local-waited', second);
    },
  },
  {
    // Patch lock-acquired-by-activity: the lease asked for by the acquireLock activity (released by a local activity),
    // granted at once and after waiting.
    files: ['rolloutEnvironment--lock-activity-granted', 'rolloutEnvironment--lock-activity-waited'],
    async run(h, save) {
      const { first, second } = await contention(h);
      await save('rolloutEnvironment--lock-activity-granted', first);
      await save('rolloutEnvironment--lock-activity-waited', second);
    },
  },
  // Patch read-only-steps-run-locally: load-catalog, resolve-revision and render-overlay as local activities — a
  // bootstrap and a rollout, a resolve-revision retried after a transient failure, and one that fails for good.
  single('bootstrapEnvironment--read-only-steps-local', (h) =>
    h.start(bootstrapEnvironment, [{ environment: 'dev' }], 'bootstrap-dev-local-reads'),
  ),
  single(
    'rolloutEnvironment--read-only-steps-local',
    (h) => h.start(rolloutEnvironment, [{ environment: 'dev', revision: REV.v2 }], 'rollout-dev-local-reads'),
    (h) => h.world.verified('dev', REV.v1),
  ),
  single(
    'rolloutEnvironment--local-step-retried',
    (h) => h.start(rolloutEnvironment, [{ environment: 'dev', revision: REV.v2 }], 'rollout-dev-local-retried'),
    (h) => {
      h.world.verified('dev', REV.v1);
      let calls = 0;
      h.world.overrides.resolveRevision = () => {
        if (++calls === 1) throw new Error('the GitOps remote did not answer (transient)');
        return { commit: REV.v2 };
      };
    },
  ),
  single('rolloutEnvironment--local-step-failed', (h) =>
    h.start(rolloutEnvironment, [{ environment: 'dev', revision: 'no-such-branch' }], 'rollout-dev-unknown-revision'),
  ),
  // Patch state-read-under-lock-runs-locally: the deployed-state read right after the grant as a local activity — a
  // bootstrap, a rollout, and an approved promotion (whose earlier reads of the record stay activities).
  single('bootstrapEnvironment--state-read-local', (h) =>
    h.start(bootstrapEnvironment, [{ environment: 'dev' }], 'bootstrap-dev-local-state-read'),
  ),
  single(
    'rolloutEnvironment--state-read-local',
    (h) => h.start(rolloutEnvironment, [{ environment: 'dev', revision: REV.v2 }], 'rollout-dev-local-state-read'),
    (h) => h.world.verified('dev', REV.v1),
  ),
  approvedPromotion('promoteEnvironment--state-read-local', 'promote-production-local-state-read'),
  // Recorded with the patches in place: their markers, and the paths behind them.
  single('bootstrapEnvironment--dev-renders-overlay-first', (h) =>
    h.start(bootstrapEnvironment, [{ environment: 'dev' }], 'bootstrap-dev-rendered'),
  ),
  single(
    'rolloutEnvironment--rejected-without-rollback',
    (h) => h.start(rolloutEnvironment, [{ environment: 'dev', revision: REV.v2 }], 'rollout-dev-rejected'),
    (h) => {
      h.world.verified('dev', REV.v1);
      h.world.overrides.applyOverlay = rejectApplyOf(REV.v2);
    },
  ),
  single(
    'migrateProduction--merge-pass-covers-overlay',
    (h) => h.start(migrateProduction, [{}], 'migrate-production-merge-pass'),
    (h) => {
      h.world.inventory = {
        objects: [
          { ref: 'Secret/openshift-logging/logging-loki-s3', managedBy: 'script' },
          { ref: 'LokiStack/openshift-logging/logging-loki', managedBy: 'client-side-apply' },
          { ref: 'Namespace/openshift-logging', managedBy: 'logstack' },
          { ref: 'ExternalSecret/openshift-logging/logging-loki-s3', managedBy: 'absent' },
        ],
      };
    },
  ),
  // Patch migrate-ensures-store-identity: the migration ensures the environment's ESO reader before the merge pass.
  single(
    'migrateProduction--ensures-store-identity',
    (h) => h.start(migrateProduction, [{ requestedBy: 'alice' }], 'migrate-production-store-identity'),
    (h) => {
      h.world.inventory = {
        objects: [
          { ref: 'Secret/openshift-logging/logging-loki-s3', managedBy: 'script' },
          { ref: 'LokiStack/openshift-logging/logging-loki', managedBy: 'client-side-apply' },
          { ref: 'ExternalSecret/openshift-logging/logging-loki-s3', managedBy: 'absent' },
        ],
      };
    },
  ),
  // Evidence (patch record-evidence): a rollout that rolled back, and a signed-off promotion.
  single(
    'rolloutEnvironment--records-evidence',
    (h) => h.start(rolloutEnvironment, [{ environment: 'dev', revision: REV.v2 }], 'rollout-dev-evidence'),
    (h) => {
      h.world.verified('dev', REV.v1, REV.main);
      h.world.gateFails = (gate, _env, live) => gate === 'lokistack-ready' && live === REV.v2;
    },
  ),
  {
    files: ['promoteEnvironment--approved-records-evidence'],
    async run(h, save) {
      h.world.verified('production', REV.v1);
      const approved = await awaitingApproval(h, 'promote-production-evidence');
      await approved.executeUpdate(approveUpdate, { args: [{ by: 'bob', comment: 'diff reviewed' }] });
      await approved.result();
      await save('promoteEnvironment--approved-records-evidence', approved);
    },
  },
  {
    // Patch aws-plan: the read-only AWS plan (here with a destructive change) shown with the approval request.
    files: ['promoteEnvironment--approved-aws-plan'],
    async run(h, save) {
      h.world.verified('production', REV.v1);
      h.world.awsPlan = (environment, revision) => ({
        environment,
        revision,
        changes: [{ resource: 's3://logstack-production-loki', item: 'lifecycle logstack-retention', action: 'change', detail: 'expiration 30 days → 14 days (retention shortened)', destructive: true }],
        destructive: ['s3://logstack-production-loki lifecycle logstack-retention: expiration 30 days → 14 days (retention shortened)'],
        unchanged: 13,
      });
      const approved = await awaitingApproval(h, 'promote-production-aws-plan');
      await approved.executeUpdate(approveUpdate, { args: [{ by: 'bob', comment: 'retention change agreed' }] });
      await approved.result();
      await save('promoteEnvironment--approved-aws-plan', approved);
    },
  },
  // Notifications (patch notify): a rollout that rolled back and an approved promotion, on a catalog naming targets.
  single(
    'rolloutEnvironment--notifies',
    (h) => h.start(rolloutEnvironment, [{ environment: 'dev', revision: REV.v2 }], 'rollout-dev-notifies'),
    (h) => {
      withNotificationTargets(h);
      h.world.verified('dev', REV.v1, REV.main);
      h.world.gateFails = (gate, _env, live) => gate === 'lokistack-ready' && live === REV.v2;
    },
  ),
  {
    files: ['promoteEnvironment--notifies'],
    async run(h, save) {
      withNotificationTargets(h);
      h.world.verified('production', REV.v1);
      const approved = await awaitingApproval(h, 'promote-production-notifies');
      await approved.executeUpdate(approveUpdate, { args: [{ by: 'bob', comment: 'diff reviewed' }] });
      await approved.result();
      await save('promoteEnvironment--notifies', approved);
    },
  },
];

/** Two rollouts of staging: the second waits for the lock until the first, held at its LokiStack gate, ends. */
async function contention(h: Harness): Promise<{ first: WorkflowHandle; second: WorkflowHandle }> {
  let release!: () => void;
  const latch = new Promise<void>((resolve) => (release = resolve));
  h.world.overrides.waitForLokiStackReady = async () => {
    await latch;
    return { gate: 'lokistack-ready', ok: true, detail: 'Ready', waitedMs: 1 };
  };
  const first = await h.start(rolloutEnvironment, [{ environment: 'staging', revision: REV.v1 }], 'rollout-staging');
  await phase(first, 'verifying');
  const second = await h.start(rolloutEnvironment, [{ environment: 'staging', revision: REV.v2 }], 'rollout-staging-2');
  await phase(second, 'waiting-for-lock');
  release();
  await settle(first);
  await settle(second);
  return { first, second };
}

/** dev and production name a notification target each. */
function withNotificationTargets(h: Harness): void {
  h.world.editCatalog((doc) => {
    for (const env of doc.environments) {
      if (env.name === 'dev') env.notifications = [{ name: 'ops', format: 'slack', urlFrom: { env: 'LOGSTACK_NOTIFY_OPS' } }];
      if (env.name === 'production') env.notifications = [{ name: 'approvers', format: 'teams', urlFrom: { secretsManager: 'logstack/production/notify' } }];
    }
  });
}

const named = process.argv.slice(2);

const save: Save = async (name, handle, runId) => {
  const file = new URL(`${name}.json`, HISTORIES);
  if (existsSync(file) && !named.includes(name)) {
    console.log(`kept ${name}: it is recorded already`);
    return;
  }
  const history = await (runId ? handle.client.getHandle(handle.workflowId, runId) : handle).fetchHistory();
  // One event per line: compact, and diffs stay readable.
  const { events = [] } = historyToPlain(history) as { events?: unknown[] };
  writeFileSync(file, `{"events":[\n${events.map((e) => JSON.stringify(e)).join(',\n')}\n]}\n`);
  console.log(`recorded ${name} (${history.events?.length ?? 0} events)`);
};

const unknown = named.filter((n) => !SCENARIOS.some((s) => s.files.includes(n)));
if (unknown.length > 0) throw new Error(`no scenario writes ${unknown.join(', ')}`);
const chosen = SCENARIOS.filter((s) =>
  named.length > 0
    ? s.files.some((f) => named.includes(f))
    : s.files.some((f) => !existsSync(new URL(`${f}.json`, HISTORIES))),
);
if (chosen.length === 0) {
  console.log('every scenario has its histories; name the ones to record again');
} else {
  mkdirSync(HISTORIES, { recursive: true });
  const h = await startHarness('logstack-record');
  try {
    for (const scenario of chosen) {
      h.world.reset();
      await scenario.run(h, save);
    }
  } finally {
    await h.stop();
  }
}
