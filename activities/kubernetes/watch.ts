/**
 * Watch-driven waiting. A {@link CollectionWatch} keeps an up-to-date copy of one collection:
 * list, then watch from the list's resourceVersion, resume from the last seen resourceVersion
 * (bookmarks included) when the server closes the stream, re-list on 410 Gone, and keep retrying while
 * the apiserver is unreachable. {@link waitUntil}
 * evaluates a predicate over one or more such collections on every event — never on a timer — while
 * heartbeating, and stops every watch when the condition holds, the timeout passes, or the activity
 * is cancelled.
 *
 * A gate's set-up — discovery of the watched kinds, and whatever a gate reads or patches before it
 * watches ({@link setUpGate}) — is retried inside the gate while the API server is unreachable or
 * answers 429/5xx, with backoff, heartbeating, stopping at cancellation, until the gate's own timeout
 * (counted from the gate's start), then fails with the gate's typed timeout (`GateFailed`). An outage at
 * the start of a gate therefore costs no activity attempt.
 */
import { FailureType } from '../../domain/index.ts';
import { isApplicationFailure, nonRetryable } from '../errors.ts';
import { type ActivityScope, activityScope, cancellationError } from './activity-scope.ts';
import { listCollection } from './apply.ts';
import type { KubeCluster, ResourceInfo } from './cluster.ts';
import { apiErrorOf } from './failures.ts';
import { type KubeObject, asError } from './objects.ts';

/** Which objects to watch: a kind, optionally one namespace, one name, or a label selector. */
export interface CollectionSpec {
  readonly apiVersion: string;
  readonly kind: string;
  readonly namespace?: string | undefined;
  readonly name?: string | undefined;
  readonly labelSelector?: string | undefined;
}

/** What a predicate says about the current state. */
export type Verdict<R> =
  | { readonly done: true; readonly value: R }
  | { readonly done: false; readonly waitingFor: string }
  /** A terminal bad state (e.g. Degraded): the wait ends at once with `GateFailed`. */
  | { readonly done: false; readonly failed: string; readonly details?: Readonly<Record<string, unknown>> };

/** The objects of each watched collection, in the order the collections were given. */
export type Snapshot = readonly ReadonlyMap<string, KubeObject>[];

/** One wait. */
export interface WaitSpec<R> {
  readonly cluster: KubeCluster;
  readonly collections: readonly CollectionSpec[];
  readonly evaluate: (snapshot: Snapshot) => Verdict<R>;
  readonly timeoutMs: number;
  /** What is awaited, for messages ("LokiStack openshift-logging/logging-loki Ready"). */
  readonly description: string;
  /** Defaults to the running activity's scope. */
  readonly scope?: ActivityScope;
  /** Server-side watch timeout; the stream is resumed from the last resourceVersion after it. */
  readonly watchTimeoutSeconds?: number;
  /**
   * When the gate started (`performance.now()`), so set-up done before the wait counts against `timeoutMs`;
   * default: now.
   */
  readonly startedAt?: number;
}

/** The condition's value and how long it took to observe it. */
export interface WaitResult<R> {
  readonly value: R;
  readonly waitedMs: number;
}

let openWatches = 0;

/** How many watch streams this process holds open right now (all callers). */
export function openWatchCount(): number {
  return openWatches;
}

const MAX_CONSECUTIVE_FAILURES = 5;

/** A live, self-healing copy of one collection. */
export interface CollectionWatch {
  readonly objects: ReadonlyMap<string, KubeObject>;
  /** Resolves after the first list. */
  readonly listed: Promise<void>;
  /** Resolves when the watch loop has ended (after `stop` aborted) and its stream is closed. */
  readonly finished: Promise<void>;
  /** How many full lists and watch streams were made (a stream is resumed after every server close). */
  readonly stats: { readonly lists: number; readonly streams: number; readonly expired: number };
}

function objectKey(obj: KubeObject): string {
  return `${obj.metadata.namespace ?? ''}/${obj.metadata.name}`;
}

interface WatchEventObject extends KubeObject {
  readonly code?: number;
}

/**
 * Starts list-then-watch of one collection. `onChange` runs after the first list and after every
 * event that changes the copy; `onError` receives a persistent failure: the apiserver refusing the list or
 * watch several times in a row (403, 404…). No answer at all, 429 and 5xx are retried until `stop` aborts.
 */
