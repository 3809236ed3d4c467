/**
 * OpenTelemetry trace export, shared by the worker and the CLI: on when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
 * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, off otherwise — and off, nothing of OpenTelemetry is loaded.
 * The variables are the OpenTelemetry SDK's own (their names and meaning as in its specification); traces go
 * out as OTLP over HTTP with JSON bodies, so a protocol other than `http/json` is refused at start.
 */
import type { Env, Problem } from './problems.ts';

/** The OpenTelemetry variables logstack reads, with what each means; printed with validation errors. */
export const TRACING_VARIABLES = {
  OTEL_EXPORTER_OTLP_ENDPOINT: 'OTLP/HTTP base URL (traces go to <url>/v1/traces); set = traces exported, unset = no tracing loaded',
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'OTLP/HTTP traces URL, used as given (wins over OTEL_EXPORTER_OTLP_ENDPOINT)',
  OTEL_EXPORTER_OTLP_HEADERS: 'headers sent with every export, "key=value,…" (values URL-encoded), e.g. an authorization token',
  OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json only (the default here)',
  OTEL_SERVICE_NAME: 'service.name of the spans (default logstack-worker / logstack-cli)',
  OTEL_SDK_DISABLED: 'true = no tracing even with an endpoint',
} as const;

/** Where and how traces are exported. Headers may hold credentials: never log them. */
export interface TracingSettings {
  /** The full traces URL (`…/v1/traces`). */
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly serviceName: string;
}

const TRUE = /^true$/i;

/** `key=value,key2=value2` with URL-encoded parts, as the OpenTelemetry specification defines it. */
function parseHeaders(spec: string | undefined, variable: string, problems: Problem[]): Record<string, string> {
  const headers: Record<string, string> = {};
  if (spec === undefined || spec.trim() === '') return headers;
  for (const pair of spec.split(',')) {
    const at = pair.indexOf('=');
    const key = at > 0 ? pair.slice(0, at).trim() : '';
    if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(key)) {
      problems.push({ key: variable, value: '***', expected: 'comma-separated key=value pairs with header names as keys' });
      return {};
    }
    try {
      headers[decodeURIComponent(key)] = decodeURIComponent(pair.slice(at + 1).trim());
    } catch {
      problems.push({ key: variable, value: '***', expected: 'comma-separated key=value pairs, URL-encoded' });
      return {};
    }
  }
  return headers;
}

function httpUrl(value: string, variable: string, problems: Problem[]): URL | undefined {
  try {
    const url = new URL(value);
    if (url.protocol === 'http:' || url.protocol === 'https:') return url;
  } catch {
    // reported below
  }
  problems.push({ key: variable, value, expected: 'an http:// or https:// URL of an OTLP/HTTP receiver (e.g. http://127.0.0.1:4318)' });
  return undefined;
}

/**
 * The trace export settings, or `undefined` when tracing is off (no endpoint, or `OTEL_SDK_DISABLED=true`).
 * `defaultServiceName` names the program when `OTEL_SERVICE_NAME` is unset.
 * @returns the settings and the problems found (one per wrong variable; empty when all is well).
 */
export function resolveTracing(env: Env, defaultServiceName: string): { settings?: TracingSettings; problems: Problem[] } {
  const problems: Problem[] = [];
  const tracesEndpoint = env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT']?.trim() || undefined;
  const endpoint = env['OTEL_EXPORTER_OTLP_ENDPOINT']?.trim() || undefined;
  if ((tracesEndpoint === undefined && endpoint === undefined) || TRUE.test(env['OTEL_SDK_DISABLED']?.trim() ?? '')) return { problems };
  let url: string | undefined;
  if (tracesEndpoint !== undefined) {
    url = httpUrl(tracesEndpoint, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', problems)?.href;
  } else if (endpoint !== undefined) {
    const base = httpUrl(endpoint, 'OTEL_EXPORTER_OTLP_ENDPOINT', problems);
    if (base) url = `${base.href.replace(/\/+$/, '')}/v1/traces`;
  }
  for (const variable of ['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', 'OTEL_EXPORTER_OTLP_PROTOCOL']) {
    const protocol = env[variable]?.trim();
    if (protocol && protocol !== 'http/json') {
      problems.push({ key: variable, value: protocol, expected: 'http/json (logstack exports OTLP over HTTP with JSON bodies; unset it or set http/json)' });
    }
  }
  const headers = {
    ...parseHeaders(env['OTEL_EXPORTER_OTLP_HEADERS'], 'OTEL_EXPORTER_OTLP_HEADERS', problems),
    ...parseHeaders(env['OTEL_EXPORTER_OTLP_TRACES_HEADERS'], 'OTEL_EXPORTER_OTLP_TRACES_HEADERS', problems),
  };
  const serviceName = env['OTEL_SERVICE_NAME']?.trim() || defaultServiceName;
  if (problems.length > 0 || url === undefined) return { problems };
  return { settings: { url, headers, serviceName }, problems };
}
