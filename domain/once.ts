/**
 * Values built on first use. The workflow worker evaluates every module of the workflow bundle again for each
 * workflow it keeps in its cache, so a schema built at module level costs heap in every cached workflow, whether
 * that workflow parses with it or not. So the domain builds no schema at module level: every schema is built
 * through {@link once}, by the first caller, then kept — the catalog's, the evidence record's and the
 * notification targets' (which workflows never use), the workflow inputs' and the approval decisions' (each
 * workflow parses its own), the lock's messages (a requester parses the lock's answers, the lock its requests),
 * and the names they share. An idle cached environment lock builds none of them.
 */

/**
 * `build`, called at most once: the first call runs it and keeps its result, later calls return that result.
 * Nothing is built until the first call. `build` must be pure (it runs wherever the first caller is).
 */
export function once<T>(build: () => T): () => T {
  let built: { readonly value: T } | undefined;
  return () => (built ??= { value: build() }).value;
}
