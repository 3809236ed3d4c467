/**
 * The render confinement rules (domain/render-confinement.ts) over an in-memory tree: a benign graph that
 * uses every kind of local path field passes; URLs, remote bases, absolute paths, escapes, missing paths,
 * symlinks (on the way or as the kustomization itself), Helm charts and non-builtin plugins are refused
 * naming file, field and value; the tree is only ever asked for normalised paths inside its root.
 * Pure; runs on Node and Deno.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { stringify } from 'yaml';
import {
  inspectKustomizationGraph,
  kustomizeArgs,
  KUSTOMIZE_ENV,
  MAX_KUSTOMIZATION_BYTES,
  remoteOrAbsolute,
  RenderRefused,
  resolveInTree,
  symlinksMessage,
  type RenderRefusal,
  type RenderTree,
} from '../../domain/render-confinement.ts';

type Node = string | { readonly symlink: string } | { readonly other: true };

/** An in-memory tree: files by root-relative path (directories implied), and every path it was asked for. */
function memoryTree(files: Readonly<Record<string, Node>>): RenderTree & { readonly asked: string[] } {
  const asked: string[] = [];
  const dirs = new Set<string>();
  for (const path of Object.keys(files)) {
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
  }
  return {
    asked,
    entry(path) {
      asked.push(path);
      const node = files[path];
      if (node === undefined) return Promise.resolve(dirs.has(path) ? { kind: 'directory' as const, size: 0 } : undefined);
      if (typeof node === 'string') return Promise.resolve({ kind: 'file' as const, size: new TextEncoder().encode(node).length });
      return Promise.resolve({ kind: 'symlink' in node ? ('symlink' as const) : ('other' as const), size: 0 });
    },
    text(path) {
      asked.push(path);
      const node = files[path];
      if (typeof node !== 'string') return Promise.reject(new Error(`not a file: ${path}`));
      return Promise.resolve(node);
    },
  };
}

const k = (body: Record<string, unknown>): string => stringify({ apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization', ...body });
const cm = (name: string): string => stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name } });

const BASE: Readonly<Record<string, Node>> = {
  'gitops/base/kustomization.yaml': k({ resources: ['cm.yaml'] }),
  'gitops/base/cm.yaml': cm('base'),
};

async function refusalOf(tree: RenderTree, overlay = 'gitops/overlays/dev'): Promise<RenderRefusal> {
  try {
    await inspectKustomizationGraph(tree, overlay);
  } catch (error) {
    assert.ok(error instanceof RenderRefused, `a RenderRefused, got ${String(error)}`);
    assert.equal(error.message, `${error.refusal.file}: ${error.refusal.field} ${JSON.stringify(error.refusal.value)} is refused: ${error.refusal.reason}`);
    return error.refusal;
  }
  return assert.fail('the tree passed the inspection');
}

/** The overlay `gitops/overlays/dev` with `body` as its kustomization and `extra` files beside the base. */
const overlay = (body: Record<string, unknown>, extra: Readonly<Record<string, Node>> = {}) =>
  memoryTree({ ...BASE, 'gitops/overlays/dev/kustomization.yaml': k(body), ...extra });

