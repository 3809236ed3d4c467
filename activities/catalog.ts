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
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw nonRetryable(FailureType.InvalidInput, `cannot read the environment catalog ${path}: ${(error as Error).message}; set LOGSTACK_CATALOG to the catalog file`, { path });
  }
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
  /**
   * Reads and validates the configured environment catalog. Read-only. The result enters workflow history,
   * so the GitOps remote is returned without credentials (`user:password@` replaced by `***`); the worker's
   * own clone reads the file itself.
   * @throws ApplicationFailure `InvalidInput` naming every field to fix (unreadable file, bad YAML, schema violations).
   */
  return async function loadCatalog(): Promise<Catalog> {
    const catalog = await readCatalogFile(deps.catalogPath);
    return { ...catalog, gitops: { ...catalog.gitops, remote: redactUrl(catalog.gitops.remote) } };
  };
}
