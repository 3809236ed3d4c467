/**
 * The worker's side of tracing: the `exporter` sink the bundled workflow interceptors (`workflows/tracing.ts`)
 * send their spans to, and the activity interceptors that continue each activity's span on the worker.
 *
 * Off (`OTEL_EXPORTER_OTLP_ENDPOINT` unset): the worker runs the untraced workflow bundle (worker/bundle.ts); the
 * sink is still registered, a no-op, for a traced bundle given anyway; no activity interceptor is added, and no
 * OpenTelemetry SDK module is loaded. On: the SDK is imported then (`config/tracing-sdk.ts`), spans are batched
 * to the OTLP/HTTP receiver, and the activity span
 * carries `temporal.workflow.type`, `temporal.activity.type` and, when the input names them,
 * `logstack.environment` and `logstack.revision`.
 */
import type { Context as ActivityContext } from '@temporalio/activity';
import type { ActivityInboundCallsInterceptor, ActivityInterceptorsFactory, InjectedSinks } from '@temporalio/worker';
import type { TracingSettings } from '../config/index.ts';

/** The sink interface the workflow interceptors call (`proxySinks().exporter.export(spans)`). */
type ExporterSinks = InjectedSinks<{ exporter: { export(spans: unknown[]): void } }>;

/** What the worker adds to its options for tracing. */
export interface WorkerTracing {
  /** Always present: the bundle's interceptors export through it. */
  readonly sinks: ExporterSinks;
  /** Activity interceptors, outermost first; empty when tracing is off. */
  readonly activityInterceptors: readonly ActivityInterceptorsFactory[];
  /** Exports what is buffered and stops (a no-op when off). */
  shutdown(): Promise<void>;
}

/** Tracing off: a sink that drops the spans, nothing else. Loads nothing. */
export const NO_TRACING: WorkerTracing = {
  sinks: { exporter: { export: { fn: () => undefined, callDuringReplay: false } } },
  activityInterceptors: [],
  shutdown: () => Promise.resolve(),
};

/** The environment and revision an activity input names: `environment` (a catalog entry or a name) and `revision`. */
export function activityInputAttributes(args: readonly unknown[]): Record<string, string> {
  const input = args[0];
  if (input === null || typeof input !== 'object') return {};
  const record = input as Record<string, unknown>;
  const attributes: Record<string, string> = {};
  const env = record['environment'];
  const name = typeof env === 'string' ? env : env !== null && typeof env === 'object' ? (env as Record<string, unknown>)['name'] : undefined;
  if (typeof name === 'string') attributes['logstack.environment'] = name;
  if (typeof record['revision'] === 'string') attributes['logstack.revision'] = record['revision'];
  return attributes;
}

/** Adds logstack's attributes to the activity's span (the active one: this interceptor runs inside Temporal's). */
function activityAttributes(ctx: ActivityContext, activeSpan: () => { setAttributes(a: Record<string, string>): unknown } | undefined): ActivityInboundCallsInterceptor {
  return {
    execute(input, next) {
      activeSpan()?.setAttributes({
        ...(ctx.info.workflowType !== undefined ? { 'temporal.workflow.type': ctx.info.workflowType } : {}),
        'temporal.activity.type': ctx.info.activityType,
        ...activityInputAttributes(input.args),
      });
      return next(input);
    },
  };
}

/**
 * The worker's tracing for `settings` (undefined = off, {@link NO_TRACING}). On, it imports the OpenTelemetry SDK
 * and Temporal's interceptors now.
 */
export async function workerTracing(settings: TracingSettings | undefined): Promise<WorkerTracing> {
  if (settings === undefined) return NO_TRACING;
  const [{ startTracing }, otel, { trace }] = await Promise.all([
    import('../config/tracing-sdk.ts'),
    import('@temporalio/interceptors-opentelemetry'),
    import('@opentelemetry/api'),
  ]);
  const sdk = startTracing(settings, 'logstack-worker');
  const options = { tracer: sdk.tracer };
  return {
    sinks: { exporter: otel.makeWorkflowExporter(sdk.spanProcessor, sdk.resource) } as unknown as ExporterSinks,
    activityInterceptors: [
      (ctx) => ({ inbound: new otel.OpenTelemetryActivityInboundInterceptor(ctx, options), outbound: new otel.OpenTelemetryActivityOutboundInterceptor(ctx) }),
      (ctx) => ({ inbound: activityAttributes(ctx, () => trace.getActiveSpan()) }),
    ],
    shutdown: () => sdk.shutdown(),
  };
}
