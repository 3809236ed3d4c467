/**
 * The ADR's own entry points against the sandbox's STAGING cluster only (dev is only read: its verified revision):
 *
 * 1. `scripts/deploy-logging-stack.sh --environment staging --wait` — staging is promoted into from dev in the
 *    sandbox catalog, so the script runs `logstack promote --from dev --to staging --wait` on a real worker of this
 *    checkout (its own task queue) with the controller stand-ins, and ends with the CLI's exit code 0. The CLI process
 *    and the worker both have `OTEL_EXPORTER_OTLP_ENDPOINT` pointing at a local OTLP receiver: the CLI's start and the
 *    run (with its real activities) are one trace. The worker runs on Deno, as `deno task worker` starts it: this is
 *    the proof that a Deno worker exports its traces.
 * 2. `kubectl apply --server-side -k gitops/overlays/staging`, by hand, of the exact commit the workflow applied
 *    (staging's verified revision, exported from the GitOps remote), as a server-side DRY RUN (`--dry-run=server
 *    -o json`: the field sets without changing the cluster):
 *    - with kubectl's default field manager it is refused: a conflict with `logstack` on `.spec.dataFrom` — the
 *      ExternalSecret's atomic list, whose items the API server defaults, so a second manager applying the same
 *      manifest never holds the same value. The hand path therefore takes `--field-manager=logstack`;
 *    - with it: the same objects by name as the workflow's apply set (every object carrying staging's inventory
 *      label), and per object the fields the hand apply would leave the `logstack` manager owning are the ones the
 *      workflow's apply owns now — the one difference, asserted exactly, being the inventory label
 *      `logstack.io/inventory` the workflow adds to every object to name its apply set (the hand apply would release it).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FIELD_MANAGER, INVENTORY_LABEL } from '../../domain/index.ts';
import { createKubeClusters } from '../../activities/kubernetes/cluster.ts';
import { inventoryId, listLabelled, namespacesOf, PRUNE_KINDS } from '../../activities/kubernetes/overlay.ts';
import type { KubeObject } from '../../activities/kubernetes/objects.ts';
import { startE2E, type E2E } from './harness.ts';
import { startReceiver, until } from '../support/otlp-receiver.ts';
import { endOrphanedLocks } from '../worker/sandbox-runs.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const ENV = 'staging';
const CONTEXT = 'logstack-staging';
const OVERLAY = 'gitops/overlays/staging';

type ManagedEntry = { manager?: string; operation?: string; subresource?: string; fieldsV1?: Record<string, unknown> };

/** The leaf paths of a managedFields `fieldsV1` tree (`f:metadata/f:labels/f:app`, `…/.` for an owned map or item). */
export function fieldPaths(tree: Record<string, unknown>, prefix = ''): string[] {
  const paths: string[] = [];
  for (const [key, value] of Object.entries(tree)) {
    const path = prefix ? `${prefix}/${key}` : key;
    const children = value !== null && typeof value === 'object' ? Object.keys(value) : [];
    if (children.length === 0) paths.push(path);
    else paths.push(...fieldPaths(value as Record<string, unknown>, path));
  }
  return paths.sort();
}

/** The fields `manager` owns by Apply on the object's main resource (not its status). */
function appliedFields(obj: KubeObject, manager: string): string[] | undefined {
  const entries = (obj.metadata['managedFields'] ?? []) as ManagedEntry[];
  const entry = entries.find((e) => e.manager === manager && e.operation === 'Apply' && (e.subresource ?? '') === '');
  return entry?.fieldsV1 ? fieldPaths(entry.fieldsV1) : undefined;
}

