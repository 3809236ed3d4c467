/**
 * Shared pieces of the fault tests: revisions made for one run, reading attempts and step times out of a
 * workflow's history, waiting for an activity to be in flight, a kubeconfig whose clusters are reached
 * through fault proxies, and the environment's deployed state and delivered objects.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { WorkflowHandle } from '@temporalio/client';
import proto from '@temporalio/proto';
import * as k8s from '@kubernetes/client-node';
import { parse, parseAllDocuments, parseDocument, stringify } from 'yaml';
import { INVENTORY_LABEL, STATE_NAMESPACE, stateConfigMapName } from '../../domain/index.ts';
import { PRUNE_KINDS } from '../../activities/kubernetes/overlay.ts';
import type { SandboxRuntime } from '../../sandbox/status.ts';

const execFileAsync = promisify(execFile);

/** Resolves after `ms`. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The LokiStack manifest a run's revision annotates. */
export const LOKISTACK_FILE = 'gitops/base/loki-stack/lokistack.yaml';
/** The annotation a run's revision sets on the LokiStack, so the live object shows which revision was applied last. */
export const RUN_ANNOTATION = 'logstack.io/reliability-run';

/**
 * Commits, on top of `parent` (a revision known to deliver cleanly), one harmless change — the LokiStack
 * annotated {@link RUN_ANNOTATION}=`value` — and pushes it to a branch of its own in the GitOps remote, so
 * the commit can be rolled out while the main branch stays as others left it. The branch is kept: an
 * environment may run the commit after the test ends, and others resolve it from the remote.
 */
