import { type Command, InvalidArgumentError } from 'commander';
import { parseInput, promoteInputSchema, workflowIds, WorkflowTypes } from '../../domain/index.ts';
import { startWorkflow } from '../start.ts';
import { environmentName } from './arguments.ts';
import type { Runner } from './runner.ts';

function seconds(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('a whole number of seconds ≥ 1');
  return n;
}

/**
 * `logstack promote --from A --to B [--revision R] [--requested-by NAME] [--wait]`: starts
 * `promoteEnvironment` as `promote-<to>`. With `--wait`, shows the diff summary, the AWS plan (read-only, destructive
 * changes flagged; shown, not part of the digest) and the exact `approve`/`reject` commands when the target needs approval; exits 3 when rejected or timed out.
 */
export function registerPromote(program: Command, runner: Runner): void {
  program
    .command('promote')
    .description('promote the revision verified in one stage to the next (approval on protected environments)')
    .requiredOption('--from <env>', 'source stage (its verified revision is promoted)', environmentName)
    .requiredOption('--to <env>', 'target stage, the next one in the promotion order', environmentName)
    .option('--revision <rev>', 'revision to promote (default: the one verified in --from)')
    .option('--requested-by <name>', 'who asks (four-eyes: they cannot approve it); default $LOGSTACK_USER or $USER')
    .option('--auto-approve', 'skip the approval wait where the environment allows it', false)
    .option('--approval-timeout <seconds>', 'how long to wait for approval before ApprovalTimedOut', seconds)
    .option('--wait', 'follow the workflow until it ends; prints the diff, the AWS plan and how to approve', false)
    .addHelpText(
      'after',
      '\nExit codes: 0 done, 1 failed, 2 usage, 3 rejected or approval timed out.\n\nExample:\n  logstack promote --from staging --to production --requested-by alice --wait',
    )
    .action(
      (
        opts: { from: string; to: string; revision?: string; requestedBy?: string; autoApprove: boolean; approvalTimeout?: number; wait: boolean },
        command: Command,
      ) =>
        runner.run(command, (ctx) => {
          const requestedBy = opts.requestedBy ?? ctx.io.env['LOGSTACK_USER'] ?? ctx.io.env['USER'];
          const input = parseInput(
            promoteInputSchema(),
            {
              from: opts.from,
              to: opts.to,
              ...(opts.revision ? { revision: opts.revision } : {}),
              ...(requestedBy ? { requestedBy } : {}),
              ...(opts.autoApprove ? { autoApprove: true } : {}),
              ...(opts.approvalTimeout ? { approvalTimeoutSeconds: opts.approvalTimeout } : {}),
            },
            WorkflowTypes.promoteEnvironment,
          );
          return startWorkflow(ctx, {
            type: WorkflowTypes.promoteEnvironment,
            workflowId: workflowIds.promote(opts.to),
            input,
            environment: opts.to,
            wait: opts.wait,
            approvalTarget: opts.to,
          });
        }),
    );
}
