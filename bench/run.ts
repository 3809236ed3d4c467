/**
 * `npm run bench`: runs every benchmark in turn (each prints JSON lines), needing the sandbox up.
 * A benchmark that fails is reported and the others still run; the exit code is non-zero then.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BENCHES = ['gate-reaction.ts', 'worker-cold-start.ts', 'orchestration-overhead.ts', 'drift-scan.ts', 'concurrent-bootstraps.ts', 'status-startup.ts'];

let failed = 0;
for (const file of BENCHES) {
  const path = `bench/${file}`;
  if (!existsSync(`${ROOT}/${path}`)) continue;
  process.stderr.write(`bench: ${file}\n`);
  const result = spawnSync(process.execPath, [path], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
  if (result.status !== 0) {
    failed++;
    process.stderr.write(`bench: ${file} failed (exit ${result.status})\n`);
  }
}
process.exitCode = failed ? 1 : 0;
