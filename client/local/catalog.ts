/**
 * Reading the environment catalog from a local file: the only file access of the CLI (`validate`,
 * `render`). Every other command talks only to Temporal.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { catalogSchema, findEnvironment, type Catalog, type Environment } from '../../domain/index.ts';
import { CliError, ExitCode } from '../errors.ts';

/** The catalog path: `--catalog`, else `LOGSTACK_CATALOG`, else `gitops/environments.yaml` under the working directory. */
export function catalogPath(flag: string | undefined, env: Readonly<Record<string, string | undefined>>): string {
  return resolve(flag ?? env['LOGSTACK_CATALOG'] ?? 'gitops/environments.yaml');
}

/** One problem found in a catalog file. */
export interface CatalogProblem {
  readonly path: string;
  readonly message: string;
}

/** Result of checking one catalog file. */
export type CatalogCheck = { readonly ok: true; readonly catalog: Catalog } | { readonly ok: false; readonly problems: readonly CatalogProblem[] };

/** The repository root overlays are relative to: the parent of the catalog's folder. */
export function repositoryRoot(file: string): string {
  return resolve(dirname(file), '..');
}

/**
 * Checks a catalog file: readable, YAML without errors, valid against the catalog schema (each issue
 * reported with its path), and every overlay a folder with a kustomization.
 */
export function checkCatalogFile(file: string): CatalogCheck {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    return { ok: false, problems: [{ path: '(file)', message: `cannot read: ${(error as NodeJS.ErrnoException).code ?? String(error)}` }] };
  }
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    return { ok: false, problems: doc.errors.map((e) => ({ path: '(yaml)', message: e.message.split('\n')[0] ?? e.message })) };
  }
  const parsed = catalogSchema().safeParse(doc.toJS());
  if (!parsed.success) {
    return { ok: false, problems: parsed.error.issues.map((i) => ({ path: i.path.length ? i.path.join('.') : '(root)', message: i.message })) };
  }
  const root = repositoryRoot(file);
  const problems: CatalogProblem[] = [];
  parsed.data.environments.forEach((env, i) => {
    const dir = resolve(root, env.overlay);
    const hasKustomization = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'].some((k) => existsSync(resolve(dir, k)));
    if (!existsSync(dir) || !statSync(dir).isDirectory()) problems.push({ path: `environments.${i}.overlay`, message: `${env.overlay} does not exist under ${root}` });
    else if (!hasKustomization) problems.push({ path: `environments.${i}.overlay`, message: `${env.overlay} has no kustomization.yaml` });
  });
  return problems.length > 0 ? { ok: false, problems } : { ok: true, catalog: parsed.data };
}

/**
 * Loads a valid catalog and one of its environments.
 * @throws CliError (usage) listing the problems, or naming the known environments.
 */
export function loadEnvironment(file: string, name: string): { catalog: Catalog; environment: Environment; root: string } {
  const check = checkCatalogFile(file);
  if (!check.ok) {
    throw new CliError(`${file} is invalid; run \`logstack validate\`:\n${check.problems.map((p) => `  - ${p.path}: ${p.message}`).join('\n')}`, ExitCode.usage);
  }
  return { catalog: check.catalog, environment: findEnvironment(check.catalog, name), root: repositoryRoot(file) };
}
