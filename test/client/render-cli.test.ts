/**
 * `logstack render` holds a local checkout to the worker's confinement rules before kubectl runs: hostile
 * local trees — a URL resource, a remote base, a symlink (referenced or not), an escape above the root, a
 * reference out of `gitops/` into the rest of the checkout, a Helm chart, a symlink whose name carries
 * terminal controls — exit 1 with `ManifestRejected` naming file, field and value, and the kubectl given
 * (a recording stand-in) is never started. A benign checkout runs kubectl with
 * `--load-restrictor LoadRestrictionsRootOnly` and the worker's closed-network variables; with a real kubectl
 * (`LOGSTACK_KUBECTL`, or the sandbox's build cache when present: no cluster is contacted) the repository's
 * dev overlay renders. No Temporal, no cluster. Runs on Node and Deno (Deno needs `--allow-run`).
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { cli, REPO } from './helpers.ts';

const work = mkdtempSync(join(tmpdir(), 'logstack-render-cli-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** A kubectl stand-in: records its arguments and environment next to `$RENDER_TEST_MARKER`, prints one object. */
const fakeKubectl = join(work, 'kubectl');
writeFileSync(
  fakeKubectl,
  '#!/bin/sh\nprintf \'%s\\n\' "$@" > "$RENDER_TEST_MARKER"\nenv > "$RENDER_TEST_MARKER.env"\nprintf \'apiVersion: v1\\nkind: ConfigMap\\nmetadata:\\n  name: rendered\\n\'\n',
  { mode: 0o755 },
);

let count = 0;
/** A copy of the repository's `gitops/` in a fresh checkout (with a README beside it), changed by `change`. */
function checkout(change: (root: string) => void = () => undefined): string {
  const root = join(work, `checkout-${++count}`);
  cpSync(join(REPO, 'gitops'), join(root, 'gitops'), { recursive: true });
  writeFileSync(join(root, 'README.md'), '# not part of what a render may read\n');
  change(root);
  return root;
}

/** Rewrites the dev overlay's kustomization with `edit`. */
function editDev(root: string, edit: (k: Record<string, unknown>) => void): void {
  const file = join(root, 'gitops/overlays/dev/kustomization.yaml');
  const k = parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  edit(k);
  writeFileSync(file, stringify(k));
}

const list = (k: Record<string, unknown>, key: string): unknown[] => ((k[key] as unknown[] | undefined) ??= []);

/** `logstack render dev` of the checkout with the recording kubectl; whether kubectl ran, and its arguments. */
async function renderDev(root: string, ...extra: string[]) {
  const marker = join(root, 'kubectl-ran');
  const res = await cli(['render', 'dev', '--catalog', join(root, 'gitops/environments.yaml'), '--kubectl', fakeKubectl, ...extra], { ...process.env, RENDER_TEST_MARKER: marker });
  const ran = existsSync(marker);
  return { ...res, ran, args: ran ? readFileSync(marker, 'utf8').trim().split('\n') : [], env: ran ? readFileSync(`${marker}.env`, 'utf8') : '' };
}

/** Asserts the refusal: exit 1, one line on stderr, ManifestRejected naming what `expect` names; kubectl never ran. */
function assertRefused(res: Awaited<ReturnType<typeof renderDev>>, ...expect: (string | RegExp)[]): void {
  assert.equal(res.code, 1, res.out + res.err);
  assert.equal(res.ran, false, 'kubectl was started');
  assert.equal(res.out, '');
  assert.equal(res.err.trimEnd().split('\n').length, 1, `one line: ${res.err}`);
  assert.match(res.err, /^logstack: refused \(ManifestRejected\): gitops\/overlays\/dev in .* cannot be rendered: /);
  for (const e of expect) {
    if (typeof e === 'string') assert.ok(res.err.includes(e), `names ${e}: ${res.err}`);
    else assert.match(res.err, e);
  }
}

const DEV = 'gitops/overlays/dev/kustomization.yaml';

