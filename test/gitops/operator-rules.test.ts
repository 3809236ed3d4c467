/**
 * The operator-rule pre-flight over the real tree: every shipped environment overlay, rendered with the
 * sandbox's kubectl as the other gitops tests do, meets the Loki Operator's and the Cluster Logging
 * Operator's rules with the facts of both catalogs; and `logstack validate --operator-rules` on a copied
 * checkout with broken overlays exits 1 naming each violation's path and reason (the untouched environment
 * passes). No cluster is contacted.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findEnvironment } from '../../domain/index.ts';
import { checkOperatorRules, formatViolation } from '../../domain/operator-rules/index.ts';
import { cli } from '../client/helpers.ts';
import { CATALOG_FILES, ENVIRONMENTS, ROOT, kubectlPath, loadCatalog, render } from './lib.ts';

const work = mkdtempSync(join(tmpdir(), 'logstack-operator-rules-'));
after(() => rmSync(work, { recursive: true, force: true }));

describe('operator rules: the shipped overlays pass', () => {
  for (const [which, file] of Object.entries(CATALOG_FILES)) {
    for (const name of ENVIRONMENTS) {
      it(`${name} with the ${which} catalog (${file})`, () => {
        const env = findEnvironment(loadCatalog(file), name);
        const { objects } = render(env.overlay);
        assert.ok(objects.some((o) => o.kind === 'LokiStack') && objects.some((o) => o.kind === 'ClusterLogForwarder') && objects.some((o) => o.kind === 'ExternalSecret'), 'the overlay has what the rules judge');
        const violations = checkOperatorRules(objects, env);
        assert.deepEqual(violations.map(formatViolation), []);
      });
    }
  }
});

describe('logstack validate --operator-rules', () => {
  const env = { ...process.env, LOGSTACK_KUBECTL: kubectlPath() };

  it('passes the repository\'s catalog: every environment meets the rules, exit 0', async () => {
    const res = await cli(['validate', '--operator-rules', join(ROOT, CATALOG_FILES.real)], env);
    assert.equal(res.code, 0, res.out + res.err);
    for (const name of ENVIRONMENTS) assert.match(res.out, new RegExp(`✓ ${name}: gitops/overlays/${name} meets the operators' rules`));
  });

  it('refuses a checkout whose dev and production overlays break rules, naming every path; staging passes; exit 1', async () => {
    const root = join(work, 'checkout');
    cpSync(join(ROOT, 'gitops'), join(root, 'gitops'), { recursive: true });
    const edit = (file: string, from: string, to: string) => {
      const path = join(root, file);
      const text = readFileSync(path, 'utf8');
      assert.ok(text.includes(from), `${file} holds ${from}`);
      writeFileSync(path, text.replace(from, to));
    };
    edit('gitops/overlays/dev/patches/lokistack-size.yaml', 'size: 1x.demo', 'size: 1x.huge');
    edit('gitops/overlays/production/patches/loki-secret-source.yaml', 'logstack/production/loki-s3', 'logstack/staging/loki-s3');
    edit('gitops/overlays/production/patches/retention.yaml', 'days: 30', 'days: 45');
    const catalog = join(root, 'gitops', 'environments.yaml');

    const res = await cli(['validate', '--operator-rules', catalog], env);
    assert.equal(res.code, 1, res.out + res.err);
    assert.match(res.out, /✗ dev: gitops\/overlays\/dev breaks 1 operator rule\(s\)/);
    assert.match(res.out, /LokiStack\/openshift-logging\/logging-loki: spec\.size: Unsupported value: "1x\.huge"/);
    assert.match(res.out, /✓ staging: gitops\/overlays\/staging meets the operators' rules/);
    assert.match(res.out, /✗ production: gitops\/overlays\/production breaks 2 operator rule\(s\)/);
    assert.match(res.out, /ExternalSecret\/openshift-logging\/logging-loki-s3: spec\.dataFrom\[0\]\.extract\.key: reads logstack\/staging\/loki-s3/);
    assert.match(res.out, /LokiStack\/openshift-logging\/logging-loki: spec\.limits\.global\.retention\.days: 45 days is beyond the 30 days/);

    const json = await cli(['validate', '--operator-rules', catalog, '-o', 'json'], env);
    assert.equal(json.code, 1);
    const [result] = JSON.parse(json.out) as { valid: boolean; operatorRules: { environment: string; violations: { path: string; owner: string }[] }[] }[];
    assert.equal(result?.valid, false);
    const byEnv = Object.fromEntries((result?.operatorRules ?? []).map((r) => [r.environment, r.violations.map((v) => `${v.owner} ${v.path}`)]));
    assert.deepEqual(byEnv, {
      dev: ['loki-operator LokiStack/openshift-logging/logging-loki: spec.size'],
      staging: [],
      production: ['logstack LokiStack/openshift-logging/logging-loki: spec.limits.global.retention.days', 'logstack ExternalSecret/openshift-logging/logging-loki-s3: spec.dataFrom[0].extract.key'],
    });
  });

  it('without kubectl it says so for each environment and exits 1', async () => {
    const res = await cli(['validate', '--operator-rules', '--kubectl', join(work, 'no-kubectl'), join(ROOT, CATALOG_FILES.real)], env);
    assert.equal(res.code, 1);
    assert.match(res.out, /✗ dev: gitops\/overlays\/dev could not be rendered: kubectl not found/);
  });
});
