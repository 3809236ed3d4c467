/**
 * Confinement of a render, the rules: before `kubectl kustomize` runs — in the worker (`activities/gitops/`)
 * and in `logstack render` (`client/local/render.ts`) — the tree it is about to build is inspected, because
 * kustomize itself has no switch against remote content (`--load-restrictor` confines local files only; a
 * `resources` entry that is a URL or a remote base is fetched over the network, and a symlink is followed
 * wherever it points).
 *
 * **Rules.** Starting at the overlay, every kustomization of the graph (`kustomization.yaml`,
 * `kustomization.yml` or `Kustomization`, reached through `resources`, `bases`, `components` and directory
 * entries of `transformers`/`generators`/`validators`) is parsed, and every path field it has —
 * `resources`, `bases`, `components`, `crds`, `configurations`, `patchesStrategicMerge`,
 * `patches[].path`, `patchesJson6902[].path`, `replacements[].path`, `openapi.path`, the `files`, `envs`
 * and `env` of `configMapGenerator`/`secretGenerator`, the entries of `transformers`, `generators` and
 * `validators` and the path fields of the builtin plugin configurations they name — must be a relative
 * path to a file or directory that exists in the tree, stays inside the tree's root (judged on the path's
 * text, `..` by `..`, so it never depends on where the tree lives), and has no symlink on its way. A URL
 * (`scheme://`), an scp-like or `git@` remote, a remote-base shorthand (`github.com/org/repo//path?ref=x`),
 * an absolute path, an escape above the root, a missing path (which kustomize would try as a remote base)
 * and a symlink are refused; so are Helm charts (`helmCharts`, `helmChartInflationGenerator`, `helmGlobals`,
 * a `HelmChartInflationGenerator` plugin: kustomize would run `helm`, which fetches charts) and non-builtin
 * plugins. Inline entries (a multi-line string) are content, not references, and are checked as plugin
 * configurations where they are ones.
 *
 * The refusal names the file (relative to the tree's root), the field and the value. The tree is read
 * through {@link RenderTree}, which each room implements over its own file access; this module is pure
 * (posix path text only, no `node:*`) and runs unchanged on Node and Deno.
 */
import { parseAllDocuments } from 'yaml';

/** Why a tree may not be rendered: the file, the field and the offending value. */
export interface RenderRefusal {
  /** The file holding the reference, relative to the tree's root (`gitops/overlays/dev/kustomization.yaml`). */
  readonly file: string;
  /** The field, with its index (`resources[2]`, `patches[0].path`). */
  readonly field: string;
  /** The offending value (truncated; never file contents). */
  readonly value: string;
  /** What is wrong, in a few words. */
  readonly reason: string;
}

/** Thrown by {@link inspectKustomizationGraph}; the worker turns it into `ManifestRejected`, the CLI into exit 1. */
export class RenderRefused extends Error {
  /** The file, field, value and reason. */
  readonly refusal: RenderRefusal;
  constructor(refusal: RenderRefusal) {
    super(`${refusal.file}: ${refusal.field} ${JSON.stringify(refusal.value)} is refused: ${refusal.reason}`);
    this.name = 'RenderRefused';
    this.refusal = refusal;
  }
}

/** What a path of the tree is, without following a symlink (`lstat`), and its size in bytes. */
export interface RenderTreeEntry {
  readonly kind: 'file' | 'directory' | 'symlink' | 'other';
  readonly size: number;
}

/**
 * Read-only access to the tree being rendered. Paths are posix, relative to the tree's root, normalised
 * (no `.`, `..` or empty segment; `''` is the root itself); the inspection never asks for anything else.
 */
export interface RenderTree {
  /** The entry at `path` without following a symlink; undefined when nothing is there. */
  entry(path: string): Promise<RenderTreeEntry | undefined>;
  /** The UTF-8 text of the regular file at `path` (asked only after {@link entry} said `file`). */
  text(path: string): Promise<string>;
}

