/**
 * The AWS plan, pure (`domain/aws-plan.ts`): the desired state built from the catalog, the statement-level policy
 * diff, and every destructive class flagged — retention shortened, versioning suspended, a policy statement removed,
 * encryption weakened, public access opened, a secret key removed, another right of the ESO reader removed — while
 * the harmless changes (a missing resource created, versioning enabled, retention lengthened) are not. Runs on Node
 * and on Deno (`deno task test`).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  desiredAwsState,
  describeAwsPlan,
  diffPolicyStatements,
  findEnvironment,
  LOKI_BUCKET_POLICY_NAME,
  lokiBucketPolicy,
  parseCatalog,
  planAwsChanges,
  planBucket,
  planPrincipal,
  planSecret,
  STORE_READER_POLICY_NAME,
  storeReaderPolicy,
  tlsOnlyStatement,
  type AwsObservedState,
  type DesiredBucket,
  type ObservedBucket,
} from '../../domain/index.ts';
import { catalogDocument, REV } from '../workflows/fixtures.ts';

const catalog = parseCatalog(catalogDocument());
const dev = findEnvironment(catalog, 'dev');
const production = findEnvironment(catalog, 'production');
const ACCOUNT = '123456789012';
const ARNS = [`arn:aws:secretsmanager:eu-west-1:${ACCOUNT}:secret:logstack/dev/loki-AbCdEf`, `arn:aws:secretsmanager:eu-west-1:${ACCOUNT}:secret:logstack/gitops/repository-??????`];
const desired = desiredAwsState(dev, { accountId: ACCOUNT, readerSecretArns: ARNS });

/** The bucket exactly as the desired state wants it. */
function bucketAsDesired(overrides: Partial<Extract<ObservedBucket, { ownership: unknown }>> = {}): ObservedBucket {
  return {
    exists: true,
    ownership: 'owned',
    versioning: 'Enabled',
    encryption: 'AES256',
    publicAccessBlock: { BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: true },
    retention: { enabled: true, wholeBucket: true, days: dev.retentionDays, noncurrentDays: 7, abortUploadDays: 1 },
    tlsStatement: tlsOnlyStatement(dev),
    ...overrides,
  };
}

/** Everything as desired: the state a converged environment is in. */
function upToDate(): AwsObservedState {
  return {
    bucket: bucketAsDesired(),
    principals: [
      { exists: true, ownership: 'owned', boundary: undefined, trust: undefined, policies: { [LOKI_BUCKET_POLICY_NAME]: lokiBucketPolicy(dev) }, otherRights: [] },
      { exists: true, ownership: 'owned', boundary: undefined, trust: undefined, policies: { [STORE_READER_POLICY_NAME]: storeReaderPolicy(ARNS) }, otherRights: [] },
    ],
    secret: { exists: true, ownership: 'owned', keys: ['access_key_id', 'access_key_secret', 'bucketnames', 'endpoint', 'region'], valueChanges: [] },
  };
}

const plan = (observed: AwsObservedState) => planAwsChanges({ environment: 'dev', revision: REV.v2 }, desired, observed);

