/**
 * OpenTelemetry traces, decoded from a local OTLP/HTTP JSON receiver this test starts: the product's worker
 * options (real workflow bundle with its interceptor modules, activity doubles) on the time-skipping test server,
 * and the `logstack` CLI in-process starting a rollout with `OTEL_EXPORTER_OTLP_ENDPOINT` set. One trace: the CLI's
 * `StartWorkflow` span, the run's `RunWorkflow` span under it with environment, revision and workflow type, and for
 * every activity the run called a `StartActivity` span under the run and a `RunActivity` span under that.
 * Then: with the variable unset, no OpenTelemetry module is loaded by the worker or the CLI (checked in a child
 * process with module hooks, against a control that turns tracing on); a wrong protocol is refused at start.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { runCli } from '../../client/cli.ts';
import type { CliIo } from '../../client/context.ts';
import { ConfigError, loadWorkerConfig, resolveTracing } from '../../config/index.ts';
import { SearchAttributeNames } from '../../domain/index.ts';
import { lazyActivities } from '../../worker/lazy-activities.ts';
import { workerOptions } from '../../worker/run.ts';
import { NO_TRACING, workerTracing, type WorkerTracing } from '../../worker/tracing.ts';
import { createActivityDoubles, DoubleWorld } from '../workflows/doubles.ts';
import { REV } from '../workflows/fixtures.ts';
import { installTestRuntime, testServerPath } from '../workflows/harness.ts';
import { startReceiver, until } from '../support/otlp-receiver.ts';

/** The worker's own variables a configuration needs, for a test (no key here signs anything real). */
const workerEnv = (extra: Record<string, string>): Record<string, string> => ({
  LOGSTACK_CATALOG: fileURLToPath(new URL('../../gitops/environments.yaml', import.meta.url)),
  LOGSTACK_STATE_KEYS: `t1:${Buffer.alloc(32, 7).toString('base64')}`,
  LOGSTACK_EVIDENCE_KEY: '11'.repeat(32),
  ...extra,
});

