/**
 * The operator-rule pre-flight (domain/operator-rules/) over overlays shaped like the rendered gitops tree:
 * the static (dev-like) and sts (production-like) overlays pass; a table of broken overlays and catalogs is
 * each refused with the operator's own reason at the field's path, every violation reported (not only the
 * first, as the operators do). Pure; runs on Node and Deno.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  checkOperatorRules,
  endpointProblems,
  evaluateTemplate,
  formatViolation,
  operatorRulesMessage,
  type OperatorRuleViolation,
  type RuleEnvironment,
} from '../../domain/operator-rules/index.ts';

type Obj = Record<string, unknown> & { kind: string; metadata: { name: string; namespace?: string } };

const NS = 'openshift-logging';
const STACK = `LokiStack/${NS}/logging-loki`;
const ES = `ExternalSecret/${NS}/logging-loki-s3`;
const CLF = `ClusterLogForwarder/${NS}/collector`;

const devEnv: RuleEnvironment = {
  name: 'dev',
  protected: false,
  retentionDays: 7,
  aws: { region: 'us-east-1', bucket: 'example-logstack-dev-loki', secretName: 'logstack/dev/loki-s3', credentialMode: 'static' },
};
const prodEnv: RuleEnvironment = {
  name: 'production',
  protected: true,
  retentionDays: 30,
  aws: { region: 'us-east-1', bucket: 'example-logstack-production-loki', secretName: 'logstack/production/loki-s3', credentialMode: 'sts' },
};

const binding = (role: string, sa = 'logcollector'): Obj => ({
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind: 'ClusterRoleBinding',
  metadata: { name: `${sa}-${role}` },
  roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
  subjects: [{ kind: 'ServiceAccount', name: sa, namespace: NS }],
});

const STATIC_TEMPLATE = {
  access_key_id: '{{ .access_key_id }}',
  access_key_secret: '{{ .access_key_secret }}',
  bucketnames: '{{ .bucketnames }}',
  endpoint: 'https://s3.{{ .region }}.amazonaws.com',
  region: '{{ .region }}',
};
const STS_TEMPLATE = { bucketnames: '{{ .bucketnames }}', region: '{{ .region }}', role_arn: '{{ .role_arn }}' };

/** The overlay as `kubectl kustomize gitops/overlays/<env>` renders the parts the rules read. */
function overlay(env: RuleEnvironment, size: string): Obj[] {
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } },
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'logcollector', namespace: NS } },
    binding('collect-application-logs'),
    binding('collect-infrastructure-logs'),
    binding('collect-audit-logs'),
    binding('logging-collector-logs-writer'),
    {
      apiVersion: 'external-secrets.io/v1',
      kind: 'ExternalSecret',
      metadata: { name: 'logging-loki-s3', namespace: NS },
      spec: {
        dataFrom: [{ extract: { key: env.aws.secretName } }],
        secretStoreRef: { kind: 'ClusterSecretStore', name: 'logstack-aws' },
        target: {
          name: 'logging-loki-s3',
          creationPolicy: 'Owner',
          template: { engineVersion: 'v2', mergePolicy: 'Replace', type: 'Opaque', data: env.aws.credentialMode === 'static' ? { ...STATIC_TEMPLATE } : { ...STS_TEMPLATE } },
        },
      },
    },
    {
      apiVersion: 'loki.grafana.com/v1',
      kind: 'LokiStack',
      metadata: { name: 'logging-loki', namespace: NS },
      spec: {
        size,
        limits: { global: { retention: { days: env.retentionDays } } },
        managementState: 'Managed',
        storage: { schemas: [{ effectiveDate: '2024-10-01', version: 'v13' }], secret: { name: 'logging-loki-s3', type: 's3' } },
        storageClassName: 'gp3-csi',
        tenants: { mode: 'openshift-logging' },
      },
    },
    {
      apiVersion: 'observability.openshift.io/v1',
      kind: 'ClusterLogForwarder',
      metadata: { name: 'collector', namespace: NS },
      spec: {
        managementState: 'Managed',
        serviceAccount: { name: 'logcollector' },
        outputs: [
          {
            name: 'default-lokistack',
            type: 'lokiStack',
            lokiStack: { authentication: { token: { from: 'serviceAccount' } }, target: { name: 'logging-loki', namespace: NS } },
            tls: { ca: { configMapName: 'openshift-service-ca.crt', key: 'service-ca.crt' } },
          },
        ],
        pipelines: [{ name: 'default-logstore', inputRefs: ['application', 'infrastructure', 'audit'], outputRefs: ['default-lokistack'] }],
      },
    },
  ];
}

