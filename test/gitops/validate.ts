/**
 * `npm run gitops:validate [-- --offline]`: renders every overlay and gitops/apps, checks the policy,
 * and server-side dry-runs every rendered object (plus the deliberately broken ones) against the
 * sandbox's API servers. Prints counts; exits 1 on any failure. Without a running sandbox it fails
 * with "sandbox not up" unless `--offline` asks for the render and policy checks only.
 */
import { brokenCases } from './broken.ts';
import { policyContext } from './context.ts';
import { RENDER_TARGETS, type RenderTarget, contextFor, ensureNamespaces, ensureProjectCrds, kubectlPath, sandboxOrReason, serverDryRun } from './lib.ts';
import { checkAll } from './policy.ts';

const offline = process.argv.includes('--offline');
let failed = false;
const fail = (line: string) => {
  failed = true;
  console.log(`  ✗ ${line}`);
};

console.log(`render (${kubectlPath()} kustomize)`);
const ctx = policyContext();
for (const t of Object.keys(RENDER_TARGETS) as RenderTarget[]) {
  const kinds = new Map<string, number>();
  for (const o of ctx.renders[t]) kinds.set(o.kind, (kinds.get(o.kind) ?? 0) + 1);
  console.log(`  ✓ ${RENDER_TARGETS[t]}: ${ctx.renders[t].length} objects (${[...kinds].map(([k, n]) => `${k} ${n}`).join(', ')})`);
}

console.log('policy');
for (const { rule, violations } of checkAll(ctx)) {
  if (violations.length) fail(`${rule}\n      ${violations.join('\n      ')}`);
  else console.log(`  ✓ ${rule}`);
}

const found = sandboxOrReason();
if ('reason' in found) {
  if (offline) console.log(`server-side dry-run: not run (--offline; ${found.reason})`);
  else fail(`server-side dry-run: ${found.reason} (use --offline for render and policy only)`);
} else {
  console.log('server-side dry-run');
  let accepted = 0;
  let total = 0;
  const prepared = new Set<string>();
  for (const t of Object.keys(RENDER_TARGETS) as RenderTarget[]) {
    const context = contextFor(t);
    if (!prepared.has(context)) ensureProjectCrds(found.sandbox, context);
    prepared.add(context);
    ensureNamespaces(found.sandbox, context, ctx.renders[t]);
    const r = serverDryRun(found.sandbox, context, ctx.renders[t]);
    accepted += r.accepted;
    total += r.total;
    if (r.rejected.length) fail(`${RENDER_TARGETS[t]} on ${context}: ${r.accepted}/${r.total}\n      ${r.rejected.map((x) => `${x.ref}: ${x.message}`).join('\n      ')}`);
    else console.log(`  ✓ ${RENDER_TARGETS[t]} on ${context}: ${r.accepted}/${r.total} accepted`);
  }
  const cases = brokenCases(ctx.renders);
  let refused = 0;
  for (const c of cases) {
    const r = serverDryRun(found.sandbox, 'logstack-dev', [c.object]);
    const message = r.rejected[0]?.message ?? '';
    if (r.accepted === 0 && c.rejects.test(message)) refused += 1;
    else fail(`broken object not rejected as expected: ${c.name}${message ? ` (${message})` : ' (accepted)'}`);
  }
  console.log(`  accepted ${accepted}/${total} rendered objects (${total ? ((100 * accepted) / total).toFixed(1) : '0'} %); rejected ${refused}/${cases.length} broken objects`);
}

console.log(failed ? 'gitops: FAILED' : 'gitops: valid');
process.exit(failed ? 1 : 0);