/** Names kustomize looks for in a directory, in its order. */
export const KUSTOMIZATION_FILES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'] as const;

/** Fields that would make kustomize run `helm` (which downloads charts). */
const HELM_FIELDS = ['helmCharts', 'helmChartInflationGenerator', 'helmGlobals'] as const;

const HELM_REASON = 'Helm charts are not rendered (kustomize would run helm, which fetches charts); render the chart into the repository';

/** Builtin plugin kinds and their path fields (top level; `replacements[].path` for ReplacementTransformer). */
const BUILTIN_PLUGINS: Readonly<Record<string, readonly string[]>> = {
  AnnotationsTransformer: [],
  ConfigMapGenerator: ['files', 'envs', 'env'],
  HashTransformer: [],
  ImageTagTransformer: [],
  LabelTransformer: [],
  NamespaceTransformer: [],
  PatchJson6902Transformer: ['path'],
  PatchStrategicMergeTransformer: ['paths'],
  PatchTransformer: ['path'],
  PrefixSuffixTransformer: [],
  PrefixTransformer: [],
  SuffixTransformer: [],
  ReplacementTransformer: [],
  ReplicaCountTransformer: [],
  SecretGenerator: ['files', 'envs', 'env'],
  SortOrderTransformer: [],
  ValueAddTransformer: [],
};

/** A guard against pathological graphs: kustomizations and plugin files visited at most. */
const MAX_VISITS = 1000;
/** Kustomization and plugin files larger than this are refused unread. */
export const MAX_KUSTOMIZATION_BYTES = 1024 * 1024;

/** Remote-base shorthands of kustomize (hosts it knows without a scheme). */
const REMOTE_HOST_SHORTHAND = /^(?:github\.com|gitlab\.com|bitbucket\.org|dev\.azure\.com|ssh\.dev\.azure\.com)(?:[/:]|$)/i;
/** `user@host:path` (scp-like Git remotes, `git@github.com:org/repo`). */
const SCP_LIKE = /^[^/\s]+@[^/\s:]+:/;

const short = (value: string): string => (value.length > 200 ? `${value.slice(0, 200)}…` : value);

/**
 * Why `value` cannot be a local reference, judged by its text alone; undefined when it may be one.
 * Pure (used by tests and by {@link inspectKustomizationGraph}).
 */
export function remoteOrAbsolute(value: string): string | undefined {
  const v = value.trim();
  if (v === '') return 'an empty path';
  if (v.includes('://')) return 'a URL: remote resources are not rendered; vendor the content into the repository';
  if (/^git@/i.test(v) || SCP_LIKE.test(v)) return 'a Git remote: remote bases are not rendered; vendor the content into the repository';
  if (REMOTE_HOST_SHORTHAND.test(v)) return 'a remote base: remote bases are not rendered; vendor the content into the repository';
  if (/[?&](?:ref|version|submodules|timeout)=/.test(v)) return 'a remote base (it carries a query): remote bases are not rendered';
  if (v.startsWith('/') || /^[A-Za-z]:[\\/]/.test(v) || v.startsWith('~')) return 'an absolute path: paths must be relative to the kustomization';
  if (v.includes('\0')) return 'a path with a NUL byte';
  return undefined;
}

/**
 * The root-relative path `value` names from the root-relative directory `base`, normalised segment by
 * segment (posix); undefined when a `..` would climb above the root. Pure.
 */
export function resolveInTree(base: string, value: string): string | undefined {
  const parts = base.split('/').filter((p) => p !== '' && p !== '.');
  for (const part of value.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (parts.length === 0) return undefined;
      parts.pop();
    } else parts.push(part);
  }
  return parts.join('/');
}

/** The parent of a root-relative path (`''` for a top-level entry). */
const parentOf = (path: string): string => path.slice(0, Math.max(0, path.lastIndexOf('/')));
const joinTree = (dir: string, name: string): string => (dir === '' ? name : `${dir}/${name}`);

