/**
 * The kill matrix, on the sandbox's real parts: the real worker process (`kill-worker.ts`: `worker/main.ts`'s
 * worker plus a kill interceptor) is SIGKILLed at every activity boundary of `bootstrapEnvironment` (dev) and
 * `promoteEnvironment` (dev → staging) — right after an activity started (before its side effect) and right after
 * its side effect but before Temporal heard of it — and in the middle of every wait, after the wait heartbeated.
 * After each kill a new worker process on the same task queue must take the workflow to completion, and after
 * every completed run the side effects must have happened exactly once: one bucket, one IAM principal, one active
 * access key that the secret names, Secrets Manager versions only per distinct content, the expected pin commits,
 * and in the cluster exactly the objects the applied overlays render, no duplicate and none missing.
 *
 * The kill points are not hard-coded: a clean run of each workflow first, and its history (activity ids and
 * types, in order) and its waiting heartbeats are the plan. Each kill must really happen where planned (the
 * worker logs the point and exits by SIGKILL; Temporal still has the activity started on that worker, and for a
 * wait the heartbeat it recorded), or the point counts as not survived.
 *
 * The controller stand-ins write the statuses OLM, the Loki Operator and the Cluster Logging Operator would
 * write in staging (the operators, LokiStack and ClusterLogForwarder gates of the promotion).
 *
 * How it stays within a CI budget: every activity heartbeats with a 10 s heartbeat timeout, so a killed activity
 * is retried about 10 s after the kill (plus its retry interval); the next worker is started ahead and held
 * before polling, so its start-up is not on that path; and the bootstrap of dev runs alongside the promotion to
 * staging (separate task queues). The promotion reads dev's deployed state first and the bootstrap marks dev
 * unverified for a while, so the bootstrap's worker that would write that record waits until the promotion has
 * read it. Before each promotion, staging is rolled out to another known-good revision, so that there is
 * something to promote. The last bootstrap pass starts with dev's bucket, IAM user and secret deleted, so its
 * kills hit the creating calls.
 *
 * Output: a summary and one line per kill point through the test's diagnostics, and `test-artifacts/kill-matrix.json`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import { percentile } from '../../bench/report.ts';
import type { Environment } from '../../domain/index.ts';
import { requireSandbox } from '../../sandbox/status.ts';
import { ROOT, startStandIns, stopWorker, type WorkerProcess } from '../support/processes.ts';
import { endLocksOnTaskQueue, endOrphanedLocks, knownGoodRevision } from '../worker/sandbox-runs.ts';
import {
  compareWithOverlays,
  deleteAwsResources,
  deployedRecord,
  describeEffects,
  exactlyOnceProblems,
  pinnedRevision,
  sandboxCatalog,
  sandboxEnvironment,
  sameTreeCommit,
  snapshotEffects,
  type AppliedOverlay,
} from './effects.ts';
import {
  activityCompleted,
  activityResults,
  killLeftoverWorkers,
  planDifference,
  planFromCleanRun,
  runChain,
  runClean,
  scheduledActivities,
  startPlainWorker,
  type KillOutcome,
  type PlannedActivity,
} from './kill-chain.ts';
import { KillPhases, type KillPhase } from './kill-worker.ts';

const BOOTSTRAPPED = 'dev';
const FROM = 'dev';
const TO = 'staging';
const KILL_PASSES: readonly KillPhase[] = [KillPhases.start, KillPhases.end, KillPhases.heartbeat];
const ARTEFACT = join(ROOT, 'test-artifacts', 'kill-matrix.json');

type Workflow = 'bootstrapEnvironment' | 'promoteEnvironment';

/** One completed (or failed) run of a workflow: a clean run or one kill pass. */
interface PassRecord {
  readonly workflow: Workflow;
  readonly pass: KillPhase | 'clean';
  readonly workflowId: string;
  readonly seconds: number;
  readonly revision: string | null;
  readonly freshAws: boolean;
  readonly effectsBefore: string;
  readonly effectsAfter: string;
  readonly objects: {
    readonly live: number;
    readonly missing: readonly string[];
    readonly extra: readonly string[];
    readonly mislabelled: readonly string[];
  } | null;
  readonly problems: string[];
}

