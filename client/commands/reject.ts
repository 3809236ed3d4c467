import type { Command } from 'commander';
import { parseInput, rejectSchema } from '../../domain/index.ts';
import { printable } from '../printable.ts';
import { rejectUpdate } from '../../workflows/messages.ts';
import { resolveApprovalTarget, signDecision } from '../approval.ts';
import { CliError, ExitCode } from '../errors.ts';
import { readProgress } from '../follow.ts';
import type { Runner } from './runner.ts';

/**
 * `logstack reject <env|workflowId> --by NAME --reason TEXT [--key FILE | --signature-file FILE --time ISO]`: sends
 * the `reject` update; the workflow ends with `ApprovalRejected` (its follower exits 3). With `--key` (required
 * where the environment has `approvals: signed`) it reads the request, signs its statement — decision reject, the
 * reason, the diff digest shown — with `ssh-keygen -Y sign`, and sends the signature, its time and that digest.
 * This command exits 0 once the rejection is accepted.
 */
export function registerReject(program: Command, runner: Runner): void {
  program
    .command('reject')
    .description('reject the change a workflow is waiting for; it ends with ApprovalRejected')
    .argument('<target>', 'environment name, or the workflow ID')
    .requiredOption('--by <name>', 'who rejects (must be on the environment’s approver list)')
    .requiredOption('--reason <text>', 'why (kept in the workflow’s failure)')
    .option('--key <file>', 'sign the statement with this SSH key (ssh-keygen -Y sign; a .pub file signs through ssh-agent)')
    .option('--signature-file <file>', 'an SSH signature of the statement made elsewhere (logstack approval statement … --reject --reason …), with --time')
    .option('--time <iso>', 'the time written in the signed statement (with --signature-file; default with --key: now)')
    .addHelpText('after', '\nExample:\n  logstack reject production --by bob --reason "retention change not agreed" --key ~/.ssh/id_ed25519')
    .action((target: string, opts: { by: string; reason: string; key?: string; signatureFile?: string; time?: string }, command: Command) =>
      runner.run(command, async (ctx) => {
        const named = parseInput(rejectSchema(), { by: opts.by, reason: opts.reason }, 'reject');
        const handle = await resolveApprovalTarget(ctx, target);
        let input = named;
        let signed = false;
        if (opts.key !== undefined || opts.signatureFile !== undefined) {
          const reading = await readProgress(ctx, handle, 5000);
          const waiting = reading.ok ? reading.progress.awaitingApproval : undefined;
          if (!waiting) throw new CliError(`cannot read what ${handle.workflowId} waits for, so there is no statement to sign${reading.ok ? '' : `: ${reading.reason}`}`, ExitCode.failed);
          const digest = waiting.digest ?? waiting.diff?.digest;
          const signature = await signDecision(ctx, waiting, { decision: 'reject', by: named.by, reason: named.reason, digest }, opts);
          input = parseInput(rejectSchema(), { ...named, ...(digest !== undefined ? { digest } : {}), ...(signature ?? {}) }, 'reject');
          signed = true;
        }
        const result = await handle.executeUpdate(rejectUpdate, { args: [input] });
        if (ctx.json) ctx.printJson({ workflowId: handle.workflowId, rejectedBy: result.rejectedBy, reason: input.reason, signed });
        else ctx.line(`rejected ${printable(handle.workflowId)} (by ${printable(result.rejectedBy)}${signed ? ', signed' : ''}): ${printable(input.reason)}`);
        return ExitCode.ok;
      }),
    );
}