export function watchCollection(
  cluster: KubeCluster,
  info: ResourceInfo,
  spec: CollectionSpec,
  stop: AbortSignal,
  onChange: () => void,
  onError: (error: unknown) => void,
  watchTimeoutSeconds = 20,
  startFrom?: string,
): CollectionWatch {
  const objects = new Map<string, KubeObject>();
  const path = cluster.collectionPath(info, spec.namespace);
  const fieldSelector = spec.name ? `metadata.name=${spec.name}` : undefined;
  let markListed: () => void = () => undefined;
  const listed = new Promise<void>((resolve) => (markListed = resolve));
  let resourceVersion: string | undefined = startFrom;
  const stats = { lists: 0, streams: 0, expired: 0 };

  const relist = async (): Promise<void> => {
    const list = await listCollection(cluster, path, {
      apiVersion: spec.apiVersion,
      kind: spec.kind,
      signal: stop,
      ...(fieldSelector ? { fieldSelector } : {}),
      ...(spec.labelSelector ? { labelSelector: spec.labelSelector } : {}),
    });
    stats.lists++;
    objects.clear();
    for (const item of list.items) objects.set(objectKey(item), item);
    resourceVersion = list.resourceVersion;
    markListed();
    onChange();
  };

  /** One watch stream; resolves when it ends, with `gone` when the resourceVersion expired. */
  const streamOnce = (): Promise<{ gone: boolean; error: unknown }> =>
    new Promise((resolve) => {
      let gone = false;
      const stream = new AbortController();
      const endStream = (): void => stream.abort();
      const handleEvent = (type: string, raw: unknown): void => {
        if (stream.signal.aborted) return; // a stream ended from this side may still deliver a line; the next one lists anew
        const obj = raw as WatchEventObject;
        if (type === 'ERROR') {
          if (obj.code === 410) gone = true;
          endStream();
          return;
        }
        if (obj.metadata?.resourceVersion) resourceVersion = obj.metadata.resourceVersion;
        if (type === 'BOOKMARK') return;
        const item: KubeObject = { ...obj, apiVersion: spec.apiVersion, kind: spec.kind };
        if (type === 'DELETED') objects.delete(objectKey(item));
        else objects.set(objectKey(item), item);
        onChange();
      };
      stop.addEventListener('abort', endStream, { once: true });
      if (stop.aborted) endStream();
      stats.streams++;
      openWatches++;
      void cluster
        .watch(
          path,
          { resourceVersion, allowWatchBookmarks: true, timeoutSeconds: watchTimeoutSeconds, fieldSelector, labelSelector: spec.labelSelector },
          handleEvent,
          stream.signal,
          (watchTimeoutSeconds + 10) * 1000,
        )
        .then(
          () => null,
          (error: unknown) => error,
        )
        .then((error) => {
          openWatches--;
          stop.removeEventListener('abort', endStream);
          resolve({ gone: gone || apiErrorOf(error)?.status === 410, error: gone ? null : error });
        });
    });

  const loop = async (): Promise<void> => {
    let failures = 0;
    let refusals = 0;
    while (!stop.aborted) {
      try {
        if (resourceVersion === undefined) await relist();
        const { gone, error } = await streamOnce();
        if (stop.aborted) return;
        if (gone) {
          stats.expired++;
          resourceVersion = undefined;
          continue;
        }
        if (error && !isBenignClose(error)) throw asError(error);
        failures = 0;
        refusals = 0;
      } catch (error) {
        if (stop.aborted) return;
        failures++;
        // An unreachable or overloaded apiserver may be back at any moment: keep trying for as long as the
        // wait lasts (its timeout or cancellation ends it). An answered refusal (403, 404…) will not change.
        if (!isTransient(error)) refusals++;
        if (refusals >= MAX_CONSECUTIVE_FAILURES) {
          onError(error);
          return;
        }
        await delay(Math.min(2000, 100 * 2 ** Math.min(failures, 5)), stop);
      }
    }
  };

  const finished = loop();
  return { objects, listed, finished, stats };
}

