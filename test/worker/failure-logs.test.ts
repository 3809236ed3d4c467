/**
 * The worker's JSON log of failures, end to end: the real worker process (`node worker/main.ts`, bundling on
 * the fly, then with a bundle prebuilt by `writeWorkflowBundles` as the image does) with its real activities,
 * against the time-skipping test server. Its catalog is not valid YAML, so the catalog activity fails
 * non-retryably (`InvalidInput`, the path as a detail) and the workflow ends with that failure lifted over
 * an `ActivityFailure`; a bad input is refused before any activity. Each "Workflow failed" line must carry
 * the failure's name, type, message, non-retryable flag and cause chain, and never its details.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { FailureType, WorkflowTypes, type LoggedFailure } from '../../domain/index.ts';
import { writeWorkflowBundles } from '../../worker/bundle.ts';
import { startWorkerProcess, type WorkerProcess } from '../support/processes.ts';
import { testServerPath } from '../workflows/harness.ts';

type LogLine = Record<string, unknown> & { message: string; level: string; error?: LoggedFailure };

/** Keys that would carry a failure's data or encoded payloads; none may appear anywhere in a line. */
const PAYLOAD_KEYS = ['details', 'lastHeartbeatDetails', 'failure', 'encodedAttributes', 'payloads', 'path'];

function jsonLines(output: string): LogLine[] {
  return output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as LogLine];
      } catch {
        return [];
      }
    });
}

