/**
 * The OpenTelemetry SDK pieces the worker and the CLI build from {@link TracingSettings}: a tracer provider
 * that batches spans to an OTLP/HTTP JSON exporter. Loaded only with `await import(...)` once tracing is on, so
 * a program without `OTEL_EXPORTER_OTLP_ENDPOINT` never evaluates OpenTelemetry (not re-exported by `index.ts`).
 *
 * Each call builds its own provider and hands out its tracer explicitly (the interceptors take it), so a worker
 * and a CLI in one process keep their service names. Only what the interceptors need from the globals is set,
 * once per process: the W3C trace-context propagator (the `_tracer-data` header Temporal carries) and an
 * AsyncLocalStorage context manager (so the span a client call or an activity opens is the active one inside it).
 */
import { context, propagation, type Tracer } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { Resource } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { TracingSettings } from './tracing.ts';

/** A running tracer provider: its tracer, its span processor and resource (for the workflow sink), and a flush on the way out. */
export interface TracingSdk {
  readonly tracer: Tracer;
  readonly resource: Resource;
  readonly spanProcessor: SpanProcessor;
  /** Exports what is buffered (resolves also when the receiver is down: traces never fail the program). */
  flush(): Promise<void>;
  /** Flushes and stops the provider. */
  shutdown(): Promise<void>;
}

let globalsSet = false;

/** Sets the propagator and the context manager once per process (a second provider reuses them). */
function ensureGlobals(): void {
  if (globalsSet) return;
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  globalsSet = true;
}

/** Starts a provider exporting to `settings.url`; `instrumentation` names the tracer (the program). */
export function startTracing(settings: TracingSettings, instrumentation: string): TracingSdk {
  ensureGlobals();
  const resource = new Resource({ 'service.name': settings.serviceName });
  const exporter = new OTLPTraceExporter({ url: settings.url, headers: { ...settings.headers }, timeoutMillis: 5000 });
  // Small batches, sent often: a workflow's spans should reach the receiver within seconds.
  const spanProcessor = new BatchSpanProcessor(exporter, { scheduledDelayMillis: 1000, maxExportBatchSize: 256 });
  const provider = new BasicTracerProvider({ resource, spanProcessors: [spanProcessor] });
  const quietly = async (work: Promise<void>): Promise<void> => {
    await work.catch(() => undefined);
  };
  return {
    tracer: provider.getTracer(instrumentation),
    resource,
    spanProcessor,
    flush: () => quietly(provider.forceFlush()),
    shutdown: () => quietly(provider.shutdown()),
  };
}
