import type { Command } from 'commander';
import { approveSchema, parseInput } from '../../domain/index.ts';
import { approveUpdate } from '../../workflows/messages.ts';
import { resolveApprovalTarget } from '../approval.ts';
import { ExitCode } from '../errors.ts';
import type { Runner } from './runner.ts';

/**
 * `logstack approve <env|workflowId> --by NAME [--comment TEXT]`: sends the `approve` update. The
 * workflow's validator refuses approvers not on the allow-list and self-approval (exit 1, with why).
 */
export function registerApprove(program: Command, runner: Runner): void {
  program
    .command('approve')
    .description('approve the change a workflow is waiting for')
    .argument('<target>', 'environment name, or the workflow ID')
    .requiredOption('--by <name>', 'who approves (must be on the environment’s approver list, not the requester)')
    .option('--comment <text>', 'note kept with the approval')
    .addHelpText('after', '\nExample:\n  logstack approve production --by bob --comment "diff reviewed"')
    .action((target: string, opts: { by: string; comment?: string }, command: Command) =>
      runner.run(command, async (ctx) => {
        const input = parseInput(approveSchema, { by: opts.by, ...(opts.comment ? { comment: opts.comment } : {}) }, 'approve');
        const handle = await resolveApprovalTarget(ctx, target);
        const result = await handle.executeUpdate(approveUpdate, { args: [input] });
        if (ctx.json) ctx.printJson({ workflowId: handle.workflowId, approvedBy: result.approvedBy });
        else ctx.line(`approved ${handle.workflowId} (by ${result.approvedBy}); follow it with \`logstack watch ${handle.workflowId}\``);
        return ExitCode.ok;
      }),
    );
}