/** The worker's lines with `message` about `workflowId`, once at least one has been written. */
async function linesAbout(worker: WorkerProcess, workflowId: string, message: string): Promise<LogLine[]> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const lines = jsonLines(worker.output()).filter((l) => l.message === message && l['workflowId'] === workflowId);
    if (lines.length > 0) return lines;
    if (Date.now() > deadline)
      throw new Error(`no "${message}" line for ${workflowId}:\n${worker.output().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function keysOf(value: unknown, into: string[] = []): string[] {
  if (typeof value !== 'object' || value === null) return into;
  for (const [key, inner] of Object.entries(value)) {
    into.push(key);
    keysOf(inner, into);
  }
  return into;
}

function assertNoPayload(line: LogLine): void {
  const found = keysOf(line).filter((key) => PAYLOAD_KEYS.includes(key));
  assert.deepEqual(found, [], `payload-bearing keys in ${JSON.stringify(line)}`);
}

/** Runs `workflowType` with `input` and returns the failure it ended with. */
async function failureOf(
  env: TestWorkflowEnvironment,
  taskQueue: string,
  workflowId: string,
  input: unknown,
): Promise<WorkflowFailedError> {
  try {
    await env.client.workflow.execute(WorkflowTypes.bootstrapEnvironment, { taskQueue, workflowId, args: [input] });
  } catch (error) {
    assert.ok(error instanceof WorkflowFailedError, String(error));
    return error;
  }
  throw new Error(`${workflowId} completed; it should have failed`);
}

describe('worker logs: failures as JSON lines', { timeout: 240_000 }, () => {
  let env: TestWorkflowEnvironment;
  let dir: string;
  let catalog: string;
  let bundle: string;

  before(async () => {
    env = await TestWorkflowEnvironment.createTimeSkipping({
      server: { executable: { type: 'existing-path', path: testServerPath() } },
    });
    dir = mkdtempSync(join(tmpdir(), 'logstack-failure-logs-'));
    catalog = join(dir, 'environments.yaml');
    writeFileSync(catalog, 'environments: [dev\n  gitops: {\n');
    bundle = join(dir, 'workflow-bundle.js');
    await writeWorkflowBundles(bundle, new DefaultLogger('WARN'));
  });

  after(async () => {
    await env?.teardown();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('the build writes both bundles: the traced one with the OpenTelemetry modules and its run span, the untraced one without', () => {
    const traced = readFileSync(bundle, 'utf8');
    const untraced = readFileSync(join(dir, 'workflow-bundle.untraced.js'), 'utf8');
    for (const [code, has] of [[traced, true], [untraced, false]] as const) {
      assert.equal(code.includes('node_modules/@opentelemetry/'), has);
      assert.equal(code.includes('RunWorkflow'), has);
      assert.ok(code.includes('workflows/failure-logging.ts'), 'both describe failures for the logs');
    }
    assert.ok(untraced.length < traced.length * 0.85, `untraced ${untraced.length} bytes, traced ${traced.length}`);
  });

  for (const mode of ['on-the-fly bundle', 'prebuilt bundle'] as const) {
    describe(mode, () => {
      const taskQueue = `failure-logs-${mode.split(' ')[0]}-${process.pid}`;
      let worker: WorkerProcess;

      before(async () => {
        worker = startWorkerProcess({
          taskQueue,
          env: {
            TEMPORAL_ADDRESS: env.address,
            TEMPORAL_NAMESPACE: env.namespace ?? 'default',
            LOGSTACK_CATALOG: catalog,
            ...(mode === 'prebuilt bundle' ? { LOGSTACK_WORKFLOW_BUNDLE: bundle } : {}),
          },
        });
        await worker.running;
      });

      after(async () => {
        if (worker && worker.child.exitCode === null && worker.child.signalCode === null) {
          worker.child.kill('SIGTERM');
          await worker.exited;
        }
      });

      it('the worker names the bundle it runs: with tracing off, the untraced twin of the prebuilt bundle', () => {
        const [start] = jsonLines(worker.output()).filter((l) => l.message === 'logstack worker started');
        assert.ok(start, `no start line:\n${worker.output().slice(-3000)}`);
        const expected = mode === 'prebuilt bundle' ? `prebuilt ${join(dir, 'workflow-bundle.untraced.js')}, untraced` : 'on-the-fly, untraced';
        assert.equal(start['bundle'], expected);
      });

      it('an activity failure lifted by the workflow: type, message, non-retryable flag and the cause chain, no details', async () => {
        const workflowId = `${taskQueue}-catalog`;
        const failed = await failureOf(env, taskQueue, workflowId, { environment: 'dev' });
        const top = failed.cause as { type?: string; message: string; details?: unknown[] };
        assert.equal(top.type, FailureType.InvalidInput);
        assert.deepEqual(top.details, [{ path: catalog }], 'the failure in history carries the path as a detail');

        const lines = await linesAbout(worker, workflowId, 'Workflow failed');
        assert.equal(lines.length, 1, 'one line per failed workflow');
        const [line] = lines as [LogLine];
        assert.equal(line.level, 'warn');
        const error = line.error;
        assert.ok(error, JSON.stringify(line));
        assert.equal(error.name, 'ApplicationFailure');
        assert.equal(error.type, FailureType.InvalidInput);
        assert.equal(error.message, top.message);
        assert.match(error.message, /is not valid YAML/);
        assert.equal(error.nonRetryable, true);
        assert.equal(error.cause?.name, 'ActivityFailure');
        assert.equal(error.cause.activityType, 'loadCatalog');
        assert.equal(error.cause.retryState, 'NON_RETRYABLE_FAILURE');
        assert.equal(error.cause.cause?.name, 'ApplicationFailure');
        assert.equal(error.cause.cause.type, FailureType.InvalidInput);
        assert.equal(error.cause.cause.nonRetryable, true);
        assert.equal(error.cause.cause.message, top.message);
        assert.equal(error.cause.cause.cause, undefined);
        assertNoPayload(line);

        // The same failure as the activity threw it, logged by the activity worker (not cloned out of a sandbox).
        const [activityLine] = (await linesAbout(worker, workflowId, 'Activity failed')) as [LogLine];
        assert.equal(activityLine.error?.name, 'ApplicationFailure');
        assert.equal(activityLine.error.type, FailureType.InvalidInput);
        assert.equal(activityLine.error.nonRetryable, true);
        assert.equal(activityLine.error.message, top.message);
        assertNoPayload(activityLine);
      });

      it('a refused bad input: type, message and non-retryable flag, no cause', async () => {
        const workflowId = `${taskQueue}-bad-input`;
        const failed = await failureOf(env, taskQueue, workflowId, { environment: 42 });
        const top = failed.cause as { type?: string; message: string };
        assert.equal(top.type, FailureType.InvalidInput);

        const lines = await linesAbout(worker, workflowId, 'Workflow failed');
        assert.equal(lines.length, 1, 'one line per failed workflow');
        const [line] = lines as [LogLine];
        assert.deepEqual(line.error, {
          name: 'ApplicationFailure',
          message: top.message,
          type: FailureType.InvalidInput,
          nonRetryable: true,
        });
        assert.match(top.message, /input is invalid/);
        assertNoPayload(line);
      });
    });
  }
});
