/**
 * Workflow interceptors bundled with the workflows (not a Workflow Type): OpenTelemetry traces in the format of
 * Temporal's own interceptors (`@temporalio/interceptors-opentelemetry`: its span names, its `_tracer-data`
 * header, its in-sandbox context manager and its `exporter` sink). Each run is one span `RunWorkflow:<type>`,
 * child of the client's `StartWorkflow:<type>` when the starter traced it (the CLI does); each activity a
 * `StartActivity:<type>` span under it, continued on the worker by the package's activity interceptor as
 * `RunActivity:<type>`. The run's span carries `logstack.environment`, `logstack.revision` (from the search
 * attributes at the end, so the revision the run resolved) and `temporal.workflow.type`.
 *
 * **Why not the package's workflow interceptor classes.** They add an `await Promise.resolve()` before calling on
 * unless the history carries the SDK flag `OpenTelemetryInterceporsAvoidsExtraYields` — and no history of a run
 * started without them does. Replaying such a run (every recorded history in test/replay/, every run in flight
 * when tracing is first deployed) with the extra yields moves commands past each other (a nondeterminism error).
 * These interceptors call on in the same tick and hand back the very promise they were given, so the workflow
 * code sees exactly the scheduling it saw without them: no command, no event, no microtask of difference.
 *
 * Span and trace IDs come from {@link RunScopedIds}, never from the run's seeded `Math.random`.
 *
 * The spans leave the sandbox through the `exporter` sink, which is not called during replay. Only the traced
 * workflow bundle holds these interceptors; a worker with tracing off (`OTEL_EXPORTER_OTLP_ENDPOINT` unset) runs
 * the untraced one (worker/bundle.ts), and a run moves between the two freely since neither adds a command. Queries and update validators are not traced (`logstack watch` polls `progress` every second).
 */
import '@temporalio/interceptors-opentelemetry/lib/workflow/runtime.js';
import { context as otelContext, propagation, SpanStatusCode, type Context, type Span, type Tracer } from '@opentelemetry/api';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider, SimpleSpanProcessor, type IdGenerator } from '@opentelemetry/sdk-trace-base';
import {
  extractContextFromHeaders,
  headersWithContext,
  TRACE_HEADER,
} from '@temporalio/interceptors-opentelemetry/lib/instrumentation.js';
import { ContextManager } from '@temporalio/interceptors-opentelemetry/lib/workflow/context-manager.js';
import { SpanExporter } from '@temporalio/interceptors-opentelemetry/lib/workflow/span-exporter.js';
import { ApplicationFailure, ApplicationFailureCategory, type Headers } from '@temporalio/common';
import { ContinueAsNew, workflowInfo, type WorkflowInterceptorsFactory } from '@temporalio/workflow';
import { environmentKey, revisionKey } from './search-attributes.ts';

/** Span attribute names logstack adds. */
export const SpanAttributes = {
  environment: 'logstack.environment',
  revision: 'logstack.revision',
  workflowType: 'temporal.workflow.type',
} as const;

/** 32-bit FNV-1a of `text` from `seed`, as 8 hex digits. */
function fnv1a(text: string, seed: number): string {
  let hash = seed >>> 0;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, '0');
}

/**
 * Trace and span IDs that never draw from the workflow's `Math.random`. The SDK's default generator does, and the
 * sandbox's `Math.random` is the run's seeded sequence that `uuid4()` also draws from: spans would shift every later
 * `uuid4()` (the lock's request IDs and lease tokens), so a history recorded without tracing would no longer replay.
 * A root span's trace ID is the run ID (hex, 128 bits: search a run's trace by its run ID); span IDs hash the run ID
 * with a per-run counter, which replay regenerates in the same order.
 */
export class RunScopedIds implements IdGenerator {
  readonly #counters = new Map<string, number>();

  /** Forgets a run's counter (its execution left the cache). */
  forget(runId: string): void {
    this.#counters.delete(runId);
  }

  generateTraceId(): string {
    const hex = workflowInfo().runId.replace(/-/g, '').toLowerCase();
    return /^[0-9a-f]{32}$/.test(hex) && !/^0+$/.test(hex)
      ? hex
      : `${fnv1a(hex, 1)}${fnv1a(hex, 2)}${fnv1a(hex, 3)}${fnv1a(hex, 4)}`;
  }

  generateSpanId(): string {
    const runId = workflowInfo().runId;
    const n = (this.#counters.get(runId) ?? 0) + 1;
    this.#counters.set(runId, n);
    const id = `${fnv1a(`${runId}:${n}`, 0x811c9dc5)}${fnv1a(`${n}:${runId}`, 0x9747b28c)}`;
    return /^0+$/.test(id) ? '0000000000000001' : id;
  }
}

let contextManager: ContextManager | undefined;
let tracer: Tracer | undefined;
const ids = new RunScopedIds();

/** One tracer per workflow isolate, exporting every ended span through the `exporter` sink. */
function workflowTracer(): Tracer {
  contextManager ??= new ContextManager();
  if (tracer === undefined) {
    const provider = new BasicTracerProvider({
      idGenerator: ids,
      spanProcessors: [new SimpleSpanProcessor(new SpanExporter())],
    });
    // What `provider.register()` sets, less the global tracer provider: the API keeps that in a module-level object,
    // which is shared between workflows, frozen (workflows/preload-tracing.ts); spans come from this tracer, never the global one.
    otelContext.setGlobalContextManager(contextManager);
    propagation.setGlobalPropagator(
      new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }),
    );
    tracer = provider.getTracer('@temporalio/interceptor-workflow');
  }
  return tracer;
}

