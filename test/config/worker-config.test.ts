/** Worker configuration: every wrong variable is reported at start, each on its own line, named with its value and what is expected. */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadWorkerConfig, untracedBundlePath } from '../../config/index.ts';

/** The message `loadWorkerConfig` throws for `env`. */
function configError(env: NodeJS.ProcessEnv): string {
  try {
    loadWorkerConfig(env);
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.message;
  }
  assert.fail('the configuration was accepted');
}

/** A valid `LOGSTACK_STATE_KEYS` and `LOGSTACK_EVIDENCE_KEY`, so each test sees only the problems it is about. */
const KEYS = { LOGSTACK_STATE_KEYS: `k1:${btoa('k'.repeat(32))}`, LOGSTACK_EVIDENCE_KEY: 'e'.repeat(64) };

/** The lines between the heading and the list of variables. */
const problems = (message: string): string[] =>
  message
    .split('\n')
    .slice(1, message.split('\n').indexOf('Variables:'))
    .map((l) => l.trim());

describe('worker configuration', () => {
  it('reports a bad TEMPORAL_ADDRESS, a bad LOGSTACK_LOG_LEVEL and a missing catalog, one line each', () => {
    const message = configError({
      TEMPORAL_ADDRESS: 'temporal.internal',
      LOGSTACK_LOG_LEVEL: 'loud',
      LOGSTACK_CATALOG: '/nonexistent/environments.yaml',
      KUBECONFIG: '/dev/null',
      LOGSTACK_KUBECTL: 'kubectl',
      ...KEYS,
    });
    assert.match(message, /^invalid configuration; fix these values:/);
    const lines = problems(message);
    assert.equal(lines.length, 3, message);
    assert.ok(lines.includes('- TEMPORAL_ADDRESS="temporal.internal": host:port, e.g. localhost:7233'), message);
    assert.ok(
      lines.includes('- LOGSTACK_CATALOG="/nonexistent/environments.yaml": catalog file does not exist'),
      message,
    );
    const level = lines.find((l) => l.startsWith('- LOGSTACK_LOG_LEVEL="loud":'));
    assert.ok(level, message);
    for (const expected of ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR']) assert.ok(level.includes(expected), level);
    // The list of variables follows, so the fix is at hand.
    assert.match(message, /\n {2}TEMPORAL_ADDRESS {2}Temporal frontend host:port/);
  });

  it('reports numbers out of range with the variable that holds them', () => {
    const lines = problems(
      configError({ LOGSTACK_SHUTDOWN_GRACE_SECONDS: '-1', LOGSTACK_MAX_CONCURRENT_ACTIVITIES: 'many', ...KEYS }),
    );
    assert.equal(lines.length, 2, lines.join('\n'));
    assert.match(lines[0] ?? '', /^- LOGSTACK_MAX_CONCURRENT_ACTIVITIES="many": /);
    assert.match(lines[1] ?? '', /^- LOGSTACK_SHUTDOWN_GRACE_SECONDS="-1": .*0/);
  });

  it('asks for both halves of an mTLS pair, and for both halves of Worker Versioning', () => {
    const lines = problems(configError({ TEMPORAL_TLS_CERT: '/dev/null', LOGSTACK_BUILD_ID: 'b1', ...KEYS }));
    assert.equal(lines.length, 2, lines.join('\n'));
    assert.match(lines[0] ?? '', /^- TEMPORAL_TLS_CLIENT_KEY_PATH \(unset\): both halves of the mTLS pair: .*TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY/);
    assert.match(lines[1] ?? '', /^- LOGSTACK_DEPLOYMENT_NAME \(unset\): set with its pair/);
  });

  it('names the default it used when the default itself is wrong', () => {
    // From a folder without gitops/, the default catalog path is wrong and is named as the default.
    const cwd = process.cwd();
    process.chdir(tmpdir());
    try {
      assert.deepEqual(problems(configError(KEYS)), ['- LOGSTACK_CATALOG (unset; default "gitops/environments.yaml"): catalog file does not exist']);
    } finally {
      process.chdir(cwd);
    }
  });

  it('accepts a valid configuration', () => {
    const config = loadWorkerConfig({
      TEMPORAL_ADDRESS: 'temporal.internal:7233',
      TEMPORAL_NAMESPACE: 'platform',
      LOGSTACK_TASK_QUEUE: 'logstack',
      LOGSTACK_CATALOG: 'gitops/environments.yaml',
      LOGSTACK_LOG_LEVEL: 'debug',
      LOGSTACK_SHUTDOWN_GRACE_SECONDS: '5',
      LOGSTACK_DEPLOYMENT_NAME: 'logstack',
      LOGSTACK_BUILD_ID: 'b1',
      LOGSTACK_STATE_KEYS: `new:${btoa('n'.repeat(32))}, old:${btoa('o'.repeat(48))}`,
      LOGSTACK_EVIDENCE_KEY: 'e'.repeat(64),
    });
    assert.deepEqual(
      config.stateKeys.map((k) => [k.id, k.key.length]),
      [
        ['new', 32],
        ['old', 48],
      ],
      'the first key signs; every key verifies',
    );
    assert.equal(config.temporal.address, 'temporal.internal:7233');
    assert.equal(config.logLevel, 'DEBUG');
    assert.equal(config.shutdownGraceSeconds, 5);
    assert.deepEqual(config.versioning, { deploymentName: 'logstack', buildId: 'b1' });
    assert.equal(config.temporal.namespace, 'platform');
    assert.equal(config.kubectlPath, 'kubectl');
    assert.equal(config.workflowBundle, undefined);
  });

  it('refuses to start without LOGSTACK_STATE_KEYS: promotion trusts the records they sign', () => {
    const lines = problems(configError({ LOGSTACK_CATALOG: 'gitops/environments.yaml', LOGSTACK_EVIDENCE_KEY: KEYS.LOGSTACK_EVIDENCE_KEY }));
    assert.equal(lines.length, 1, lines.join('\n'));
    assert.match(lines[0] ?? '', /^- LOGSTACK_STATE_KEYS \(unset\): required: HMAC keys "id:base64key,…" .*openssl rand -base64 32/);
  });

  it('reports each wrong LOGSTACK_STATE_KEYS entry on its own line, without printing key material', () => {
    const short = btoa('s'.repeat(16));
    const good = btoa('g'.repeat(32));
    const message = configError({ LOGSTACK_CATALOG: 'gitops/environments.yaml', LOGSTACK_EVIDENCE_KEY: KEYS.LOGSTACK_EVIDENCE_KEY, LOGSTACK_STATE_KEYS: `short:${short},nocolon,bad:***,dup:${good},dup:${good}` });
    const lines = problems(message);
    assert.equal(lines.length, 4, message);
    for (const line of lines) assert.match(line, /^- LOGSTACK_STATE_KEYS="short:\*\*\*,\*\*\*,bad:\*\*\*,dup:\*\*\*,dup:\*\*\*": /, line);
    assert.match(lines[0] ?? '', /key "short" is 16 bytes; at least 32 are needed/);
    assert.match(lines[1] ?? '', /entry 2 must look like id:base64key/);
    assert.match(lines[2] ?? '', /key "bad" is not base64/);
    assert.match(lines[3] ?? '', /key id "dup" is listed twice/);
    assert.ok(!message.includes(short) && !message.includes(good), 'no key material in the message');
  });

  describe('the prebuilt bundle: the untraced twin unless the worker traces', () => {
    const dir = mkdtempSync(join(tmpdir(), 'logstack-bundle-config-'));
    const traced = join(dir, 'workflow-bundle.js');
    const alone = join(dir, 'alone.js');
    for (const file of [traced, untracedBundlePath(traced), alone]) writeFileSync(file, '// bundle\n');
    const env = (bundle: string, tracing: boolean): NodeJS.ProcessEnv => ({
      LOGSTACK_CATALOG: 'gitops/environments.yaml',
      LOGSTACK_WORKFLOW_BUNDLE: bundle,
      ...(tracing ? { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' } : {}),
      ...KEYS,
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    it('names the twin next to the bundle', () => {
      assert.equal(untracedBundlePath('dist/workflow-bundle.js'), 'dist/workflow-bundle.untraced.js');
      assert.equal(untracedBundlePath('/srv/bundle'), '/srv/bundle.untraced.js');
    });

    it('tracing off: loads the untraced twin when it is there, else the bundle named', () => {
      assert.equal(loadWorkerConfig(env(traced, false)).workflowBundle, join(dir, 'workflow-bundle.untraced.js'));
      assert.equal(loadWorkerConfig(env(alone, false)).workflowBundle, alone);
    });

    it('tracing on: loads the bundle named, and refuses an untraced one with the traced bundle to name instead', () => {
      assert.equal(loadWorkerConfig(env(traced, true)).workflowBundle, traced);
      const lines = problems(configError(env(untracedBundlePath(traced), true)));
      assert.deepEqual(lines, [
        `- LOGSTACK_WORKFLOW_BUNDLE="${untracedBundlePath(traced)}": tracing is on (OTEL_EXPORTER_OTLP_ENDPOINT) and this bundle has no tracing interceptors: name the traced bundle next to it (${traced}), or unset OTEL_EXPORTER_OTLP_ENDPOINT`,
      ]);
    });
  });
});
