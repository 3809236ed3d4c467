/**
 * Shared by the gitops tests and `npm run gitops:validate`: rendering every overlay with the same
 * kubectl the sandbox uses, reading the catalogs, and server-side dry-runs against the sandbox.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseAllDocuments, parse, stringify } from 'yaml';
import { type Catalog, parseCatalog } from '../../domain/environments.ts';
import { readSandbox, type SandboxRuntime } from '../../sandbox/status.ts';

/** Repository root. */
export const ROOT = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');
/** The gitops tree. */
export const GITOPS = join(ROOT, 'gitops');

/** Every directory that must render on its own, by short name. */
export const RENDER_TARGETS = {
  bootstrap: 'gitops/overlays/bootstrap',
  dev: 'gitops/overlays/dev',
  staging: 'gitops/overlays/staging',
  production: 'gitops/overlays/production',
  apps: 'gitops/apps',
  /** The admission policies a cluster administrator applies beside gitops/base/orchestrator. */
  admission: 'gitops/base/orchestrator/admission',
} as const;
export type RenderTarget = keyof typeof RENDER_TARGETS;
/** The environment overlays (the others are bootstrap and the Argo CD hub). */
export const ENVIRONMENTS = ['dev', 'staging', 'production'] as const;
export type EnvironmentName = (typeof ENVIRONMENTS)[number];

/** A Kubernetes object as rendered: only the envelope is typed, the rest is read with {@link at}. */
export interface KObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
    [key: string]: unknown;
  };
  [key: string]: unknown;
}

/** Reads a nested field; undefined when any step is missing. */
export function at(value: unknown, ...path: (string | number)[]): unknown {
  let cur: unknown = value;
  for (const step of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string | number, unknown>)[step];
  }
  return cur;
}

/** `kind namespace/name` for messages. */
export function refOf(o: KObject): string {
  return `${o.kind} ${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`;
}

/** API group of an object ('' for the core group). */
export function groupOf(o: KObject): string {
  return o.apiVersion.includes('/') ? (o.apiVersion.split('/')[0] ?? '') : '';
}

/** The object's sync wave (0 when unannotated, as Argo CD reads it). */
export function syncWave(o: KObject): number {
  return Number(o.metadata.annotations?.['argocd.argoproj.io/sync-wave'] ?? '0');
}

/** The object's Argo CD sync options, from the annotation. */
export function syncOptions(o: KObject): string[] {
  const raw = o.metadata.annotations?.['argocd.argoproj.io/sync-options'];
  return raw ? raw.split(',').map((s) => s.trim()) : [];
}

/** The kubectl to render and dry-run with: the sandbox's own build when it is up, else the one on PATH. */
export function kubectlPath(): string {
  return readSandbox()?.kubectl ?? 'kubectl';
}

/** Result of one kubectl invocation. */
export interface Run {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs kubectl synchronously with `input` on stdin. */
export function kubectl(args: readonly string[], input?: string): Run {
  const r = spawnSync(kubectlPath(), args, { input, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw r.error;
  return { status: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
}

/** Parses a multi-document YAML stream into objects, refusing YAML errors. */
export function parseObjects(text: string, source: string): KObject[] {
  const out: KObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length) throw new Error(`${source}: ${doc.errors.map((e) => e.message).join('; ')}`);
    const value: unknown = doc.toJS();
    if (value !== null && value !== undefined) out.push(value as KObject);
  }
  return out;
}

const renders = new Map<string, { text: string; objects: KObject[] }>();

/**
 * Renders a kustomization directory (relative to the repository root) with `kubectl kustomize`.
 * Cached per process. @throws Error carrying kustomize's message when it fails.
 */
export function render(dir: string): { text: string; objects: KObject[] } {
  const cached = renders.get(dir);
  if (cached) return cached;
  const r = kubectl(['kustomize', join(ROOT, dir)]);
  if (r.status !== 0) throw new Error(`kubectl kustomize ${dir} failed:\n${r.stderr}`);
  const result = { text: r.stdout, objects: parseObjects(r.stdout, dir) };
  renders.set(dir, result);
  return result;
}

/** Renders every target. */
export function renderAll(): Record<RenderTarget, KObject[]> {
  const out = {} as Record<RenderTarget, KObject[]>;
  for (const [name, dir] of Object.entries(RENDER_TARGETS) as [RenderTarget, string][]) out[name] = render(dir).objects;
  return out;
}

/**
 * The rendered output in a form independent of the kustomize build that produced it (quoting and
 * line folding differ between kubectl releases): each object re-serialised by the yaml package.
 */
export function normalisedRender(dir: string): string {
  return render(dir)
    .objects.map((o) => stringify(o, { lineWidth: 0 }))
    .join('---\n');
}

/** The two catalogs: the real one and the sandbox's. */
export const CATALOG_FILES = { real: 'gitops/environments.yaml', sandbox: 'sandbox/environments.yaml' } as const;

/** Reads and validates a catalog with the contracts room's schema. */
export function loadCatalog(file: string): Catalog {
  return parseCatalog(parse(readFileSync(join(ROOT, file), 'utf8')), file);
}

/** Every file under `dir` (absolute), recursively, whose name ends with one of `exts`. */
export function filesUnder(dir: string, exts: readonly string[]): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) out.push(...filesUnder(full, exts));
    else if (exts.some((e) => name.endsWith(e))) out.push(full);
  }
  return out.sort();
}