interface Context {
  readonly tree: RenderTree;
  readonly visited: Set<string>;
  visits: number;
}

function refuse(file: string, field: string, value: string, reason: string): never {
  throw new RenderRefused({ file: file || '.', field, value: short(value), reason });
}

/**
 * Resolves `value` relative to `baseDir` inside the root, checking every path component: refuses a
 * remote or absolute value, an escape above the root, a symlink on the way and a missing path. Returns
 * the root-relative path and whether it is a directory.
 */
async function localPath(ctx: Context, file: string, field: string, value: unknown, baseDir: string): Promise<{ path: string; dir: boolean }> {
  if (typeof value !== 'string') refuse(file, field, JSON.stringify(value) ?? String(value), 'not a path string');
  const why = remoteOrAbsolute(value);
  if (why) refuse(file, field, value, why);
  const target = resolveInTree(baseDir, value.trim());
  if (target === undefined) refuse(file, field, value, 'it leaves the repository root');
  let current = '';
  let dir = true;
  for (const part of target === '' ? [] : target.split('/')) {
    current = joinTree(current, part);
    const entry = await ctx.tree.entry(current);
    if (!entry) refuse(file, field, value, 'no such file or directory in the commit (kustomize would try it as a remote base)');
    if (entry.kind === 'symlink') refuse(file, field, value, `${current} is a symlink; symlinks are not rendered`);
    if (entry.kind === 'other') refuse(file, field, value, 'not a regular file or directory');
    dir = entry.kind === 'directory';
  }
  return { path: target, dir };
}

async function readSmallFile(ctx: Context, file: string): Promise<string> {
  const entry = await ctx.tree.entry(file);
  if (entry && entry.size > MAX_KUSTOMIZATION_BYTES) refuse(file, '(file)', file, `larger than ${MAX_KUSTOMIZATION_BYTES} bytes`);
  return ctx.tree.text(file);
}

function parseDocuments(file: string, text: string): unknown[] {
  const out: unknown[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) refuse(file, '(file)', file, `not valid YAML: ${doc.errors[0]?.message.split('\n')[0] ?? ''}`);
    out.push(doc.toJS({ maxAliasCount: 100 }));
  }
  return out;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function listOf(file: string, field: string, value: unknown): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) refuse(file, field, JSON.stringify(value).slice(0, 200), 'must be a list');
  return value;
}

/** A generator's `files` entry is `[key=]path`. */
function filesEntryPath(entry: unknown): unknown {
  if (typeof entry !== 'string') return entry;
  const eq = entry.indexOf('=');
  return eq >= 0 ? entry.slice(eq + 1) : entry;
}

async function checkGenerator(ctx: Context, file: string, field: string, gen: unknown, baseDir: string): Promise<void> {
  if (!isRecord(gen)) return;
  for (const [i, entry] of listOf(file, `${field}.files`, gen['files']).entries()) {
    await localPath(ctx, file, `${field}.files[${i}]`, filesEntryPath(entry), baseDir);
  }
  for (const [i, entry] of listOf(file, `${field}.envs`, gen['envs']).entries()) {
    await localPath(ctx, file, `${field}.envs[${i}]`, entry, baseDir);
  }
  if (gen['env'] !== undefined) await localPath(ctx, file, `${field}.env`, gen['env'], baseDir);
}

