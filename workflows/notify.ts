/**
 * Notifications from workflows (patch `notify`): each event goes to every target the environment names, one
 * `notify` activity per target, started beside the run's own work in a scope its cancellation does not reach,
 * and awaited only where the run closes (or continues as new), so a dead receiver never blocks a promotion,
 * an approval or a rollback and never fails a run. Each notification is a step in `progress`: succeeded, or
 * failed with "notification to <target> (<format>) failed: <reason>" — visible in `logstack watch` and the
 * Web UI while the run goes on. Environments without targets schedule nothing and record no marker.
 */
import { CancellationScope, patched, workflowInfo } from '@temporalio/workflow';
import { FailureType, targetName, type Environment, type NotificationEvent } from '../domain/index.ts';
import { profiles } from './activities.ts';
import { failureMessage, failureType } from './failures.ts';
import { notifies } from './patches.ts';
import type { ProgressTracker } from './progress.ts';

/** What a caller states about an event; the environment, the run and the time are added here. */
export type NotificationBody = NotificationEvent extends infer E
  ? E extends NotificationEvent
    ? Omit<E, 'environment' | 'workflow' | 'at'>
    : never
  : never;

/** The notifications of one workflow run. */
export class Notifier {
  readonly #tracker: ProgressTracker;
  readonly #pending: Promise<void>[] = [];

  constructor(tracker: ProgressTracker) {
    this.#tracker = tracker;
  }

  /**
   * Sends `body` to every notification target of `environment`, without waiting: the activity runs beside the
   * workflow, its outcome lands in `progress`, and nothing it does can fail the run. Nothing happens (no marker,
   * no command) when the environment names no targets, or in executions started before the patch.
   */
  send(environment: Environment, body: NotificationBody): void {
    const targets = environment.notifications ?? [];
    if (targets.length === 0 || !patched(notifies.id)) return;
    const info = workflowInfo();
    const event = {
      ...body,
      environment: environment.name,
      workflow: { type: info.workflowType, id: info.workflowId, runId: info.runId, namespace: info.namespace },
      at: new Date().toISOString(),
    } as NotificationEvent;
    for (const [i, target] of targets.entries()) {
      const label = `${targetName(target, i)} (${target.format})`;
      const end = this.#tracker.startBeside('notify', `notify ${label}: ${event.kind}`);
      const summary = `notify ${label} of ${event.kind} in ${environment.name}`;
      const delivery = CancellationScope.nonCancellable(() =>
        profiles.notify.notify.executeWithOptions({ summary }, [{ environment, target, event }]),
      ).then(
        (outcome) => end('succeeded', `delivered to ${label}: HTTP ${outcome.status} (attempt ${outcome.attempt})`),
        (err: unknown) => end('failed', `notification to ${label} failed: ${failureMessage(err)}`),
      );
      this.#pending.push(delivery);
    }
  }

  /** Waits for every notification sent so far to be delivered or to fail (bounded by the `notify` profile). Never throws. */
  async drain(): Promise<void> {
    while (this.#pending.length > 0) await Promise.all(this.#pending.splice(0));
  }
}

/** What a delivery's rollback hook is told: why, and the revision it goes back to. */
export type OnRollback = (cause: unknown, target: string) => void;

/** The first details object of a failure, if any. */
function detailsOf(err: unknown): Readonly<Record<string, unknown>> | undefined {
  const details = (err as { details?: unknown }).details;
  const first: unknown = Array.isArray(details) ? details[0] : undefined;
  return typeof first === 'object' && first !== null ? (first as Record<string, unknown>) : undefined;
}

/**
 * Runs a delivery (rollout or promotion) and notifies how it went wrong: `gate-failed` as soon as a gate fails
 * or the server rejects the change (with the rollback target, when a rollback starts), `rolled-back` once the
 * environment is healthy at the last verified revision again, and `gate-failed` with `rollbackFailed` when the
 * rollback failed too. A delivery that succeeds sends nothing here.
 */
export async function notifyDelivery<T extends { readonly rolledBack: boolean }>(
  notifier: Notifier,
  environment: Environment,
  revision: string,
  deliver: (onRollback: OnRollback) => Promise<T>,
): Promise<T> {
  let rollback: { readonly target: string; readonly failure: string } | undefined;
  const onRollback: OnRollback = (cause, target) => {
    const type = failureType(cause) ?? null;
    rollback = { target, failure: `${type ? `${type}: ` : ''}${failureMessage(cause)}` };
    notifier.send(environment, { kind: 'gate-failed', revision, failureType: type, failure: failureMessage(cause), rollingBackTo: target, rollbackFailed: false });
  };
  let result: T;
  try {
    result = await deliver(onRollback);
  } catch (err) {
    const type = failureType(err);
    if (type === FailureType.GateFailed || type === FailureType.ManifestRejected) {
      const rollbackFailed = detailsOf(err)?.['rollbackFailed'] === true;
      // Announced already, unless the rollback failed too (or there was nothing to roll back to).
      if (rollback === undefined || rollbackFailed) {
        notifier.send(environment, { kind: 'gate-failed', revision, failureType: type, failure: failureMessage(err), rollingBackTo: null, rollbackFailed });
      }
    }
    throw err;
  }
  if (result.rolledBack && rollback !== undefined) {
    notifier.send(environment, { kind: 'rolled-back', revision, rolledBackTo: rollback.target, failure: rollback.failure });
  }
  return result;
}
