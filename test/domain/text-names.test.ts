/**
 * Text and name rules (domain/text.ts, domain/names.ts) and their use in the workflow inputs, the approval
 * updates and the environment catalog: hostile names and free text are refused with the field's path.
 * Pure; runs on Node and Deno.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  approveSchema,
  awsArn,
  bucketNameProblem,
  DomainError,
  parseCatalog,
  parseInput,
  personKey,
  promoteInputSchema,
  rejectSchema,
  rolloutInputSchema,
  samePerson,
  type CatalogInput,
} from '../../domain/index.ts';

const catalog = (patch: (env: Record<string, unknown>) => void = () => undefined): CatalogInput => {
  const env: Record<string, unknown> = {
    name: 'dev',
    cluster: { context: 'ctx-dev' },
    aws: { region: 'eu-west-1', bucket: 'logstack-dev-loki', secretName: 'logstack/dev/loki-s3', credentialMode: 'static' },
    overlay: 'gitops/overlays/dev',
    delivery: 'direct',
    loki: { size: '1x.pico' },
    retentionDays: 7,
    protected: true,
    approvers: ['alice', 'bob'],
  };
  patch(env);
  return { apiVersion: 'logstack.io/v1', kind: 'EnvironmentCatalog', promotionOrder: ['dev'], gitops: { remote: 'git@example.com:x.git' }, environments: [env] } as CatalogInput;
};
const refused = (doc: CatalogInput, path: RegExp): void => {
  assert.throws(() => parseCatalog(doc), (error: unknown) => {
    assert.ok(error instanceof DomainError);
    assert.equal(error.type, 'InvalidInput');
    assert.match(error.message, path);
    return true;
  });
};

describe('person names', () => {
  it('are NFKC-normalised and compared case-insensitively', () => {
    assert.equal(parseInput(approveSchema(), { by: 'Ｂｏｂ' }, 'approval').by, 'Bob');
    assert.ok(samePerson('Bob', 'bob'));
    assert.ok(samePerson('ＢＯＢ', 'bob'));
    assert.equal(personKey('Jürgen'), 'jürgen');
    assert.ok(!samePerson('bob', 'bobby'));
    for (const ok of ['alice', 'Bob Smith', 'jürgen.müller@example.com', "o'brien", 'søren_1', '李雷']) {
      assert.doesNotThrow(() => parseInput(approveSchema(), { by: ok }, 'approval'), ok);
    }
  });

  for (const [what, name] of [
    ['an ANSI escape', 'bob\u001b[2J'],
    ['a newline', 'bob\nApproved by: carol'],
    ['a bidi override', 'bob\u202Eevil'],
    ['a bidi isolate', '\u2066bob'],
    ['a zero-width joiner', 'bo\u200db'],
    ['an empty name', ''],
    ['a leading space', ' bob'],
    ['two spaces', 'bob  smith'],
    ['a slash', 'bob/../carol'],
    ['129 characters', 'b'.repeat(129)],
  ] as const) {
    it(`refuse ${what}, in approve, reject and promote alike`, () => {
      for (const [schema, input] of [
        [approveSchema(), { by: name }],
        [rejectSchema(), { by: name, reason: 'no' }],
        [promoteInputSchema(), { from: 'staging', to: 'production', requestedBy: name }],
      ] as const) {
        assert.throws(() => parseInput(schema, input, 'x'), (e: unknown) => e instanceof DomainError && e.type === 'InvalidInput' && /by|requestedBy/.test(e.message));
      }
    });
  }
});

describe('comments and reasons', () => {
  it('refuse control, separator and bidirectional characters; keep other text', () => {
    for (const bad of ['ok\u001b[31m', 'line\nbreak', 'tab\there', 'sep\u2028x', 'rlo\u202Ex', 'c1\u0085x', 'del\u007fx']) {
      assert.throws(() => parseInput(approveSchema(), { by: 'bob', comment: bad }, 'approval'), /comment: must not contain control/);
      assert.throws(() => parseInput(rejectSchema(), { by: 'bob', reason: bad }, 'approval'), /reason: must not contain control/);
      assert.throws(() => parseInput(rolloutInputSchema(), { environment: 'dev', revision: 'main', reason: bad }, 'rollout'), /reason: must not contain control/);
    }
    assert.equal(parseInput(approveSchema(), { by: 'bob', comment: 'diff reviewed ✓ — «ok» 👍' }, 'approval').comment, 'diff reviewed ✓ — «ok» 👍');
  });
});

describe('catalog names', () => {
  for (const [field, patch, path] of [
    ['loki.namespace ".."', (e: Record<string, unknown>) => (e['loki'] = { size: '1x.pico', namespace: '..' }), /environments\.0\.loki\.namespace: loki\.namespace must be a DNS-1123 label/],
    ['loki.namespace ""', (e: Record<string, unknown>) => (e['loki'] = { size: '1x.pico', namespace: '' }), /environments\.0\.loki\.namespace: loki\.namespace must not be empty/],
    ['loki.stackName with a slash', (e: Record<string, unknown>) => (e['loki'] = { size: '1x.pico', stackName: 'a/b' }), /loki\.stackName/],
    ['loki.stackName of 64 characters', (e: Record<string, unknown>) => (e['loki'] = { size: '1x.pico', stackName: 'a'.repeat(64) }), /loki\.stackName/],
    ['loki.secretName ".."', (e: Record<string, unknown>) => (e['loki'] = { size: '1x.pico', secretName: '..' }), /environments\.0\.loki\.secretName: loki\.secretName must be a DNS-1123 subdomain/],
    ['loki.secretName "a..b"', (e: Record<string, unknown>) => (e['loki'] = { size: '1x.pico', secretName: 'a..b' }), /loki\.secretName/],
    ['argocd.namespace ".."', (e: Record<string, unknown>) => (e['argocd'] = { application: 'app', namespace: '..' }), /environments\.0\.argocd\.namespace/],
    ['argocd.application ""', (e: Record<string, unknown>) => (e['argocd'] = { application: '' }), /environments\.0\.argocd\.application/],
    ['cluster.context ""', (e: Record<string, unknown>) => (e['cluster'] = { context: '' }), /environments\.0\.cluster\.context/],
    ['cluster.context with an escape', (e: Record<string, unknown>) => (e['cluster'] = { context: 'ctx\u001b]0;x\u0007' }), /environments\.0\.cluster\.context/],
    ['aws.secretName ".."', (e: Record<string, unknown>) => ((e['aws'] as Record<string, unknown>)['secretName'] = '..'), /environments\.0\.aws\.secretName/],
    ['aws.secretName "a//b"', (e: Record<string, unknown>) => ((e['aws'] as Record<string, unknown>)['secretName'] = 'a//b'), /aws\.secretName/],
    ['aws.secretName ""', (e: Record<string, unknown>) => ((e['aws'] as Record<string, unknown>)['secretName'] = ''), /aws\.secretName/],
    ['aws.bucket "a..b"', (e: Record<string, unknown>) => ((e['aws'] as Record<string, unknown>)['bucket'] = 'a..bc'), /environments\.0\.aws\.bucket: an S3 bucket name must not contain two adjacent dots/],
    ['aws.bucket as an IP', (e: Record<string, unknown>) => ((e['aws'] as Record<string, unknown>)['bucket'] = '192.168.5.4'), /must not be an IP address/],
    ['aws.bucket "xn--…"', (e: Record<string, unknown>) => ((e['aws'] as Record<string, unknown>)['bucket'] = 'xn--abc'), /must not start with "xn--"/],
    ['approvers with one person twice', (e: Record<string, unknown>) => (e['approvers'] = ['Bob', 'bob']), /approvers: "bob" is listed twice/],
    ['an approver with a newline', (e: Record<string, unknown>) => (e['approvers'] = ['alice', 'bob\ncarol']), /environments\.0\.approvers\.1/],
  ] as const) {
    it(`refuses ${field}, naming the field`, () => refused(catalog(patch), path));
  }

  it('accepts the defaults and well-formed names', () => {
    const env = parseCatalog(catalog((e) => (e['loki'] = { size: '1x.pico', secretName: 'logging-loki.s3' }))).environments[0];
    assert.equal(env?.loki.namespace, 'openshift-logging');
    assert.equal(env?.loki.secretName, 'logging-loki.s3');
  });

  it('knows the S3 bucket rules and the ARN shape', () => {
    assert.equal(bucketNameProblem('logstack-dev-loki'), undefined);
    assert.match(bucketNameProblem('my-bucket-s3alias') ?? '', /reserved/);
    assert.match(bucketNameProblem('sthree-x') ?? '', /reserved/);
    assert.match(bucketNameProblem('ab') ?? '', /3–63/);
    assert.match(bucketNameProblem('-abc') ?? '', /starting and ending/);
    assert.ok(awsArn('iam').safeParse('arn:aws:iam::123456789012:policy/boundary').success);
    assert.ok(!awsArn('iam').safeParse('arn:aws:s3:::bucket').success);
    assert.ok(!awsArn().safeParse('arn:aws:iam::123:policy/x').success);
    assert.ok(!awsArn().safeParse('').success);
  });
});
