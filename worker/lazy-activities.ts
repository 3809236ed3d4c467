/**
 * Activities registered before their modules load. The worker reaches RUNNING without evaluating the
 * Kubernetes and AWS clients (most of its start-up time); the modules load once, in the background
 * right after start or on the first activity task, whichever comes first.
 */
import type { LogstackActivities } from '../domain/activity-contract.ts';
import { ACTIVITY_NAMES } from '../domain/activity-names.ts';

/** Activities that load their implementation on first use, plus `preload()` to load it now. */
export interface LazyActivities {
  readonly activities: LogstackActivities;
  /** Starts loading the implementation (idempotent); resolves when loaded, rejects like the loader. */
  preload(): Promise<LogstackActivities>;
}

/**
 * Wraps `load` so that every activity of the contract is registered at once and forwards to the loaded
 * implementation. Guarantees: `load` runs at most once at a time; a failed load is retried by the next
 * call (the activity fails and Temporal retries it); activity context (heartbeats, cancellation) is the
 * caller's, since the real function runs in the same async context.
 */
export function lazyActivities(load: () => Promise<LogstackActivities>): LazyActivities {
  let loading: Promise<LogstackActivities> | undefined;
  const preload = (): Promise<LogstackActivities> => {
    loading ??= load().catch((error: unknown) => {
      loading = undefined;
      throw error;
    });
    return loading;
  };
  const activities = Object.fromEntries(
    ACTIVITY_NAMES.map((name) => [
      name,
      async (...args: unknown[]): Promise<unknown> => {
        const impl = (await preload()) as unknown as Readonly<Record<string, ((...a: unknown[]) => Promise<unknown>) | undefined>>;
        const real = impl[name];
        if (!real) throw new Error(`the activity modules do not export ${name}`);
        return real(...args);
      },
    ]),
  ) as unknown as LogstackActivities;
  return { activities, preload };
}
