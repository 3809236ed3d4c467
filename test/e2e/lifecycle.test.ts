/**
 * End to end on the sandbox's real parts: bootstrap three environments, roll a pushed change
 * dev → staging → production with production started and approved through the Temporal CLI binary
 * (four-eyes enforced), then a failed gate rolls back to the previous verified revision.
 * Statuses of OLM, the Loki Operator and the Cluster Logging Operator are written by the sandbox
 * stand-ins in those controllers' place. The whole file runs once per worker of `E2E_WORKERS`: in this process on
 * Node, then a worker process on Deno as `deno task worker` starts it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Scalar } from 'yaml';
import { progressQuery } from '../../workflows/messages.ts';
import type { PromoteResult, RolloutResult } from '../../domain/index.ts';
import { E2E_WORKERS, startE2E, type E2E } from './harness.ts';

const LOKISTACK = 'gitops/base/loki-stack/lokistack.yaml';

for (const worker of E2E_WORKERS) {
  describe(`e2e on the sandbox, worker ${worker} (controller statuses written by stand-ins)`, { concurrency: false }, () => {
    let e2e: E2E;
    let changed = '';

    before(async () => {
      e2e = await startE2E({ worker });
    });
    after(async () => {
      await e2e?.stop();
    });

    it('bootstraps dev, staging and production through the CLI', async () => {
      const runs = await Promise.all(['dev', 'staging', 'production'].map((env) => e2e.cli('bootstrap', env, '--wait', '--output', 'json')));
      for (const run of runs) assert.equal(run.code, 0, run.err + run.out);
      for (const env of ['dev', 'staging', 'production']) {
        const state = await e2e.deployedState(env);
        assert.equal(state['verified'], 'true', `${env} recorded verified`);
      }
    });

    it('rolls a pushed change out to dev and promotes it to staging', async () => {
      changed = await e2e.pushEdit(LOKISTACK, (doc) => doc.setIn(['metadata', 'annotations', 'logstack.io/change'], `e2e change (${worker} worker)`), `Annotate the LokiStack (${worker} worker)`);
      const rollout = await e2e.cli('rollout', 'dev', '--revision', changed, '--wait');
      assert.equal(rollout.code, 0, rollout.err + rollout.out);
      const promote = await e2e.cli('promote', '--from', 'dev', '--to', 'staging', '--requested-by', 'carol', '--wait');
      assert.equal(promote.code, 0, promote.err + promote.out);
      assert.equal((await e2e.deployedState('staging'))['revision'], changed);
    });

    it('starts the production promotion with the Temporal CLI, refuses self-approval, and completes on a second approver', async () => {
      const workflowId = 'promote-production';
      const start = await e2e.temporal(
        'workflow', 'start', '--type', 'promoteEnvironment', '--task-queue', e2e.taskQueue, '--workflow-id', workflowId,
        '--input', JSON.stringify({ from: 'staging', to: 'production', requestedBy: 'alice' }),
      );
      assert.equal(start.code, 0, start.err);
      const handle = e2e.client.workflow.getHandle(workflowId);
      let awaiting = false;
      for (let i = 0; i < 240 && !awaiting; i++) {
        const progress = await handle.query(progressQuery).catch(() => undefined);
        awaiting = progress?.awaitingApproval !== undefined;
        if (!awaiting) await new Promise((r) => setTimeout(r, 250));
      }
      assert.ok(awaiting, 'production waits for approval');
      const progress = await handle.query(progressQuery);
      assert.ok(progress.awaitingApproval?.diff, 'the dry-run diff summary is shown while waiting');

      const self = await e2e.temporal('workflow', 'update', 'execute', '--workflow-id', workflowId, '--name', 'approve', '--input', '{"by":"alice"}');
      assert.notEqual(self.code, 0, 'the requester cannot approve their own change');
      assert.match(self.err + self.out, /NotAuthorized|four-eyes|own/i);

      const approve = await e2e.temporal('workflow', 'update', 'execute', '--workflow-id', workflowId, '--name', 'approve', '--input', '{"by":"bob"}');
      assert.equal(approve.code, 0, approve.err);
      const result = (await handle.result()) as PromoteResult;
      assert.equal(result.revision, changed);
      assert.equal(result.approvedBy, 'bob');
      assert.equal(result.rolledBack, false);
      assert.equal((await e2e.deployedState('production'))['revision'], changed);
    });

    it('rolls back to the previous verified revision when a gate fails (stand-in writes LokiStack Degraded)', async () => {
      const bad = await e2e.pushEdit(
        LOKISTACK,
        (doc) => {
          doc.setIn(['metadata', 'annotations', 'sandbox.logstack.io/simulate'], 'degraded');
          const schema = doc.createNode({ version: 'v13', effectiveDate: '2030-01-01' });
          // Quoted, so that kustomize's YAML 1.1 reading keeps the date a string and the API server accepts it.
          (schema.get('effectiveDate', true) as Scalar).type = 'QUOTE_DOUBLE';
          doc.addIn(['spec', 'storage', 'schemas'], schema);
        },
        'Add a storage schema (breaks the stack)',
      );
      const run = await e2e.cli('rollout', 'staging', '--revision', bad, '--wait', '--output', 'json');
      assert.match(run.out + run.err, /Degraded/, 'the LokiStack gate failed on Degraded, not on a rejected manifest');
      const result = e2e.client.workflow.getHandle('rollout-staging').result() as Promise<RolloutResult>;
      const outcome = await result;
      assert.equal(outcome.rolledBack, true, run.out + run.err);
      assert.equal(outcome.previousRevision, changed);
      const state = await e2e.deployedState('staging');
      assert.equal(state['revision'], changed, 'the previous verified revision is deployed again');
      assert.equal(state['verified'], 'true', 'and verified healthy again');
      // Leave the branch head healthy for whoever bootstraps at it next.
      await e2e.pushEdit(
        LOKISTACK,
        (doc) => {
          doc.deleteIn(['metadata', 'annotations', 'sandbox.logstack.io/simulate']);
          doc.deleteIn(['spec', 'storage', 'schemas', 1]);
        },
        'Revert the breaking storage schema',
      );
    });
  });
}