export async function pushRunRevision(sandbox: SandboxRuntime, parent: string, value: string): Promise<string> {
  const work = mkdtempSync(join(tmpdir(), 'logstack-reliability-'));
  const git = async (...args: string[]): Promise<string> =>
    (await execFileAsync('git', ['-C', work, '-c', 'user.name=Reliability Test', '-c', 'user.email=reliability@localhost', ...args])).stdout.trim();
  try {
    await execFileAsync('git', ['clone', '--quiet', '--no-checkout', sandbox.git.remote, work]);
    await git('checkout', '--quiet', '--detach', parent);
    const file = join(work, LOKISTACK_FILE);
    const doc = parseDocument(readFileSync(file, 'utf8'));
    doc.setIn(['metadata', 'annotations', RUN_ANNOTATION], value);
    writeFileSync(file, doc.toString());
    await git('commit', '--quiet', '-am', `Annotate the LokiStack (${value})`);
    await git('push', '--quiet', 'origin', `HEAD:refs/heads/reliability/${value}`);
    return await git('rev-parse', 'HEAD');
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

type HistoryEvent = proto.temporal.api.history.v1.IHistoryEvent;

function millis(event: HistoryEvent): number {
  const t = event.eventTime;
  return t ? Number(t.seconds ?? 0) * 1000 + Math.floor((t.nanos ?? 0) / 1e6) : Number.NaN;
}

/** One activity execution as its history records it (server times, ms since the epoch). */
export interface ActivitySpan {
  readonly type: string;
  readonly scheduledEventId: string;
  readonly scheduledAt: number;
  /** The attempt of the started event that closed it (Temporal writes ActivityTaskStarted once, for the last attempt). */
  readonly attempt: number | undefined;
  readonly closedAt: number | undefined;
  readonly outcome: 'completed' | 'failed' | 'timed-out' | 'cancelled' | 'open';
  /** Failure message of the last attempt, when it failed (retries in between leave no event but `lastFailure`). */
  readonly lastFailure: string | undefined;
}

/** Every activity of a history with its scheduled and closing times and the attempt that closed it. */
export async function activitySpans(handle: WorkflowHandle): Promise<ActivitySpan[]> {
  const { events } = await handle.fetchHistory();
  const spans = new Map<string, { type: string; scheduledAt: number; attempt?: number; closedAt?: number; outcome: ActivitySpan['outcome']; lastFailure?: string }>();
  for (const e of events ?? []) {
    const id = String(e.eventId ?? '');
    const scheduled = e.activityTaskScheduledEventAttributes;
    if (scheduled) spans.set(id, { type: scheduled.activityType?.name ?? '?', scheduledAt: millis(e), outcome: 'open' });
    const started = e.activityTaskStartedEventAttributes;
    if (started) {
      const span = spans.get(String(started.scheduledEventId));
      if (span) {
        span.attempt = started.attempt ?? undefined;
        if (started.lastFailure?.message) span.lastFailure = started.lastFailure.message;
      }
    }
    const closers: [unknown, ActivitySpan['outcome']][] = [
      [e.activityTaskCompletedEventAttributes, 'completed'],
      [e.activityTaskFailedEventAttributes, 'failed'],
      [e.activityTaskTimedOutEventAttributes, 'timed-out'],
      [e.activityTaskCanceledEventAttributes, 'cancelled'],
    ];
    for (const [attrs, outcome] of closers) {
      const a = attrs as { scheduledEventId?: unknown; failure?: { message?: string | null } | null } | null | undefined;
      if (!a) continue;
      const span = spans.get(String(a.scheduledEventId));
      if (span) {
        span.closedAt = millis(e);
        span.outcome = outcome;
        if (a.failure?.message) span.lastFailure = a.failure.message;
      }
    }
  }
  return [...spans.entries()].map(([scheduledEventId, s]) => ({
    type: s.type,
    scheduledEventId,
    scheduledAt: s.scheduledAt,
    attempt: s.attempt,
    closedAt: s.closedAt,
    outcome: s.outcome,
    lastFailure: s.lastFailure,
  }));
}

/**
 * Terminates those of `handles` still running: workflows of a test whose worker is about to stop would otherwise
 * wait for a lock with nobody to run them — or hold it, since a running holder answers every lease check.
 */
export async function endRunning(handles: readonly WorkflowHandle[], reason: string): Promise<string[]> {
  const ended: string[] = [];
  for (const handle of handles) {
    const description = await handle.describe().catch(() => undefined);
    if (description?.status.name !== 'RUNNING') continue;
    await handle.terminate(reason);
    ended.push(handle.workflowId);
  }
  return ended;
}

/** One line per activity: type, the attempt that closed it, outcome, and the last failure. */
export function describeSpans(spans: readonly ActivitySpan[]): string {
  return spans
    .map((s) => `${s.type} attempt ${s.attempt ?? '-'} ${s.outcome}${s.lastFailure ? ` (last failure: ${s.lastFailure.slice(0, 160)})` : ''}`)
    .join('\n');
}

/**
 * The workflow's result; when it failed, an Error carrying the whole failure chain (activity type, the
 * application failure's message) and every activity's attempts, rather than the bare WorkflowFailedError.
 */
export async function resultOrExplain(handle: WorkflowHandle): Promise<unknown> {
  try {
    return await handle.result();
  } catch (error) {
    const chain: string[] = [];
    for (let e: unknown = error; e instanceof Error; e = e.cause) {
      const activity = (e as { activityType?: unknown }).activityType;
      chain.push(`${e.name}${typeof activity === 'string' ? ` (${activity})` : ''}: ${e.message}`);
    }
    const spans = await activitySpans(handle).catch(() => []);
    throw new Error(`${handle.workflowId} failed:\n  ${chain.join('\n  ')}\nactivities:\n${describeSpans(spans)}`, { cause: error });
  }
}

const STARTED = proto.temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED;

/** A pending activity as `describe` shows it. */
export interface InFlight {
  readonly type: string;
  readonly attempt: number;
  readonly worker: string;
}

/**
 * Polls `describe` until an activity whose type `match`es is started on a worker, and returns it.
 * @throws when the workflow is no longer running or `deadlineMs` passes first.
 */
export async function waitForActivityInFlight(handle: WorkflowHandle, match: (type: string) => boolean, deadlineMs: number, everyMs = 100): Promise<InFlight> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const description = await handle.describe();
    const pending = (description.raw.pendingActivities ?? []).find((a) => a.state === STARTED && match(a.activityType?.name ?? ''));
    if (pending) return { type: pending.activityType?.name ?? '', attempt: pending.attempt ?? 1, worker: pending.lastWorkerIdentity ?? '' };
    if (description.status.name !== 'RUNNING') throw new Error(`${handle.workflowId} ended (${description.status.name}) before a matching activity was in flight`);
    if (Date.now() > deadline) throw new Error(`no matching activity of ${handle.workflowId} was in flight within ${deadlineMs / 1000} s`);
    await sleep(everyMs);
  }
}