/** Network error codes meaning the API server did not answer at all. */
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'EHOSTDOWN', 'ENETUNREACH', 'ENETDOWN',
  'EAI_AGAIN', 'ENOTFOUND', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CLOSED',
]);
const UNREACHABLE_TEXT = /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|EHOSTUNREACH|ENETUNREACH|socket hang up|socket disconnected|other side closed|fetch failed|network|TLS connection/i;

/**
 * True when `error` means the API server could not be reached or was overloaded: no answer (refused,
 * reset, TLS or socket errors along the cause chain) or an answer of 429 or 5xx. A typed failure and any
 * other answer (403, 404, 422…) are not. Pure.
 */
export function isServerUnavailable(error: unknown): boolean {
  if (isApplicationFailure(error)) return false;
  const status = apiErrorOf(error)?.status;
  if (typeof status === 'number') return status === 429 || status >= 500;
  for (let e: unknown = error, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && UNREACHABLE_CODES.has(code)) return true;
    const message = (e as { message?: unknown }).message;
    if (typeof message === 'string' && UNREACHABLE_TEXT.test(message)) return true;
  }
  return false;
}

/** What a gate's set-up needs to retry within the gate's budget. */
export interface GateSetup {
  readonly cluster: KubeCluster;
  /** The gate, as in its timeout message ("LokiStack openshift-logging/logging-loki Ready"). */
  readonly description: string;
  /** The gate's whole budget, counted from `startedAt`. */
  readonly timeoutMs: number;
  /** When the gate started (`performance.now()`). */
  readonly startedAt: number;
  /** Defaults to the running activity's scope. */
  readonly scope?: ActivityScope;
}

const SETUP_MAX_BACKOFF_MS = 2_000;

/**
 * Runs one step of a gate's set-up (`what`: "discover LokiStack", "read the ExternalSecret"…), retrying it
 * while {@link isServerUnavailable} says the API server is away: backoff from 100 ms doubling to 2 s,
 * heartbeating `{ waitingFor, waitedMs }` throughout. Any other error is thrown at once.
 * @throws ApplicationFailure `GateFailed` (non-retryable) when the gate's timeout passes first, naming the
 *   last error; the activity's cancellation error when cancelled.
 */
export async function setUpGate<T>(gate: GateSetup, what: string, fn: () => Promise<T>): Promise<T> {
  const scope = gate.scope ?? activityScope();
  const deadline = gate.startedAt + gate.timeoutMs;
  const waitingFor = (error?: unknown): string =>
    `the API server of "${gate.cluster.context}" to answer (${what})${error ? `: ${asError(error).message.slice(0, 200)}` : ''}`;
  let lastError: unknown;
  const beat = (): void => scope.heartbeat({ waitingFor: waitingFor(lastError), waitedMs: Math.round(performance.now() - gate.startedAt) });
  const timer = setInterval(beat, scope.heartbeatEveryMs);
  const timedOut = (): Error =>
    nonRetryable(
      FailureType.GateFailed,
      `${gate.description} did not hold within ${Math.round(gate.timeoutMs / 1000)} s; still waiting for ${waitingFor(lastError)}`,
      { context: gate.cluster.context, waitingFor: waitingFor(lastError) },
    );
  try {
    for (let attempt = 0; ; attempt++) {
      if (scope.signal.aborted) throw cancellationError(scope.signal);
      const remaining = deadline - performance.now();
      if (remaining <= 0) throw timedOut();
      const stop = new AbortController();
      try {
        // Raced against the deadline and cancellation: a request the server never answers does not hold the gate.
        return await Promise.race([
          fn(),
          new Promise<never>((_, reject) => {
            const t = setTimeout(() => reject(timedOut()), remaining);
            const onCancel = (): void => reject(cancellationError(scope.signal));
            scope.signal.addEventListener('abort', onCancel, { once: true });
            stop.signal.addEventListener('abort', () => {
              clearTimeout(t);
              scope.signal.removeEventListener('abort', onCancel);
            }, { once: true });
          }),
        ]);
      } catch (error) {
        if (isApplicationFailure(error) || scope.signal.aborted || !isServerUnavailable(error)) throw error;
        lastError = error;
        beat();
        const pause = Math.min(SETUP_MAX_BACKOFF_MS, 100 * 2 ** Math.min(attempt, 5), Math.max(0, deadline - performance.now()));
        await delay(pause, scope.signal);
      } finally {
        stop.abort();
      }
    }
  } finally {
    clearInterval(timer);
  }
}

