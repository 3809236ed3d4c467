/** loadCatalog reads the configured catalog file from the file system and validates it. */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createLoadCatalog } from '../../activities/catalog.ts';
import { failureTypeOf } from './sandbox-parts.ts';

const dir = mkdtempSync(join(tmpdir(), 'logstack-catalog-'));

describe('loadCatalog', () => {
  it('loads and validates the sandbox catalog and the project catalog', async () => {
    for (const path of ['../../sandbox/environments.yaml', '../../gitops/environments.yaml']) {
      const catalog = await createLoadCatalog({ catalogPath: join(import.meta.dirname, path) })();
      assert.deepEqual(catalog.promotionOrder, ['dev', 'staging', 'production']);
      assert.equal(catalog.environments.length, 3);
    }
  });

  it('fails InvalidInput naming the field for a schema violation, bad YAML, or a missing file', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'apiVersion: logstack.io/v1\nkind: EnvironmentCatalog\npromotionOrder: [dev]\ngitops: {remote: x}\nenvironments: []\n');
    const error = await createLoadCatalog({ catalogPath: bad })().catch((e: Error & { type?: string }) => e);
    assert.equal((error as { type?: string }).type, 'InvalidInput');
    assert.match((error as Error).message, /environments/);
    const broken = join(dir, 'broken.yaml');
    writeFileSync(broken, 'environments: [\n');
    assert.equal(await failureTypeOf(createLoadCatalog({ catalogPath: broken })()), 'InvalidInput');
    assert.equal(await failureTypeOf(createLoadCatalog({ catalogPath: join(dir, 'absent.yaml') })()), 'InvalidInput');
  });
});