/** The caller's span context from the `_tracer-data` header, read with the propagator the tracer registers. */
function parentFrom(headers: Headers): Context | undefined {
  workflowTracer();
  return extractContextFromHeaders(headers);
}

function recordFailure(span: Span, error: unknown): void {
  const benign = error instanceof ApplicationFailure && error.category === ApplicationFailureCategory.BENIGN;
  const message = error instanceof Error ? error.message : String(error);
  span.setStatus({ code: benign ? SpanStatusCode.UNSET : SpanStatusCode.ERROR, message });
  if (error instanceof Error) span.recordException(error);
}

/**
 * Runs `call` inside a new active span (under `parent` when given) and returns the promise `call` returned,
 * untouched: the span ends when it settles, on the side. `acceptable` errors end the span OK (continue-as-new).
 */
function traced<T>(
  name: string,
  parent: Context | undefined,
  call: (span: Span) => Promise<T>,
  acceptable?: (error: unknown) => boolean,
): Promise<T> {
  const open = (): Promise<T> =>
    workflowTracer().startActiveSpan(name, (span) => {
      let result: Promise<T>;
      try {
        result = call(span);
      } catch (error) {
        recordFailure(span, error);
        span.end();
        throw error;
      }
      result.then(
        () => {
          span.setStatus({ code: SpanStatusCode.OK });
          span.end();
        },
        (error: unknown) => {
          if (acceptable?.(error)) span.setStatus({ code: SpanStatusCode.OK });
          else recordFailure(span, error);
          span.end();
        },
      );
      return result;
    });
  return parent ? otelContext.with(parent, open) : open();
}

/** The environment a run names in its input, before any search attribute is set (`environment`, or `to` of a promotion). */
function inputEnvironment(args: readonly unknown[]): string | undefined {
  const input = args[0];
  if (input === null || typeof input !== 'object') return undefined;
  const record = input as Record<string, unknown>;
  const value = record['environment'] ?? record['to'];
  return typeof value === 'string' ? value : undefined;
}

/** Sets the run's attributes: at the start what is known, when it settles what it resolved. */
function markRun(span: Span, args: readonly unknown[], result: Promise<unknown>): void {
  const info = workflowInfo();
  span.setAttribute(SpanAttributes.workflowType, info.workflowType);
  const early = info.typedSearchAttributes.get(environmentKey) ?? inputEnvironment(args);
  if (early !== undefined) span.setAttribute(SpanAttributes.environment, early);
  const late = (): void => {
    const attributes = workflowInfo().typedSearchAttributes;
    const environment = attributes.get(environmentKey);
    const revision = attributes.get(revisionKey);
    if (environment !== undefined) span.setAttribute(SpanAttributes.environment, environment);
    if (revision !== undefined) span.setAttribute(SpanAttributes.revision, revision);
  };
  // Registered before `traced` registers the span's end, so the attributes are set first.
  result.then(late, late);
}

const isContinueAsNew = (error: unknown): boolean => error instanceof ContinueAsNew;

/**
 * Per execution: spans for the run, its signals and updates, and the activities, signals and continue-as-new it
 * issues. The trace context travels on (as the `_tracer-data` header, which the payload codec does not encrypt)
 * only when the run itself was started with one — by a client that traces — so a deployment without tracing
 * writes no header into any history.
 */
export const interceptors: WorkflowInterceptorsFactory = () => {
  let propagate = false;
  const carry = (headers: Headers): Headers => (propagate ? headersWithContext(headers) : headers);
  return {
    inbound: [
      {
        execute: (input, next) => {
          propagate = input.headers[TRACE_HEADER] !== undefined;
          return traced(
            `RunWorkflow:${workflowInfo().workflowType}`,
            parentFrom(input.headers),
            (span) => {
              const result = next(input);
              markRun(span, input.args, result);
              return result;
            },
            isContinueAsNew,
          );
        },
        handleSignal: (input, next) =>
          traced(`HandleSignal:${input.signalName}`, parentFrom(input.headers), () => next(input)),
        handleUpdate: (input, next) =>
          traced(`HandleUpdate:${input.name}`, parentFrom(input.headers), (span) => {
            span.setAttribute('temporalUpdateId', input.updateId);
            return next(input);
          }),
      },
    ],
    outbound: [
      {
        scheduleActivity: (input, next) =>
          traced(`StartActivity:${input.activityType}`, undefined, () =>
            next({ ...input, headers: carry(input.headers) }),
          ),
        scheduleLocalActivity: (input, next) =>
          traced(`StartActivity:${input.activityType}`, undefined, () =>
            next({ ...input, headers: carry(input.headers) }),
          ),
        signalWorkflow: (input, next) =>
          traced(`SignalWorkflow:${input.signalName}`, undefined, () =>
            next({ ...input, headers: carry(input.headers) }),
          ),
        continueAsNew: (input, next) =>
          traced(
            `ContinueAsNew:${input.options.workflowType ?? workflowInfo().workflowType}`,
            undefined,
            () => next({ ...input, headers: carry(input.headers) }),
            isContinueAsNew,
          ),
      },
    ],
    internals: [
      {
        dispose(input, next) {
          try {
            ids.forget(workflowInfo().runId);
          } catch {
            // outside a workflow context: nothing to forget
          }
          contextManager?.disable();
          next(input);
        },
      },
    ],
  };
};
