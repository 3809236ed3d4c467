import type { Command } from 'commander';
import { approveSchema, APPROVAL_NAMESPACE, parseInput, rejectSchema } from '../../domain/index.ts';
import { resolveApprovalTarget, statementFields, statementTime, statementToSign } from '../approval.ts';
import { CliError, ExitCode } from '../errors.ts';
import { readProgress } from '../follow.ts';
import type { Runner } from './runner.ts';

/**
 * `logstack approval statement <env|workflowId> --by NAME [--comment T | --reject --reason R] [--time ISO]`: prints
 * exactly the statement an approver signs for the request the workflow waits on now (workflow and run ID,
 * environment, full revision, diff digest, decision, name, time; `domain/approval.ts`), to pipe into
 * `ssh-keygen -Y sign -n logstack-approval -f ~/.ssh/id_ed25519`. With `-o json`: the statement and its fields.
 */
export function registerApproval(program: Command, runner: Runner): void {
  const approval = program.command('approval').description('signed approvals: the statement an approver signs');
  approval
    .command('statement')
    .description('print the exact statement to sign for the request a workflow waits on (pipe it into ssh-keygen -Y sign)')
    .argument('<target>', 'environment name, or the workflow ID')
    .requiredOption('--by <name>', 'who decides (the approver whose key signs)')
    .option('--comment <text>', 'the approval comment the statement binds (send the same with approve)')
    .option('--reject', 'a rejection instead of an approval')
    .option('--reason <text>', 'the rejection reason the statement binds (with --reject)')
    .option('--digest <sha256:…>', 'the diff digest decided on (default: the one the workflow shows now)')
    .option('--time <iso>', 'the time written in the statement (default: now, to the second)')
    .addHelpText(
      'after',
      `\nThe signature and the time are then sent with the decision; nothing else in the statement may differ.\n\nExample:\n  logstack approval statement production --by bob > statement.txt\n  ssh-keygen -Y sign -n ${APPROVAL_NAMESPACE} -f ~/.ssh/id_ed25519 statement.txt   # writes statement.txt.sig\n  logstack approve production --by bob --signature-file statement.txt.sig --time "$(sed -n 's/^time: "\\(.*\\)"$/\\1/p' statement.txt)"`,
    )
    .action(
      (
        target: string,
        opts: { by: string; comment?: string; reject?: boolean; reason?: string; digest?: string; time?: string },
        command: Command,
      ) =>
        runner.run(command, async (ctx) => {
          const time = opts.time ?? statementTime();
          // The same checks as the decision itself, before anything is read.
          const decision = opts.reject
            ? (() => {
                if (opts.reason === undefined) throw new CliError('--reject needs --reason: the statement binds it', ExitCode.usage);
                if (opts.comment !== undefined) throw new CliError('--comment is for approvals; a rejection binds --reason', ExitCode.usage);
                const input = parseInput(rejectSchema(), { by: opts.by, reason: opts.reason, time, ...(opts.digest ? { digest: opts.digest } : {}) }, 'reject');
                return { decision: 'reject' as const, by: input.by, reason: input.reason, digest: input.digest };
              })()
            : (() => {
                if (opts.reason !== undefined) throw new CliError('--reason is for rejections (--reject)', ExitCode.usage);
                const input = parseInput(
                  approveSchema(),
                  { by: opts.by, time, ...(opts.comment ? { comment: opts.comment } : {}), ...(opts.digest ? { digest: opts.digest } : {}) },
                  'approve',
                );
                return { decision: 'approve' as const, by: input.by, comment: input.comment, digest: input.digest };
              })();
          const handle = await resolveApprovalTarget(ctx, target);
          const reading = await readProgress(ctx, handle, 5000);
          if (!reading.ok) throw new CliError(`cannot read what ${handle.workflowId} waits for: ${reading.reason}`, ExitCode.failed);
          const waiting = reading.progress.awaitingApproval;
          if (!waiting) throw new CliError(`${handle.workflowId} is not waiting for approval (phase ${reading.progress.phase})`, ExitCode.failed);
          const statement = statementToSign(waiting, decision, time);
          if (ctx.json) ctx.printJson({ statement, ...statementFields(waiting, decision, time), namespace: APPROVAL_NAMESPACE });
          else ctx.io.out(statement);
          return ExitCode.ok;
        }),
    );
}
