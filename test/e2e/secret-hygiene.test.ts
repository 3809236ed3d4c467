/**
 * Secret hygiene on the sandbox's real parts: after a real bootstrap, the Loki access key secret that
 * the activities created in Secrets Manager (moto) appears in no workflow history of the run (payloads
 * decoded), and nowhere in the GitOps remote's history. Statuses of OLM, the Loki Operator and the
 * Cluster Logging Operator are written by the sandbox stand-ins.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { startE2E, type E2E } from './harness.ts';

const execFileAsync = promisify(execFile);

/** Every string and every byte array (decoded as UTF-8: payload data) anywhere in a history object. */
function textOf(value: unknown, out: string[] = []): string {
  if (typeof value === 'string') out.push(value);
  else if (value instanceof Uint8Array) out.push(Buffer.from(value).toString('utf8'));
  else if (Array.isArray(value)) for (const item of value) textOf(item, out);
  else if (value && typeof value === 'object') for (const item of Object.values(value)) textOf(item, out);
  return out.join('\n');
}

describe('secret hygiene on the sandbox (controller statuses written by stand-ins)', { concurrency: false }, () => {
  let e2e: E2E;
  let secretValues: string[] = [];

  before(async () => {
    e2e = await startE2E();
    const run = await e2e.cli('bootstrap', 'dev', '--wait');
    assert.equal(run.code, 0, run.err + run.out);
    const sm = new SecretsManagerClient({
      endpoint: e2e.sandbox.aws.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    });
    const { SecretString } = await sm.send(new GetSecretValueCommand({ SecretId: 'logstack/dev/loki-s3' }));
    const loki = JSON.parse(SecretString ?? '{}') as Record<string, string>;
    secretValues = [loki['access_key_secret'] ?? ''].filter((v) => v.length >= 16);
    assert.equal(secretValues.length, 1, 'the static-mode Loki secret holds an access key secret to look for');
  });
  after(async () => {
    await e2e?.stop();
  });

  it('no workflow history of the run holds the access key secret, even with payloads decoded', async () => {
    let histories = 0;
    let payloadsReadable = false;
    for await (const execution of e2e.client.workflow.list({ query: `TaskQueue = "${e2e.taskQueue}"` })) {
      const history = await e2e.client.workflow.getHandle(execution.workflowId, execution.runId).fetchHistory();
      const text = textOf(history);
      for (const secret of secretValues) assert.ok(!text.includes(secret), `history of ${execution.workflowId} holds a secret value`);
      if (text.includes('logstack-dev-loki')) payloadsReadable = true;
      histories++;
    }
    assert.ok(histories >= 2, `scanned ${histories} histories (bootstrap and lock at least)`);
    assert.ok(payloadsReadable, 'the scan reads payloads: the bucket name in activity inputs was found');
  });

  it('the GitOps remote holds the access key secret in no commit', async () => {
    const { stdout } = await execFileAsync('git', ['--git-dir', e2e.sandbox.git.remote, 'log', '--all', '-p', '--format=%H %s'], { maxBuffer: 256 * 1024 * 1024 });
    assert.ok(stdout.length > 0, 'the remote has history to scan');
    for (const secret of secretValues) assert.ok(!stdout.includes(secret), 'a secret value was committed to Git');
  });
});
