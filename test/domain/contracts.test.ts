/** Pure contract tests; run on Node (tsx) and on Deno (`deno task test:deno`). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  assertNotFrozen,
  assertPromotionOrder,
  assertRevisionSyntax,
  DomainError,
  FailureType,
  findEnvironment,
  MAX_INPUT_BYTES,
  parseCatalog,
  parseInput,
  promoteInputSchema,
  type CatalogInput,
} from '../../domain/index.ts';

const env = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  cluster: { context: `ctx-${name}` },
  aws: { region: 'eu-west-1', bucket: `logstack-${name}-loki`, secretName: `logstack/${name}/loki`, credentialMode: 'static' },
  overlay: `gitops/overlays/${name}`,
  delivery: 'direct',
  loki: { size: '1x.small' },
  retentionDays: 7,
  ...extra,
});

const catalog = (): CatalogInput =>
  ({
    apiVersion: 'logstack.io/v1',
    kind: 'EnvironmentCatalog',
    promotionOrder: ['dev', 'staging', 'production'],
    gitops: { remote: 'file:///tmp/gitops.git' },
    environments: [
      env('dev', { loki: { size: '1x.demo' } }),
      env('staging'),
      env('production', {
        protected: true,
        approvers: ['alice', 'bob'],
        freezeWindows: [{ start: '2026-12-24T00:00:00Z', end: '2026-12-27T00:00:00Z', reason: 'holidays' }],
      }),
    ],
  }) as CatalogInput;

const failsWith = (type: FailureType, pattern?: RegExp) => (error: unknown) =>
  error instanceof DomainError && error.type === type && (!pattern || pattern.test(error.message));

describe('environment catalog', () => {
  it('accepts a valid catalog and applies defaults', () => {
    const c = parseCatalog(catalog());
    assert.equal(findEnvironment(c, 'dev').loki.namespace, 'openshift-logging');
    assert.equal(findEnvironment(c, 'staging').protected, false);
  });
  it('lists every wrong field with its path', () => {
    const bad = catalog() as { environments: Record<string, unknown>[] };
    bad.environments[1] = env('staging', { retentionDays: 90, loki: { size: '2x.huge' } });
    assert.throws(() => parseCatalog(bad), failsWith(FailureType.InvalidInput, /environments\.1\.retentionDays: Too big/));
    assert.throws(() => parseCatalog(bad), failsWith(FailureType.InvalidInput, /environments\.1\.loki\.size: Invalid option/));
  });
  it('refuses 1x.demo on a protected environment', () => {
    const bad = catalog() as { environments: Record<string, unknown>[] };
    bad.environments[2] = env('production', { protected: true, approvers: ['a', 'b'], loki: { size: '1x.demo' } });
    assert.throws(() => parseCatalog(bad), failsWith(FailureType.InvalidInput, /1x\.demo/));
  });
  it('names the known environments for an unknown one', () => {
    assert.throws(() => findEnvironment(parseCatalog(catalog()), 'qa'), failsWith(FailureType.UnknownEnvironment, /dev, staging, production/));
  });
});

describe('promotion order', () => {
  const c = parseCatalog(catalog());
  it('allows the next stage only', () => {
    assert.doesNotThrow(() => assertPromotionOrder(c, 'dev', 'staging'));
    assert.throws(() => assertPromotionOrder(c, 'dev', 'production'), failsWith(FailureType.PromotionOrderViolation, /dev → staging first/));
    assert.throws(() => assertPromotionOrder(c, 'staging', 'dev'), failsWith(FailureType.PromotionOrderViolation));
    assert.throws(() => assertPromotionOrder(c, 'dev', 'dev'), failsWith(FailureType.InvalidInput));
  });
  it('refuses protected changes inside a freeze window only', () => {
    const prod = findEnvironment(c, 'production');
    assert.throws(() => assertNotFrozen(prod, Date.parse('2026-12-25T12:00:00Z')), failsWith(FailureType.ChangeFreeze, /holidays/));
    assert.doesNotThrow(() => assertNotFrozen(prod, Date.parse('2026-12-28T12:00:00Z')));
  });
});

describe('workflow inputs', () => {
  it('rejects unknown fields, wrong types and oversized input', () => {
    assert.throws(() => parseInput(promoteInputSchema(), { from: 'dev', to: 'staging', extra: 1 }, 'promoteEnvironment'), failsWith(FailureType.InvalidInput));
    assert.throws(() => parseInput(promoteInputSchema(), { from: 'dev', to: 42 }, 'promoteEnvironment'), failsWith(FailureType.InvalidInput, /to/));
    const huge = { from: 'dev', to: 'staging', requestedBy: 'x'.repeat(MAX_INPUT_BYTES) };
    assert.throws(() => parseInput(promoteInputSchema(), huge, 'promoteEnvironment'), failsWith(FailureType.InvalidInput, /limit/));
  });
  it('checks revision syntax', () => {
    assert.equal(assertRevisionSyntax('v1.2.3'), 'v1.2.3');
    assert.throws(() => assertRevisionSyntax('main..evil'), failsWith(FailureType.InvalidInput));
    assert.throws(() => assertRevisionSyntax('--upload-pack=x'), failsWith(FailureType.InvalidInput));
  });
});
