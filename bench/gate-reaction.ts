/**
 * Gate reaction benchmark on the sandbox: how long after a LokiStack's status turns Ready does the
 * watch-driven `waitForLokiStackReady` return, against the baseline scripts use — a loop that GETs
 * the object every 5 s — run side by side on the same object. The status is written by the benchmark
 * in the Loki Operator's place (no operator runs in the sandbox). Each baseline trial starts its
 * 5 s polling phase at a random offset before the write, so it really waits.
 *
 * Prints JSON lines `{"metric","value","unit","baseline","ratio"}` for p50 and p99.
 * Trials: `BENCH_TRIALS` (default 30); total run time ≤ trials × 5.5 s.
 */
import { randomBytes } from 'node:crypto';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { parseCatalog } from '../domain/index.ts';
import { deleteObject, patchStatus, readObject, serverSideApply } from '../activities/kubernetes/apply.ts';
import { createKubeClusters } from '../activities/kubernetes/cluster.ts';
import { isConditionTrue } from '../activities/kubernetes/objects.ts';
import { openWatchCount } from '../activities/kubernetes/watch.ts';
import { createLokiGates } from '../activities/loki/gates.ts';
import { requireSandbox } from '../sandbox/status.ts';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

const POLL_MS = 5_000;
const trials = Math.max(1, Math.min(200, Number(process.env['BENCH_TRIALS'] ?? 30)));
const sandbox = requireSandbox();
const clusters = createKubeClusters(sandbox.kubeconfig);
const catalog = parseCatalog(parse(readFileSync(new URL('../sandbox/environments.yaml', import.meta.url), 'utf8')));
const dev = catalog.environments.find((e) => e.name === 'dev');
if (!dev) throw new Error('the sandbox catalog has no dev environment');
const namespace = `bench-gate-${randomBytes(3).toString('hex')}`;
const env = { ...dev, loki: { ...dev.loki, namespace } };
const cluster = clusters.forContext(env.cluster.context);
const header = { apiVersion: 'loki.grafana.com/v1', kind: 'LokiStack', name: env.loki.stackName, namespace };
const gates = createLokiGates({ clusters });
const quiet = new DefaultLogger('ERROR');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function writeReady(status: 'True' | 'False') {
  const condition = { type: 'Ready', status, reason: status === 'True' ? 'ReadyComponents' : 'PendingComponents', message: 'written by the benchmark in the Loki Operator\'s place', lastTransitionTime: new Date().toISOString() };
  return patchStatus(cluster, header, { conditions: [condition] }, 'bench-stand-in');
}

/** The script baseline: GET every 5 s until Ready; resolves with the time it saw Ready. */
async function pollEvery5s(): Promise<number> {
  for (;;) {
    const stack = await readObject(cluster, header);
    if (isConditionTrue(stack, 'Ready')) return performance.now();
    await sleep(POLL_MS);
  }
}

async function setup(): Promise<void> {
  await serverSideApply(cluster, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } });
  await serverSideApply(cluster, {
    apiVersion: 'loki.grafana.com/v1',
    kind: 'LokiStack',
    metadata: { name: header.name, namespace },
    spec: {
      size: '1x.demo',
      storageClassName: 'gp3-csi',
      storage: { schemas: [{ version: 'v13', effectiveDate: '2024-10-01' }], secret: { name: 'logging-loki-s3', type: 's3' } },
      tenants: { mode: 'openshift-logging' },
    },
  });
}

async function trial(): Promise<{ gate: number; baseline: number }> {
  await writeReady('False');
  const activity = new MockActivityEnvironment({ heartbeatTimeoutMs: 10_000 }, { logger: quiet });
  const gate = activity.run(gates.waitForLokiStackReady, { environment: env, timeoutSeconds: 60 }).then(() => performance.now());
  const baselineStart = performance.now();
  const baseline = pollEvery5s();
  while (openWatchCount() === 0) await sleep(5);
  // The write lands at a random point of the baseline's 5 s polling phase (at least 300 ms in).
  const phase = 300 + Math.random() * (POLL_MS - 400);
  await sleep(Math.max(0, baselineStart + phase - performance.now()));
  const written = performance.now();
  await writeReady('True');
  const [gateAt, baselineAt] = await Promise.all([gate, baseline]);
  return { gate: gateAt - written, baseline: baselineAt - written };
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] ?? Number.NaN;
}

const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

const gateMs: number[] = [];
const baselineMs: number[] = [];
try {
  await setup();
  for (let i = 0; i < trials; i++) {
    const r = await trial();
    gateMs.push(r.gate);
    baselineMs.push(r.baseline);
  }
} finally {
  // The namespace and its LokiStack exist only for this run.
  await deleteObject(cluster, { apiVersion: 'v1', kind: 'Namespace', name: namespace });
}
for (const p of [50, 99]) {
  const value = percentile(gateMs, p);
  const baseline = percentile(baselineMs, p);
  process.stdout.write(`${JSON.stringify({ metric: `gate_reaction_p${p}_ms`, value: round(value), unit: 'ms', baseline: round(baseline), ratio: round(baseline / value) })}\n`);
}
process.stderr.write(`${trials} trials on ${cluster.context}, LokiStack ${namespace}/${header.name}; reaction measured from the start of the status write\n`);
