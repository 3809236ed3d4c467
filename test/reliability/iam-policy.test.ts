/**
 * The IAM documents the activities create, read back from AWS (moto) after real bootstraps and checked as
 * documents: every policy of the Loki principal — inline and attached, of the static-mode user (dev) and
 * the sts-mode role (production) — allows S3 actions on that environment's bucket and its objects only;
 * the role's trust policy federates exactly the production cluster's OIDC issuer (as its API server
 * publishes it) for exactly the LokiStack's service accounts. The checkers are shown to reject broad
 * documents, so a pass means something. Statuses of OLM, the Loki Operator and the Cluster Logging
 * Operator are written by the sandbox stand-ins.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import {
  GetPolicyCommand,
  GetPolicyVersionCommand,
  GetRoleCommand,
  GetRolePolicyCommand,
  GetUserPolicyCommand,
  IAMClient,
  ListAccessKeysCommand,
  ListAttachedRolePoliciesCommand,
  ListAttachedUserPoliciesCommand,
  ListGroupsForUserCommand,
  ListRolePoliciesCommand,
  ListUserPoliciesCommand,
} from '@aws-sdk/client-iam';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { createKubeClusters } from '../../activities/kubernetes/cluster.ts';
import { readObject } from '../../activities/kubernetes/apply.ts';
import { parseCatalog, principalName, type Environment } from '../../domain/index.ts';
import { createAwsActivities, type AwsClients } from '../../activities/aws/index.ts';
import { LOKI_WEB_IDENTITY_AUDIENCE } from '../../activities/aws/iam.ts';
import { tlsOnlyStatement } from '../../activities/aws/s3.ts';
import {
  MOTO_ACCOUNT,
  motoClients,
  testEnvironment,
} from '../activities/aws-moto.ts';
import { type PrivateMoto, startPrivateMoto } from '../activities/private-moto.ts';
import { startE2E, type E2E } from '../e2e/harness.ts';
import { endOrphanedLocks } from '../worker/sandbox-runs.ts';

/** One statement of an IAM policy document, as AWS accepts it (single values or lists). */
interface Statement {
  readonly Sid?: string;
  readonly Effect?: string;
  readonly Action?: string | string[];
  readonly NotAction?: string | string[];
  readonly Resource?: string | string[];
  readonly NotResource?: string | string[];
  readonly Principal?: unknown;
  readonly NotPrincipal?: unknown;
  readonly Condition?: Record<string, Record<string, string | string[]>>;
}

interface PolicyDocument {
  readonly Version?: string;
  readonly Statement?: Statement | Statement[];
}

