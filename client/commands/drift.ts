import { type Command, Option } from 'commander';
import { driftInputSchema, parseInput, workflowIds, WorkflowTypes, type DriftResult } from '../../domain/index.ts';
import type { CommandContext } from '../context.ts';
import { startWorkflow } from '../start.ts';
import type { Runner } from './runner.ts';

/** Prints drift findings and remediations as tables. */
export function printDriftResult(ctx: CommandContext, value: unknown): void {
  const result = value as Partial<DriftResult> | null;
  const findings = result?.findings ?? [];
  const remediated = result?.remediated ?? [];
  if (findings.length === 0) {
    ctx.line('no drift found');
    return;
  }
  const fixed = new Set(remediated.map((f) => `${f.environment}|${f.class}|${f.object}`));
  ctx.printTable(
    ['environment', 'class', 'object', 'detail', 'remediated'],
    findings.map((f) => [f.environment, f.class, f.object, f.detail, fixed.has(`${f.environment}|${f.class}|${f.object}`) ? 'yes' : f.safeToRemediate ? 'no (report mode)' : 'no (needs a person)']),
  );
  ctx.line(`${findings.length} finding(s), ${remediated.length} remediated`);
}

/** Parses `a,b,c` into names. */
export function commaList(value: string): string[] {
  return value
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v.length > 0);
}

/** `logstack drift [--mode report|remediate] [--env a,b] [--wait]`: starts `remediateDrift` once, as `drift-remediation`. */
export function registerDrift(program: Command, runner: Runner): void {
  program
    .command('drift')
    .description('compare Git, clusters, External Secrets and AWS; report drift or remediate what is safe')
    .addOption(new Option('--mode <mode>', 'report only, or remediate safe findings').choices(['report', 'remediate']).default('report'))
    .option('--env <names>', 'comma-separated environments (default: all)', commaList)
    .option('--wait', 'follow the workflow and print the findings', false)
    .addHelpText('after', '\nExample:\n  logstack drift --mode report --wait\n  logstack schedule drift --every 15m   # run it on a schedule')
    .action((opts: { mode: 'report' | 'remediate'; env?: string[]; wait: boolean }, command: Command) =>
      runner.run(command, (ctx) => {
        const input = parseInput(driftInputSchema(), { mode: opts.mode, ...(opts.env ? { environments: opts.env } : {}) }, WorkflowTypes.remediateDrift);
        return startWorkflow(ctx, {
          type: WorkflowTypes.remediateDrift,
          workflowId: workflowIds.drift(),
          input,
          wait: opts.wait,
          printResult: printDriftResult,
        });
      }),
    );
}
