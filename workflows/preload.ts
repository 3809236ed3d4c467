/**
 * Modules the worker evaluates once per workflow thread and shares, frozen, between every workflow it runs
 * (the SDK's `preloadModules`). Without this, the reusable V8 context evaluates each bundled module again for
 * every workflow it caches; for the schema library that is about 0.7 MiB of heap per cached workflow.
 *
 * Only the schema library is shared, never logstack's own schemas: the library memoises on schema instances
 * lazily, which a frozen schema would refuse, while its own module state is complete once its lazy defaults
 * are set here. The SDK deep-freezes what this module exports, so every lazy default the library would set on
 * first use is set now: the English messages, the memoizer of container schemas, and whether `new Function`
 * is allowed. A default left unset would fail the first workflow task that builds a schema ("object is not
 * extensible"), which the workflow tests, run on the same bundle options, would show.
 *
 * Two of the tracing libraries are shared too. The semantic conventions: hundreds of constant attribute names
 * that the tracing SDK's span and resource modules read and never write (about 70 KiB of heap per cached
 * workflow when evaluated for each). The OpenTelemetry API (about 30 KiB each): its singletons are complete once
 * evaluated, and what a workflow registers with it — the context manager and the propagator — the API keeps on
 * the global object, which the SDK gives each workflow its own of. The one thing the API would keep in its own
 * module state, the global tracer provider, is never set (workflows/tracing.ts). The core library cannot be
 * shared: it reads `performance` when it is evaluated, which the workflow context only has once a workflow runs.
 */
import { z } from 'zod';

z.config(z.locales.en());
z.config({ memoizer: z.core.memoizer() });
void z.core.util.allowsEval.value;

/** The schema library, complete and ready to be frozen. */
export { z };

/** The two semantic-convention modules the tracing SDK imports (trace attributes, resource attributes), shared. */
export { SEMATTRS_EXCEPTION_MESSAGE, SEMRESATTRS_SERVICE_NAME } from '@opentelemetry/semantic-conventions';

/** The OpenTelemetry API (every module of it, through its entry point), shared. */
export { context, propagation, trace, diag } from '@opentelemetry/api';