const find = (objects: Obj[], kind: string): Obj => objects.find((o) => o.kind === kind) as Obj;
/** Sets (or, with undefined, deletes) a nested field of the first object of `kind`. */
function set(objects: Obj[], kind: string, path: (string | number)[], value: unknown): Obj[] {
  let cur = find(objects, kind) as Record<string | number, unknown>;
  for (const step of path.slice(0, -1)) {
    cur[step] ??= {};
    cur = cur[step] as Record<string | number, unknown>;
  }
  const last = path[path.length - 1] as string | number;
  if (value === undefined) delete cur[last];
  else cur[last] = value;
  return objects;
}
const b64 = (s: string) => btoa(s);

interface Row {
  readonly name: string;
  readonly env: RuleEnvironment;
  readonly size?: string;
  readonly edit: (objects: Obj[]) => Obj[];
  /** Every violation expected: path, and a fragment of the reason. */
  readonly expect: readonly (readonly [path: string, reason: RegExp])[];
}

const TPL = (key: string) => `${ES}: spec.target.template.data.${key}`;

const ROWS: readonly Row[] = [
  // ── Loki object storage (ExternalSecret template over the catalog's secret) ──
  { name: 'template without bucketnames', env: devEnv, edit: (o) => set(o, 'ExternalSecret', ['spec', 'target', 'template', 'data', 'bucketnames'], undefined), expect: [[TPL('bucketnames'), /^missing secret field: bucketnames$/]] },
  { name: 'static template without endpoint', env: devEnv, edit: (o) => set(o, 'ExternalSecret', ['spec', 'target', 'template', 'data', 'endpoint'], undefined), expect: [[TPL('endpoint'), /^missing secret field: endpoint$/]] },
  {
    name: 'static template without the access key (both fields)',
    env: devEnv,
    edit: (o) => set(set(o, 'ExternalSecret', ['spec', 'target', 'template', 'data', 'access_key_id'], undefined), 'ExternalSecret', ['spec', 'target', 'template', 'data', 'access_key_secret'], undefined),
    expect: [[TPL('access_key_id'), /^missing secret field: access_key_id$/], [TPL('access_key_secret'), /^missing secret field: access_key_secret$/]],
  },
  { name: 'endpoint hard-coded to another region', env: devEnv, edit: (o) => set(o, 'ExternalSecret', ['spec', 'target', 'template', 'data', 'endpoint'], 'https://s3.eu-west-1.amazonaws.com'), expect: [[TPL('endpoint'), /must include correct region: expected region us-east-1, got eu-west-1/]] },
  { name: 'endpoint with a path', env: devEnv, edit: (o) => set(o, 'ExternalSecret', ['spec', 'target', 'template', 'data', 'endpoint'], 'https://s3.{{ .region }}.amazonaws.com/logs'), expect: [[TPL('endpoint'), /must not include a path: \/logs/]] },
  { name: 'endpoint with the bucket in the host', env: devEnv, edit: (o) => set(o, 'ExternalSecret', ['spec', 'target', 'template', 'data', 'endpoint'], 'https://{{ .bucketnames }}.s3.{{ .region }}.amazonaws.com'), expect: [[TPL('endpoint'), /bucket name must not be included in AWS S3 endpoint URL/]] },
  { name: 'endpoint not an AWS S3 form (global endpoint)', env: devEnv, edit: (o) => set(o, 'ExternalSecret', ['spec', 'target', 'template', 'data', 'endpoint'], 'https://s3.amazonaws.com'), expect: [[TPL('endpoint'), /endpoint for AWS S3 is invalid, must match either https:\/\/s3\.region\.amazonaws\.com or https:\/\/vpce-id/]] },
  { name: 'endpoint without a scheme', env: devEnv, edit: (o) => set(o, 'ExternalSecret', ['spec', 'target', 'template', 'data', 'endpoint'], 's3.{{ .region }}.amazonaws.com'), expect: [[TPL('endpoint'), /must be an HTTP or HTTPS URL|scheme of S3 endpoint URL is unsupported/]] },
  { name: 'template reads a key the catalog secret does not hold', env: devEnv, edit: (o) => set(o, 'ExternalSecret', ['spec', 'target', 'template', 'data', 'bucketnames'], '{{ .bucket }}'), expect: [[TPL('bucketnames'), /reads \.bucket, which the catalog's secret logstack\/dev\/loki-s3 does not hold/], [TPL('bucketnames'), /^missing secret field: bucketnames$/]] },
  { name: 'ExternalSecret extracts another environment\'s secret', env: devEnv, edit: (o) => set(o, 'ExternalSecret', ['spec', 'dataFrom'], [{ extract: { key: 'logstack/staging/loki-s3' } }]), expect: [[`${ES}: spec.dataFrom[0].extract.key`, /reads logstack\/staging\/loki-s3, but the catalog's Loki secret for dev is logstack\/dev\/loki-s3/]] },
  { name: 'bucketnames hard-coded to another bucket', env: devEnv, edit: (o) => set(o, 'ExternalSecret', ['spec', 'target', 'template', 'data', 'bucketnames'], 'someone-elses-bucket'), expect: [[TPL('bucketnames'), /bucketnames is someone-elses-bucket; the catalog's bucket for dev is example-logstack-dev-loki/]] },
  {
    name: 'role_arn in a static environment (token mode, catalog says static)',
    env: devEnv,
    edit: (o) => set(o, 'ExternalSecret', ['spec', 'target', 'template', 'data', 'role_arn'], 'arn:aws:iam::123456789012:role/loki'),
    expect: [[TPL('role_arn'), /read this secret in token mode \(role_arn is set\); the catalog's credentialMode static needs static mode/]],
  },
  { name: 'token mode without region', env: prodEnv, size: '1x.small', edit: (o) => set(o, 'ExternalSecret', ['spec', 'target', 'template', 'data', 'region'], undefined), expect: [[TPL('region'), /^missing secret field: region$/]] },
  {
    name: 'token-cco refuses role_arn',
    env: prodEnv,
    size: '1x.small',
    edit: (o) => set(o, 'LokiStack', ['spec', 'storage', 'secret', 'credentialMode'], 'token-cco'),
    expect: [[TPL('role_arn'), /token-cco mode.*needs token mode/], [TPL('role_arn'), /secret field not allowed: role_arn/]],
  },
  {
    name: 'sts environment with a static template (no role_arn)',
    env: prodEnv,
    size: '1x.small',
    edit: (o) => set(o, 'ExternalSecret', ['spec', 'target', 'template', 'data'], { bucketnames: '{{ .bucketnames }}', region: '{{ .region }}' }),
    expect: [
      [TPL('role_arn'), /static mode; the catalog's credentialMode sts needs token mode/],
      [TPL('endpoint'), /^missing secret field: endpoint$/],
      [TPL('access_key_id'), /^missing secret field: access_key_id$/],
      [TPL('access_key_secret'), /^missing secret field: access_key_secret$/],
    ],
  },
  { name: 'unsupported SSE type', env: devEnv, edit: (o) => set(o, 'ExternalSecret', ['spec', 'target', 'template', 'data', 'sse_type'], 'SSE-C'), expect: [[TPL('sse_type'), /unsupported SSE type \(supported: SSE-KMS, SSE-S3\): SSE-C/]] },
  { name: 'SSE-KMS without a key id', env: devEnv, edit: (o) => set(o, 'ExternalSecret', ['spec', 'target', 'template', 'data', 'sse_type'], 'SSE-KMS'), expect: [[TPL('sse_kms_key_id'), /^missing secret field: sse_kms_key_id$/]] },
  { name: 'forcepathstyle neither true nor false', env: devEnv, edit: (o) => set(o, 'ExternalSecret', ['spec', 'target', 'template', 'data', 'forcepathstyle'], 'yes'), expect: [[TPL('forcepathstyle'), /forcepathstyle must be "true" or "false": yes/]] },
  { name: 'no Secret or ExternalSecret writes the storage secret', env: devEnv, edit: (o) => o.filter((x) => x.kind !== 'ExternalSecret'), expect: [[`${STACK}: spec.storage.secret.name`, /^Missing object storage secret: no Secret or ExternalSecret in this overlay writes openshift-logging\/logging-loki-s3$/]] },
  {
    name: 'plain Secret (data, base64) with a VPC endpoint in another region and no access key',
    env: devEnv,
    edit: (o) => [
      ...o.filter((x) => x.kind !== 'ExternalSecret'),
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'logging-loki-s3', namespace: NS }, data: { bucketnames: b64('example-logstack-dev-loki'), region: b64('us-east-1'), endpoint: b64('https://vpce-0a1b2c.s3.eu-west-1.vpce.amazonaws.com') } },
    ],
    expect: [
      [`Secret/${NS}/logging-loki-s3: data.endpoint`, /expected region us-east-1, got eu-west-1/],
      [`Secret/${NS}/logging-loki-s3: data.access_key_id`, /^missing secret field: access_key_id$/],
      [`Secret/${NS}/logging-loki-s3: data.access_key_secret`, /^missing secret field: access_key_secret$/],
    ],
  },
  { name: 'storage type not s3 for an AWS catalog', env: devEnv, edit: (o) => set(o, 'LokiStack', ['spec', 'storage', 'secret', 'type'], 'gcs'), expect: [[`${STACK}: spec.storage.secret.type`, /is gcs; the catalog keeps dev's logs in the AWS S3 bucket/]] },
  // ── LokiStack ──
  { name: 'size the operator does not know', env: devEnv, size: '2x.huge', edit: (o) => o, expect: [[`${STACK}: spec.size`, /Unsupported value: "2x\.huge": supported values: "1x\.demo", "1x\.pico", "1x\.extra-small", "1x\.small", "1x\.medium"/]] },
  { name: '1x.demo in a protected environment', env: prodEnv, size: '1x.demo', edit: (o) => o, expect: [[`${STACK}: spec.size`, /1x\.demo .*production is protected/]] },
  { name: 'tenants mode static', env: devEnv, edit: (o) => set(o, 'LokiStack', ['spec', 'tenants', 'mode'], 'static'), expect: [[`${STACK}: spec.tenants.mode`, /is static; .* must be openshift-logging/]] },
  { name: 'retention beyond the catalog\'s bucket lifecycle', env: devEnv, edit: (o) => set(o, 'LokiStack', ['spec', 'limits', 'global', 'retention', 'days'], 14), expect: [[`${STACK}: spec.limits.global.retention.days`, /14 days outlives the bucket: the catalog's retentionDays for dev is 7/]] },
  {
    name: 'tenant and stream retention beyond the operator\'s 30 days and below 1',
    env: prodEnv,
    size: '1x.small',
    edit: (o) => set(o, 'LokiStack', ['spec', 'limits', 'tenants'], { audit: { retention: { days: 90, streams: [{ days: 0, selector: '{log_type="audit"}' }] } } }),
    expect: [
      [`${STACK}: spec.limits.tenants.audit.retention.days`, /90 days is beyond the 30 days the Loki Operator supports/],
      [`${STACK}: spec.limits.tenants.audit.retention.streams[0].days`, /must be a whole number of days, at least 1/],
    ],
  },
  // ── ClusterLogForwarder ──
  { name: 'forwarder without serviceAccount.name', env: devEnv, edit: (o) => set(o, 'ClusterLogForwarder', ['spec', 'serviceAccount'], undefined), expect: [[`${CLF}: spec.serviceAccount.name`, /Required value/]] },
  { name: 'forwarder service account not in the overlay', env: devEnv, edit: (o) => o.filter((x) => x.kind !== 'ServiceAccount'), expect: [[`${CLF}: spec.serviceAccount.name`, /service account not found: openshift-logging\/logcollector/]] },
  { name: 'collect-audit-logs binding missing', env: devEnv, edit: (o) => o.filter((x) => x.metadata.name !== 'logcollector-collect-audit-logs'), expect: [[`${CLF}: spec.serviceAccount.name`, /insufficient permissions on service account, not authorized to collect \["audit"\] logs/]] },
  { name: 'collect bindings to another service account', env: devEnv, edit: (o) => [...o.filter((x) => x.kind !== 'ClusterRoleBinding'), binding('collect-application-logs', 'other'), binding('collect-infrastructure-logs', 'other'), binding('collect-audit-logs', 'other'), binding('logging-collector-logs-writer')], expect: [[`${CLF}: spec.serviceAccount.name`, /not authorized to collect \["application" "infrastructure" "audit"\] logs/]] },
  { name: 'writer binding missing', env: devEnv, edit: (o) => o.filter((x) => x.metadata.name !== 'logcollector-logging-collector-logs-writer'), expect: [[`${CLF}: spec.serviceAccount.name`, /no ClusterRoleBinding of logging-collector-logs-writer/]] },
  { name: 'forwarder without outputs', env: devEnv, edit: (o) => set(o, 'ClusterLogForwarder', ['spec', 'outputs'], []), expect: [[`${CLF}: spec.outputs`, /Required value/], [`${CLF}: spec.pipelines[0].outputRefs`, /refs not found: outputs\[default-lokistack\]/]] },
  { name: 'pipeline reading an input that does not exist', env: devEnv, edit: (o) => set(o, 'ClusterLogForwarder', ['spec', 'pipelines', 0, 'inputRefs'], ['application', 'apps']), expect: [[`${CLF}: spec.pipelines[0].inputRefs`, /refs not found: inputs\[apps\]/]] },
  { name: 'pipeline writing to an output that does not exist, and no inputRefs', env: devEnv, edit: (o) => set(set(o, 'ClusterLogForwarder', ['spec', 'pipelines', 0, 'outputRefs'], ['loki']), 'ClusterLogForwarder', ['spec', 'pipelines', 0, 'inputRefs'], []), expect: [[`${CLF}: spec.pipelines[0].inputRefs`, /Required value/], [`${CLF}: spec.pipelines[0].outputRefs`, /refs not found: outputs\[loki\]/]] },
  { name: 'lokiStack output without authentication.token', env: devEnv, edit: (o) => set(o, 'ClusterLogForwarder', ['spec', 'outputs', 0, 'lokiStack', 'authentication'], undefined), expect: [[`${CLF}: spec.outputs[0].lokiStack.authentication.token`, /Required value/]] },
  {
    name: 'lokiStack output without target, and one naming a LokiStack not in the overlay',
    env: devEnv,
    edit: (o) => {
      const outputs = (find(o, 'ClusterLogForwarder')['spec'] as { outputs: Record<string, unknown>[] }).outputs;
      outputs.push({ name: 'elsewhere', type: 'lokiStack', lokiStack: { authentication: { token: { from: 'serviceAccount' } }, target: { name: 'other-loki' } } });
      return set(o, 'ClusterLogForwarder', ['spec', 'outputs', 0, 'lokiStack', 'target'], undefined);
    },
    expect: [[`${CLF}: spec.outputs[0].lokiStack.target.name`, /Required value/], [`${CLF}: spec.outputs[1].lokiStack.target`, /no LokiStack openshift-logging\/other-loki in this overlay/]],
  },
  // ── a catalog that disagrees with the overlay ──
  { name: 'catalog region differs from the endpoint the template builds (catalog edited, overlay not)', env: { ...devEnv, aws: { ...devEnv.aws, region: 'eu-central-1' } }, edit: (o) => set(o, 'ExternalSecret', ['spec', 'target', 'template', 'data', 'endpoint'], 'https://s3.us-east-1.amazonaws.com'), expect: [[TPL('endpoint'), /expected region eu-central-1, got us-east-1/]] },
  { name: 'catalog retention shortened below the overlay\'s', env: { ...prodEnv, retentionDays: 14 }, size: '1x.small', edit: (o) => set(o, 'LokiStack', ['spec', 'limits', 'global', 'retention', 'days'], 30), expect: [[`${STACK}: spec.limits.global.retention.days`, /30 days outlives the bucket: the catalog's retentionDays for production is 14/]] },
  { name: 'catalog marks dev protected while it runs 1x.demo', env: { ...devEnv, protected: true }, size: '1x.demo', edit: (o) => o, expect: [[`${STACK}: spec.size`, /dev is protected/]] },
];

const pathsOf = (v: readonly OperatorRuleViolation[]) => v.map((x) => x.path);

describe('operator rules: the shipped shapes pass', () => {
  it('static (dev-like, 1x.demo) and sts (production-like, 1x.small) overlays have no violation', () => {
    assert.deepEqual(checkOperatorRules(overlay(devEnv, '1x.demo'), devEnv), []);
    assert.deepEqual(checkOperatorRules(overlay(prodEnv, '1x.small'), prodEnv), []);
  });

  it('an overlay without a LokiStack or a forwarder (the bootstrap overlay) and non-objects are not judged', () => {
    assert.deepEqual(checkOperatorRules([null, 'text', 42, { kind: 'ConfigMap' }, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'x' } }], devEnv), []);
  });
});

describe('operator rules: each broken overlay or catalog is refused with the operator\'s reason at its path', () => {
  for (const row of ROWS) {
    it(row.name, () => {
      const objects = row.edit(overlay(row.env, row.size ?? (row.env.protected ? '1x.small' : '1x.demo')));
      const violations = checkOperatorRules(objects, row.env);
      assert.deepEqual(
        pathsOf(violations).sort(),
        row.expect.map(([p]) => p).sort(),
        `paths:\n${violations.map(formatViolation).join('\n')}`,
      );
      for (const [path, reason] of row.expect) {
        assert.ok(
          violations.some((v) => v.path === path && reason.test(v.reason)),
          `expected ${path} ~ ${reason}; got:\n${violations.map(formatViolation).join('\n')}`,
        );
      }
    });
  }

  it('every violation at once: a multiply broken overlay reports each, and the message lists each path', () => {
    let objects = overlay(devEnv, '2x.huge');
    objects = set(objects, 'LokiStack', ['spec', 'tenants', 'mode'], 'static');
    objects = set(objects, 'ExternalSecret', ['spec', 'target', 'template', 'data', 'endpoint'], 'https://s3.eu-west-1.amazonaws.com/x');
    objects = set(objects, 'ClusterLogForwarder', ['spec', 'pipelines', 0, 'outputRefs'], ['nowhere']);
    objects = objects.filter((x) => x.metadata.name !== 'logcollector-collect-audit-logs');
    const violations = checkOperatorRules(objects, devEnv);
    // size, tenants, the endpoint's path (which hides its region, as in the operator), the pipeline's outputRef, the audit binding
    assert.equal(violations.length, 5, violations.map(formatViolation).join('\n'));
    const message = operatorRulesMessage('dev', 'gitops/overlays/dev', violations);
    for (const v of violations) assert.ok(message.includes(v.path), v.path);
    assert.match(message, /breaks 5 operator rule\(s\) for dev/);
    assert.ok(violations.every((v) => ['loki-operator', 'cluster-logging-operator', 'logstack'].includes(v.owner)));
  });
});

describe('operator rules: the pieces', () => {
  it('endpointProblems accepts the regional and the VPC endpoint forms and a non-AWS endpoint', () => {
    assert.deepEqual(endpointProblems('https://s3.us-east-1.amazonaws.com', 'us-east-1'), []);
    // The operator matches its AWS forms against the whole string: a trailing slash passes the path rule but not the form.
    assert.match(endpointProblems('https://s3.us-east-1.amazonaws.com/', 'us-east-1').join(), /endpoint for AWS S3 is invalid/);
    assert.deepEqual(endpointProblems('https://vpce-0abc-12de.s3.us-east-1.vpce.amazonaws.com', 'us-east-1'), []);
    assert.deepEqual(endpointProblems('http://minio.minio.svc:9000', undefined), []);
    assert.deepEqual(endpointProblems('https://s3.us-east-1.amazonaws.com', undefined), ['missing secret field: region (an AWS endpoint needs it)']);
    assert.match(endpointProblems('ftp://s3.us-east-1.amazonaws.com', 'us-east-1').join(), /scheme of S3 endpoint URL is unsupported: ftp/);
  });

  it('evaluateTemplate fills {{ .key }} from the source, leaves functions unknown, and names missing keys', () => {
    const source = new Map<string, string | undefined>([['region', 'us-east-1'], ['access_key_id', undefined]]);
    assert.deepEqual(evaluateTemplate('https://s3.{{ .region }}.amazonaws.com', source), { text: 'https://s3.us-east-1.amazonaws.com', missing: [] });
    assert.deepEqual(evaluateTemplate('{{- .region -}}', source), { text: 'us-east-1', missing: [] });
    assert.deepEqual(evaluateTemplate('{{ .access_key_id }}', source), { text: undefined, missing: [] });
    assert.deepEqual(evaluateTemplate('{{ .region | upper }}', source), { text: undefined, missing: [] });
    assert.deepEqual(evaluateTemplate('{{ .nope }}', source), { text: undefined, missing: ['nope'] });
  });
});
