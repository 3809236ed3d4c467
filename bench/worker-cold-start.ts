/**
 * `worker_cold_start_s`: from spawning the worker process to its state RUNNING, with the prebuilt
 * workflow bundle (production start) against bundling on the fly (dev mode), alternated run by run.
 * Needs the sandbox's Temporal; uses its own task queue so it never takes real work.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DEFAULT_BUNDLE_PATH, writeWorkflowBundle } from '../worker/bundle.ts';
import { percentile, report } from './report.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RUNS = Number(process.env['BENCH_RUNS'] ?? '5');

/** Starts a worker and resolves with seconds until it logs RUNNING; then stops it with SIGTERM. */
function coldStart(bundle: string | undefined): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, ['--import', 'tsx', 'worker/main.ts'], {
      cwd: ROOT,
      env: { ...process.env, LOGSTACK_TASK_QUEUE: `bench-cold-start-${process.pid}`, ...(bundle ? { LOGSTACK_WORKFLOW_BUNDLE: bundle } : { LOGSTACK_WORKFLOW_BUNDLE: '' }) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`worker did not reach RUNNING in 120 s:\n${out.slice(-2000)}`));
    }, 120_000);
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (/"state":"RUNNING"/.test(out)) {
        const seconds = (performance.now() - started) / 1000;
        clearTimeout(timer);
        child.once('exit', () => resolve(seconds));
        child.kill('SIGTERM');
      }
    });
    child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.once('error', reject);
  });
}

if (!existsSync(DEFAULT_BUNDLE_PATH)) await writeWorkflowBundle();
const prebuilt: number[] = [];
const onTheFly: number[] = [];
for (let i = 0; i < RUNS; i++) {
  prebuilt.push(await coldStart(DEFAULT_BUNDLE_PATH));
  onTheFly.push(await coldStart(undefined));
}
report('worker_cold_start_s', percentile(prebuilt, 50), 's', percentile(onTheFly, 50));
