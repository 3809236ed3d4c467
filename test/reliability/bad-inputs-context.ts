/**
 * What the bad-input table runs on: a real in-process worker on a task queue of its own whose environment
 * catalog is a file this module rewrites per row (the worker reads the catalog on every workflow run), the
 * controller stand-ins (statuses only, for set-ups that run gates), the `logstack` CLI in-process on that
 * queue, and helpers to start a workflow and read how it failed.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import { NativeConnection, Worker } from '@temporalio/worker';
import * as k8s from '@kubernetes/client-node';
import { parseDocument, type Document } from 'yaml';
import { runCli } from '../../client/cli.ts';
import type { CliIo } from '../../client/context.ts';
import { FailureType, STATE_NAMESPACE, stateConfigMapName, type WorkflowType } from '../../domain/index.ts';
import { requireSandbox, type SandboxRuntime } from '../../sandbox/status.ts';
import { loadWorkerConfig } from '../../config/index.ts';
import { workerOptions } from '../../worker/run.ts';
import { startStandIns } from '../support/processes.ts';
import { endLocksOnTaskQueue, endOrphanedLocks } from '../worker/sandbox-runs.ts';

const execFileAsync = promisify(execFile);

/** How a workflow, an update or a CLI run ended. */
export interface Outcome {
  /** The first project failure type found along the failure's cause chain; undefined when none. */
  readonly type?: string;
  /** CLI exit code (CLI rows only). */
  readonly exit?: number;
  /** Every message along the cause chain (or the CLI's output), for the "what to fix" assertions. */
  readonly message: string;
}

/** One activity a workflow scheduled, and how it ended. */
export interface ScheduledActivity {
  readonly name: string;
  readonly ended: 'completed' | 'failed' | 'running';
  /** The `ApplicationFailure.type` it failed with, if any. */
  readonly failureType?: string;
}

/**
 * A local activity as its history shows it: one `core_local_activity` marker, written when it completed or
 * failed, whose `data` names its type. `undefined` for any other marker.
 */
function localActivityOf(marker: temporal.api.history.v1.IMarkerRecordedEventAttributes | null | undefined): ScheduledActivity | undefined {
  if (marker?.markerName !== 'core_local_activity') return undefined;
  const data = marker.details?.['data']?.payloads?.[0];
  const type = data ? defaultPayloadConverter.fromPayload<{ activity_type?: string }>(data).activity_type : undefined;
  if (!type) throw new Error('a local activity marker without its activity type');
  const failureType = marker.failure?.applicationFailureInfo?.type ?? marker.failure?.cause?.applicationFailureInfo?.type;
  return marker.failure ? { name: type, ended: 'failed', ...(failureType ? { failureType } : {}) } : { name: type, ended: 'completed' };
}

/** A catalog edit: a structured change of the sandbox catalog document. */
export type CatalogEdit = (doc: Document) => void;

/** The running context of the bad-input table; `stop()` ends the worker and the stand-ins. */
export interface BadInputs {
  readonly sandbox: SandboxRuntime;
  readonly client: Client;
  readonly taskQueue: string;
  /** Rewrites the worker's catalog: the sandbox catalog with `edit` applied, or unchanged without one. */
  useCatalog(edit?: CatalogEdit): void;
  /** Writes the sandbox catalog with `edit` applied to another file (for the CLI's `validate`); returns its path. */
  writeCatalog(name: string, edit: CatalogEdit): string;
  /** Starts a workflow on this queue under a fresh ID. */
  start(type: WorkflowType, input: unknown): Promise<WorkflowHandle>;
  /** IDs of every workflow started through {@link start} (and {@link run}), in order. */
  readonly started: readonly string[];
  /**
   * The activities a workflow scheduled, from its history, with how each ended; `applyOverlay` that only
   * dry-ran is named `applyOverlay(dry-run)`.
   */
  scheduledActivities(workflowId: string): Promise<ScheduledActivity[]>;
  /** Starts a workflow and waits for it to end; a completion is an Outcome without type. */
  run(type: WorkflowType, input: unknown): Promise<Outcome>;
  /** Runs the logstack CLI in-process on this task queue. */
  cli(...argv: string[]): Promise<Outcome & { readonly exit: number }>;
  /** The deployed-state ConfigMap data of an environment ({} when none). */
  deployedState(env: string): Promise<Record<string, string>>;
  /** Commits `edit` (run in a clone of the GitOps remote) and pushes it to `branch`; returns the commit. */
  pushCommit(branch: string, edit: (dir: string) => void, message: string): Promise<string>;
  /** Deletes a branch of the GitOps remote. */
  deleteBranch(branch: string): Promise<void>;
  stop(): Promise<void>;
}

