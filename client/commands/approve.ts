import type { Command } from 'commander';
import { approveSchema, FailureType, parseInput } from '../../domain/index.ts';
import { approveUpdate } from '../../workflows/messages.ts';
import { resolveApprovalTarget, signDecision } from '../approval.ts';
import { CliError, ExitCode, failureInfo } from '../errors.ts';
import { diffSummaryLine, readProgress } from '../follow.ts';
import { printable } from '../printable.ts';
import type { Runner } from './runner.ts';

/** What the workflow says when the approval names a digest that is no longer the change waiting. */
const CHANGED = /changed since that diff was shown/;
/** How a person names an SSH key or a signature made elsewhere. */
const KEY_HELP = 'sign the statement with this SSH key (ssh-keygen -Y sign; a .pub file signs through ssh-agent)';
const SIGNATURE_FILE_HELP = 'an SSH signature of the statement made elsewhere (logstack approval statement … | ssh-keygen -Y sign -n logstack-approval …), with --time';
const TIME_HELP = 'the time written in the signed statement (with --signature-file; default with --key: now)';

/**
 * `logstack approve <env|workflowId> --by NAME [--comment TEXT] [--digest sha256:…] [--key FILE | --signature-file
 * FILE --time ISO]`: reads the change the workflow waits on (`progress.awaitingApproval`), prints its diff summary
 * and digest, and sends the `approve` update naming that digest — or the one given with `--digest` — so only
 * exactly that change is approved. With `--key` it signs the request's statement with `ssh-keygen -Y sign` first
 * (required where the environment has `approvals: signed`); `--signature-file` sends a signature made elsewhere.
 * The workflow's validator refuses approvers not on the allow-list, self-approval, a digest that is no longer the
 * change waiting, and a signature that is not the approver's over exactly this request (exit 1, with why and what to do).
 */
export function registerApprove(program: Command, runner: Runner): void {
  program
    .command('approve')
    .description('approve exactly the change a workflow is waiting for (the diff digest it shows now, or --digest)')
    .argument('<target>', 'environment name, or the workflow ID')
    .requiredOption('--by <name>', 'who approves (must be on the environment’s approver list, not the requester)')
    .option('--comment <text>', 'note kept with the approval')
    .option('--digest <sha256:…>', 'approve only the change with this diff digest (as `watch`/`status -o json` show it); default: the one waiting now')
    .option('--key <file>', KEY_HELP)
    .option('--signature-file <file>', SIGNATURE_FILE_HELP)
    .option('--time <iso>', TIME_HELP)
    .addHelpText(
      'after',
      '\nThe approval names the diff digest; when the change moved on since, the workflow refuses it and nothing is approved.\nWhere the environment takes signed approvals, sign with your SSH key (--key) or send a signature made elsewhere (--signature-file).\n\nExample:\n  logstack approve production --by bob --key ~/.ssh/id_ed25519 --comment "diff reviewed"\n  logstack approve production --by bob --key ~/.ssh/id_ed25519.pub     # through ssh-agent\n  logstack approve staging --by bob --digest sha256:3f2c…',
    )
    .action((target: string, opts: { by: string; comment?: string; digest?: string; key?: string; signatureFile?: string; time?: string }, command: Command) =>
      runner.run(command, async (ctx) => {
        // Checks the flags (and the digest's form) before anything is read or sent.
        parseInput(approveSchema(), { by: opts.by, ...(opts.digest !== undefined ? { digest: opts.digest } : {}) }, 'approve');
        const handle = await resolveApprovalTarget(ctx, target);
        const reading = await readProgress(ctx, handle, 5000);
        if (!reading.ok && opts.digest === undefined) {
          throw new CliError(`cannot read what ${handle.workflowId} waits for, so there is nothing to approve yet: ${reading.reason}; or name the change with --digest`, ExitCode.failed);
        }
        const waiting = reading.ok ? reading.progress.awaitingApproval : undefined;
        const shown = waiting?.digest ?? waiting?.diff?.digest;
        const digest = opts.digest ?? shown;
        const named = parseInput(
          approveSchema(),
          { by: opts.by, ...(opts.comment ? { comment: opts.comment } : {}), ...(digest !== undefined ? { digest } : {}) },
          'approve',
        );
        if (!ctx.json && waiting?.approvals === 'signed' && opts.key === undefined && opts.signatureFile === undefined) {
          ctx.line(`  ${printable(waiting.environment)} takes signed approvals: without --key or --signature-file the workflow will refuse this one`);
        }
        const signed = await signDecision(ctx, waiting, { decision: 'approve', by: named.by, comment: named.comment, digest }, opts);
        const input = parseInput(approveSchema(), { ...named, ...(signed ?? {}) }, 'approve');
        if (!ctx.json) {
          if (waiting) {
            ctx.line(`approving ${handle.workflowId}: change to ${printable(waiting.environment)}${waiting.requestedBy ? ` requested by ${printable(waiting.requestedBy)}` : ''}`);
            ctx.line(`  diff: ${waiting.diff ? diffSummaryLine(waiting.diff) : 'not available'}`);
            if (waiting.changedSinceApproval) ctx.line('  changed since an earlier approval: this is a new diff');
          }
          if (digest !== undefined) ctx.line(`  digest: ${printable(digest)}${opts.digest !== undefined && shown !== undefined && shown !== opts.digest ? ` (given with --digest; the workflow shows ${printable(shown)})` : ''}`);
          else if (waiting) ctx.line('  digest: none shown by the workflow; approving whatever it waits for');
        }
        let result: { approvedBy: string };
        try {
          result = await handle.executeUpdate(approveUpdate, { args: [input] });
        } catch (error) {
          const info = failureInfo(error);
          if ((info.type === FailureType.InvalidInput || info.type === FailureType.NotAuthorized) && CHANGED.test(info.message)) {
            throw new CliError(
              `not approved: the change waiting for approval of ${handle.workflowId} is no longer the diff ${digest ?? ''} (it changed since that diff was shown): ${printable(info.message)}\n` +
                `  nothing was approved; read the new diff (\`logstack watch ${handle.workflowId}\` or \`logstack status -o json\`), then approve again: logstack approve ${target} --by ${opts.by}`,
              ExitCode.failed,
            );
          }
          throw error;
        }
        if (ctx.json) ctx.printJson({ workflowId: handle.workflowId, approvedBy: result.approvedBy, digest: digest ?? null, signed: signed !== undefined, time: signed?.time ?? null });
        else ctx.line(`approved ${printable(handle.workflowId)} (by ${printable(result.approvedBy)}${signed ? ', signed' : ''}); follow it with \`logstack watch ${printable(handle.workflowId)}\``);
        return ExitCode.ok;
      }),
    );
}
