/**
 * Every overlay and gitops/apps renders with `kubectl kustomize` (the sandbox's kubectl when it is
 * up), and each rendering equals its reviewed snapshot. UPDATE_SNAPSHOTS=1 rewrites the snapshots.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { RENDER_TARGETS, type RenderTarget, kubectlPath, normalisedRender, render } from './lib.ts';

const SNAPSHOTS = new URL('./__snapshots__/', import.meta.url).pathname;
const update = process.env['UPDATE_SNAPSHOTS'] === '1';

describe(`kustomize renders (${kubectlPath()})`, () => {
  for (const [name, dir] of Object.entries(RENDER_TARGETS) as [RenderTarget, string][]) {
    test(`${dir} renders, every object named and typed`, (t) => {
      const { objects } = render(dir);
      assert.ok(objects.length > 0, `${dir} rendered nothing`);
      for (const o of objects) {
        assert.equal(typeof o.apiVersion, 'string', `an object of ${dir} has no apiVersion`);
        assert.equal(typeof o.kind, 'string', `an object of ${dir} has no kind`);
        assert.ok(o.metadata?.name, `a ${o.kind} of ${dir} has no name`);
      }
      const kinds = objects.reduce<Record<string, number>>((acc, o) => ({ ...acc, [o.kind]: (acc[o.kind] ?? 0) + 1 }), {});
      t.diagnostic(`${name}: ${objects.length} objects — ${Object.entries(kinds).map(([k, n]) => `${k} ${n}`).join(', ')}`);
    });

    test(`${dir} matches __snapshots__/${name}.yaml`, () => {
      const file = join(SNAPSHOTS, `${name}.yaml`);
      const actual = normalisedRender(dir);
      if (update || !existsSync(file)) {
        mkdirSync(SNAPSHOTS, { recursive: true });
        writeFileSync(file, actual);
        if (!update) assert.fail(`no snapshot for ${name}; wrote ${file} — review it, then rerun`);
        return;
      }
      assert.equal(actual, readFileSync(file, 'utf8'), `${dir} changed; review the diff and rerun with UPDATE_SNAPSHOTS=1 if intended`);
    });
  }
});
