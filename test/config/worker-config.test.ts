/** Worker configuration: every wrong variable is reported at start, each on its own line, named with its value and what is expected. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { ConfigError, loadWorkerConfig } from '../../config/index.ts';

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
      configError({ LOGSTACK_SHUTDOWN_GRACE_SECONDS: '-1', LOGSTACK_MAX_CONCURRENT_ACTIVITIES: 'many' }),
    );
    assert.equal(lines.length, 2, lines.join('\n'));
    assert.match(lines[0] ?? '', /^- LOGSTACK_MAX_CONCURRENT_ACTIVITIES="many": /);
    assert.match(lines[1] ?? '', /^- LOGSTACK_SHUTDOWN_GRACE_SECONDS="-1": .*0/);
  });

  it('asks for both halves of an mTLS pair, and for both halves of Worker Versioning', () => {
    const lines = problems(configError({ TEMPORAL_TLS_CERT: '/dev/null', LOGSTACK_BUILD_ID: 'b1' }));
    assert.equal(lines.length, 2, lines.join('\n'));
    assert.match(lines[0] ?? '', /^- TEMPORAL_TLS_CLIENT_KEY_PATH \(unset\): both halves of the mTLS pair: .*TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY/);
    assert.match(lines[1] ?? '', /^- LOGSTACK_DEPLOYMENT_NAME \(unset\): set with its pair/);
  });

  it('names the default it used when the default itself is wrong', () => {
    // From a folder without gitops/, the default catalog path is wrong and is named as the default.
    const cwd = process.cwd();
    process.chdir(tmpdir());
    try {
      assert.deepEqual(problems(configError({})), ['- LOGSTACK_CATALOG (unset; default "gitops/environments.yaml"): catalog file does not exist']);
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
    });
    assert.equal(config.temporal.address, 'temporal.internal:7233');
    assert.equal(config.logLevel, 'DEBUG');
    assert.equal(config.shutdownGraceSeconds, 5);
    assert.deepEqual(config.versioning, { deploymentName: 'logstack', buildId: 'b1' });
    assert.equal(config.temporal.namespace, 'platform');
    assert.equal(config.kubectlPath, 'kubectl');
    assert.equal(config.workflowBundle, undefined);
  });
});