const PROJECT_TYPES: ReadonlySet<string> = new Set(Object.values(FailureType));

interface Causal {
  readonly name?: unknown;
  readonly type?: unknown;
  readonly message?: unknown;
  readonly cause?: unknown;
}

/** The first project failure type along `error`'s cause chain, and all messages of the chain. */
export function outcomeOf(error: unknown): Outcome {
  let type: string | undefined;
  const messages: string[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 12 && typeof current === 'object' && current !== null; depth++) {
    const c = current as Causal;
    if (typeof c.message === 'string' && c.message) messages.push(c.message);
    if (
      type === undefined &&
      c.name === 'ApplicationFailure' &&
      typeof c.type === 'string' &&
      PROJECT_TYPES.has(c.type)
    )
      type = c.type;
    current = c.cause;
  }
  return { ...(type === undefined ? {} : { type }), message: messages.join(' | ') };
}

/** Starts the worker (own task queue, own catalog file) and the stand-ins. */
export async function startBadInputs(): Promise<BadInputs> {
  const sandbox = requireSandbox();
  const taskQueue = `bad-inputs-${process.pid}`;
  const dir = mkdtempSync(join(tmpdir(), 'logstack-bad-inputs-'));
  const catalogFile = join(dir, 'environments.yaml');
  const sandboxCatalog = readFileSync(sandbox.catalog, 'utf8');
  writeFileSync(catalogFile, sandboxCatalog);

  const config = loadWorkerConfig({ ...process.env, LOGSTACK_CATALOG: catalogFile, LOGSTACK_TASK_QUEUE: taskQueue });
  const nativeConnection = await NativeConnection.connect({ address: config.temporal.address });
  const worker = await Worker.create(workerOptions(config, nativeConnection));
  const running = worker.run();
  let standIns: ChildProcess | undefined;
  const connection = await Connection.connect({ address: sandbox.temporal.address });
  const client = new Client({ connection });
  const environments = sandbox.clusters.map((c) => c.name);
  try {
    standIns = await startStandIns();
    await endOrphanedLocks(client, environments, 'bad-input table start');
  } catch (error) {
    standIns?.kill('SIGTERM');
    worker.shutdown();
    await running;
    throw error;
  }
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(sandbox.kubeconfig);
  const startedIds: string[] = [];
  const edited = (edit: CatalogEdit | undefined): string => {
    if (!edit) return sandboxCatalog;
    const doc = parseDocument(sandboxCatalog);
    edit(doc);
    return doc.toString();
  };

  const git = async (cwd: string, ...args: string[]): Promise<string> =>
    (
      await execFileAsync('git', [
        '-C',
        cwd,
        '-c',
        'user.name=Reliability Engineer',
        '-c',
        'user.email=reliability@localhost',
        ...args,
      ])
    ).stdout.trim();

  const context: BadInputs = {
    sandbox,
    client,
    taskQueue,
    useCatalog(edit) {
      writeFileSync(catalogFile, edited(edit));
    },
    writeCatalog(name, edit) {
      const file = join(dir, name);
      writeFileSync(file, edited(edit));
      return file;
    },
    started: startedIds,
    async scheduledActivities(workflowId) {
      const { events } = await client.workflow.getHandle(workflowId).fetchHistory();
      const ended = new Map<string, Pick<ScheduledActivity, 'ended' | 'failureType'>>();
      for (const event of events ?? []) {
        const completed = event.activityTaskCompletedEventAttributes?.scheduledEventId;
        const failed = event.activityTaskFailedEventAttributes;
        const timedOut = event.activityTaskTimedOutEventAttributes?.scheduledEventId;
        if (completed) ended.set(String(completed), { ended: 'completed' });
        if (timedOut) ended.set(String(timedOut), { ended: 'failed' });
        if (failed?.scheduledEventId) {
          const type = failed.failure?.applicationFailureInfo?.type;
          ended.set(String(failed.scheduledEventId), { ended: 'failed', ...(type ? { failureType: type } : {}) });
        }
      }
      return (events ?? []).flatMap((event): ScheduledActivity[] => {
        const local = localActivityOf(event.markerRecordedEventAttributes);
        if (local) return [local];
        const scheduled = event.activityTaskScheduledEventAttributes;
        const type = scheduled?.activityType?.name;
        if (!scheduled || !type) return [];
        const [input] = (scheduled.input?.payloads ?? []).map((p) =>
          defaultPayloadConverter.fromPayload<{ dryRun?: boolean }>(p),
        );
        const name = type === 'applyOverlay' && input?.dryRun === true ? 'applyOverlay(dry-run)' : type;
        return [{ name, ...(ended.get(String(event.eventId)) ?? { ended: 'running' }) }];
      });
    },
    async start(type, input) {
      const workflowId = `bad-inputs-${type}-${process.pid}-${startedIds.length + 1}`;
      startedIds.push(workflowId);
      return client.workflow.start(type, {
        taskQueue,
        workflowId,
        args: [input] as never,
        // A row that does not fail would otherwise wait (for a gate, an approval) far longer than the table.
        workflowExecutionTimeout: '10 minutes',
      });
    },
    async run(type, input) {
      const handle = await context.start(type, input);
      try {
        await handle.result();
        return { message: `${handle.workflowId} completed` };
      } catch (error) {
        return outcomeOf(error);
      }
    },
    async cli(...argv) {
      let out = '';
      const io: CliIo = {
        out: (t) => void (out += t),
        err: (t) => void (out += t),
        isTTY: false,
        env: { ...process.env, LOGSTACK_CATALOG: catalogFile },
      };
      const exit = await runCli([...argv, '--task-queue', taskQueue], io);
      return { exit, message: out };
    },
    async deployedState(env) {
      kc.setCurrentContext(`logstack-${env}`);
      const core = kc.makeApiClient(k8s.CoreV1Api);
      return core
        .readNamespacedConfigMap({ name: stateConfigMapName(env), namespace: STATE_NAMESPACE })
        .then((cm) => cm.data ?? {})
        .catch(() => ({}));
    },
    async pushCommit(branch, edit, message) {
      const work = mkdtempSync(join(tmpdir(), 'logstack-bad-inputs-git-'));
      try {
        await execFileAsync('git', ['clone', '--quiet', sandbox.git.remote, work]);
        edit(work);
        await git(work, 'commit', '--quiet', '-am', message);
        await git(work, 'push', '--quiet', 'origin', `HEAD:refs/heads/${branch}`);
        return await git(work, 'rev-parse', 'HEAD');
      } finally {
        rmSync(work, { recursive: true, force: true });
      }
    },
    async deleteBranch(branch) {
      await execFileAsync('git', ['-C', sandbox.git.remote, 'branch', '-D', branch]);
    },
    async stop() {
      standIns?.kill('SIGTERM');
      // The table's catalogs add environment `qa`; its lock, like the others, ran on this queue only.
      await endLocksOnTaskQueue(client, [...environments, 'qa'], taskQueue, 'end of the bad-input table');
      worker.shutdown();
      await running;
      await nativeConnection.close();
      await connection.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return context;
}
