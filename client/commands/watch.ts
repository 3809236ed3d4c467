import type { Command } from 'commander';
import { WorkflowNotFoundError } from '@temporalio/client';
import { CliError, ExitCode } from '../errors.ts';
import { follow } from '../follow.ts';
import { printResultTable } from '../start.ts';
import { environmentKey } from '../visibility.ts';
import type { Runner } from './runner.ts';

/**
 * `logstack watch <workflowId>`: prints each step transition from the `progress` query until the
 * workflow ends, the approval it waits for (diff, digest, the AWS plan, "changed since approval", the exact commands) and,
 * while it waits for its environment's lock, the holder and the queue; exits like the workflow (0 completed,
 * 1 failed, 3 rejected or approval timed out).
 */
export function registerWatch(program: Command, runner: Runner): void {
  program
    .command('watch')
    .description('follow a workflow’s steps live until it ends')
    .argument('<workflowId>', 'e.g. promote-production, rollout-dev')
    .option('--run-id <id>', 'a specific run (default: the latest)')
    .option('--interval <ms>', 'how often to poll the progress query', (v) => Math.max(200, Number(v) || 1000), 1000)
    .addHelpText('after', '\nExit codes: 0 completed, 1 failed, 2 usage, 3 rejected or approval timed out.\n\nExample:\n  logstack watch promote-production')
    .action((workflowId: string, opts: { runId?: string; interval: number }, command: Command) =>
      runner.run(command, async (ctx) => {
        const { client } = await ctx.temporal();
        const handle = client.workflow.getHandle(workflowId, opts.runId);
        let environment: string | undefined;
        try {
          environment = (await handle.describe()).typedSearchAttributes.get(environmentKey);
        } catch (error) {
          if (error instanceof WorkflowNotFoundError) {
            throw new CliError(`no workflow ${workflowId} in namespace ${ctx.settings.namespace}; see \`logstack status\` for running ones`, ExitCode.failed);
          }
          throw error;
        }
        const outcome = await follow(ctx, handle, { pollMs: opts.interval, ...(environment ? { environment } : {}), printResult: (r) => printResultTable(ctx, r) });
        return outcome.exitCode;
      }),
    );
}
