/**
 * The environment catalog, read from the file the worker is configured with and validated by the
 * contracts room's schema on every call (the file may change between workflow runs).
 */
import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { type Catalog, FailureType, parseCatalog } from '../domain/index.ts';
import { fromDomainError, nonRetryable } from './errors.ts';
import { redactUrl } from './gitops/exec.ts';

/** Reads and validates the catalog at `path`. */
export async function readCatalogFile(path: string): Promise<Catalog> {
  return parseCatalogText(path, await readCatalogText(path));
}

async function readCatalogText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw nonRetryable(FailureType.InvalidInput, `cannot read the environment catalog ${path}: ${(error as Error).message}; set LOGSTACK_CATALOG to the catalog file`, { path });
  }
}

function parseCatalogText(path: string, text: string): Catalog {
  let document: unknown;
  try {
    document = parse(text);
  } catch (error) {
    throw nonRetryable(FailureType.InvalidInput, `the environment catalog ${path} is not valid YAML: ${(error as Error).message}`, { path });
  }
  try {
    return parseCatalog(document, `environment catalog ${path}`);
  } catch (error) {
    throw fromDomainError(error);
  }
}

/** Creates `loadCatalog` for the catalog file at `catalogPath`. */
export function createLoadCatalog(deps: { catalogPath: string }) {
  /** The last text read and what it validated to: the file is read on every call, parsed only when it changed. */
  let last: { readonly text: string; readonly catalog: Catalog } | undefined;
  /**
   * Reads and validates the configured environment catalog. Read-only. The file is read on every call (it
   * may change between runs); the same text as the last call's is not parsed again. The result enters
   * workflow history, so the GitOps remote is returned without credentials (`user:password@` replaced by
   * `***`); the worker's own clone reads the file itself.
   * @throws ApplicationFailure `InvalidInput` naming every field to fix (unreadable file, bad YAML, schema violations).
   */
  return async function loadCatalog(): Promise<Catalog> {
    const text = await readCatalogText(deps.catalogPath);
    if (last?.text === text) return last.catalog;
    const parsed = parseCatalogText(deps.catalogPath, text);
    const catalog = { ...parsed, gitops: { ...parsed.gitops, remote: redactUrl(parsed.gitops.remote) } };
    last = { text, catalog };
    return catalog;
  };
}