/** Checks one plugin configuration object (builtin kinds only; Helm refused). */
async function checkPluginConfig(ctx: Context, file: string, field: string, config: unknown, baseDir: string): Promise<void> {
  if (config === null || config === undefined) return;
  if (!isRecord(config)) refuse(file, field, JSON.stringify(config).slice(0, 200), 'not a plugin configuration object');
  const kind = typeof config['kind'] === 'string' ? config['kind'] : '';
  if (kind === 'HelmChartInflationGenerator') refuse(file, field, kind, HELM_REASON);
  const paths = BUILTIN_PLUGINS[kind];
  if (!paths) refuse(file, field, kind || '(no kind)', 'only builtin kustomize plugins are rendered');
  if (kind === 'ConfigMapGenerator' || kind === 'SecretGenerator') {
    await checkGenerator(ctx, file, `${field}(${kind})`, config, baseDir);
    return;
  }
  for (const key of paths) {
    const value = config[key];
    if (value === undefined) continue;
    if (Array.isArray(value)) {
      for (const [i, entry] of value.entries()) await localPath(ctx, file, `${field}(${kind}).${key}[${i}]`, entry, baseDir);
    } else await localPath(ctx, file, `${field}(${kind}).${key}`, value, baseDir);
  }
  if (kind === 'ReplacementTransformer') {
    for (const [i, r] of listOf(file, `${field}.replacements`, config['replacements']).entries()) {
      if (isRecord(r) && r['path'] !== undefined) await localPath(ctx, file, `${field}(${kind}).replacements[${i}].path`, r['path'], baseDir);
    }
  }
}

/** An entry of `transformers`/`generators`/`validators`: inline configuration, a kustomization directory or a plugin file. */
async function checkPluginEntry(ctx: Context, file: string, field: string, entry: unknown, baseDir: string): Promise<void> {
  if (typeof entry === 'string' && entry.includes('\n')) {
    for (const doc of parseDocuments(file, entry)) await checkPluginConfig(ctx, file, field, doc, baseDir);
    return;
  }
  const target = await localPath(ctx, file, field, entry, baseDir);
  if (target.dir) {
    await visitKustomization(ctx, target.path, file, field);
    return;
  }
  if (++ctx.visits > MAX_VISITS) refuse(file, field, String(entry), `more than ${MAX_VISITS} files to inspect`);
  for (const doc of parseDocuments(target.path, await readSmallFile(ctx, target.path))) {
    await checkPluginConfig(ctx, target.path, '(plugin)', doc, parentOf(target.path));
  }
}

/** Finds the kustomization file of `dir`, or refuses naming the entry that led there. */
async function kustomizationFile(ctx: Context, dir: string, from: string, field: string): Promise<string> {
  for (const name of KUSTOMIZATION_FILES) {
    const candidate = joinTree(dir, name);
    const entry = await ctx.tree.entry(candidate);
    if (!entry) continue;
    if (entry.kind === 'symlink') refuse(candidate, '(file)', candidate, 'a symlink; symlinks are not rendered');
    if (entry.kind === 'file') return candidate;
  }
  return refuse(from, field, dir || '.', `a directory without ${KUSTOMIZATION_FILES.join(', ')}`);
}