/** One kill point with its verdict. */
interface PointRecord extends KillOutcome {
  readonly workflow: Workflow;
  readonly survived: boolean;
}

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

/** The overlays a run applied (not its dry runs), in order, from its history's activity inputs. */
function appliedOverlays(history: readonly HistoryEvent[], env: Environment): AppliedOverlay[] {
  return scheduledActivities(history)
    .filter((a) => a.activityType === 'applyOverlay')
    .map((a) => a.input as { revision: string; overlay?: string; dryRun?: boolean })
    .filter((i) => !i.dryRun)
    .map((i) => ({ overlay: i.overlay ?? env.overlay, revision: i.revision }));
}

/** Distinct commits a run pinned `env` to (none with direct delivery). */
function pinnedCommits(history: readonly HistoryEvent[], env: Environment): string[] {
  const commits = scheduledActivities(history)
    .filter((a) => a.activityType === 'pinRevision')
    .map((a) => a.input as { environment: { name: string }; commit: string })
    .filter((i) => i.environment.name === env.name)
    .map((i) => i.commit);
  return [...new Set(commits)];
}

const seconds = (ms: number | null): string => (ms === null ? '-' : `${(ms / 1000).toFixed(1)} s`);

function figures(
  points: readonly PointRecord[],
): Record<string, { readonly count: number; readonly medianS: number; readonly p95S: number; readonly maxS: number }> {
  const out: Record<string, { count: number; medianS: number; p95S: number; maxS: number }> = {};
  for (const phase of KILL_PASSES) {
    const values = points
      .filter((p) => p.phase === phase && p.recoveredMs !== null)
      .map((p) => (p.recoveredMs as number) / 1000);
    if (values.length === 0) continue;
    const round = (n: number): number => Math.round(n * 10) / 10;
    out[phase] = {
      count: values.length,
      medianS: round(percentile(values, 50)),
      p95S: round(percentile(values, 95)),
      maxS: round(Math.max(...values)),
    };
  }
  return out;
}

