import { type Command, InvalidArgumentError, Option } from 'commander';
import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type ScheduleOptionsStartWorkflowAction, type Workflow } from '@temporalio/client';
import { DRIFT_SCHEDULE_ID, driftInputSchema, parseInput, workflowIds, WorkflowTypes } from '../../domain/index.ts';
import { ExitCode } from '../errors.ts';
import { commaList } from './drift.ts';
import type { Runner } from './runner.ts';

const INTERVAL = /^([1-9]\d{0,5})(s|m|h|d)$/;
const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** Parses `--every`: a whole number and a unit, e.g. `30s`, `15m`, `1h`, `1d`, into milliseconds. */
export function intervalMs(value: string): number {
  const match = INTERVAL.exec(value);
  const unit = match?.[2] as keyof typeof UNIT_MS | undefined;
  if (!match || !unit) throw new InvalidArgumentError('an interval like 15m, 1h or 1d (whole number + s|m|h|d)');
  return Number(match[1]) * UNIT_MS[unit];
}

/**
 * `logstack schedule drift --every 15m [--mode …] [--env …] [--paused]`: creates or updates the Temporal
 * Schedule `drift-remediation` (overlap policy SKIP; action: start `remediateDrift`). Idempotent.
 */
export function registerSchedule(program: Command, runner: Runner): void {
  const schedule = program.command('schedule').description('manage Temporal Schedules of logstack');
  schedule
    .command('drift')
    .description(`create or update the Schedule "${DRIFT_SCHEDULE_ID}" that runs remediateDrift (overlap: skip)`)
    .requiredOption('--every <interval>', 'how often, e.g. 15m, 1h', (v: string) => ({ text: v, ms: intervalMs(v) }))
    .addOption(new Option('--mode <mode>', 'what each run does').choices(['report', 'remediate']).default('remediate'))
    .option('--env <names>', 'comma-separated environments (default: all)', commaList)
    .option('--paused', 'keep the schedule paused (default: running)', false)
    .option('--id <scheduleId>', 'schedule ID (a second schedule, e.g. for a test namespace)', DRIFT_SCHEDULE_ID)
    .addHelpText('after', '\nExample:\n  logstack schedule drift --every 15m --mode remediate')
    .action((opts: { every: { text: string; ms: number }; mode: 'report' | 'remediate'; env?: string[]; paused: boolean; id: string }, command: Command) =>
      runner.run(command, async (ctx) => {
        const input = parseInput(driftInputSchema(), { mode: opts.mode, ...(opts.env ? { environments: opts.env } : {}) }, WorkflowTypes.remediateDrift);
        const { client } = await ctx.temporal();
        const action: ScheduleOptionsStartWorkflowAction<Workflow> = {
          type: 'startWorkflow',
          workflowType: WorkflowTypes.remediateDrift,
          args: [input],
          taskQueue: ctx.settings.taskQueue,
          workflowId: workflowIds.drift(),
        };
        const spec = { intervals: [{ every: opts.every.ms }] };
        const note = `logstack drift ${opts.mode} every ${opts.every.text}`;
        let created = true;
        try {
          await client.schedule.create({
            scheduleId: opts.id,
            spec,
            action,
            policies: { overlap: ScheduleOverlapPolicy.SKIP },
            state: { paused: opts.paused, note },
          });
        } catch (error) {
          if (!(error instanceof ScheduleAlreadyRunning)) throw error;
          created = false;
          await client.schedule.getHandle(opts.id).update((previous) => ({
            ...previous,
            spec,
            action,
            policies: { ...previous.policies, overlap: ScheduleOverlapPolicy.SKIP },
            state: { ...previous.state, paused: opts.paused, note },
          }));
        }
        const description = await client.schedule.getHandle(opts.id).describe();
        const next = description.info.nextActionTimes.map((d) => d.toISOString());
        const url = `${ctx.settings.uiBase}/namespaces/${encodeURIComponent(ctx.settings.namespace)}/schedules/${opts.id}`;
        const summary = {
          scheduleId: opts.id,
          created,
          every: opts.every.text,
          overlap: description.policies.overlap,
          paused: description.state.paused,
          workflowType: WorkflowTypes.remediateDrift,
          input,
          taskQueue: ctx.settings.taskQueue,
          nextRuns: next,
          url,
        };
        if (ctx.json) {
          ctx.printJson(summary);
        } else {
          ctx.line(`${created ? 'created' : 'updated'} schedule ${opts.id}: ${WorkflowTypes.remediateDrift} (${opts.mode}) every ${opts.every.text}, overlap ${summary.overlap}${summary.paused ? ', paused' : ''}`);
          ctx.line(`  task queue: ${ctx.settings.taskQueue}`);
          if (next[0]) ctx.line(`  next run:   ${next[0]}`);
          ctx.line(`  web UI:     ${url}`);
        }
        return ExitCode.ok;
      }),
    );
}