/** Path relative to the repository root. */
export function rel(path: string): string {
  return relative(ROOT, path);
}

/** Every YAML document of every YAML file under gitops/, with its file. */
export function sourceDocuments(): { file: string; docs: unknown[] }[] {
  return filesUnder(GITOPS, ['.yaml', '.yml']).map((file) => ({
    file: rel(file),
    docs: parseAllDocuments(readFileSync(file, 'utf8'))
      .map((d) => d.toJS() as unknown)
      .filter((d) => d !== null && d !== undefined),
  }));
}

// ── sandbox ────────────────────────────────────────────────────────────────────────────────

/** Why the API-server proofs cannot run, or the sandbox facts when they can. */
export function sandboxOrReason(): { sandbox: SandboxRuntime } | { reason: string } {
  const sandbox = readSandbox();
  if (!sandbox) return { reason: 'sandbox not up: no status file; run `npm run sandbox -- up` first' };
  if (!existsSync(sandbox.kubeconfig)) return { reason: `sandbox not up: kubeconfig ${sandbox.kubeconfig} is missing` };
  return { sandbox };
}

/** The sandbox kube context of an environment overlay; bootstrap and apps go to dev. */
export function contextFor(target: RenderTarget): string {
  return `logstack-${target === 'staging' || target === 'production' ? target : 'dev'}`;
}

/** kubectl against one sandbox cluster. */
export function clusterKubectl(sandbox: SandboxRuntime, context: string, args: readonly string[], input?: string): Run {
  return kubectl(['--kubeconfig', sandbox.kubeconfig, '--context', context, ...args], input);
}

/** The project-owned subset CRDs of sandbox/crds. */
export function projectCrdFiles(): string[] {
  return filesUnder(join(ROOT, 'sandbox', 'crds'), ['.yaml']);
}

/**
 * Makes sure the cluster serves the current project-owned CRDs (the sandbox installs them at `up`;
 * re-applying picks up schema edits made since) and waits until they are established.
 * @throws Error with kubectl's message.
 */
export function ensureProjectCrds(sandbox: SandboxRuntime, context: string): void {
  const text = projectCrdFiles()
    .map((f) => readFileSync(f, 'utf8'))
    .join('\n---\n');
  const apply = clusterKubectl(sandbox, context, ['apply', '--server-side', '--force-conflicts', '--field-manager=logstack-sandbox', '-f', '-'], text);
  if (apply.status !== 0) throw new Error(`installing project CRDs on ${context} failed:\n${apply.stderr}`);
  const names = parseObjects(text, 'sandbox/crds').map((o) => `crd/${o.metadata.name}`);
  const wait = clusterKubectl(sandbox, context, ['wait', '--for=condition=Established', '--timeout=60s', ...names]);
  if (wait.status !== 0) throw new Error(`project CRDs not established on ${context}:\n${wait.stderr}`);
}

/**
 * Creates (for real) every namespace the objects live in: a server-side dry-run cannot create a
 * namespace for the objects inside it. Idempotent.
 */
export function ensureNamespaces(sandbox: SandboxRuntime, context: string, objects: readonly KObject[]): string[] {
  const names = [...new Set(objects.map((o) => o.metadata.namespace).filter((n): n is string => !!n))].sort();
  if (!names.length) return names;
  const docs = names.map((name) => stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } })).join('---\n');
  const r = clusterKubectl(sandbox, context, ['apply', '--server-side', '--field-manager=logstack-gitops-test', '-f', '-'], docs);
  if (r.status !== 0) throw new Error(`creating namespaces on ${context} failed:\n${r.stderr}`);
  return names;
}

/** Outcome of dry-running a set of objects. */
export interface DryRun {
  readonly accepted: number;
  readonly total: number;
  readonly rejected: { ref: string; message: string }[];
}

/**
 * Server-side dry-runs each object (field manager `logstack`, strict field validation) and reports
 * which the API server accepted. One kubectl call per object, so every rejection is attributed.
 */
export function serverDryRun(sandbox: SandboxRuntime, context: string, objects: readonly KObject[]): DryRun {
  const rejected: { ref: string; message: string }[] = [];
  for (const o of objects) {
    const r = clusterKubectl(
      sandbox,
      context,
      ['apply', '--server-side', '--dry-run=server', '--field-manager=logstack', '--validate=strict', '-o', 'name', '-f', '-'],
      stringify(o),
    );
    if (r.status !== 0) rejected.push({ ref: refOf(o), message: r.stderr.trim() });
  }
  return { accepted: objects.length - rejected.length, total: objects.length, rejected };
}
