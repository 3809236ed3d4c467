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
 * The traced bundle also shares two of the tracing libraries (`workflows/preload-tracing.ts`).
 */
import { z } from 'zod';

z.config(z.locales.en());
z.config({ memoizer: z.core.memoizer() });
void z.core.util.allowsEval.value;

/** The schema library, complete and ready to be frozen. */
export { z };