/** The activity types pending on `handle` right now, with their attempts. */
export async function pendingActivities(handle: WorkflowHandle): Promise<{ type: string; attempt: number; state: string }[]> {
  const description = await handle.describe();
  return (description.raw.pendingActivities ?? []).map((a) => ({
    type: a.activityType?.name ?? '',
    attempt: a.attempt ?? 1,
    state: a.state === STARTED ? 'started' : 'scheduled',
  }));
}

/**
 * A copy of the sandbox kubeconfig in which each named context's cluster is reached at
 * `https://127.0.0.1:<port>` (a fault proxy in front of the apiserver; the serving certificate covers
 * 127.0.0.1 whatever the port). Returns the file's path; the caller deletes its directory.
 */
export function proxiedKubeconfig(sandbox: SandboxRuntime, ports: Readonly<Record<string, number>>): { path: string; dir: string } {
  const config = parse(readFileSync(sandbox.kubeconfig, 'utf8')) as {
    clusters: { name: string; cluster: { server: string } }[];
    contexts: { name: string; context: { cluster: string } }[];
  };
  for (const [context, port] of Object.entries(ports)) {
    const clusterName = config.contexts.find((c) => c.name === context)?.context.cluster;
    const cluster = config.clusters.find((c) => c.name === clusterName);
    if (!cluster) throw new Error(`the sandbox kubeconfig has no cluster for context ${context}`);
    cluster.cluster.server = `https://127.0.0.1:${port}`;
  }
  const dir = mkdtempSync(join(tmpdir(), 'logstack-kubeconfig-'));
  const path = join(dir, 'kubeconfig');
  writeFileSync(path, stringify(config), { mode: 0o600 });
  return { path, dir };
}

/** The host and port a kubeconfig context's apiserver listens on. */
export function apiserverOf(sandbox: SandboxRuntime, context: string): { host: string; port: number } {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(sandbox.kubeconfig);
  const server = kc.getCluster(kc.getContextObject(context)?.cluster ?? '')?.server;
  if (!server) throw new Error(`the sandbox kubeconfig has no server for context ${context}`);
  const url = new URL(server);
  return { host: url.hostname, port: Number(url.port || 443) };
}

/** Clears the LokiStack's status, as if the Loki Operator had not reported on it yet. */
export async function clearLokiStackStatus(kc: k8s.KubeConfig): Promise<void> {
  await kc.makeApiClient(k8s.CustomObjectsApi).patchNamespacedCustomObjectStatus({
    group: 'loki.grafana.com',
    version: 'v1',
    namespace: 'openshift-logging',
    plural: 'lokistacks',
    name: 'logging-loki',
    body: [{ op: 'add', path: '/status', value: { conditions: [] } }],
  });
}

/** A client of the sandbox cluster of `env`, straight to its apiserver (never through a proxy). */
export function clusterClient(sandbox: SandboxRuntime, env: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(sandbox.kubeconfig);
  kc.setCurrentContext(`logstack-${env}`);
  return kc;
}

