import type { Command } from 'commander';
import { parseInput, rolloutInputSchema, workflowIds, WorkflowTypes } from '../../domain/index.ts';
import { startWorkflow } from '../start.ts';
import { environmentName } from './arguments.ts';
import type { Runner } from './runner.ts';

/** `logstack rollout <env> --revision R [--reason TEXT] [--wait]`: starts `rolloutEnvironment` as `rollout-<env>`. */
export function registerRollout(program: Command, runner: Runner): void {
  program
    .command('rollout')
    .description('deliver a revision to one environment, verify its gates, roll back on failure')
    .argument('<env>', 'environment name from the catalog', environmentName)
    .requiredOption('--revision <rev>', 'Git commit, branch or tag to deliver')
    .option('--reason <text>', 'why (shown in the Web UI)')
    .option('--wait', 'follow the workflow until it ends (like `watch`)', false)
    .addHelpText('after', '\nExample:\n  logstack rollout dev --revision 3f2a9c1 --wait')
    .action((env: string, opts: { revision: string; reason?: string; wait: boolean }, command: Command) =>
      runner.run(command, (ctx) => {
        const input = parseInput(
          rolloutInputSchema(),
          { environment: env, revision: opts.revision, ...(opts.reason ? { reason: opts.reason } : {}) },
          WorkflowTypes.rolloutEnvironment,
        );
        return startWorkflow(ctx, { type: WorkflowTypes.rolloutEnvironment, workflowId: workflowIds.rollout(env), input, environment: env, wait: opts.wait });
      }),
    );
}
