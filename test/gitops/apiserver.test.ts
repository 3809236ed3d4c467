/**
 * Every rendered object is accepted by a real kube-apiserver of the sandbox (server-side dry-run,
 * field manager `logstack`, strict field validation) with the upstream CRDs of ESO, Argo CD and OLM
 * and the project-owned subset CRDs of sandbox/crds; deliberately broken objects are rejected.
 * Environment overlays go to their own cluster, bootstrap and apps to dev. Without a sandbox these
 * tests fail with "sandbox not up" — they are never skipped.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type BrokenCase, brokenCases } from './broken.ts';
import { RENDER_TARGETS, type RenderTarget, contextFor, ensureNamespaces, ensureProjectCrds, renderAll, sandboxOrReason, serverDryRun } from './lib.ts';
import type { SandboxRuntime } from '../../sandbox/status.ts';

const found = sandboxOrReason();
function sandbox(): SandboxRuntime {
  if ('reason' in found) throw new Error(found.reason);
  return found.sandbox;
}

const tally = { accepted: 0, total: 0, rejectedBroken: 0, broken: 0 };

describe('server-side dry-run on the sandbox API servers', () => {
  const renders = renderAll();
  const prepared = new Set<string>();

  before(() => {
    if ('reason' in found) return;
    for (const t of Object.keys(RENDER_TARGETS) as RenderTarget[]) {
      const context = contextFor(t);
      if (!prepared.has(context)) {
        ensureProjectCrds(found.sandbox, context);
        prepared.add(context);
      }
      ensureNamespaces(found.sandbox, context, renders[t]);
    }
  });

  after(() => {
    const pct = (a: number, b: number) => (b ? ((100 * a) / b).toFixed(1) : '0');
    console.log(`server-side dry-run: ${tally.accepted}/${tally.total} rendered objects accepted (${pct(tally.accepted, tally.total)} %); ${tally.rejectedBroken}/${tally.broken} broken objects rejected`);
  });

  test('the sandbox is up', () => {
    sandbox();
  });

  for (const t of Object.keys(RENDER_TARGETS) as RenderTarget[]) {
    test(`${RENDER_TARGETS[t]}: every object accepted by ${contextFor(t)}`, (ctx) => {
      const r = serverDryRun(sandbox(), contextFor(t), renders[t]);
      tally.accepted += r.accepted;
      tally.total += r.total;
      ctx.diagnostic(`${t}: ${r.accepted}/${r.total} accepted`);
      assert.deepEqual(r.rejected, [], `${t}: rejected objects`);
    });
  }

  const cases: BrokenCase[] = brokenCases(renders);
  for (const c of cases) {
    test(`rejects: ${c.name}`, () => {
      const r = serverDryRun(sandbox(), 'logstack-dev', [c.object]);
      tally.broken += 1;
      assert.equal(r.accepted, 0, `${c.name} was accepted`);
      tally.rejectedBroken += 1;
      assert.match(r.rejected[0]?.message ?? '', c.rejects);
    });
  }
});