describe('OpenTelemetry traces of a rollout started by the CLI', () => {
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let env: TestWorkflowEnvironment;
  let worker: Worker;
  let running: Promise<void>;
  let tracing: WorkerTracing;
  const world = new DoubleWorld();
  const taskQueue = 'tracing-test';

  before(async () => {
    installTestRuntime();
    receiver = await startReceiver();
    env = await TestWorkflowEnvironment.createTimeSkipping({
      server: { executable: { type: 'existing-path', path: testServerPath() } },
    });
    await env.connection.operatorService.addSearchAttributes({
      namespace: env.namespace ?? 'default',
      searchAttributes: { [SearchAttributeNames.environment]: 2, [SearchAttributeNames.revision]: 2 },
    });
    const config = loadWorkerConfig(
      workerEnv({
        TEMPORAL_ADDRESS: env.address,
        LOGSTACK_TASK_QUEUE: taskQueue,
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      }),
    );
    assert.equal(config.tracing?.url, `${receiver.url}/v1/traces`);
    tracing = await workerTracing(config.tracing);
    const doubles = lazyActivities(() => Promise.resolve(createActivityDoubles(world)));
    worker = await Worker.create(workerOptions(config, env.nativeConnection, doubles, tracing));
    running = worker.run();
  });

  after(async () => {
    worker.shutdown();
    await running;
    await tracing.shutdown();
    await env.teardown();
    receiver.server.close();
  });

  it('exports one trace: the CLI start, the run with environment, revision and type, and every activity under it', async () => {
    world.verified('dev', REV.v1);
    let out = '';
    let err = '';
    const io: CliIo = {
      out: (t) => void (out += t),
      err: (t) => void (err += t),
      isTTY: false,
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' },
    };
    const code = await runCli(
      [
        'rollout',
        'dev',
        '--revision',
        'v2.0.0',
        '--wait',
        '-o',
        'json',
        '--address',
        env.address,
        '--task-queue',
        taskQueue,
      ],
      io,
    );
    assert.equal(code, 0, `${out}\n${err}`);
    const started = JSON.parse(out.split('\n')[0] ?? '{}') as { workflowId: string; runId: string };
    const activities = world.calls.filter((c) => c.workflowId === started.workflowId).map((c) => c.name);
    assert.ok(activities.length >= 5, `the rollout ran its activities: ${activities.join(', ')}`);

    const cliSpan = await until('the CLI span', () =>
      receiver.spans.find((s) => s.name === 'StartWorkflow:rolloutEnvironment'),
    );
    assert.equal(cliSpan.service, 'logstack-cli');
    const run = await until('the run span', () =>
      receiver.spans.find((s) => s.name === 'RunWorkflow:rolloutEnvironment' && s.traceId === cliSpan.traceId),
    );
    const inTrace = await until('a span for every activity', () => {
      const spans = receiver.spans.filter((s) => s.traceId === cliSpan.traceId);
      return spans.filter((s) => s.name.startsWith('RunActivity:')).length >= activities.length ? spans : undefined;
    });
    assert.equal(run.service, 'logstack-worker');
    assert.equal(run.parentSpanId, cliSpan.spanId, "the run's span is a child of the CLI's start");
    assert.equal(run.attributes['logstack.environment'], 'dev');
    assert.equal(run.attributes['logstack.revision'], REV.v2, 'the revision the run resolved (v2.0.0 → its commit)');
    assert.equal(run.attributes['temporal.workflow.type'], 'rolloutEnvironment');
    assert.equal(run.attributes['run_id'] ?? run.attributes['runId'], started.runId);

    // Every activity call: StartActivity under the run, RunActivity under that, with the activity's attributes.
    const starts = inTrace.filter((s) => s.name.startsWith('StartActivity:'));
    const runs = inTrace.filter((s) => s.name.startsWith('RunActivity:'));
    assert.deepEqual(runs.map((s) => s.name.slice('RunActivity:'.length)).sort(), [...activities].sort());
    for (const activity of runs) {
      const parent = starts.find((s) => s.spanId === activity.parentSpanId);
      assert.ok(parent, `${activity.name} has its StartActivity span`);
      assert.equal(parent.name, `StartActivity:${activity.name.slice('RunActivity:'.length)}`);
      assert.equal(parent.parentSpanId, run.spanId, `${parent.name} is under the run's span`);
      assert.equal(activity.service, 'logstack-worker');
      assert.equal(activity.attributes['temporal.workflow.type'], 'rolloutEnvironment');
      assert.equal(activity.attributes['temporal.activity.type'], activity.name.slice('RunActivity:'.length));
    }
    const apply = runs.find((s) => s.name === 'RunActivity:applyOverlay');
    assert.equal(apply?.attributes['logstack.environment'], 'dev');
    assert.equal(apply?.attributes['logstack.revision'], REV.v2);
    // Only this run's spans share the trace, and the CLI's queries while following it were not traced.
    assert.deepEqual(new Set(inTrace.map((s) => s.service)), new Set(['logstack-cli', 'logstack-worker']));
    assert.equal(
      receiver.spans.filter((s) => s.name.startsWith('QueryWorkflow') || s.name.startsWith('HandleQuery')).length,
      0,
    );
    assert.ok(
      receiver.contentTypes.every((t) => t.startsWith('application/json')),
      receiver.contentTypes.join(', '),
    );
  });

  it('writes the trace header into history only for runs started with a trace: a client that does not trace leaves none', async () => {
    world.verified('dev', REV.v1);
    const headerEvents = async (workflowId: string): Promise<number> => {
      const events = (await env.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
      return events.filter((e) => {
        const header =
          e.activityTaskScheduledEventAttributes?.header ??
          e.signalExternalWorkflowExecutionInitiatedEventAttributes?.header ??
          e.workflowExecutionStartedEventAttributes?.header;
        return header?.fields?.['_tracer-data'] !== undefined;
      }).length;
    };
    // Started by a client without tracing (as by the drift Schedule or the Temporal CLI): no header anywhere.
    const plain = await env.client.workflow.start('rolloutEnvironment', {
      taskQueue,
      workflowId: `untraced-${Date.now()}`,
      args: [{ environment: 'dev', revision: REV.v2 }],
    });
    await plain.result();
    assert.equal(await headerEvents(plain.workflowId), 0, 'no trace header in the history of an untraced run');
    // Started by the tracing CLI: the start and every scheduled activity carry it (the control).
    let out = '';
    const io: CliIo = {
      out: (t) => void (out += t),
      err: () => undefined,
      isTTY: false,
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' },
    };
    assert.equal(
      await runCli(
        [
          'rollout',
          'dev',
          '--revision',
          'v2.0.0',
          '--wait',
          '-o',
          'json',
          '--address',
          env.address,
          '--task-queue',
          taskQueue,
        ],
        io,
      ),
      0,
      out,
    );
    const traced = (JSON.parse(out.split('\n')[0] ?? '{}') as { workflowId: string }).workflowId;
    assert.ok((await headerEvents(traced)) >= 5, 'the traced run carries its context to its activities');
  });
});

describe('tracing off, and wrong tracing variables', () => {
  const repo = fileURLToPath(new URL('../../', import.meta.url));
  /** Imports the worker and the CLI in a fresh Node (module hooks record every module loaded) and builds the worker's tracing. */
  const loadedOtelModules = (endpoint: string | undefined): string[] => {
    const script = `
      import { registerHooks } from 'node:module';
      const seen = [];
      registerHooks({ resolve(specifier, context, next) { const r = next(specifier, context); if (/opentelemetry/.test(r.url)) seen.push(r.url); return r; } });
      const { workerTracing } = await import('./worker/tracing.ts');
      await import('./worker/run.ts');
      await import('./client/cli.ts');
      const { resolveTracing } = await import('./config/index.ts');
      const tracing = await workerTracing(resolveTracing(process.env, 'logstack-worker').settings);
      await tracing.shutdown();
      process.stdout.write(JSON.stringify(seen));`;
    const childEnv: NodeJS.ProcessEnv = { ...process.env };
    delete childEnv['OTEL_EXPORTER_OTLP_ENDPOINT'];
    delete childEnv['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'];
    if (endpoint !== undefined) childEnv['OTEL_EXPORTER_OTLP_ENDPOINT'] = endpoint;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: repo,
      env: childEnv,
      encoding: 'utf8',
    });
    return JSON.parse(out) as string[];
  };

  it('loads no OpenTelemetry module without OTEL_EXPORTER_OTLP_ENDPOINT, and loads them with it (control)', () => {
    assert.deepEqual(loadedOtelModules(undefined), []);
    const on = loadedOtelModules('http://127.0.0.1:9');
    assert.ok(
      on.some((u) => u.includes('@opentelemetry/exporter-trace-otlp-http')),
      on.join('\n'),
    );
    assert.ok(
      on.some((u) => u.includes('@temporalio/interceptors-opentelemetry')),
      on.join('\n'),
    );
  });

  it('is off and registers only the no-op span sink when the endpoint is unset or OTEL_SDK_DISABLED=true', async () => {
    assert.equal(resolveTracing({}, 'x').settings, undefined);
    assert.equal(
      resolveTracing({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_SDK_DISABLED: 'true' }, 'x').settings,
      undefined,
    );
    assert.equal(await workerTracing(undefined), NO_TRACING);
    assert.deepEqual(NO_TRACING.activityInterceptors, []);
    assert.equal(typeof NO_TRACING.sinks['exporter']?.['export']?.fn, 'function');
  });

  it('reads the traces endpoint, headers and service name the OpenTelemetry way', () => {
    const { settings } = resolveTracing(
      {
        OTEL_EXPORTER_OTLP_ENDPOINT: 'https://otel.example:4318/',
        OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%20abc,x-tenant=ops',
        OTEL_SERVICE_NAME: 'logstack-prod',
      },
      'logstack-worker',
    );
    assert.deepEqual(settings, {
      url: 'https://otel.example:4318/v1/traces',
      headers: { authorization: 'Bearer abc', 'x-tenant': 'ops' },
      serviceName: 'logstack-prod',
    });
    assert.equal(
      resolveTracing(
        { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a:1', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://b:2/custom' },
        'w',
      ).settings?.url,
      'http://b:2/custom',
    );
  });

  it('refuses at start a protocol other than http/json, a URL that is not http(s), malformed headers (their value hidden)', async () => {
    assert.throws(
      () =>
        loadWorkerConfig(
          workerEnv({
            OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318',
            OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
          }),
        ),
      (error: unknown) =>
        error instanceof ConfigError && /OTEL_EXPORTER_OTLP_PROTOCOL="http\/protobuf": http\/json/.test(error.message),
    );
    assert.throws(
      () => loadWorkerConfig(workerEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'grpc://127.0.0.1:4317' })),
      (error: unknown) =>
        error instanceof ConfigError &&
        /OTEL_EXPORTER_OTLP_ENDPOINT="grpc:\/\/127\.0\.0\.1:4317": an http:\/\/ or https:\/\/ URL/.test(error.message),
    );
    const headers = resolveTracing(
      { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a:1', OTEL_EXPORTER_OTLP_HEADERS: 'secret-token-without-key' },
      'w',
    );
    assert.equal(headers.settings, undefined);
    assert.deepEqual(
      headers.problems.map((p) => [p.key, p.value]),
      [['OTEL_EXPORTER_OTLP_HEADERS', '***']],
    );
    let err = '';
    const io: CliIo = {
      out: () => undefined,
      err: (t) => void (err += t),
      isTTY: false,
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' },
    };
    assert.equal(await runCli(['status', '--address', '127.0.0.1:9'], io), 2, err);
    assert.match(err, /OTEL_EXPORTER_OTLP_PROTOCOL="grpc"/);
  });
});
