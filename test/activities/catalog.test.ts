/** loadCatalog reads the configured catalog file from the file system and validates it. */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
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

  it('reads the file on every call and parses it again only when its text changed', async () => {
    const path = join(dir, 'changing.yaml');
    const original = readFileSync(join(import.meta.dirname, '../../sandbox/environments.yaml'), 'utf8');
    writeFileSync(path, original);
    const load = createLoadCatalog({ catalogPath: path });
    const first = await load();
    assert.equal(await load(), first, 'the same text gives the same validated catalog, not a new parse');
    writeFileSync(path, original.replace(/promotionOrder:.*\n/, 'promotionOrder: [dev, staging]\n'));
    const changed = await load();
    assert.deepEqual(changed.promotionOrder, ['dev', 'staging']);
    writeFileSync(path, 'environments: [\n');
    assert.equal(await failureTypeOf(load()), 'InvalidInput', 'a broken edit is refused, not answered from the last good text');
    writeFileSync(path, original);
    assert.deepEqual(await load(), first);
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