describe('AWS desired state', () => {
  it('is built from the catalog with the builders the activities write', () => {
    assert.equal(desired.bucket.name, 'logstack-dev-loki');
    assert.equal(desired.bucket.retention.days, 7);
    assert.equal(desired.bucket.versioning, 'Enabled');
    assert.deepEqual(
      desired.principals.map((p) => [p.role, p.kind, p.name, Object.keys(p.policies)]),
      [
        ['loki', 'user', 'logstack-dev-loki', ['logstack-loki-bucket']],
        ['reader', 'user', 'logstack-dev-secrets-reader', ['logstack-secrets-read']],
      ],
    );
    assert.deepEqual(desired.secret.keys, ['access_key_id', 'access_key_secret', 'bucketnames', 'endpoint', 'region']);
  });

  it('gives sts roles their web-identity trust, one per principal, with exact :sub and :aud', () => {
    const sts = desiredAwsState(production, { accountId: ACCOUNT, readerSecretArns: [], oidcIssuer: 'oidc.example.com/production' });
    const subjects = sts.principals.map((p) => JSON.stringify(p.trust));
    assert.match(subjects[0] ?? '', /system:serviceaccount:openshift-logging:logging-loki"/);
    assert.match(subjects[1] ?? '', /system:serviceaccount:external-secrets:logstack-secrets-reader/);
    assert.ok(subjects.every((s) => s.includes('"oidc.example.com/production:aud":"sts.amazonaws.com"')));
    assert.deepEqual(sts.secret.keys, ['bucketnames', 'region', 'role_arn']);
  });
});

describe('policy statement diff', () => {
  it('matches statements by Sid: added, removed, changed, unchanged', () => {
    const current = {
      Version: '2012-10-17',
      Statement: [
        { Sid: 'Keep', Effect: 'Allow', Action: 's3:ListBucket', Resource: 'a' },
        { Sid: 'Change', Effect: 'Allow', Action: 's3:GetObject', Resource: 'a/*' },
        { Sid: 'Gone', Effect: 'Allow', Action: 's3:*', Resource: '*' },
      ],
    };
    const wanted = {
      Version: '2012-10-17',
      Statement: [
        { Sid: 'Keep', Action: 's3:ListBucket', Effect: 'Allow', Resource: 'a' },
        { Sid: 'Change', Effect: 'Allow', Action: ['s3:GetObject', 's3:PutObject'], Resource: 'a/*' },
        { Sid: 'New', Effect: 'Allow', Action: 's3:DeleteObject', Resource: 'a/*' },
      ],
    };
    assert.deepEqual(diffPolicyStatements(current, wanted), { added: ['New'], removed: ['Gone'], changed: ['Change'], unchanged: 1 });
  });

  it('matches statements without Sid by canonical form (key order does not matter), and a single statement object', () => {
    const trust = { Effect: 'Allow', Action: 'sts:AssumeRoleWithWebIdentity', Principal: { Federated: 'x' } };
    assert.deepEqual(diffPolicyStatements({ Statement: trust }, { Statement: [{ Principal: { Federated: 'x' }, Action: 'sts:AssumeRoleWithWebIdentity', Effect: 'Allow' }] }), {
      added: [],
      removed: [],
      changed: [],
      unchanged: 1,
    });
    const d = diffPolicyStatements({ Statement: [trust] }, { Statement: [{ ...trust, Principal: { Federated: 'y' } }] });
    assert.deepEqual([d.added, d.removed], [['(no Sid) Allow sts:AssumeRoleWithWebIdentity'], ['(no Sid) Allow sts:AssumeRoleWithWebIdentity']]);
  });
});

describe('AWS plan', () => {
  it('plans nothing for an environment already as desired', () => {
    const p = plan(upToDate());
    assert.deepEqual(p.changes, []);
    assert.deepEqual(p.destructive, []);
    assert.ok(p.unchanged >= 7, `unchanged ${p.unchanged}`);
    assert.equal(p.revision, REV.v2);
    assert.match(describeAwsPlan(p), /^no AWS changes/);
  });

  it('plans every resource as create for a fresh environment, none of it destructive', () => {
    const p = plan({ bucket: { exists: false }, principals: [{ exists: false }, { exists: false }], secret: { exists: false } });
    assert.ok(p.changes.length > 0 && p.changes.every((c) => c.action === 'create'), JSON.stringify(p.changes));
    assert.deepEqual(p.destructive, []);
    assert.ok(p.changes.some((c) => c.resource === 's3://logstack-dev-loki' && c.item === 'lifecycle logstack-retention'));
    assert.ok(p.changes.some((c) => c.resource === 'iam user logstack-dev-secrets-reader' && c.item === 'policy logstack-secrets-read'));
    assert.ok(p.changes.some((c) => c.resource === 'secretsmanager logstack/dev/loki' && /access_key_id, access_key_secret, bucketnames, endpoint, region/.test(c.detail)));
  });

  it('flags retention shortened (and not retention lengthened)', () => {
    const shorter = plan({ ...upToDate(), bucket: bucketAsDesired({ retention: { enabled: true, wholeBucket: true, days: 30, noncurrentDays: 7, abortUploadDays: 1 } }) });
    assert.deepEqual(shorter.destructive, ['s3://logstack-dev-loki lifecycle logstack-retention: expiration 30 days → 7 days (retention shortened)']);
    const longer = plan({ ...upToDate(), bucket: bucketAsDesired({ retention: { enabled: true, wholeBucket: true, days: 3, noncurrentDays: 7, abortUploadDays: 1 } }) });
    assert.equal(longer.changes.length, 1);
    assert.deepEqual(longer.destructive, []);
  });

  it('flags a retention rule added to a bucket that had none, and noncurrent versions kept shorter', () => {
    assert.equal(plan({ ...upToDate(), bucket: bucketAsDesired({ retention: undefined }) }).destructive.length, 1);
    const noncurrent = plan({ ...upToDate(), bucket: bucketAsDesired({ retention: { enabled: true, wholeBucket: true, days: 7, noncurrentDays: 30, abortUploadDays: 1 } }) });
    assert.match(noncurrent.destructive[0] ?? '', /noncurrent versions 30 days → 7 days/);
  });

  it('flags versioning suspended, and not versioning enabled', () => {
    const wantSuspended: DesiredBucket = { ...desired.bucket, versioning: 'Suspended' };
    const suspend = planBucket(wantSuspended, bucketAsDesired());
    assert.deepEqual(
      suspend.filter((c) => c.destructive).map((c) => `${c.item}: ${c.detail}`),
      ['versioning: Enabled → Suspended'],
    );
    const enable = plan({ ...upToDate(), bucket: bucketAsDesired({ versioning: 'Suspended' }) });
    assert.deepEqual(enable.changes.map((c) => [c.item, c.detail, c.destructive]), [['versioning', 'Suspended → Enabled', false]]);
  });

  it('flags encryption weakened, and not encryption set where there was none', () => {
    const onlySseS3: DesiredBucket = { ...desired.bucket, encryption: { accepted: ['AES256'], setTo: 'AES256' } };
    const weakened = planBucket(onlySseS3, bucketAsDesired({ encryption: 'aws:kms' }));
    assert.deepEqual(weakened.map((c) => [c.item, c.detail, c.destructive]), [['encryption', 'default encryption aws:kms → AES256', true]]);
    const set = plan({ ...upToDate(), bucket: bucketAsDesired({ encryption: undefined }) });
    assert.deepEqual(set.changes.map((c) => [c.item, c.action, c.destructive]), [['encryption', 'create', false]]);
    assert.deepEqual(plan({ ...upToDate(), bucket: bucketAsDesired({ encryption: 'aws:kms' }) }).changes, [], 'SSE-KMS is kept as it is');
  });

  it('flags public access opened, and not public access blocked', () => {
    const open: DesiredBucket = { ...desired.bucket, publicAccessBlock: { ...desired.bucket.publicAccessBlock, BlockPublicPolicy: false } };
    const opened = planBucket(open, bucketAsDesired());
    assert.deepEqual(opened.map((c) => [c.item, c.detail, c.destructive]), [['public-access-block', 'BlockPublicPolicy true → false', true]]);
    const blocked = plan({ ...upToDate(), bucket: bucketAsDesired({ publicAccessBlock: { BlockPublicAcls: false } }) });
    assert.equal(blocked.changes.length, 1);
    assert.deepEqual(blocked.destructive, []);
  });

  it('flags a policy statement removed; added and rewritten statements are changes, not destructive', () => {
    const observed = upToDate();
    const extra = { Version: '2012-10-17', Statement: [...((lokiBucketPolicy(dev)['Statement'] as object[]) ?? []), { Sid: 'Legacy', Effect: 'Allow', Action: 's3:*', Resource: '*' }] };
    const p = plan({ ...observed, principals: [{ ...(observed.principals[0] as object), policies: { [LOKI_BUCKET_POLICY_NAME]: extra } } as never, observed.principals[1]!] });
    assert.deepEqual(p.destructive, ['iam user logstack-dev-loki policy logstack-loki-bucket statement Legacy: statement removed']);
    const widened = storeReaderPolicy([...ARNS.slice(0, 1)]);
    const q = plan({ ...observed, principals: [observed.principals[0]!, { ...(observed.principals[1] as object), policies: { [STORE_READER_POLICY_NAME]: widened } } as never] });
    assert.deepEqual(q.changes.map((c) => [c.item, c.action, c.destructive]), [['policy logstack-secrets-read statement ReadEnvironmentSecrets', 'change', false]]);
  });

  it('flags the ESO reader losing its other rights, and trust statements removed', () => {
    const reader = desired.principals[1]!;
    const changes = planPrincipal(reader, { exists: true, ownership: 'owned', boundary: undefined, trust: undefined, policies: { [STORE_READER_POLICY_NAME]: storeReaderPolicy(ARNS) }, otherRights: ['attached:arn:aws:iam::aws:policy/AdministratorAccess', 'group:admins'] });
    assert.deepEqual(changes.filter((c) => c.destructive).map((c) => c.item), ['attached:arn:aws:iam::aws:policy/AdministratorAccess', 'group:admins']);
    const sts = desiredAwsState(production, { accountId: ACCOUNT, readerSecretArns: [], oidcIssuer: 'oidc.example.com/production' });
    const loki = sts.principals[0]!;
    const trust = loki.trust as { Statement: object[] };
    const wider = { ...trust, Statement: [...trust.Statement, { Sid: 'Anyone', Effect: 'Allow', Principal: '*', Action: 'sts:AssumeRole' }] };
    const t = planPrincipal(loki, { exists: true, ownership: 'owned', boundary: undefined, trust: wider, policies: loki.policies, otherRights: [] });
    assert.deepEqual(t.map((c) => [c.item, c.action, c.destructive]), [['trust policy statement Anyone', 'remove', true]]);
  });

  it('flags a secret key removed and names value changes by key only', () => {
    const secret = planSecret(desired.secret, { exists: true, ownership: 'owned', keys: ['bucketnames', 'endpoint', 'region', 'role_arn'], valueChanges: ['region'] });
    assert.deepEqual(
      secret.map((c) => [c.item, c.action, c.destructive]),
      [
        ['key access_key_id', 'create', false],
        ['key access_key_secret', 'create', false],
        ['key role_arn', 'remove', true],
        ['key region', 'change', false],
      ],
    );
  });

  it('shows resources that are not logstack\'s as conflicts and adoption as a change', () => {
    const p = plan({ ...upToDate(), bucket: { exists: true, conflict: 'S3 bucket "logstack-dev-loki" is tagged for environment "staging"' }, secret: { exists: true, ownership: 'adopt', keys: ['access_key_id', 'access_key_secret', 'bucketnames', 'endpoint', 'region'], valueChanges: [] } });
    assert.deepEqual(
      p.changes.map((c) => [c.resource, c.item, c.action]),
      [
        ['s3://logstack-dev-loki', 'bucket', 'conflict'],
        ['secretsmanager logstack/dev/loki', 'tags', 'change'],
      ],
    );
    assert.match(describeAwsPlan(p), /conflict 1/);
  });
});
