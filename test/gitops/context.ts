/** Builds the policy context once per process: renders, catalogs and source documents. */
import { CATALOG_FILES, loadCatalog, renderAll, sourceDocuments } from './lib.ts';
import type { PolicyContext } from './policy.ts';

let cached: PolicyContext | undefined;

/** The rendered tree, both catalogs and every source document. @throws when a render or a catalog fails. */
export function policyContext(): PolicyContext {
  cached ??= {
    renders: renderAll(),
    catalogs: { real: loadCatalog(CATALOG_FILES.real), sandbox: loadCatalog(CATALOG_FILES.sandbox) },
    sources: sourceDocuments(),
  };
  return cached;
}