/** The deployed-state ConfigMap data of `env` (empty when there is none). */
export async function deployedState(sandbox: SandboxRuntime, env: string): Promise<Record<string, string>> {
  const core = clusterClient(sandbox, env).makeApiClient(k8s.CoreV1Api);
  return core
    .readNamespacedConfigMap({ name: stateConfigMapName(env), namespace: STATE_NAMESPACE })
    .then((cm) => cm.data ?? {})
    .catch(() => ({}));
}

/** A rendered object's identity. */
export interface ObjectRef {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  readonly namespace: string | undefined;
}

/** `kind namespace/name` of an object (empty namespace for a cluster-scoped one). */
export const keyOfRef = (o: ObjectRef): string => `${o.kind} ${o.namespace ?? ''}/${o.name}`;

/** The objects `overlay` renders at `revision` of the GitOps remote (`kubectl kustomize` of a clean checkout). */
export async function renderAt(sandbox: SandboxRuntime, revision: string, overlay: string): Promise<ObjectRef[]> {
  const work = mkdtempSync(join(tmpdir(), 'logstack-render-'));
  try {
    await execFileAsync('git', ['clone', '--quiet', '--no-checkout', sandbox.git.remote, work]);
    await execFileAsync('git', ['-C', work, 'checkout', '--quiet', '--detach', revision]);
    const { stdout } = await execFileAsync(sandbox.kubectl, ['kustomize', join(work, overlay)], { maxBuffer: 64 * 1024 * 1024 });
    return parseAllDocuments(stdout)
      .map((doc) => doc.toJS() as { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } } | null)
      .filter((o) => o !== null)
      .map((o) => ({ apiVersion: o.apiVersion, kind: o.kind, name: o.metadata.name, namespace: o.metadata.namespace }));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * Every object of `env` labelled as part of the apply set `inventory`, among `kinds` and the kinds pruning
 * searches, as `kind namespace/name → uid`. A key that disappeared, an extra key, or a uid that changed
 * (deleted and created again) all show when two such maps, or one and a render, are compared.
 */
export async function deliveredObjects(sandbox: SandboxRuntime, env: string, inventory: string, kinds: readonly ObjectRef[]): Promise<Map<string, string>> {
  const api = k8s.KubernetesObjectApi.makeApiClient(clusterClient(sandbox, env));
  const byKind = new Map<string, { apiVersion: string; kind: string }>();
  for (const k of [...PRUNE_KINDS, ...kinds]) byKind.set(`${k.apiVersion}|${k.kind}`, { apiVersion: k.apiVersion, kind: k.kind });
  const objects = new Map<string, string>();
  for (const { apiVersion, kind } of byKind.values()) {
    const list = await api
      .list(apiVersion, kind, undefined, undefined, undefined, undefined, undefined, `${INVENTORY_LABEL}=${inventory}`)
      .catch((error: unknown) => {
        if (error instanceof k8s.ApiException && error.code === 404) return { items: [] };
        throw error;
      });
    for (const item of list.items) {
      objects.set(keyOfRef({ apiVersion, kind, name: item.metadata?.name ?? '', namespace: item.metadata?.namespace }), item.metadata?.uid ?? '');
    }
  }
  return objects;
}

/** The live LokiStack of `env` (its annotations show which run's revision was applied last). */
export async function liveLokiStack(sandbox: SandboxRuntime, env: string): Promise<{ annotations: Record<string, string>; conditions: { type?: string; status?: string }[] }> {
  const api = clusterClient(sandbox, env).makeApiClient(k8s.CustomObjectsApi);
  const obj = (await api.getNamespacedCustomObject({ group: 'loki.grafana.com', version: 'v1', namespace: 'openshift-logging', plural: 'lokistacks', name: 'logging-loki' })) as {
    metadata?: { annotations?: Record<string, string> };
    status?: { conditions?: { type?: string; status?: string }[] };
  };
  return { annotations: obj.metadata?.annotations ?? {}, conditions: obj.status?.conditions ?? [] };
}
