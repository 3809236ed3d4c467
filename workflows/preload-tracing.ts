/**
 * Tracing libraries the traced workflow bundle evaluates once per workflow thread and shares, frozen, between
 * every workflow it runs (the SDK's `preloadModules`, after `workflows/preload.ts`); the untraced bundle has
 * no tracing library at all.
 *
 * The semantic conventions: hundreds of constant attribute names that the tracing SDK's span and resource modules
 * read and never write (about 70 KiB of heap per cached workflow when evaluated for each). The OpenTelemetry API
 * (about 30 KiB each): its singletons are complete once evaluated, and what a workflow registers with it — the
 * context manager and the propagator — the API keeps on the global object, which the SDK gives each workflow its
 * own of. The one thing the API would keep in its own module state, the global tracer provider, is never set
 * (workflows/tracing.ts). The core library cannot be shared: it reads `performance` when it is evaluated, which
 * the workflow context only has once a workflow runs.
 */

/** The two semantic-convention modules the tracing SDK imports (trace attributes, resource attributes), shared. */
export { SEMATTRS_EXCEPTION_MESSAGE, SEMRESATTRS_SERVICE_NAME } from '@opentelemetry/semantic-conventions';

/** The OpenTelemetry API (every module of it, through its entry point), shared. */
export { context, propagation, trace, diag } from '@opentelemetry/api';