const list = (v: string | string[] | undefined): string[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
const statements = (doc: PolicyDocument): Statement[] =>
  doc.Statement === undefined ? [] : Array.isArray(doc.Statement) ? doc.Statement : [doc.Statement];

/** IAM returns documents URL-encoded; the SDK does not decode them. */
function parseDocument(text: string | undefined, what: string): PolicyDocument {
  assert.ok(text, `${what} has a document`);
  return JSON.parse(decodeURIComponent(text)) as PolicyDocument;
}

/**
 * Why a permissions policy is broader than "S3 on `bucket` and its objects": empty when it is scoped.
 * Checked: only Allow, only `s3:` actions without wildcards, only the bucket ARN (for bucket-level actions)
 * or `<bucket ARN>/*` (for object actions) as resources, no Not* elements and no principal.
 */
function permissionViolations(doc: PolicyDocument, bucket: string): string[] {
  const bucketArn = `arn:aws:s3:::${bucket}`;
  const objectsArn = `${bucketArn}/*`;
  const found: string[] = [];
  const all = statements(doc);
  if (all.length === 0) found.push('no statement');
  for (const [i, s] of all.entries()) {
    const at = `statement ${s.Sid ?? i}`;
    if (s.Effect !== 'Allow') found.push(`${at}: Effect ${String(s.Effect)} (only Allow statements are expected)`);
    if (s.NotAction !== undefined) found.push(`${at}: NotAction allows everything else`);
    if (s.NotResource !== undefined) found.push(`${at}: NotResource allows everything else`);
    if (s.Principal !== undefined || s.NotPrincipal !== undefined)
      found.push(`${at}: a principal in an identity policy`);
    const actions = list(s.Action);
    const resources = list(s.Resource);
    if (actions.length === 0) found.push(`${at}: no Action`);
    if (resources.length === 0) found.push(`${at}: no Resource`);
    for (const a of actions) {
      if (!/^s3:[A-Za-z]+$/.test(a)) found.push(`${at}: action ${a} is not one S3 action`);
    }
    for (const r of resources) {
      if (r !== bucketArn && r !== objectsArn)
        found.push(`${at}: resource ${r} is neither ${bucketArn} nor ${objectsArn}`);
    }
    // Bucket-level actions name the bucket, object actions the objects: no statement mixes them up.
    const objectActions = actions.filter((a) => /Object/.test(a));
    if (objectActions.length > 0 && resources.includes(bucketArn))
      found.push(`${at}: object actions ${objectActions.join(',')} on the bucket ARN`);
    const bucketActions = actions.filter((a) => !/Object/.test(a));
    if (bucketActions.length > 0 && resources.includes(objectsArn))
      found.push(`${at}: bucket actions ${bucketActions.join(',')} on every object`);
  }
  return found;
}

/** Why a trust policy trusts more than `issuer` for `subjects` through web identity: empty when it is exact. */
function trustViolations(
  doc: PolicyDocument,
  expected: { accountId: string; issuer: string; subjects: readonly string[] },
): string[] {
  const provider = `arn:aws:iam::${expected.accountId}:oidc-provider/${expected.issuer}`;
  const found: string[] = [];
  const all = statements(doc);
  if (all.length === 0) found.push('no statement');
  for (const [i, s] of all.entries()) {
    const at = `statement ${s.Sid ?? i}`;
    if (s.Effect !== 'Allow') found.push(`${at}: Effect ${String(s.Effect)}`);
    if (s.NotPrincipal !== undefined || s.NotAction !== undefined) found.push(`${at}: a Not* element`);
    const principal = s.Principal as { Federated?: string | string[] } | string | undefined;
    const federated = typeof principal === 'object' ? list(principal.Federated) : [];
    if (
      typeof principal !== 'object' ||
      Object.keys(principal).length !== 1 ||
      federated.length !== 1 ||
      federated[0] !== provider
    ) {
      found.push(`${at}: principal ${JSON.stringify(principal)} is not exactly the federated provider ${provider}`);
    }
    const actions = list(s.Action);
    if (actions.length !== 1 || actions[0] !== 'sts:AssumeRoleWithWebIdentity')
      found.push(`${at}: actions ${actions.join(',')} are not exactly sts:AssumeRoleWithWebIdentity`);
    const conditions = s.Condition ?? {};
    for (const operator of Object.keys(conditions)) {
      if (operator !== 'StringEquals')
        found.push(`${at}: condition operator ${operator} (only exact matches are expected)`);
    }
    const audience = list(conditions['StringEquals']?.[`${expected.issuer}:aud`]);
    if (audience.length !== 1 || audience[0] !== LOKI_WEB_IDENTITY_AUDIENCE)
      found.push(
        `${at}: ${expected.issuer}:aud is [${audience.join(', ')}], expected exactly [${LOKI_WEB_IDENTITY_AUDIENCE}]`,
      );
    const sub = list(conditions['StringEquals']?.[`${expected.issuer}:sub`]);
    if ([...sub].sort().join(',') !== [...expected.subjects].sort().join(',')) {
      found.push(
        `${at}: ${expected.issuer}:sub is [${sub.join(', ')}], expected exactly [${expected.subjects.join(', ')}]`,
      );
    }
    for (const key of Object.keys(conditions['StringEquals'] ?? {})) {
      if (!key.startsWith(`${expected.issuer}:`))
        found.push(`${at}: condition key ${key} is not of the issuer ${expected.issuer}`);
    }
  }
  return found;
}

/** Resources of a document that are not exact ARNs: a `*` anywhere but the trailing `/*` of an exact bucket's objects. */
function wildcardResources(doc: PolicyDocument): string[] {
  return statements(doc)
    .flatMap((s) => list(s.Resource))
    .filter((r) => r.replace(/^(arn:aws[a-z-]*:s3:::[a-z0-9][a-z0-9.-]+)\/\*$/, '$1').includes('*'));
}

describe('policy checkers (pure: no AWS, no cluster)', () => {
  it('the checkers reject broad documents (so a clean result means scoped)', () => {
    const bucket = 'logstack-dev-loki';
    const broad: [string, PolicyDocument][] = [
      ['every resource', { Statement: [{ Effect: 'Allow', Action: 's3:GetObject', Resource: '*' }] }],
      ['every bucket', { Statement: [{ Effect: 'Allow', Action: 's3:ListBucket', Resource: 'arn:aws:s3:::*' }] }],
      [
        'another bucket',
        {
          Statement: [{ Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::logstack-staging-loki/*' }],
        },
      ],
      [
        'a bucket prefix',
        { Statement: [{ Effect: 'Allow', Action: 's3:GetObject', Resource: `arn:aws:s3:::${bucket}*` }] },
      ],
      ['every S3 action', { Statement: [{ Effect: 'Allow', Action: 's3:*', Resource: `arn:aws:s3:::${bucket}/*` }] }],
      [
        'a non-S3 action',
        {
          Statement: [
            { Effect: 'Allow', Action: ['s3:GetObject', 'iam:PassRole'], Resource: `arn:aws:s3:::${bucket}/*` },
          ],
        },
      ],
      [
        'NotResource',
        { Statement: [{ Effect: 'Allow', Action: 's3:GetObject', NotResource: `arn:aws:s3:::${bucket}/*` }] },
      ],
      [
        'NotAction',
        { Statement: [{ Effect: 'Allow', NotAction: 's3:DeleteBucket', Resource: `arn:aws:s3:::${bucket}` }] },
      ],
      [
        'object actions on the bucket ARN',
        { Statement: [{ Effect: 'Allow', Action: 's3:GetObject', Resource: `arn:aws:s3:::${bucket}` }] },
      ],
      ['no statement', { Statement: [] }],
    ];
    for (const [what, doc] of broad)
      assert.notDeepEqual(permissionViolations(doc, bucket), [], `${what} must be reported`);
    const scoped: PolicyDocument = {
      Statement: [
        { Effect: 'Allow', Action: ['s3:ListBucket'], Resource: [`arn:aws:s3:::${bucket}`] },
        { Effect: 'Allow', Action: ['s3:GetObject'], Resource: `arn:aws:s3:::${bucket}/*` },
      ],
    };
    assert.deepEqual(permissionViolations(scoped, bucket), []);

    const expected = {
      accountId: '123456789012',
      issuer: 'oidc.example',
      subjects: ['system:serviceaccount:openshift-logging:logging-loki'],
    };
    const trust = (statement: Statement): PolicyDocument => ({ Statement: [statement] });
    const good: Statement = {
      Effect: 'Allow',
      Principal: { Federated: 'arn:aws:iam::123456789012:oidc-provider/oidc.example' },
      Action: 'sts:AssumeRoleWithWebIdentity',
      Condition: {
        StringEquals: {
          'oidc.example:sub': ['system:serviceaccount:openshift-logging:logging-loki'],
          'oidc.example:aud': 'sts.amazonaws.com',
        },
      },
    };
    assert.deepEqual(trustViolations(trust(good), expected), []);
    const loose: [string, Statement][] = [
      [
        'any service account',
        { ...good, Condition: { StringLike: { 'oidc.example:sub': 'system:serviceaccount:*' } } },
      ],
      ['no condition', { ...good, Condition: {} }],
      [
        'no audience',
        {
          ...good,
          Condition: { StringEquals: { 'oidc.example:sub': ['system:serviceaccount:openshift-logging:logging-loki'] } },
        },
      ],
      [
        'another audience',
        {
          ...good,
          Condition: {
            StringEquals: {
              'oidc.example:sub': ['system:serviceaccount:openshift-logging:logging-loki'],
              'oidc.example:aud': 'openshift',
            },
          },
        },
      ],
      ['another issuer', { ...good, Principal: { Federated: 'arn:aws:iam::123456789012:oidc-provider/oidc.other' } }],
      ['an AWS principal', { ...good, Principal: { AWS: '*' } }],
      ['another action', { ...good, Action: ['sts:AssumeRoleWithWebIdentity', 'sts:AssumeRole'] }],
      [
        'an extra subject',
        {
          ...good,
          Condition: {
            StringEquals: {
              'oidc.example:sub': [
                'system:serviceaccount:openshift-logging:logging-loki',
                'system:serviceaccount:default:default',
              ],
            },
          },
        },
      ],
    ];
    for (const [what, statement] of loose)
      assert.notDeepEqual(trustViolations(trust(statement), expected), [], `${what} must be reported`);
  });
});

describe(
  'IAM documents made by the activities, read back from a private moto (no cluster, no bootstrap)',
  { concurrency: false },
  () => {
    let moto: PrivateMoto;
    let clients: AwsClients;
    let iam: IAMClient;
    const boundary = `arn:aws:iam::${MOTO_ACCOUNT}:policy/logstack-boundary`;
    const issuer = 'oidc.policy-check.example.com/c1';

    before(async () => {
      moto = await startPrivateMoto();
      clients = motoClients(moto.endpoint);
      iam = clients.iam();
    });
    after(async () => {
      clients?.destroy();
      await moto?.stop();
    });

    it("sts role: trust names exactly the issuer, the Loki service accounts (:sub) and audience sts.amazonaws.com (:aud); the boundary is the catalog's; no Resource is a wildcard", async () => {
      const environment = testEnvironment({
        name: 'prodcheck',
        credentialMode: 'sts',
        oidcIssuer: issuer,
        permissionsBoundary: boundary,
      });
      await createAwsActivities(clients).ensureLokiCredentials({ environment });
      const role = principalName(environment);
      const got = await iam.send(new GetRoleCommand({ RoleName: role }));
      const trust = parseDocument(got.Role?.AssumeRolePolicyDocument, `trust policy of ${role}`);
      const subjects = ['logging-loki', 'logging-loki-ruler'].map(
        (sa) => `system:serviceaccount:openshift-logging:${sa}`,
      );
      assert.deepEqual(
        trustViolations(trust, { accountId: MOTO_ACCOUNT, issuer, subjects }),
        [],
        JSON.stringify(trust),
      );
      assert.equal(got.Role?.PermissionsBoundary?.PermissionsBoundaryArn, boundary);
      const inline = await iam.send(new GetRolePolicyCommand({ RoleName: role, PolicyName: 'logstack-loki-bucket' }));
      const doc = parseDocument(inline.PolicyDocument, 'inline policy');
      assert.deepEqual(permissionViolations(doc, environment.aws.bucket), []);
      assert.deepEqual(wildcardResources(doc), []);
    });

    it('static user and the bucket policy: exact ARNs only (the checker rejects * and prefixes)', async () => {
      const environment = testEnvironment({ name: 'devcheck' });
      await createAwsActivities(clients).ensureLokiCredentials({ environment });
      const inline = await iam.send(
        new GetUserPolicyCommand({ UserName: principalName(environment), PolicyName: 'logstack-loki-bucket' }),
      );
      assert.deepEqual(wildcardResources(parseDocument(inline.PolicyDocument, 'inline policy')), []);
      assert.deepEqual(wildcardResources({ Statement: [tlsOnlyStatement(environment) as Statement] }), []);
      for (const resource of [
        '*',
        'arn:aws:s3:::*',
        'arn:aws:s3:::logstack-*',
        'arn:aws:secretsmanager:us-east-1:123456789012:secret:*',
      ])
        assert.deepEqual(
          wildcardResources({ Statement: [{ Effect: 'Allow', Action: 's3:GetObject', Resource: resource }] }),
          [resource],
        );
    });
  },
);

describe(
  'IAM documents created by the activities, read back after real bootstraps (controller statuses written by stand-ins)',
  { concurrency: false, timeout: 900_000 },
  () => {
    let e2e: E2E;
    let iam: IAMClient;
    let accountId = '';
    let catalog: ReturnType<typeof parseCatalog>;
    const env = (name: string): Environment => {
      const found = catalog.environments.find((e) => e.name === name);
      assert.ok(found, `the sandbox catalog has ${name}`);
      return found;
    };

    /** Every permissions policy of a user or role: inline, attached (default version) and through groups. */
    async function policiesOf(kind: 'user' | 'role', name: string): Promise<{ name: string; doc: PolicyDocument }[]> {
      const found: { name: string; doc: PolicyDocument }[] = [];
      const attached =
        kind === 'user'
          ? (await iam.send(new ListAttachedUserPoliciesCommand({ UserName: name }))).AttachedPolicies
          : (await iam.send(new ListAttachedRolePoliciesCommand({ RoleName: name }))).AttachedPolicies;
      for (const p of attached ?? []) {
        const policy = await iam.send(new GetPolicyCommand({ PolicyArn: p.PolicyArn }));
        const version = await iam.send(
          new GetPolicyVersionCommand({ PolicyArn: p.PolicyArn, VersionId: policy.Policy?.DefaultVersionId }),
        );
        found.push({
          name: `attached ${p.PolicyName ?? '?'}`,
          doc: parseDocument(version.PolicyVersion?.Document, `policy ${p.PolicyArn}`),
        });
      }
      if (kind === 'user') {
        for (const policyName of (await iam.send(new ListUserPoliciesCommand({ UserName: name }))).PolicyNames ?? []) {
          const got = await iam.send(new GetUserPolicyCommand({ UserName: name, PolicyName: policyName }));
          found.push({
            name: `inline ${policyName}`,
            doc: parseDocument(got.PolicyDocument, `inline policy ${policyName}`),
          });
        }
        const groups = (await iam.send(new ListGroupsForUserCommand({ UserName: name }))).Groups ?? [];
        assert.deepEqual(
          groups.map((g) => g.GroupName),
          [],
          `user ${name} is in no group (groups would add policies)`,
        );
      } else {
        for (const policyName of (await iam.send(new ListRolePoliciesCommand({ RoleName: name }))).PolicyNames ?? []) {
          const got = await iam.send(new GetRolePolicyCommand({ RoleName: name, PolicyName: policyName }));
          found.push({
            name: `inline ${policyName}`,
            doc: parseDocument(got.PolicyDocument, `inline policy ${policyName}`),
          });
        }
      }
      return found;
    }

    before(async () => {
      e2e = await startE2E();
      await endOrphanedLocks(e2e.client, ['dev', 'production'], 'IAM policy test');
      catalog = parseCatalog(parse(readFileSync(e2e.sandbox.catalog, 'utf8')));
      const aws = {
        endpoint: e2e.sandbox.aws.endpoint,
        region: 'us-east-1',
        credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      };
      iam = new IAMClient(aws);
      const sts = new STSClient(aws);
      accountId = (await sts.send(new GetCallerIdentityCommand({}))).Account ?? '';
      sts.destroy();
      assert.match(accountId, /^\d{12}$/);
      // The activities create the principals and their documents during bootstrap: run real ones.
      const runs = await Promise.all(
        ['dev', 'production'].map((name) => e2e.cli('bootstrap', name, '--wait', '--output', 'json')),
      );
      for (const run of runs) assert.equal(run.code, 0, run.err + run.out);
    });

    after(async () => {
      iam?.destroy();
      await e2e?.stop();
    });

    it('static mode (dev): every policy of the Loki user allows only S3 actions on its bucket ARN or <bucket ARN>/*, and the user holds one access key', async (t) => {
      const dev = env('dev');
      assert.equal(dev.aws.credentialMode, 'static');
      const user = principalName(dev);
      const policies = await policiesOf('user', user);
      assert.ok(policies.length > 0, `user ${user} has a policy to check`);
      for (const { name, doc } of policies) {
        assert.deepEqual(
          permissionViolations(doc, dev.aws.bucket),
          [],
          `${name} of user ${user}: ${JSON.stringify(doc)}`,
        );
      }
      const actions = policies.flatMap(({ doc }) => statements(doc).flatMap((s) => list(s.Action))).sort();
      assert.deepEqual(
        actions,
        ['s3:DeleteObject', 's3:GetObject', 's3:ListBucket', 's3:PutObject'],
        'what Loki needs, no more',
      );
      const keys = (await iam.send(new ListAccessKeysCommand({ UserName: user }))).AccessKeyMetadata ?? [];
      assert.equal(keys.length, 1, `user ${user} holds exactly one access key`);
      t.diagnostic(`user ${user}: ${policies.map((p) => p.name).join(', ')}`);
    });

    it("sts mode (production): the role's policies are scoped to its bucket, and its trust policy federates exactly the cluster's OIDC issuer for the LokiStack's service accounts", async (t) => {
      const production = env('production');
      assert.equal(production.aws.credentialMode, 'sts');
      const role = principalName(production);
      const policies = await policiesOf('role', role);
      assert.ok(policies.length > 0, `role ${role} has a policy to check`);
      for (const { name, doc } of policies) {
        assert.deepEqual(
          permissionViolations(doc, production.aws.bucket),
          [],
          `${name} of role ${role}: ${JSON.stringify(doc)}`,
        );
      }

      // The issuer is what the production API server signs service-account tokens with, not what the catalog says.
      const cluster = createKubeClusters(e2e.sandbox.kubeconfig).forContext(production.cluster.context);
      const discovery = await cluster.request<{ issuer: string }>({
        method: 'GET',
        path: '/.well-known/openid-configuration',
      });
      const issuer = discovery.issuer.replace(/^https:\/\//, '');
      // The Loki Operator runs the stack under service accounts named after the LokiStack (and its ruler).
      const stack = await readObject(cluster, {
        apiVersion: 'loki.grafana.com/v1',
        kind: 'LokiStack',
        name: production.loki.stackName,
        namespace: production.loki.namespace,
      });
      assert.ok(stack, `LokiStack ${production.loki.namespace}/${production.loki.stackName} is deployed in production`);
      const subjects = [stack.metadata.name, `${stack.metadata.name}-ruler`].map(
        (sa) => `system:serviceaccount:${production.loki.namespace}:${sa}`,
      );

      const got = await iam.send(new GetRoleCommand({ RoleName: role }));
      const trust = parseDocument(got.Role?.AssumeRolePolicyDocument, `trust policy of ${role}`);
      assert.deepEqual(trustViolations(trust, { accountId, issuer, subjects }), [], JSON.stringify(trust));
      t.diagnostic(
        `role ${role}: ${policies.map((p) => p.name).join(', ')}; trusts ${issuer} for ${subjects.join(', ')}`,
      );
    });
  },
);
