import type { Command } from 'commander';
import { bootstrapInputSchema, parseInput, workflowIds, WorkflowTypes } from '../../domain/index.ts';
import { startWorkflow } from '../start.ts';
import { environmentName } from './arguments.ts';
import type { Runner } from './runner.ts';

/** `logstack bootstrap <env> [--revision R] [--wait]`: starts `bootstrapEnvironment` as `bootstrap-<env>`. */
export function registerBootstrap(program: Command, runner: Runner): void {
  program
    .command('bootstrap')
    .description('create the AWS resources and seed secrets of an environment, then deliver its overlay')
    .argument('<env>', 'environment name from the catalog', environmentName)
    .option('--revision <rev>', 'Git commit, branch or tag to deliver (default: the pinned one)')
    .option('--wait', 'follow the workflow until it ends (like `watch`)', false)
    .addHelpText('after', '\nExample:\n  logstack bootstrap dev --wait')
    .action((env: string, opts: { revision?: string; wait: boolean }, command: Command) =>
      runner.run(command, (ctx) => {
        const input = parseInput(bootstrapInputSchema(), { environment: env, ...(opts.revision ? { revision: opts.revision } : {}) }, WorkflowTypes.bootstrapEnvironment);
        return startWorkflow(ctx, { type: WorkflowTypes.bootstrapEnvironment, workflowId: workflowIds.bootstrap(env), input, environment: env, wait: opts.wait });
      }),
    );
}
