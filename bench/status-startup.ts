/**
 * `cli_status_startup_node_s` and `cli_status_startup_deno_s`: wall time of `logstack status` as a child
 * process, from spawn to exit, on Node 24 (the `logstack` bin) and on Deno (`deno run --allow-all
 * client/cli.ts status`, as `deno task logstack` runs it). Median of BENCH_RUNS runs each (default 7),
 * alternated run by run after one warm-up each. Needs the sandbox's Temporal: `status` queries it.
 * So that the table has rows to build, `status` looks at the task queue of the latest logstack workflow
 * on the sandbox (or BENCH_STATUS_TASK_QUEUE); with none, at the default queue.
 * The Deno figure carries the Node one as its baseline (ratio = Node / Deno).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { WorkflowTypes } from '../domain/index.ts';
import { requireSandbox } from '../sandbox/status.ts';
import { percentile, report } from './report.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RUNS = Number(process.env['BENCH_RUNS'] ?? '7');
const DENO = fileURLToPath(new URL('../node_modules/@deno/linux-x64-glibc/deno', import.meta.url));

/** The task queue of the most recent logstack workflow, if any. */
async function latestTaskQueue(): Promise<string | undefined> {
  const connection = await Connection.connect({ address: requireSandbox().temporal.address });
  try {
    const query = `WorkflowType IN (${Object.values(WorkflowTypes)
      .map((t) => `'${t}'`)
      .join(', ')})`;
    for await (const run of new Client({ connection }).workflow.list({ query, pageSize: 1 })) return run.taskQueue;
    return undefined;
  } finally {
    await connection.close();
  }
}

const taskQueue = process.env['BENCH_STATUS_TASK_QUEUE'] ?? (await latestTaskQueue());
const status = ['status', ...(taskQueue ? ['--task-queue', taskQueue] : [])];
process.stderr.write(`status-startup: logstack ${status.join(' ')}\n`);
const COMMANDS: Record<'node' | 'deno', readonly [string, ...string[]]> = {
  node: [process.execPath, 'client/bin.js', ...status],
  deno: [DENO, 'run', '--allow-all', 'client/cli.ts', ...status],
};

/** Seconds from spawn to exit of one `logstack status`; rejects unless it exits 0. */
function timeStatus([command, ...args]: readonly [string, ...string[]]): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(command, args, { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      const seconds = (performance.now() - started) / 1000;
      if (code === 0) resolve(seconds);
      else reject(new Error(`${[command, ...args].join(' ')} exited ${code}:\n${err.slice(-2000)}`));
    });
  });
}

await timeStatus(COMMANDS.node);
await timeStatus(COMMANDS.deno);
const node: number[] = [];
const deno: number[] = [];
for (let i = 0; i < RUNS; i++) {
  node.push(await timeStatus(COMMANDS.node));
  deno.push(await timeStatus(COMMANDS.deno));
}
const nodeMedian = percentile(node, 50);
report('cli_status_startup_node_s', nodeMedian, 's');
report('cli_status_startup_deno_s', percentile(deno, 50), 's', nodeMedian);