/** True when the apiserver gave no answer (refused, reset, TLS or socket errors) or answered 429 or 5xx. */
function isTransient(error: unknown): boolean {
  const status = apiErrorOf(error)?.status;
  return typeof status !== 'number' || status === 429 || status >= 500;
}

function isBenignClose(error: unknown): boolean {
  // The transport's idle limit closing a silent stream: resume from the last resourceVersion.
  return error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError');
}

function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}

/**
 * Waits until `evaluate` says done, driven only by watch events.
 * @throws ApplicationFailure `GateFailed` (non-retryable) on a terminal verdict or when `timeoutMs` passes;
 *   `MissingCustomResource` when a watched kind is not served; the activity's `CancelledFailure` on
 *   cancellation (every watch is closed first); a transient error when the apiserver keeps failing.
 */
export async function waitUntil<R>(spec: WaitSpec<R>): Promise<WaitResult<R>> {
  const scope = spec.scope ?? activityScope();
  const started = spec.startedAt ?? performance.now();
  const gate: GateSetup = { cluster: spec.cluster, description: spec.description, timeoutMs: spec.timeoutMs, startedAt: started, scope };
  const infos = await Promise.all(
    spec.collections.map((c) => setUpGate(gate, `discover ${c.kind} (${c.apiVersion})`, () => spec.cluster.resource(c.apiVersion, c.kind))),
  );
  const stop = new AbortController();
  let waitingFor = 'first list';
  let outcomeWatches: CollectionWatch[] = [];

  const outcome = new Promise<R>((resolve, reject) => {
    let allListed = false;
    const finish = (fn: () => void): void => {
      if (stop.signal.aborted) return;
      stop.abort();
      fn();
    };
    const check = (): void => {
      if (!allListed || stop.signal.aborted) return;
      let verdict: Verdict<R>;
      try {
        verdict = spec.evaluate(watches.map((w) => w.objects));
      } catch (error) {
        finish(() => reject(asError(error)));
        return;
      }
      if (verdict.done) finish(() => resolve(verdict.value));
      else if ('failed' in verdict) {
        finish(() =>
          reject(nonRetryable(FailureType.GateFailed, `${spec.description}: ${verdict.failed}`, { context: spec.cluster.context, ...verdict.details })),
        );
      } else waitingFor = verdict.waitingFor;
    };
    const watches = spec.collections.map((c, i) =>
      watchCollection(spec.cluster, infos[i] as ResourceInfo, c, stop.signal, check, (error) => finish(() => reject(asError(error))), spec.watchTimeoutSeconds),
    );
    void Promise.all(watches.map((w) => w.listed)).then(() => {
      allListed = true;
      check();
    });
    const timeout = setTimeout(
      () =>
        finish(() =>
          reject(
            nonRetryable(
              FailureType.GateFailed,
              `${spec.description} did not hold within ${Math.round(spec.timeoutMs / 1000)} s; still waiting for ${waitingFor}`,
              { context: spec.cluster.context, waitingFor },
            ),
          ),
        ),
      Math.max(0, started + spec.timeoutMs - performance.now()),
    );
    const beat = setInterval(() => scope.heartbeat({ waitingFor, waitedMs: Math.round(performance.now() - started) }), scope.heartbeatEveryMs);
    const onCancel = (): void => finish(() => reject(cancellationError(scope.signal)));
    if (scope.signal.aborted) onCancel();
    else scope.signal.addEventListener('abort', onCancel, { once: true });
    stop.signal.addEventListener('abort', () => {
      clearTimeout(timeout);
      clearInterval(beat);
      scope.signal.removeEventListener('abort', onCancel);
    });
    outcomeWatches = watches;
  });

  scope.heartbeat({ waitingFor, waitedMs: 0 });
  try {
    const value = await outcome;
    return { value, waitedMs: Math.round(performance.now() - started) };
  } finally {
    // Streams close asynchronously after abort; never leave one behind the activity.
    await Promise.all(outcomeWatches.map((w) => w.finished));
  }
}
