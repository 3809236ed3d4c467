import type { Command } from 'commander';
import { parseInput, rejectSchema } from '../../domain/index.ts';
import { printable } from '../printable.ts';
import { rejectUpdate } from '../../workflows/messages.ts';
import { resolveApprovalTarget } from '../approval.ts';
import { ExitCode } from '../errors.ts';
import type { Runner } from './runner.ts';

/**
 * `logstack reject <env|workflowId> --by NAME --reason TEXT`: sends the `reject` update; the workflow
 * ends with `ApprovalRejected` (its follower exits 3). This command exits 0 once the rejection is accepted.
 */
export function registerReject(program: Command, runner: Runner): void {
  program
    .command('reject')
    .description('reject the change a workflow is waiting for; it ends with ApprovalRejected')
    .argument('<target>', 'environment name, or the workflow ID')
    .requiredOption('--by <name>', 'who rejects (must be on the environment’s approver list)')
    .requiredOption('--reason <text>', 'why (kept in the workflow’s failure)')
    .addHelpText('after', '\nExample:\n  logstack reject production --by bob --reason "retention change not agreed"')
    .action((target: string, opts: { by: string; reason: string }, command: Command) =>
      runner.run(command, async (ctx) => {
        const input = parseInput(rejectSchema, { by: opts.by, reason: opts.reason }, 'reject');
        const handle = await resolveApprovalTarget(ctx, target);
        const result = await handle.executeUpdate(rejectUpdate, { args: [input] });
        if (ctx.json) ctx.printJson({ workflowId: handle.workflowId, rejectedBy: result.rejectedBy, reason: input.reason });
        else ctx.line(`rejected ${printable(handle.workflowId)} (by ${printable(result.rejectedBy)}): ${printable(input.reason)}`);
        return ExitCode.ok;
      }),
    );
}
