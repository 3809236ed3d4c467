import type { Command } from 'commander';
import { migrateInputSchema, parseInput, workflowIds, WorkflowTypes } from '../../domain/index.ts';
import { startWorkflow } from '../start.ts';
import { environmentName } from './arguments.ts';
import type { Runner } from './runner.ts';

/** `logstack migrate <env> [--dry-run] [--requested-by N] [--wait]`: starts `migrateProduction` as `migrate-<env>`. */
export function registerMigrate(program: Command, runner: Runner): void {
  program
    .command('migrate')
    .description('take over the script-managed stack of production without downtime (server-side apply, no prune)')
    .argument('<env>', 'environment to migrate (only "production" is supported)', environmentName)
    .option('--dry-run', 'report what would be adopted, change nothing', false)
    .option('--requested-by <name>', 'who asks for the migration (required unless --dry-run: production is protected)')
    .option('--wait', 'follow the workflow until it ends (like `watch`)', false)
    .addHelpText('after', '\nExample:\n  logstack migrate production --dry-run --wait\n  logstack migrate production --requested-by alice --wait')
    .action((env: string, opts: { dryRun: boolean; wait: boolean; requestedBy?: string }, command: Command) =>
      runner.run(command, (ctx) => {
        const input = parseInput(
          migrateInputSchema(),
          { environment: env, dryRun: opts.dryRun, ...(opts.requestedBy !== undefined ? { requestedBy: opts.requestedBy } : {}) },
          WorkflowTypes.migrateProduction,
        );
        return startWorkflow(ctx, { type: WorkflowTypes.migrateProduction, workflowId: workflowIds.migrate(env), input, environment: env, wait: opts.wait });
      }),
    );
}
