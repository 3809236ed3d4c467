/**
 * `npm run bench`: runs every benchmark in turn (each prints JSON lines), needing the sandbox up.
 * A benchmark that fails is reported and the others still run; the exit code is non-zero then.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Each benchmark with the variables it runs with (the concurrent bootstraps twice: a Node and a Deno worker). */
const BENCHES: readonly { readonly file: string; readonly env?: Readonly<Record<string, string>> }[] = [
  { file: 'gate-reaction.ts' },
  { file: 'worker-cold-start.ts' },
  { file: 'orchestration-overhead.ts' },
  { file: 'drift-scan.ts' },
  { file: 'workflow-memory.ts' },
  { file: 'concurrent-bootstraps.ts' },
  { file: 'concurrent-bootstraps.ts', env: { BENCH_WORKER_RUNTIME: 'deno' } },
  { file: 'status-startup.ts' },
];

let failed = 0;
for (const { file, env = {} } of BENCHES) {
  const path = `bench/${file}`;
  if (!existsSync(`${ROOT}/${path}`)) continue;
  const name = [file, ...Object.entries(env).map(([k, v]) => `${k}=${v}`)].join(' ');
  process.stderr.write(`bench: ${name}\n`);
  const started = performance.now();
  const result = spawnSync(process.execPath, [path], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit'] });
  if (result.status !== 0) {
    failed++;
    process.stderr.write(`bench: ${name} failed (exit ${result.status})\n`);
  }
  process.stderr.write(`bench: ${name} took ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
}
process.exitCode = failed ? 1 : 0;
