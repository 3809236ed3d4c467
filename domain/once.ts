/**
 * Values built on first use. The workflow worker evaluates every module of the workflow bundle again for each
 * workflow it keeps in its cache, so a schema built at module level costs heap in every cached workflow, whether
 * that workflow parses with it or not. Schemas that workflows never use (the catalog's, the evidence record's,
 * the notification targets') are built through {@link once} instead: by the first caller, then kept.
 */

/**
 * `build`, called at most once: the first call runs it and keeps its result, later calls return that result.
 * Nothing is built until the first call. `build` must be pure (it runs wherever the first caller is).
 */
export function once<T>(build: () => T): () => T {
  let built: { readonly value: T } | undefined;
  return () => (built ??= { value: build() }).value;
}