async function visitKustomization(ctx: Context, dir: string, from: string, field: string): Promise<void> {
  if (ctx.visited.has(dir)) return;
  ctx.visited.add(dir);
  if (++ctx.visits > MAX_VISITS) refuse(from, field, dir || '.', `more than ${MAX_VISITS} files to inspect`);
  const file = await kustomizationFile(ctx, dir, from, field);
  const docs = parseDocuments(file, await readSmallFile(ctx, file));
  if (docs.length !== 1 || !isRecord(docs[0])) refuse(file, '(file)', file, 'a kustomization must be one YAML mapping');
  const k = docs[0];

  for (const key of HELM_FIELDS) {
    if (k[key] !== undefined) refuse(file, key, JSON.stringify(k[key]).slice(0, 200), HELM_REASON);
  }
  for (const key of ['resources', 'bases', 'components'] as const) {
    for (const [i, entry] of listOf(file, key, k[key]).entries()) {
      const target = await localPath(ctx, file, `${key}[${i}]`, entry, dir);
      if (target.dir) await visitKustomization(ctx, target.path, file, `${key}[${i}]`);
    }
  }
  for (const key of ['crds', 'configurations'] as const) {
    for (const [i, entry] of listOf(file, key, k[key]).entries()) await localPath(ctx, file, `${key}[${i}]`, entry, dir);
  }
  for (const [i, entry] of listOf(file, 'patchesStrategicMerge', k['patchesStrategicMerge']).entries()) {
    // A multi-line entry is an inline patch (content); anything else is a file reference.
    if (typeof entry === 'string' && entry.includes('\n')) continue;
    await localPath(ctx, file, `patchesStrategicMerge[${i}]`, entry, dir);
  }
  for (const key of ['patches', 'patchesJson6902', 'replacements'] as const) {
    for (const [i, entry] of listOf(file, key, k[key]).entries()) {
      if (isRecord(entry) && entry['path'] !== undefined) await localPath(ctx, file, `${key}[${i}].path`, entry['path'], dir);
    }
  }
  if (isRecord(k['openapi']) && k['openapi']['path'] !== undefined) await localPath(ctx, file, 'openapi.path', k['openapi']['path'], dir);
  for (const key of ['configMapGenerator', 'secretGenerator'] as const) {
    for (const [i, gen] of listOf(file, key, k[key]).entries()) await checkGenerator(ctx, file, `${key}[${i}]`, gen, dir);
  }
  for (const key of ['transformers', 'generators', 'validators'] as const) {
    for (const [i, entry] of listOf(file, key, k[key]).entries()) await checkPluginEntry(ctx, file, `${key}[${i}]`, entry, dir);
  }
}

/**
 * Inspects the kustomization graph of `overlay` (a posix path relative to the tree's root, like
 * `gitops/overlays/dev`). Read-only; reads only kustomization and plugin files (at most 1 MiB each, 1000 in all).
 * @throws RenderRefused naming the first file, field and value that may not be rendered.
 */
export async function inspectKustomizationGraph(tree: RenderTree, overlay: string): Promise<void> {
  const ctx: Context = { tree, visited: new Set(), visits: 0 };
  const start = await localPath(ctx, resolveInTree('', overlay) ?? overlay, 'overlay', overlay, '');
  if (!start.dir) refuse(start.path, 'overlay', overlay, 'the overlay must be a directory');
  await visitKustomization(ctx, start.path, start.path, 'overlay');
}

/**
 * The message for a tree that holds symlinks where renders read (the worker: the commit's `gitops/`; the
 * CLI: the checkout's `gitops/`); `where` says which (`at <commit>`, `in <checkout>`). Pure.
 */
export function symlinksMessage(links: readonly string[], where: string): string {
  return `${links[0] ?? ''} ${where} is a symlink${links.length > 1 ? ` (and ${links.length - 1} more)` : ''}; symlinks under gitops/ are not rendered — commit the file itself`;
}

/**
 * The arguments of the one kustomize call both rooms make after the inspection passed:
 * `kubectl kustomize --load-restrictor LoadRestrictionsRootOnly <overlayDir>` (files outside each
 * kustomization's own directory refused by kustomize too, as a second line behind the inspection).
 */
export function kustomizeArgs(overlayDir: string): string[] {
  return ['kustomize', '--load-restrictor', 'LoadRestrictionsRootOnly', overlayDir];
}

/**
 * Environment variables set over the caller's for `kubectl kustomize`: proxies pointed at a closed port
 * (no proxy-reachable network), no Git protocol, no prompt, no plugin directory.
 */
export const KUSTOMIZE_ENV: Readonly<Record<string, string>> = {
  HTTP_PROXY: 'http://127.0.0.1:9',
  HTTPS_PROXY: 'http://127.0.0.1:9',
  http_proxy: 'http://127.0.0.1:9',
  https_proxy: 'http://127.0.0.1:9',
  NO_PROXY: '',
  no_proxy: '',
  GIT_ALLOW_PROTOCOL: 'none',
  GIT_TERMINAL_PROMPT: '0',
  KUSTOMIZE_PLUGIN_HOME: '/nonexistent',
};