describe('logstack render: the worker\'s confinement on a local checkout (no cluster)', () => {
  it('a benign checkout runs kubectl kustomize with LoadRestrictionsRootOnly and the closed-network variables; -o json parses its output', async () => {
    const root = checkout();
    const res = await renderDev(root);
    assert.equal(res.code, 0, res.err);
    assert.deepEqual(res.args, ['kustomize', '--load-restrictor', 'LoadRestrictionsRootOnly', join(root, 'gitops/overlays/dev')]);
    for (const line of ['HTTPS_PROXY=http://127.0.0.1:9', 'HTTP_PROXY=http://127.0.0.1:9', 'GIT_ALLOW_PROTOCOL=none', 'KUSTOMIZE_PLUGIN_HOME=/nonexistent']) {
      assert.ok(res.env.split('\n').includes(line), line);
    }
    assert.match(res.out, /name: rendered/);
    const json = await renderDev(root, '-o', 'json');
    assert.deepEqual(JSON.parse(json.out), [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'rendered' } }]);
  });

  it('adversarial: URL in the overlay\'s resources exits 1 ManifestRejected naming file, field and value; kubectl never runs', async () => {
    const root = checkout((r) => editDev(r, (k) => void list(k, 'resources').push('http://127.0.0.1:9/x.yaml')));
    assertRefused(await renderDev(root), `${DEV}: resources[1] "http://127.0.0.1:9/x.yaml" is refused: a URL`);
  });

  it('adversarial: remote base (git@ remote in components) exits 1 naming the component; kubectl never runs', async () => {
    const root = checkout((r) => editDev(r, (k) => void list(k, 'components').push('git@github.com:org/repo.git//components/x')));
    assertRefused(await renderDev(root), `${DEV}: components[1] "git@github.com:org/repo.git//components/x" is refused: a Git remote`);
  });

  it('adversarial: symlink to /etc/passwd named in resources exits 1 naming the symlink; kubectl never runs', async () => {
    const root = checkout((r) => {
      symlinkSync('/etc/passwd', join(r, 'gitops/overlays/dev/passwd.yaml'));
      editDev(r, (k) => void list(k, 'resources').push('passwd.yaml'));
    });
    assertRefused(await renderDev(root), 'gitops/overlays/dev/passwd.yaml', /is a symlink; symlinks under gitops\/ are not rendered/);
  });

  it('adversarial: a symlink anywhere under gitops/ (not referenced) is refused as the worker refuses the commit; kubectl never runs', async () => {
    const root = checkout((r) => {
      mkdirSync(join(r, 'gitops/base/extra'), { recursive: true });
      symlinkSync('../../overlays', join(r, 'gitops/base/extra/loop'));
    });
    assertRefused(await renderDev(root), /: gitops\/base\/extra\/loop in .* is a symlink; symlinks under gitops\/ are not rendered — commit the file itself$/m);
  });

  it('adversarial: patch path escaping the root (../../../../etc/passwd) exits 1 naming patches[N].path; kubectl never runs', async () => {
    const root = checkout((r) => editDev(r, (k) => void list(k, 'patches').push({ path: '../../../../etc/passwd' })));
    const patches = (parse(readFileSync(join(root, DEV), 'utf8')) as { patches: unknown[] }).patches.length - 1;
    assertRefused(await renderDev(root), `${DEV}: patches[${patches}].path "../../../../etc/passwd" is refused: it leaves the repository root`);
  });

  it('adversarial: a reference out of gitops/ into the rest of the checkout is refused as missing, as in the worker\'s exported tree; kubectl never runs', async () => {
    const root = checkout((r) => editDev(r, (k) => void list(k, 'resources').push('../../../README.md')));
    assert.ok(existsSync(join(root, 'README.md')), 'the file exists in the checkout');
    assertRefused(await renderDev(root), `${DEV}: resources[1] "../../../README.md" is refused: no such file or directory in the commit`);
  });

  it('adversarial: helmCharts exits 1 naming the field; kubectl never runs', async () => {
    const root = checkout((r) => editDev(r, (k) => void (k['helmCharts'] = [{ name: 'evil', repo: 'http://127.0.0.1:9/charts', version: '1.0.0' }])));
    assertRefused(await renderDev(root), `${DEV}: helmCharts `, /Helm charts are not rendered/);
  });

  it('adversarial: a symlink whose name carries a newline and terminal escapes is reported on one line, escaped; kubectl never runs', async () => {
    const root = checkout((r) => symlinkSync('/etc/passwd', join(r, 'gitops/x\n\u001b[2Jforged')));
    const res = await renderDev(root);
    assertRefused(res, 'gitops/x\\n\\u{001b}[2Jforged');
    assert.equal(res.err.includes('\u001b'), false);
  });

  it('the repository\'s own catalog passes and, with a real kubectl, the dev overlay renders (no cluster contacted)', async (t) => {
    const cached = join(homedir(), '.cache/logstack-sandbox/build/kube-v1.36.3/bin/kubectl');
    const kubectl = process.env['LOGSTACK_KUBECTL'] ?? (existsSync(cached) ? cached : undefined);
    if (!kubectl) {
      t.skip('no kubectl: set LOGSTACK_KUBECTL');
      return;
    }
    const res = await cli(['render', 'dev', '--catalog', join(REPO, 'gitops/environments.yaml'), '--kubectl', kubectl, '-o', 'json']);
    assert.equal(res.code, 0, res.err);
    const kinds = (JSON.parse(res.out) as { kind: string }[]).map((o) => o.kind);
    assert.ok(kinds.includes('LokiStack') && kinds.includes('ClusterLogForwarder'), kinds.join(','));
  });
});