describe('render confinement rules (pure, in-memory tree)', () => {
  it('a graph using every kind of local path field passes, and the tree is asked only normalised paths inside the root', async () => {
    const tree = overlay(
      {
        resources: ['../../base', 'cm.yaml'],
        components: ['../../components/c'],
        configMapGenerator: [{ name: 'g', files: ['settings.txt', 'renamed=settings.txt'], envs: ['vars.env'] }],
        secretGenerator: [{ name: 's', env: 'vars.env' }],
        patches: [{ path: 'patch.yaml' }, { patch: 'inline', target: { kind: 'ConfigMap' } }],
        patchesStrategicMerge: ['apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: plain\n', 'patch.yaml'],
        transformers: ['labels.yaml', 'apiVersion: builtin\nkind: PatchTransformer\nmetadata:\n  name: p\npath: patch.yaml\n'],
        openapi: { path: 'schema.json' },
        crds: ['./crd.yaml'],
      },
      {
        'gitops/overlays/dev/cm.yaml': cm('dev'),
        'gitops/overlays/dev/patch.yaml': cm('dev'),
        'gitops/overlays/dev/settings.txt': 'x=1\n',
        'gitops/overlays/dev/vars.env': 'A=1\n',
        'gitops/overlays/dev/schema.json': '{}',
        'gitops/overlays/dev/crd.yaml': cm('crd'),
        'gitops/overlays/dev/labels.yaml': stringify({ apiVersion: 'builtin', kind: 'LabelTransformer', metadata: { name: 'l' }, labels: { a: 'b' } }),
        'gitops/components/c/kustomization.yaml': stringify({ apiVersion: 'kustomize.config.k8s.io/v1alpha1', kind: 'Component', resources: ['x.yaml'] }),
        'gitops/components/c/x.yaml': cm('x'),
      },
    );
    await inspectKustomizationGraph(tree, 'gitops/overlays/dev');
    assert.ok(tree.asked.includes('gitops/base/kustomization.yaml'));
    assert.ok(tree.asked.includes('gitops/components/c/kustomization.yaml'));
    for (const path of tree.asked) {
      assert.ok(path !== '' && !path.startsWith('/') && path.split('/').every((p) => p !== '' && p !== '.' && p !== '..'), `normalised: ${JSON.stringify(path)}`);
    }
  });

  const rows: { row: string; body: Record<string, unknown>; extra?: Record<string, Node>; field: string; value?: string; reason: RegExp; file?: string }[] = [
    { row: 'URL in resources', body: { resources: ['../../base', 'http://127.0.0.1:1/x.yaml'] }, field: 'resources[1]', value: 'http://127.0.0.1:1/x.yaml', reason: /^a URL/ },
    { row: 'remote base shorthand', body: { resources: ['github.com/org/repo//path?ref=x'] }, field: 'resources[0]', reason: /^a remote base/ },
    { row: 'git@ remote in components', body: { components: ['git@github.com:org/repo.git//c'] }, field: 'components[0]', reason: /^a Git remote/ },
    { row: 'absolute path in crds', body: { crds: ['/etc/passwd'] }, field: 'crds[0]', reason: /^an absolute path/ },
    { row: 'escape above the root', body: { patches: [{ path: '../../../../etc/passwd' }] }, field: 'patches[0].path', reason: /leaves the repository root/ },
    { row: 'missing path', body: { resources: ['../../nothing'] }, field: 'resources[0]', reason: /no such file or directory/ },
    { row: 'URL in a generator files entry', body: { configMapGenerator: [{ name: 'g', files: ['x.yaml=https://h/x'] }] }, field: 'configMapGenerator[0].files[0]', reason: /^a URL/ },
    { row: 'helmCharts', body: { helmCharts: [{ name: 'evil', repo: 'https://charts' }] }, field: 'helmCharts', reason: /^Helm charts are not rendered/ },
    { row: 'helmGlobals', body: { helmGlobals: { chartHome: 'charts' } }, field: 'helmGlobals', reason: /^Helm charts/ },
    {
      row: 'symlink on the way',
      body: { resources: ['link/cm.yaml'] },
      extra: { 'gitops/overlays/dev/link': { symlink: '/etc' } },
      field: 'resources[0]',
      reason: /^gitops\/overlays\/dev\/link is a symlink; symlinks are not rendered$/,
    },
    {
      row: 'HelmChartInflationGenerator plugin file',
      body: { generators: ['helm.yaml'] },
      extra: { 'gitops/overlays/dev/helm.yaml': stringify({ apiVersion: 'builtin', kind: 'HelmChartInflationGenerator', metadata: { name: 'h' } }) },
      field: '(plugin)',
      file: 'gitops/overlays/dev/helm.yaml',
      reason: /^Helm charts/,
    },
    {
      row: 'non-builtin plugin inline',
      body: { transformers: ['apiVersion: someteam.example.com/v1\nkind: Exec\nmetadata:\n  name: x\n'] },
      field: 'transformers[0]',
      value: 'Exec',
      reason: /only builtin kustomize plugins/,
    },
    {
      row: 'URL in a builtin plugin path field',
      body: { transformers: ['apiVersion: builtin\nkind: PatchTransformer\nmetadata:\n  name: p\npath: https://h/p.yaml\n'] },
      field: 'transformers[0](PatchTransformer).path',
      reason: /^a URL/,
    },
    { row: 'a device or socket', body: { resources: ['dev.yaml'] }, extra: { 'gitops/overlays/dev/dev.yaml': { other: true } }, field: 'resources[0]', reason: /not a regular file or directory/ },
    { row: 'a non-string path', body: { resources: [{ a: 1 }] }, field: 'resources[0]', reason: /not a path string/ },
  ];
  for (const r of rows) {
    it(`refuses ${r.row}, naming file, field and value`, async () => {
      const refusal = await refusalOf(overlay(r.body, r.extra));
      assert.equal(refusal.file, r.file ?? 'gitops/overlays/dev/kustomization.yaml');
      assert.equal(refusal.field, r.field);
      if (r.value !== undefined) assert.equal(refusal.value, r.value);
      assert.match(refusal.reason, r.reason);
    });
  }

  it('refuses a symlinked kustomization file, a directory without one, an oversized kustomization and a base that escapes', async () => {
    const linked = await refusalOf(memoryTree({ ...BASE, 'gitops/overlays/dev/kustomization.yaml': { symlink: '/etc/passwd' } }));
    assert.deepEqual([linked.file, linked.field], ['gitops/overlays/dev/kustomization.yaml', '(file)']);
    const empty = await refusalOf(memoryTree({ ...BASE, 'gitops/overlays/dev/README': 'x' }));
    assert.deepEqual([empty.file, empty.field, empty.value], ['gitops/overlays/dev', 'overlay', 'gitops/overlays/dev']);
    const big = await refusalOf(memoryTree({ ...BASE, 'gitops/overlays/dev/kustomization.yaml': `# ${'x'.repeat(MAX_KUSTOMIZATION_BYTES)}\n` }));
    assert.match(big.reason, /larger than 1048576 bytes/);
    // The base itself, two levels down, reaches out: the refusal names the base's file.
    const deep = await refusalOf(memoryTree({ 'gitops/base/kustomization.yaml': k({ resources: ['../../../x'] }), 'gitops/overlays/dev/kustomization.yaml': k({ resources: ['../../base'] }) }));
    assert.deepEqual([deep.file, deep.field], ['gitops/base/kustomization.yaml', 'resources[0]']);
    assert.match(deep.reason, /leaves the repository root/);
  });

  it('resolves paths segment by segment, independent of where the tree lives (pure)', () => {
    assert.equal(resolveInTree('gitops/overlays/dev', '../../base'), 'gitops/base');
    assert.equal(resolveInTree('gitops/overlays/dev', './patches//a.yaml'), 'gitops/overlays/dev/patches/a.yaml');
    assert.equal(resolveInTree('gitops/overlays/dev', '../../..'), '');
    assert.equal(resolveInTree('gitops/overlays/dev', '../../../..'), undefined);
    // Out and back in by the root's own name is an escape: the root has no name inside the tree.
    assert.equal(resolveInTree('gitops', '../../r/gitops/x'), undefined);
    for (const remote of ['http://h/x.yaml', 'git@github.com:o/r.git', 'github.com/o/r//p?ref=v1', 'alice@host:repo', 'base?ref=main', '/etc/passwd', '~/x', 'C:\\x', '']) {
      assert.ok(remoteOrAbsolute(remote), `${remote} refused`);
    }
    for (const local of ['../../base', 'patches/a.yaml', 'x.yaml', 'dir.with.dots/k']) assert.equal(remoteOrAbsolute(local), undefined, local);
  });

  it('the kustomize call and the symlink message are the ones both rooms use (pure)', () => {
    assert.deepEqual(kustomizeArgs('/r/gitops/overlays/dev'), ['kustomize', '--load-restrictor', 'LoadRestrictionsRootOnly', '/r/gitops/overlays/dev']);
    assert.equal(KUSTOMIZE_ENV['HTTPS_PROXY'], 'http://127.0.0.1:9');
    assert.equal(KUSTOMIZE_ENV['GIT_ALLOW_PROTOCOL'], 'none');
    assert.equal(
      symlinksMessage(['gitops/a.yaml', 'gitops/b.yaml'], 'at abc'),
      'gitops/a.yaml at abc is a symlink (and 1 more); symlinks under gitops/ are not rendered — commit the file itself',
    );
  });
});
