/**
 * Bounded concurrency for activities that make many independent, read-only or idempotent calls (a drift
 * scan's per-object dry runs, its labelled lists): at most `limit` calls in flight, results in input order.
 */

/**
 * Maps `items` through `fn` with at most `limit` calls in flight and returns the results in the order of
 * `items`. After the first failure no new call starts; the promise rejects with that failure once the calls
 * already in flight have settled, so nothing keeps running behind a rejected scan.
 */
export async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const lane = async (): Promise<void> => {
    while (!failure && next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i] as T, i);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane));
  if (failure) throw failure.error;
  return results;
}