const refOf = (o: KubeObject): string => `${o.apiVersion}/${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;

/** Runs a command; resolves with its exit code and output (never rejects on a non-zero exit). */
function run(command: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, [...args], { env, cwd: REPO });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, out, err }));
  });
}

describe('the ADR entry points on the staging cluster', () => {
  let e2e: E2E;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  const work = mkdtempSync(join(tmpdir(), 'logstack-adr-'));

  before(async () => {
    receiver = await startReceiver();
    // The worker runs on Deno here: its traces reach the same receiver as the CLI's (Node's worker traces in the
    // README's traces play and test/worker/tracing.test.ts).
    e2e = await startE2E({ worker: 'deno', workerEnv: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url } });
    await endOrphanedLocks(e2e.client, ['dev', ENV], 'adr entry points');
    // Whatever ran before on this sandbox: dev has a verified revision to promote, and staging is bootstrapped
    // (its namespaces exist). Both bootstraps are idempotent.
    const bootstrapped = await Promise.all(
      ['dev', ENV].map(async (env) => {
        const state: Record<string, string> = await e2e.deployedState(env).catch(() => ({}));
        return state['verified'] === 'true' && env === 'dev' ? { code: 0, out: '', err: '' } : e2e.cli('bootstrap', env, '--wait');
      }),
    );
    for (const b of bootstrapped) assert.equal(b.code, 0, `${b.out}\n${b.err}`);
  });

  after(async () => {
    await e2e.stop();
    receiver.server.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('deploy-logging-stack.sh --environment staging --wait promotes dev → staging through the CLI, exits 0, and the CLI process traces its start into the run', async () => {
    const dev = await e2e.deployedState('dev');
    assert.equal(dev['verified'], 'true', `dev has a verified revision to promote (the sandbox's dev state: ${JSON.stringify(dev)})`);
    const res = await run(join(REPO, 'scripts/deploy-logging-stack.sh'), ['--environment', ENV, '--wait', '--', '-o', 'json'], {
      ...process.env,
      LOGSTACK_TASK_QUEUE: e2e.taskQueue,
      LOGSTACK_USER: 'adr-script',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    });
    assert.match(res.err, /a promotion dev → staging: logstack promote --from dev --to staging --wait/);
    assert.equal(res.code, 0, `${res.out}\n${res.err}`);
    const completed = res.out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event?: string; result?: { from: string; to: string; revision: string; rolledBack: boolean } })
      .find((e) => e.event === 'completed');
    assert.equal(completed?.result?.to, ENV);
    assert.equal(completed.result.revision, dev['revision'], "the revision verified in dev");
    assert.equal(completed.result.rolledBack, false);
    const staging = await e2e.deployedState(ENV);
    assert.deepEqual([staging['revision'], staging['verified']], [dev['revision'], 'true']);

    // The CLI process's start and the worker's run are one trace, the run's span under the start's.
    const started = await until('the CLI start span', () => receiver.spans.find((sp) => sp.name === 'StartWorkflow:promoteEnvironment' && sp.service === 'logstack-cli'));
    const runSpan = await until('the run span', () => receiver.spans.find((sp) => sp.name === 'RunWorkflow:promoteEnvironment' && sp.traceId === started.traceId));
    assert.equal(runSpan.parentSpanId, started.spanId);
    assert.equal(runSpan.service, 'logstack-worker');
    assert.deepEqual(
      [runSpan.attributes['logstack.environment'], runSpan.attributes['logstack.revision'], runSpan.attributes['temporal.workflow.type']],
      [ENV, dev['revision'], 'promoteEnvironment'],
    );
    const catalog = await until('a real activity span', () => receiver.spans.find((sp) => sp.name === 'RunActivity:loadCatalog' && sp.traceId === started.traceId));
    assert.ok(receiver.spans.some((sp) => sp.spanId === catalog.parentSpanId && sp.parentSpanId === runSpan.spanId), 'the activity span is under the run (through its StartActivity span)');
  });

  it('kubectl apply --server-side -k of the commit the workflow applied: as logstack, its objects and fields but the inventory label; as kubectl, a conflict on dataFrom', async () => {
    const state = await e2e.deployedState(ENV);
    const revision = state['revision'] ?? '';
    assert.equal(state['verified'], 'true', `staging runs a verified revision: ${JSON.stringify(state)}`);
    assert.match(revision, /^[0-9a-f]{40}$/);

    // The tree of that commit, exported from the GitOps remote, as an engineer's checkout of it would be.
    const tar = join(work, 'tree.tar');
    execFileSync('git', ['-C', e2e.sandbox.git.remote, 'archive', '--format=tar', '-o', tar, '--end-of-options', revision, 'gitops']);
    execFileSync('tar', ['-xf', tar, '-C', work]);
    const kubectl = process.env['LOGSTACK_KUBECTL'] ?? 'kubectl';
    const apply = (...flags: string[]) => run(kubectl, ['--context', CONTEXT, 'apply', '--server-side', '--dry-run=server', '-o', 'json', '--show-managed-fields', ...flags, '-k', join(work, OVERLAY)], process.env);

    // kubectl's own manager: refused on the ExternalSecret's defaulted atomic list, and on nothing else.
    const asKubectl = await apply();
    assert.equal(asKubectl.code, 1, `expected a conflict:\n${asKubectl.out.slice(0, 300)}${asKubectl.err}`);
    assert.match(asKubectl.err, /Apply failed with 1 conflict: conflict with "logstack": \.spec\.dataFrom\n/);

    const hand = await apply(`--field-manager=${FIELD_MANAGER}`);
    assert.equal(hand.code, 0, `the hand apply as logstack is accepted, without a field conflict:\n${hand.err}`);
    const parsed = JSON.parse(hand.out) as { kind: string; items?: KubeObject[] } & KubeObject;
    const handObjects = parsed.kind === 'List' ? (parsed.items ?? []) : [parsed];

    // The workflow's apply set: every object carrying staging's inventory label, across the kinds it may hold.
    const cluster = createKubeClusters(e2e.sandbox.kubeconfig).forContext(CONTEXT);
    const label = `${INVENTORY_LABEL}=${inventoryId(ENV, OVERLAY)}`;
    const kinds = new Map<string, { apiVersion: string; kind: string }>();
    for (const k of [...PRUNE_KINDS, ...handObjects]) kinds.set(`${k.apiVersion}|${k.kind}`, { apiVersion: k.apiVersion, kind: k.kind });
    const live: KubeObject[] = [];
    for (const k of kinds.values()) {
      if (await cluster.tryResource(k.apiVersion, k.kind)) live.push(...(await listLabelled(cluster, k, label, namespacesOf(handObjects))));
    }

    // Same names.
    assert.deepEqual(handObjects.map(refOf).sort(), live.map(refOf).sort());
    assert.ok(handObjects.length >= 20, `${handObjects.length} objects`);

    // Same fields owned, per object: what `logstack` would own after the hand apply against what it owns now.
    const inventoryField = `f:metadata/f:labels/f:${INVENTORY_LABEL}`;
    const byRef = new Map(live.map((o) => [refOf(o), o]));
    const differences: string[] = [];
    for (const obj of handObjects) {
      const handFields = appliedFields(obj, FIELD_MANAGER);
      const workflowFields = appliedFields(byRef.get(refOf(obj)) as KubeObject, FIELD_MANAGER);
      assert.ok(handFields && workflowFields, `${refOf(obj)}: both managers own fields by Apply`);
      const handSet = new Set(handFields);
      const onlyHand = handFields.filter((f) => !workflowFields.includes(f));
      const onlyWorkflow = workflowFields.filter((f) => !handSet.has(f));
      // The one allowed difference: the label naming the apply set (and the labels map itself, when the rendered
      // object has no label of its own).
      const allowed = new Set([inventoryField, 'f:metadata/f:labels/.']);
      if (onlyHand.length > 0 || !onlyWorkflow.includes(inventoryField) || onlyWorkflow.some((f) => !allowed.has(f))) {
        differences.push(`${refOf(obj)}: only by hand ${JSON.stringify(onlyHand)}, only by the workflow ${JSON.stringify(onlyWorkflow)}`);
      }
      // Released by the hand apply, and owned by no one else: the label would be gone until the next rollout.
      assert.equal(obj.metadata.labels?.[INVENTORY_LABEL], undefined, `${refOf(obj)} loses the inventory label`);
    }
    assert.deepEqual(differences, []);
  });
});