describe(
  'kill matrix on the sandbox: SIGKILL of the real worker at every activity boundary and mid-wait',
  { timeout: 40 * 60_000 },
  () => {
    const sandbox = requireSandbox();
    const run = String(process.pid);
    const queues = { bootstrap: `kill-matrix-bootstrap-${run}`, promote: `kill-matrix-promote-${run}` } as const;
    const dir = mkdtempSync(join(tmpdir(), 'kill-matrix-'));
    const logs = { bootstrap: join(dir, 'bootstrap.jsonl'), promote: join(dir, 'promote.jsonl') } as const;
    const workers: { bootstrap?: WorkerProcess; promote?: WorkerProcess } = {};
    const passes: PassRecord[] = [];
    const points: PointRecord[] = [];
    const started = performance.now();
    let connection: Connection | undefined;
    let client: Client;
    let standIns: ChildProcess | undefined;
    /** The bootstrap that must recreate dev's AWS resources this test deleted, until it has. */
    let awsDeletedBy: string | undefined;

    /** After a failure mid-way: let the bootstrap that should recreate dev's AWS resources finish, or run one. */
    async function restoreDevAws(): Promise<void> {
      if (!awsDeletedBy) return;
      await killLeftoverWorkers();
      workers.bootstrap = await startPlainWorker(queues.bootstrap, logs.bootstrap);
      const handle = client.workflow.getHandle(awsDeletedBy);
      const running = (await handle.describe().catch(() => undefined))?.status.name === 'RUNNING';
      const revision = await knownGoodRevision(sandbox, BOOTSTRAPPED);
      const done = running
        ? handle.result()
        : client.workflow.execute('bootstrapEnvironment', {
            taskQueue: queues.bootstrap,
            workflowId: `${awsDeletedBy}-restore`,
            args: [{ environment: BOOTSTRAPPED, revision }],
          });
      await done;
      awsDeletedBy = undefined;
    }

    before(async () => {
      connection = await Connection.connect({ address: sandbox.temporal.address });
      client = new Client({ connection });
      await endOrphanedLocks(client, [FROM, TO], 'kill matrix');
      standIns = await startStandIns();
    });

    after(async () => {
      if (connection) {
        await restoreDevAws().catch((error: unknown) => {
          process.stderr.write(
            `kill matrix: could not restore ${BOOTSTRAPPED}'s AWS resources (bootstrap ${BOOTSTRAPPED} to restore them): ${String(error)}\n`,
          );
        });
      }
      if (connection) {
        for (const queue of Object.values(queues))
          await endLocksOnTaskQueue(client, [FROM, TO], queue, 'end of the kill matrix');
      }
      await Promise.all([stopWorker(workers.bootstrap), stopWorker(workers.promote)]);
      await killLeftoverWorkers();
      standIns?.kill('SIGTERM');
      await connection?.close();
      const survived = points.filter((p) => p.survived).length;
      mkdirSync(join(ROOT, 'test-artifacts'), { recursive: true });
      writeFileSync(
        ARTEFACT,
        `${JSON.stringify(
          {
            generatedAt: new Date().toISOString(),
            seconds: Math.round((performance.now() - started) / 1000),
            tried: points.length,
            survived,
            recoveryAfterKill: figures(points),
            passes,
            points,
          },
          null,
          2,
        )}\n`,
      );
      rmSync(dir, { recursive: true, force: true });
    });

    it(
      'bootstrapEnvironment of dev and promoteEnvironment dev → staging (OLM, LokiStack and ClusterLogForwarder statuses written by the controller stand-ins) ' +
        'complete after every kill, with every side effect exactly once',
      async (t) => {
        const catalog = await sandboxCatalog(sandbox);
        const branch = catalog.gitops.branch;
        const devEnv = await sandboxEnvironment(sandbox, BOOTSTRAPPED);
        const fromEnv = await sandboxEnvironment(sandbox, FROM);
        const toEnv = await sandboxEnvironment(sandbox, TO);
        const revision = await knownGoodRevision(sandbox, BOOTSTRAPPED);
        const note = (line: string): void => t.diagnostic(line);

        /** Judges one completed run and records it (and its kill points). */
        const judge = async (
          workflow: Workflow,
          env: Environment,
          pass: KillPhase | 'clean',
          done: {
            workflowId: string;
            seconds: number;
            result: unknown;
            failure: string | null;
            history: HistoryEvent[];
            outcomes: KillOutcome[];
          },
          context: {
            plan: readonly PlannedActivity[] | null;
            before: Awaited<ReturnType<typeof snapshotEffects>>;
            pinnedBefore: string | null;
            freshAws: boolean;
            checks: (result: unknown, history: readonly HistoryEvent[]) => Promise<string[]>;
          },
        ): Promise<void> => {
          const problems: string[] = [];
          if (done.failure !== null) problems.push(`the workflow did not complete: ${done.failure}`);
          const difference = context.plan ? planDifference(context.plan, done.history) : null;
          if (difference) problems.push(difference);
          const after = await snapshotEffects(sandbox, env, branch);
          const pins = pinnedCommits(done.history, env).filter((c) => c !== context.pinnedBefore).length;
          problems.push(...exactlyOnceProblems(env, context.before, after, { pins }));
          if (context.freshAws && after.aws.versions.length !== 1)
            problems.push(`the secret created from nothing has ${after.aws.versions.length} versions, expected 1`);
          let objects: PassRecord['objects'] = null;
          const applied = appliedOverlays(done.history, env);
          if (done.failure === null) {
            objects = await compareWithOverlays(sandbox, env, applied);
            if (applied.length === 0) problems.push('the run applied no overlay');
            if (objects.missing.length)
              problems.push(`objects rendered but missing in ${env.name}: ${objects.missing.join(', ')}`);
            if (objects.extra.length)
              problems.push(
                `labelled objects in ${env.name} the overlays do not render (duplicates or leftovers): ${objects.extra.join(', ')}`,
              );
            if (objects.mislabelled.length)
              problems.push(`objects in the wrong apply set: ${objects.mislabelled.join(', ')}`);
            problems.push(...(await context.checks(done.result, done.history)));
          }
          const revisionOf = (done.result as { revision?: string } | null)?.revision ?? null;
          passes.push({
            workflow,
            pass,
            workflowId: done.workflowId,
            seconds: Math.round(done.seconds),
            revision: revisionOf,
            freshAws: context.freshAws,
            effectsBefore: describeEffects(context.before),
            effectsAfter: describeEffects(after),
            objects,
            problems,
          });
          for (const o of done.outcomes)
            points.push({ ...o, workflow, survived: o.problems.length === 0 && problems.length === 0 });
          const survived = done.outcomes.filter((o) => o.problems.length === 0).length;
          note(
            `${workflow} ${pass}: ${done.failure === null ? 'completed' : 'FAILED'} in ${done.seconds.toFixed(0)} s` +
              (pass === 'clean' ? '' : `, ${survived}/${done.outcomes.length} kills recovered`) +
              `; ${problems.length === 0 ? 'side effects exactly once' : `PROBLEMS: ${problems.join(' | ')}`}; ${describeEffects(after)}` +
              (objects ? `; ${objects.live} labelled objects = the rendered overlays` : ''),
          );
        };

        // ── clean runs: the plans ─────────────────────────────────────────────────────────────────
        workers.bootstrap = await startPlainWorker(queues.bootstrap, logs.bootstrap);
        workers.promote = await startPlainWorker(queues.promote, logs.promote);

        const bootstrapArgs = [{ environment: BOOTSTRAPPED, revision }];
        const bootstrapCleanId = `kill-matrix-bootstrap-${BOOTSTRAPPED}-clean-${run}`;
        let before = await snapshotEffects(sandbox, devEnv, branch);
        let pinnedBefore = await pinnedRevision(sandbox, devEnv, branch);
        const bootstrapClean = await runClean({
          client,
          taskQueue: queues.bootstrap,
          workflowType: 'bootstrapEnvironment',
          workflowId: bootstrapCleanId,
          args: bootstrapArgs,
        }).then(
          (r) => ({ ...r, failure: null }),
          (error: unknown) => ({ result: null, history: [] as HistoryEvent[], seconds: 0, failure: String(error) }),
        );
        /** The deployed-state record of `env` names `revision`, verified. */
        const recordedVerified = async (env: Environment, revisionOf: string | undefined): Promise<string[]> => {
          const record = await deployedRecord(sandbox, env);
          return record['revision'] === revisionOf && record['verified'] === 'true'
            ? []
            : [
                `${env.name}'s deployed state says ${record['revision']?.slice(0, 7) ?? 'nothing'} ${record['verified'] === 'true' ? 'verified' : 'unverified'}, not ${revisionOf?.slice(0, 7)} verified`,
              ];
        };
        /** The bootstrap delivered the requested revision and recorded it verified. */
        const bootstrapChecks = async (result: unknown): Promise<string[]> => {
          const delivered = (result as { revision?: string } | null)?.revision;
          return [
            ...(delivered === revision ? [] : [`bootstrap delivered ${delivered}, expected ${revision}`]),
            ...(await recordedVerified(devEnv, delivered)),
          ];
        };
        await judge(
          'bootstrapEnvironment',
          devEnv,
          'clean',
          { ...bootstrapClean, workflowId: bootstrapCleanId, outcomes: [] },
          { plan: null, before, pinnedBefore, freshAws: false, checks: bootstrapChecks },
        );
        assert.equal(bootstrapClean.failure, null, `the clean bootstrap of ${BOOTSTRAPPED} completes`);
        const bootstrapPlan = planFromCleanRun(bootstrapClean.history, logs.bootstrap, bootstrapCleanId);

        // Something to promote: before each promotion, staging is put back on a second known-good revision — a commit
        // with exactly the tree of the revision verified in dev, on a branch of its own — and staging is bootstrapped
        // there first when it has never been (a fresh sandbox).
        const verifiedInDev = (await deployedRecord(sandbox, fromEnv))['revision'] ?? '';
        const alternative = await sameTreeCommit(sandbox, verifiedInDev, `kill-matrix-${run}`);
        if ((await deployedRecord(sandbox, toEnv))['verified'] !== 'true') {
          await client.workflow.execute('bootstrapEnvironment', {
            taskQueue: queues.promote,
            workflowId: `kill-matrix-setup-${TO}-${run}`,
            args: [{ environment: TO, revision: alternative }],
          });
        }
        const resetStaging = async (pass: string): Promise<void> => {
          const promoted = (await deployedRecord(sandbox, fromEnv))['revision'] ?? '';
          const staging = await deployedRecord(sandbox, toEnv);
          assert.notEqual(alternative, promoted, `${FROM} verified another revision than the one ${TO} returns to`);
          if (staging['revision'] !== alternative || staging['verified'] !== 'true') {
            const result = (await client.workflow.execute('rolloutEnvironment', {
              taskQueue: queues.promote,
              workflowId: `kill-matrix-reset-${TO}-${pass}-${run}`,
              args: [
                {
                  environment: TO,
                  revision: alternative,
                  reason: 'kill matrix: another known-good revision, so there is something to promote',
                },
              ],
            })) as { revision: string; rolledBack: boolean };
            assert.equal(result.rolledBack, false, `${TO} rolled out to ${alternative}`);
          }
          note(
            `${pass}: ${TO} at ${alternative.slice(0, 7)} (the tree of ${verifiedInDev.slice(0, 7)}); ${FROM} has ${promoted.slice(0, 7)} to promote`,
          );
        };
        /** Waits (up to 5 min) until dev's deployed state is verified: a promotion reads it first. */
        const devVerified = async (): Promise<void> => {
          const deadline = performance.now() + 300_000;
          while ((await deployedRecord(sandbox, fromEnv))['verified'] !== 'true') {
            assert.ok(performance.now() < deadline, `${FROM} has a verified revision to promote`);
            await new Promise((r) => setTimeout(r, 1000));
          }
        };
        const promoteArgs = [{ from: FROM, to: TO }];
        /** The promotion delivered exactly what it read as verified in dev, without rolling back, and recorded it verified. */
        const promoteChecks = async (result: unknown, history: readonly HistoryEvent[]): Promise<string[]> => {
          const r = result as { revision?: string; rolledBack?: boolean } | null;
          const read = scheduledActivities(history).find(
            (a) =>
              a.activityType === 'readDeployedState' &&
              (a.input as { environment?: { name?: string } }).environment?.name === FROM,
          );
          const state = read
            ? (activityResults(history).get(read.activityId) as
                { revision?: string; verified?: boolean } | null | undefined)
            : undefined;
          const out: string[] = [];
          if (!state?.verified || r?.revision !== state.revision)
            out.push(
              `promoted ${r?.revision}, but ${FROM} had ${state?.revision ?? 'nothing'} ${state?.verified ? 'verified' : 'unverified'}`,
            );
          if (r?.rolledBack !== false) out.push('the promotion rolled back');
          return [...out, ...(await recordedVerified(toEnv, r?.revision))];
        };

        await resetStaging('clean');
        await devVerified();
        const promoteCleanId = `kill-matrix-promote-${TO}-clean-${run}`;
        before = await snapshotEffects(sandbox, toEnv, branch);
        pinnedBefore = await pinnedRevision(sandbox, toEnv, branch);
        const promoteClean = await runClean({
          client,
          taskQueue: queues.promote,
          workflowType: 'promoteEnvironment',
          workflowId: promoteCleanId,
          args: promoteArgs,
        }).then(
          (r) => ({ ...r, failure: null }),
          (error: unknown) => ({ result: null, history: [] as HistoryEvent[], seconds: 0, failure: String(error) }),
        );
        await judge(
          'promoteEnvironment',
          toEnv,
          'clean',
          { ...promoteClean, workflowId: promoteCleanId, outcomes: [] },
          { plan: null, before, pinnedBefore, freshAws: false, checks: promoteChecks },
        );
        assert.equal(promoteClean.failure, null, `the clean promotion ${FROM} → ${TO} completes`);
        const promotePlan = planFromCleanRun(promoteClean.history, logs.promote, promoteCleanId);

        const describePlan = (plan: readonly PlannedActivity[]): string =>
          plan.map((a) => `${a.activityId}:${a.activityType}${a.wait ? ' (wait)' : ''}`).join(', ');
        note(`bootstrapEnvironment plan: ${describePlan(bootstrapPlan)}`);
        note(`promoteEnvironment plan: ${describePlan(promotePlan)}`);
        assert.ok(
          bootstrapPlan.some((a) => a.wait),
          'the bootstrap waits somewhere (its waits heartbeat what they wait for)',
        );
        assert.ok(
          promotePlan.some((a) => a.wait),
          'the promotion waits somewhere',
        );

        // The bootstrap's first deployed-state record marks dev unverified; the promotion must have read dev's record by then.
        const unverifiedRecord = Number(
          bootstrapPlan.find((a) => a.activityType === 'recordDeployedState')?.activityId,
        );
        const devRead = scheduledActivities(promoteClean.history).find(
          (a) =>
            a.activityType === 'readDeployedState' &&
            (a.input as { environment?: { name?: string } }).environment?.name === FROM,
        )?.activityId;
        assert.ok(
          Number.isFinite(unverifiedRecord) && devRead,
          'the bootstrap records dev, and the promotion reads dev',
        );

        /** The summary and one line per kill point, also when a pass broke off. */
        const tried = (workflow: Workflow): PointRecord[] => points.filter((p) => p.workflow === workflow);
        const summarise = (): void => {
          const survived = points.filter((p) => p.survived).length;
          const [bootstrap, promote] = [tried('bootstrapEnvironment'), tried('promoteEnvironment')];
          note(
            `kill matrix: ${survived}/${points.length} kill points survived ` +
              `(bootstrapEnvironment ${BOOTSTRAPPED} ${bootstrap.filter((p) => p.survived).length}/${bootstrap.length}, ` +
              `promoteEnvironment ${FROM} → ${TO} ${promote.filter((p) => p.survived).length}/${promote.length}) ` +
              `in ${((performance.now() - started) / 60_000).toFixed(1)} min`,
          );
          for (const p of points) {
            note(
              `${p.survived ? 'survived' : 'NOT SURVIVED'}  ${p.workflow} ${p.point}  "${p.summary}"` +
                (p.hit
                  ? ` — died by ${p.exit?.signal}; completed on attempt ${p.completedAttempt} by ${p.completedBy}, ${seconds(p.recoveredMs)} after the kill`
                  : '') +
                (p.recordedHeartbeat ? `; heartbeat recorded: ${p.recordedHeartbeat}` : '') +
                (p.problems.length ? `; ${p.problems.join(' | ')}` : ''),
            );
          }
          for (const [phase, f] of Object.entries(figures(points)))
            note(
              `recovery after a ${phase} kill: median ${f.medianS} s, p95 ${f.p95S} s, max ${f.maxS} s (${f.count} kills)`,
            );
          note(`artefact: ${ARTEFACT}`);
        };

        try {
          // ── kill passes: bootstrap of dev and promotion to staging side by side ───────────────────
          for (const phase of KILL_PASSES) {
            let openGuard: () => void = () => undefined;
            const guard = new Promise<void>((resolve) => (openGuard = resolve));

            const bootstrapPass = async (): Promise<void> => {
              const workflowId = `kill-matrix-bootstrap-${BOOTSTRAPPED}-${phase}-${run}`;
              await stopWorker(workers.bootstrap);
              workers.bootstrap = undefined;
              const freshAws = phase === KillPhases.end;
              if (freshAws) {
                awsDeletedBy = workflowId;
                await deleteAwsResources(sandbox, devEnv);
              }
              const beforePass = await snapshotEffects(sandbox, devEnv, branch);
              const pinned = await pinnedRevision(sandbox, devEnv, branch);
              const chain = await runChain({
                client,
                taskQueue: queues.bootstrap,
                workflowType: 'bootstrapEnvironment',
                workflowId,
                args: bootstrapArgs,
                plan: bootstrapPlan,
                phase,
                logFile: logs.bootstrap,
                beforeRelease: (point) =>
                  point === undefined || Number(point.activityId) >= unverifiedRecord ? guard : Promise.resolve(),
              });
              workers.bootstrap = chain.lastWorker;
              if (chain.failure === null) awsDeletedBy = undefined;
              await judge('bootstrapEnvironment', devEnv, phase, chain, {
                plan: bootstrapPlan,
                before: beforePass,
                pinnedBefore: pinned,
                freshAws,
                checks: bootstrapChecks,
              });
            };

            const promotePass = async (): Promise<void> => {
              const workflowId = `kill-matrix-promote-${TO}-${phase}-${run}`;
              const stopWatching = new AbortController();
              try {
                await resetStaging(phase);
                await devVerified();
                await stopWorker(workers.promote);
                workers.promote = undefined;
                const beforePass = await snapshotEffects(sandbox, toEnv, branch);
                const pinned = await pinnedRevision(sandbox, toEnv, branch);
                const chain = await runChain({
                  client,
                  taskQueue: queues.promote,
                  workflowType: 'promoteEnvironment',
                  workflowId,
                  args: promoteArgs,
                  plan: promotePlan,
                  phase,
                  logFile: logs.promote,
                  onStarted: (handle) =>
                    void activityCompleted(handle, devRead, stopWatching.signal)
                      .catch(() => false)
                      .finally(openGuard),
                });
                workers.promote = chain.lastWorker;
                await judge('promoteEnvironment', toEnv, phase, chain, {
                  plan: promotePlan,
                  before: beforePass,
                  pinnedBefore: pinned,
                  freshAws: false,
                  checks: promoteChecks,
                });
              } finally {
                stopWatching.abort();
                openGuard();
              }
            };

            const settled = await Promise.allSettled([bootstrapPass(), promotePass()]);
            for (const s of settled) if (s.status === 'rejected') throw s.reason;
          }
        } finally {
          summarise();
        }

        // ── verdict ────────────────────────────────────────────────────────────────────────────────
        const expected = (plan: readonly PlannedActivity[]): number =>
          2 * plan.length + plan.filter((a) => a.wait).length;
        assert.equal(
          tried('bootstrapEnvironment').length,
          expected(bootstrapPlan),
          'every bootstrap kill point was tried',
        );
        assert.equal(tried('promoteEnvironment').length, expected(promotePlan), 'every promotion kill point was tried');
        assert.deepEqual(
          passes.filter((p) => p.problems.length > 0).map((p) => `${p.workflow} ${p.pass}: ${p.problems.join(' | ')}`),
          [],
          'every run completed with its side effects exactly once',
        );
        assert.deepEqual(
          points.filter((p) => !p.survived).map((p) => `${p.workflow} ${p.point}: ${p.problems.join(' | ')}`),
          [],
          'every kill point was hit and survived',
        );
        assert.equal(points.filter((p) => p.survived).length, points.length);
      },
    );
  },
);
