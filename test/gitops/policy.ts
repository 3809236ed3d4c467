/**
 * The policy of the gitops/ tree as named rules over the rendered overlays, the source files and
 * both catalogs. Each rule returns the violations it finds (empty = compliant), so the tests assert
 * emptiness and `gitops:validate` prints them.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { parse } from 'yaml';
import { type Catalog, type Environment, LOKI_SECRET_KEYS, LOKI_SIZES, MAX_RETENTION_DAYS, s3Endpoint } from '../../domain/environments.ts';
import { GITOPS_NAMES, SYNC_WAVES } from '../../domain/gitops.ts';
import {
  CATALOG_FILES,
  ENVIRONMENTS,
  type EnvironmentName,
  GITOPS,
  type KObject,
  RENDER_TARGETS,
  ROOT,
  type RenderTarget,
  at,
  filesUnder,
  groupOf,
  refOf,
  rel,
  syncOptions,
  syncWave,
} from './lib.ts';

/** Everything the rules look at. */
export interface PolicyContext {
  readonly renders: Record<RenderTarget, KObject[]>;
  readonly catalogs: { readonly real: Catalog; readonly sandbox: Catalog };
  readonly sources: readonly { file: string; docs: unknown[] }[];
}

/** A named rule; `check` returns violations, one line each. */
export interface PolicyRule {
  readonly name: string;
  check(ctx: PolicyContext): string[];
}

/** The health checks shipped in the ArgoCD CR: group, kind and the Lua file holding the script. */
export const HEALTH_CHECKS = [
  { group: 'loki.grafana.com', kind: 'LokiStack', file: 'gitops/apps/health/lokistack.lua' },
  { group: 'observability.openshift.io', kind: 'ClusterLogForwarder', file: 'gitops/apps/health/clusterlogforwarder.lua' },
  { group: 'operators.coreos.com', kind: 'Subscription', file: 'gitops/apps/health/subscription.lua' },
  { group: 'operators.coreos.com', kind: 'ClusterServiceVersion', file: 'gitops/apps/health/clusterserviceversion.lua' },
  { group: 'operators.coreos.com', kind: 'InstallPlan', file: 'gitops/apps/health/installplan.lua' },
] as const;

/** API groups whose CRDs arrive with an operator the tree itself installs. */
const OPERATOR_GROUPS = ['loki.grafana.com', 'observability.openshift.io', 'external-secrets.io', 'operator.openshift.io'];
const PLACEHOLDER = 'patch-me';

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v));
const envRenders = (ctx: PolicyContext): [EnvironmentName, KObject[]][] => ENVIRONMENTS.map((e) => [e, ctx.renders[e]]);
const find = (objs: readonly KObject[], kind: string, name?: string): KObject[] => objs.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
const catalogEnvs = (ctx: PolicyContext, env: string): [string, Environment][] =>
  (Object.entries(ctx.catalogs) as [keyof typeof CATALOG_FILES, Catalog][]).flatMap(([which, c]) => {
    const e = c.environments.find((x) => x.name === env);
    return e ? [[CATALOG_FILES[which], e] as [string, Environment]] : [];
  });

/** Every path inside `value` whose string value contains `needle`. */
function pathsContaining(value: unknown, needle: string, path = ''): string[] {
  if (typeof value === 'string') return value.includes(needle) ? [path || '(root)'] : [];
  if (Array.isArray(value)) return value.flatMap((v, i) => pathsContaining(v, needle, `${path}[${i}]`));
  if (isObj(value)) return Object.entries(value).flatMap(([k, v]) => pathsContaining(v, needle, path ? `${path}.${k}` : k));
  return [];
}

/** Docs of every source file under a directory prefix (relative to the root). */
function sourceDocsUnder(ctx: PolicyContext, prefix: string): { file: string; doc: KObject }[] {
  return ctx.sources.filter((s) => s.file.startsWith(prefix)).flatMap((s) => s.docs.filter(isObj).map((doc) => ({ file: s.file, doc: doc as KObject })));
}

/** Resource files listed by every kustomization.yaml under gitops/ (absolute paths). */
function listedResourceFiles(): string[] {
  const out: string[] = [];
  for (const k of filesUnder(GITOPS, ['kustomization.yaml'])) {
    const doc = parse(readFileSync(k, 'utf8')) as { resources?: string[] };
    for (const r of doc.resources ?? []) {
      const full = join(dirname(k), r);
      if (r.endsWith('.yaml') && existsSync(full)) out.push(full);
    }
  }
  return [...new Set(out)];
}

export const POLICY_RULES: readonly PolicyRule[] = [
  {
    name: 'no Secret with data anywhere in gitops/ (sources or renders)',
    check(ctx) {
      const bad: string[] = [];
      for (const s of ctx.sources) {
        for (const d of s.docs) {
          if (isObj(d) && d['kind'] === 'Secret' && (d['data'] !== undefined || d['stringData'] !== undefined)) bad.push(`${s.file}: Secret with data`);
        }
      }
      for (const [target, objs] of Object.entries(ctx.renders)) {
        for (const o of find(objs, 'Secret')) bad.push(`${target}: renders ${refOf(o)}`);
      }
      return bad;
    },
  },
  {
    name: 'no patch-me placeholder left after rendering any overlay or apps/',
    check(ctx) {
      return Object.entries(ctx.renders).flatMap(([target, objs]) =>
        objs.flatMap((o) => pathsContaining(o, PLACEHOLDER).map((p) => `${target}: ${refOf(o)} ${p} is still ${PLACEHOLDER}`)),
      );
    },
  },
  {
    name: 'base keeps visible patch-me placeholders where environments differ',
    check(ctx) {
      const expected: [string, string, (string | number)[]][] = [
        ['LokiStack', 'logging-loki', ['spec', 'size']],
        ['LokiStack', 'logging-loki', ['spec', 'storageClassName']],
        ['LokiStack', 'logging-loki', ['spec', 'limits', 'global', 'retention', 'days']],
        ['ClusterSecretStore', GITOPS_NAMES.secretStore, ['spec', 'provider', 'aws', 'region']],
        ['ExternalSecret', GITOPS_NAMES.lokiExternalSecret, ['spec', 'dataFrom', 0, 'extract', 'key']],
        ...GITOPS_NAMES.subscriptions.map((s): [string, string, (string | number)[]] => ['Subscription', s.name, ['spec', 'channel']]),
      ];
      const base = sourceDocsUnder(ctx, 'gitops/base/');
      return expected.flatMap(([kind, name, path]) => {
        const hit = base.find((b) => b.doc.kind === kind && b.doc.metadata.name === name);
        if (!hit) return [`base has no ${kind} ${name}`];
        return at(hit.doc, ...path) === PLACEHOLDER ? [] : [`${hit.file}: ${path.join('.')} should be ${PLACEHOLDER} in base, is ${str(at(hit.doc, ...path))}`];
      });
    },
  },
  {
    name: 'Logging 6 only: no ClusterLogging, no logging.openshift.io objects',
    check(ctx) {
      const bad = (o: KObject) => o.kind === 'ClusterLogging' || o.apiVersion.startsWith('logging.openshift.io/');
      return [
        ...ctx.sources.flatMap((s) => s.docs.filter(isObj).filter((d) => bad(d as KObject)).map(() => `${s.file}: Logging 5 object`)),
        ...Object.entries(ctx.renders).flatMap(([t, objs]) => objs.filter(bad).map((o) => `${t}: ${refOf(o)}`)),
      ];
    },
  },
  {
    name: 'External Secrets objects are external-secrets.io/v1',
    check(ctx) {
      const all = [...sourceDocsUnder(ctx, 'gitops/').map((s) => ({ where: s.file, o: s.doc })), ...Object.entries(ctx.renders).flatMap(([t, objs]) => objs.map((o) => ({ where: t, o })))];
      return all
        .filter(({ o }) => typeof o.apiVersion === 'string' && o.apiVersion.startsWith('external-secrets.io/') && o.apiVersion !== 'external-secrets.io/v1')
        .map(({ where, o }) => `${where}: ${o.kind} ${o.metadata?.name} is ${o.apiVersion}`);
    },
  },
  {
    name: 'the Loki S3 Secret template renders exactly the Loki Operator keys for the credential mode',
    check(ctx) {
      const bad: string[] = [];
      for (const [env, objs] of envRenders(ctx)) {
        for (const [catalog, e] of catalogEnvs(ctx, env)) {
          const es = objs.find((o) => o.kind === 'ExternalSecret' && o.metadata.namespace === e.loki.namespace && at(o, 'spec', 'target', 'name') === e.loki.secretName);
          if (!es) {
            bad.push(`${env}: no ExternalSecret in ${e.loki.namespace} targets ${e.loki.secretName} (${catalog})`);
            continue;
          }
          const template = at(es, 'spec', 'target', 'template');
          const data = at(template, 'data');
          const keys = isObj(data) ? Object.keys(data).sort() : [];
          const want = [...LOKI_SECRET_KEYS[e.aws.credentialMode]].sort();
          if (keys.join() !== want.join()) bad.push(`${env}: template keys [${keys.join(', ')}], ${e.aws.credentialMode} mode needs [${want.join(', ')}] (${catalog})`);
          for (const k of keys) {
            const v = at(data, k);
            const expected = k === 'endpoint' ? s3Endpoint('{{ .region }}') : `{{ .${k} }}`;
            if (v !== expected) bad.push(`${env}: template ${k} is ${str(v)}, expected ${expected}`);
          }
          if (at(template, 'mergePolicy') !== 'Replace') bad.push(`${env}: template mergePolicy must be Replace so no other key reaches the Secret`);
          if (at(template, 'engineVersion') !== 'v2') bad.push(`${env}: template engineVersion must be v2`);
          if (at(es, 'spec', 'dataFrom', 0, 'extract', 'key') !== e.aws.secretName) bad.push(`${env}: reads ${str(at(es, 'spec', 'dataFrom', 0, 'extract', 'key'))}, ${catalog} says ${e.aws.secretName}`);
          const ref = at(es, 'spec', 'secretStoreRef');
          if (at(ref, 'kind') !== 'ClusterSecretStore' || at(ref, 'name') !== GITOPS_NAMES.secretStore) bad.push(`${env}: secretStoreRef must be ClusterSecretStore ${GITOPS_NAMES.secretStore}`);
          const stack = find(objs, 'LokiStack', e.loki.stackName)[0];
          const secret = at(stack, 'spec', 'storage', 'secret');
          if (at(secret, 'name') !== e.loki.secretName || at(secret, 'type') !== 's3') bad.push(`${env}: LokiStack storage.secret is ${str(secret)}, expected {name: ${e.loki.secretName}, type: s3}`);
        }
      }
      return bad;
    },
  },
  {
    name: 'the ClusterSecretStore authenticates per credential mode, refs naming their namespace',
    check(ctx) {
      const bad: string[] = [];
      const targets: [RenderTarget, 'static' | 'sts', string | undefined][] = [
        ['bootstrap', 'static', undefined],
        ...envRenders(ctx).flatMap(([env]) => catalogEnvs(ctx, env).map(([, e]): [RenderTarget, 'static' | 'sts', string | undefined] => [env, e.aws.credentialMode, e.aws.region])),
      ];
      for (const [target, mode, region] of targets) {
        const objs = ctx.renders[target];
        const store = find(objs, 'ClusterSecretStore', GITOPS_NAMES.secretStore)[0];
        if (!store) {
          bad.push(`${target}: no ClusterSecretStore ${GITOPS_NAMES.secretStore}`);
          continue;
        }
        const aws = at(store, 'spec', 'provider', 'aws');
        if (at(aws, 'service') !== 'SecretsManager') bad.push(`${target}: store service must be SecretsManager`);
        if (region && at(aws, 'region') !== region) bad.push(`${target}: store region ${str(at(aws, 'region'))}, catalog says ${region}`);
        const auth = at(aws, 'auth');
        if (mode === 'static') {
          for (const ref of ['accessKeyIDSecretRef', 'secretAccessKeySecretRef']) {
            const r = at(auth, 'secretRef', ref);
            if (at(r, 'namespace') !== GITOPS_NAMES.storeCredential.namespace || at(r, 'name') !== GITOPS_NAMES.storeCredential.name || !at(r, 'key')) bad.push(`${target}: static ${ref} must name namespace/name/key of ${GITOPS_NAMES.storeCredential.namespace}/${GITOPS_NAMES.storeCredential.name}, is ${str(r)}`);
          }
          if (at(auth, 'jwt') !== undefined) bad.push(`${target}: static store must not carry jwt auth`);
        } else {
          const sa = at(auth, 'jwt', 'serviceAccountRef');
          if (!at(sa, 'namespace') || !at(sa, 'name')) bad.push(`${target}: sts serviceAccountRef must name its namespace, is ${str(sa)}`);
          if (at(auth, 'secretRef') !== undefined) bad.push(`${target}: sts store must not carry a secretRef`);
          const account = objs.find((o) => o.kind === 'ServiceAccount' && o.metadata.name === at(sa, 'name') && o.metadata.namespace === at(sa, 'namespace'));
          // The role ARN (and with it the account) is applied by the bootstrap with its own field manager, never from Git.
          if (!account) bad.push(`${target}: the store's service account ${str(sa)} is not rendered`);
          const arn = account?.metadata.annotations?.['eks.amazonaws.com/role-arn'];
          if (arn !== undefined) bad.push(`${target}: the store's service account must not carry eks.amazonaws.com/role-arn in Git (the bootstrap applies it), has ${str(arn)}`);
        }
      }
      return bad;
    },
  },
  {
    name: 'the ClusterSecretStore is limited (spec.conditions) to exactly the namespaces holding the ExternalSecrets that use it',
    check(ctx) {
      const bad: string[] = [];
      const targets = ['bootstrap', ...envRenders(ctx).map(([env]) => env)] as RenderTarget[];
      const used = new Set(
        targets.flatMap((t) =>
          find(ctx.renders[t], 'ExternalSecret')
            .filter((o) => at(o, 'spec', 'secretStoreRef', 'kind') === 'ClusterSecretStore' && at(o, 'spec', 'secretStoreRef', 'name') === GITOPS_NAMES.secretStore)
            .map((o) => o.metadata.namespace ?? ''),
        ),
      );
      const expected = [...used].sort().join(',');
      for (const t of targets) {
        const store = find(ctx.renders[t], 'ClusterSecretStore', GITOPS_NAMES.secretStore)[0];
        if (!store) continue;
        const conditions = at(store, 'spec', 'conditions');
        if (!Array.isArray(conditions) || conditions.length !== 1) {
          bad.push(`${t}: ClusterSecretStore ${GITOPS_NAMES.secretStore} must carry one spec.conditions entry, has ${str(conditions)}`);
          continue;
        }
        const only = conditions[0] as Record<string, unknown>;
        const extra = Object.keys(only).filter((k) => k !== 'namespaces');
        if (extra.length) bad.push(`${t}: store condition must list namespaces only (no ${extra.join(', ')})`);
        const listed = [...((only['namespaces'] as string[] | undefined) ?? [])].sort().join(',');
        if (listed !== expected) bad.push(`${t}: store conditions allow ${listed || 'nothing'}, the ExternalSecrets using it live in ${expected}`);
      }
      return bad;
    },
  },
  {
    name: 'LokiStack: openshift-logging tenants, schema v13, size and retention as the catalogs say (production never 1x.demo, ≤ 30 days)',
    check(ctx) {
      const bad: string[] = [];
      for (const [env, objs] of envRenders(ctx)) {
        const stacks = find(objs, 'LokiStack');
        if (stacks.length !== 1) bad.push(`${env}: ${stacks.length} LokiStacks, expected 1`);
        const s = stacks[0];
        if (!s) continue;
        if (at(s, 'spec', 'tenants', 'mode') !== 'openshift-logging') bad.push(`${env}: tenants.mode must be openshift-logging`);
        const schemas = at(s, 'spec', 'storage', 'schemas');
        const last: unknown = Array.isArray(schemas) ? schemas[schemas.length - 1] : undefined;
        if (at(last, 'version') !== 'v13') bad.push(`${env}: the newest storage schema must be v13`);
        const size = at(s, 'spec', 'size');
        if (!LOKI_SIZES.includes(size as never)) bad.push(`${env}: size ${str(size)} is not a LokiStack size`);
        if (env === 'production' && size === '1x.demo') bad.push('production: 1x.demo is not for production');
        const days = at(s, 'spec', 'limits', 'global', 'retention', 'days');
        if (typeof days !== 'number' || !Number.isInteger(days) || days < 1 || days > MAX_RETENTION_DAYS) bad.push(`${env}: retention ${str(days)} days is outside 1..${MAX_RETENTION_DAYS}`);
        if (typeof at(s, 'spec', 'storageClassName') !== 'string') bad.push(`${env}: storageClassName missing`);
        for (const [catalog, e] of catalogEnvs(ctx, env)) {
          if (e.loki.size !== size) bad.push(`${env}: renders size ${str(size)}, ${catalog} says ${e.loki.size}`);
          if (e.retentionDays !== days) bad.push(`${env}: renders ${str(days)} retention days, ${catalog} says ${e.retentionDays}`);
          if (e.protected && size === '1x.demo') bad.push(`${env}: protected in ${catalog} but sized 1x.demo`);
          if (s.metadata.name !== e.loki.stackName || s.metadata.namespace !== e.loki.namespace) bad.push(`${env}: LokiStack ${refOf(s)} is not ${e.loki.namespace}/${e.loki.stackName} of ${catalog}`);
        }
      }
      return bad;
    },
  },
  {
    name: 'production pins operators (versioned channel, startingCSV, Manual InstallPlans) and uses STS',
    check(ctx) {
      const bad: string[] = [];
      const subs = find(ctx.renders.production, 'Subscription');
      if (subs.length !== GITOPS_NAMES.subscriptions.length) bad.push(`production: ${subs.length} Subscriptions, expected ${GITOPS_NAMES.subscriptions.length}`);
      for (const s of subs) {
        if (at(s, 'spec', 'installPlanApproval') !== 'Manual') bad.push(`production: ${refOf(s)} installPlanApproval must be Manual`);
        const csv = at(s, 'spec', 'startingCSV');
        if (typeof csv !== 'string' || !/^[a-z0-9-]+\.v\d+\.\d+\.\d+$/.test(csv)) bad.push(`production: ${refOf(s)} needs startingCSV <package>.vX.Y.Z, has ${str(csv)}`);
        const channel = at(s, 'spec', 'channel');
        if (typeof channel !== 'string' || !/\d/.test(channel)) bad.push(`production: ${refOf(s)} channel ${str(channel)} is not a versioned channel`);
      }
      for (const [catalog, e] of catalogEnvs(ctx, 'production')) {
        if (e.aws.credentialMode !== 'sts') bad.push(`${catalog}: production must use sts credentials`);
        if (!e.protected) bad.push(`${catalog}: production must be protected`);
      }
      if (at(find(ctx.renders.production, 'ClusterSecretStore')[0], 'spec', 'provider', 'aws', 'auth', 'jwt') === undefined) bad.push('production: the store must use the sts component');
      return bad;
    },
  },
  {
    name: 'operators install where the products require, each beside one OperatorGroup',
    check(ctx) {
      const bad: string[] = [];
      for (const [env, objs] of envRenders(ctx)) {
        for (const want of GITOPS_NAMES.subscriptions) {
          const s = objs.find((o) => o.kind === 'Subscription' && o.metadata.name === want.name);
          if (!s) bad.push(`${env}: no Subscription ${want.name}`);
          else if (s.metadata.namespace !== want.namespace) bad.push(`${env}: ${want.name} must be in ${want.namespace}, is in ${s.metadata.namespace}`);
          const groups = objs.filter((o) => o.kind === 'OperatorGroup' && o.metadata.namespace === want.namespace);
          if (groups.length !== 1) bad.push(`${env}: ${groups.length} OperatorGroups in ${want.namespace}, expected 1`);
          if (s && (at(s, 'spec', 'name') !== want.name || !at(s, 'spec', 'source') || !at(s, 'spec', 'sourceNamespace'))) bad.push(`${env}: ${refOf(s)} needs package name, source and sourceNamespace`);
        }
      }
      return bad;
    },
  },
  {
    name: 'Logging 6 forwarder: service account, collector roles, lokiStack output with service-account token',
    check(ctx) {
      const bad: string[] = [];
      for (const [env, objs] of envRenders(ctx)) {
        const clfs = find(objs, 'ClusterLogForwarder');
        if (clfs.length !== 1) bad.push(`${env}: ${clfs.length} ClusterLogForwarders, expected 1`);
        const clf = clfs[0];
        if (!clf) continue;
        if (clf.apiVersion !== 'observability.openshift.io/v1') bad.push(`${env}: ClusterLogForwarder must be observability.openshift.io/v1`);
        const saName = at(clf, 'spec', 'serviceAccount', 'name');
        const ns = clf.metadata.namespace;
        if (!objs.some((o) => o.kind === 'ServiceAccount' && o.metadata.name === saName && o.metadata.namespace === ns)) bad.push(`${env}: serviceAccount ${str(saName)} is not rendered in ${ns}`);
        const pipelines = (at(clf, 'spec', 'pipelines') ?? []) as unknown[];
        const inputs = new Set(pipelines.flatMap((p) => (at(p, 'inputRefs') ?? []) as string[]));
        const roles = ['collect-application-logs', 'collect-infrastructure-logs', 'logging-collector-logs-writer', ...(inputs.has('audit') ? ['collect-audit-logs'] : [])];
        const bound = find(objs, 'ClusterRoleBinding').filter((b) =>
          ((at(b, 'subjects') ?? []) as unknown[]).some((s) => at(s, 'kind') === 'ServiceAccount' && at(s, 'name') === saName && at(s, 'namespace') === ns),
        );
        const boundRoles = bound.map((b) => at(b, 'roleRef', 'name') as string).sort();
        if (boundRoles.join() !== [...roles].sort().join()) bad.push(`${env}: collector bound to [${boundRoles.join(', ')}], expected [${[...roles].sort().join(', ')}]`);
        const outputs = (at(clf, 'spec', 'outputs') ?? []) as unknown[];
        const names = new Set(outputs.map((o) => at(o, 'name') as string));
        for (const out of outputs) {
          if (at(out, 'type') !== 'lokiStack') bad.push(`${env}: output ${str(at(out, 'name'))} must be type lokiStack`);
          if (at(out, 'lokiStack', 'authentication', 'token', 'from') !== 'serviceAccount') bad.push(`${env}: output ${str(at(out, 'name'))} must authenticate with token.from serviceAccount`);
          const target = at(out, 'lokiStack', 'target');
          if (!objs.some((o) => o.kind === 'LokiStack' && o.metadata.name === at(target, 'name') && o.metadata.namespace === (at(target, 'namespace') ?? ns))) bad.push(`${env}: output targets ${str(target)}, which is not rendered`);
        }
        for (const p of pipelines) {
          for (const r of (at(p, 'outputRefs') ?? []) as string[]) if (!names.has(r)) bad.push(`${env}: pipeline ${str(at(p, 'name'))} names unknown output ${r}`);
          for (const r of (at(p, 'inputRefs') ?? []) as string[]) if (!['application', 'infrastructure', 'audit'].includes(r)) bad.push(`${env}: pipeline input ${r} is not a built-in input`);
        }
      }
      return bad;
    },
  },
  {
    name: 'sync waves: operators → operands → secret store → secrets → LokiStack → forwarder',
    check(ctx) {
      const bad: string[] = [];
      const stage = (o: KObject): keyof typeof SYNC_WAVES | undefined => {
        if (o.kind === 'OperatorGroup' || o.kind === 'Subscription') return 'operators';
        if (o.kind === 'Namespace' && GITOPS_NAMES.subscriptions.some((s) => s.namespace === o.metadata.name)) return 'operators';
        if (o.kind === 'ExternalSecretsConfig') return 'operands';
        if (o.kind === 'ClusterSecretStore') return 'secretStore';
        if (o.kind === 'ExternalSecret') return 'secrets';
        if (o.kind === 'LokiStack') return 'lokiStack';
        if (o.kind === 'ClusterLogForwarder') return 'logForwarding';
        return undefined;
      };
      for (const [env, objs] of envRenders(ctx)) {
        for (const o of objs) {
          if (o.metadata.annotations?.['argocd.argoproj.io/sync-wave'] === undefined) bad.push(`${env}: ${refOf(o)} has no sync-wave annotation`);
          const s = stage(o);
          if (s && syncWave(o) !== SYNC_WAVES[s]) bad.push(`${env}: ${refOf(o)} is in wave ${syncWave(o)}, ${s} belong in wave ${SYNC_WAVES[s]}`);
        }
        const order = Object.keys(SYNC_WAVES) as (keyof typeof SYNC_WAVES)[];
        for (let i = 1; i < order.length; i++) {
          const prev = objs.filter((o) => stage(o) === order[i - 1]).map(syncWave);
          const next = objs.filter((o) => stage(o) === order[i]).map(syncWave);
          if (prev.length && next.length && Math.max(...prev) >= Math.min(...next)) bad.push(`${env}: ${order[i - 1]} (wave ${Math.max(...prev)}) do not precede ${order[i]} (wave ${Math.min(...next)})`);
        }
        const sa = objs.find((o) => o.kind === 'ServiceAccount' && o.metadata.name === GITOPS_NAMES.storeServiceAccount.name);
        if (sa && syncWave(sa) > SYNC_WAVES.secretStore) bad.push(`${env}: the store's service account must not come after the store`);
      }
      return bad;
    },
  },
  {
    name: 'operator custom resources skip the dry-run while their CRD is missing',
    check(ctx) {
      return (['bootstrap', ...ENVIRONMENTS] as const).flatMap((t) =>
        ctx.renders[t].filter((o) => OPERATOR_GROUPS.includes(groupOf(o)) && !syncOptions(o).includes('SkipDryRunOnMissingResource=true')).map((o) => `${t}: ${refOf(o)} lacks SkipDryRunOnMissingResource=true`),
      );
    },
  },
  {
    name: 'objects that may predate Argo CD are never pruned or deleted by it',
    check(ctx) {
      const bad: string[] = [];
      for (const [env, objs] of envRenders(ctx)) {
        for (const o of objs) {
          const opts = syncOptions(o);
          if (['OperatorGroup', 'Subscription', 'LokiStack', 'ClusterSecretStore'].includes(o.kind) && !(opts.includes('Prune=false') && opts.includes('Delete=false'))) bad.push(`${env}: ${refOf(o)} needs Prune=false,Delete=false`);
          if (o.kind === 'Namespace' && !opts.includes('Delete=false')) bad.push(`${env}: ${refOf(o)} needs Delete=false`);
        }
      }
      return bad;
    },
  },
  {
    name: 'Argo CD: app-of-apps, ApplicationSet with server-side apply and retry, a project that admits every rendered kind',
    check(ctx) {
      const bad: string[] = [];
      const apps = ctx.renders.apps;
      const root = find(apps, 'Application', 'logstack-root')[0];
      if (!root) bad.push('apps: no root Application logstack-root');
      else if (at(root, 'spec', 'source', 'path') !== 'gitops/apps') bad.push('apps: the root Application must sync gitops/apps');
      if (!existsSync(join(ROOT, 'gitops/apps/root-application.yaml'))) bad.push('gitops/apps/root-application.yaml is missing');
      const sets = find(apps, 'ApplicationSet');
      if (!sets.length) bad.push('apps: no ApplicationSet');
      const specs = [...(root ? [{ ref: refOf(root), spec: at(root, 'spec') }] : []), ...sets.map((s) => ({ ref: refOf(s), spec: at(s, 'spec', 'template', 'spec') }))];
      for (const { ref, spec } of specs) {
        const opts = (at(spec, 'syncPolicy', 'syncOptions') ?? []) as string[];
        if (!opts.includes('ServerSideApply=true')) bad.push(`apps: ${ref} must sync with ServerSideApply=true`);
        if (!(Number(at(spec, 'syncPolicy', 'retry', 'limit')) > 0)) bad.push(`apps: ${ref} needs a retry policy`);
        if (at(spec, 'syncPolicy', 'automated') === undefined) bad.push(`apps: ${ref} must sync automatically`);
        if (!find(apps, 'AppProject', str(at(spec, 'project'))).length) bad.push(`apps: ${ref} names project ${str(at(spec, 'project'))}, which is not rendered`);
      }
      for (const s of sets) {
        if (!str(at(s, 'spec', 'template', 'spec', 'source', 'path')).startsWith('gitops/overlays/')) bad.push(`apps: ${refOf(s)} must render gitops/overlays/<env>`);
        if (!((at(s, 'spec', 'template', 'metadata', 'finalizers') ?? []) as string[]).includes('resources-finalizer.argocd.argoproj.io')) bad.push(`apps: ${refOf(s)} Applications need the resources finalizer`);
        if (at(s, 'spec', 'syncPolicy', 'preserveResourcesOnDeletion') !== true) bad.push(`apps: ${refOf(s)} must preserve resources when an Application is removed`);
      }
      const project = find(apps, 'AppProject')[0];
      const dests = (at(project, 'spec', 'destinations') ?? []) as unknown[];
      const clusterKinds = (at(project, 'spec', 'clusterResourceWhitelist') ?? []) as unknown[];
      const nsKinds = (at(project, 'spec', 'namespaceResourceWhitelist') ?? []) as unknown[];
      const allowed = (list: unknown[], o: KObject) => list.some((w) => (at(w, 'group') === '*' || at(w, 'group') === groupOf(o)) && (at(w, 'kind') === '*' || at(w, 'kind') === o.kind));
      for (const [target, objs] of [...envRenders(ctx), ['apps', apps] as const]) {
        for (const o of objs) {
          const ns = o.metadata.namespace;
          if (ns === undefined ? !allowed(clusterKinds, o) : !allowed(nsKinds, o)) bad.push(`${target}: the AppProject does not admit ${o.kind} (${groupOf(o) || 'core'})`);
          if (ns !== undefined && !dests.some((d) => at(d, 'namespace') === ns || at(d, 'namespace') === '*')) bad.push(`${target}: the AppProject has no destination namespace ${ns}`);
        }
      }
      const argocd = find(apps, 'ArgoCD')[0];
      if (!argocd || !syncOptions(argocd).includes('ServerSideApply=true')) bad.push('apps: the ArgoCD CR must be taken over with ServerSideApply=true');
      return [...new Set(bad)];
    },
  },
  {
    name: 'the ArgoCD CR carries the Lua health checks, identical to gitops/apps/health/*.lua',
    check(ctx) {
      const bad: string[] = [];
      const cr = ctx.renders.apps.find((o) => o.apiVersion === 'argoproj.io/v1beta1' && o.kind === 'ArgoCD');
      if (!cr) return ['apps: no argoproj.io/v1beta1 ArgoCD'];
      const checks = (at(cr, 'spec', 'resourceHealthChecks') ?? []) as unknown[];
      if (checks.length !== HEALTH_CHECKS.length) bad.push(`ArgoCD CR has ${checks.length} health checks, expected ${HEALTH_CHECKS.length}`);
      for (const h of HEALTH_CHECKS) {
        const c = checks.find((x) => at(x, 'group') === h.group && at(x, 'kind') === h.kind);
        if (!c) bad.push(`ArgoCD CR lacks a health check for ${h.kind}.${h.group}`);
        else if (at(c, 'check') !== readFileSync(join(ROOT, h.file), 'utf8')) bad.push(`ArgoCD CR check for ${h.kind} differs from ${h.file}`);
      }
      return bad;
    },
  },
  {
    name: 'catalogs: both validate, follow dev → staging → production, and point at real overlays',
    check(ctx) {
      const bad: string[] = [];
      for (const [which, c] of Object.entries(ctx.catalogs) as [keyof typeof CATALOG_FILES, Catalog][]) {
        const file = CATALOG_FILES[which];
        if (c.promotionOrder.join() !== ENVIRONMENTS.join()) bad.push(`${file}: promotionOrder must be ${ENVIRONMENTS.join(' → ')}`);
        for (const e of c.environments) {
          if (!Object.values(RENDER_TARGETS).includes(e.overlay as never) || e.overlay !== `gitops/overlays/${e.name}`) bad.push(`${file}: ${e.name} overlay ${e.overlay} is not gitops/overlays/${e.name}`);
        }
        const prod = c.environments.find((e) => e.name === 'production');
        if (!prod?.protected || (prod?.approvers.length ?? 0) < 2) bad.push(`${file}: production must be protected with at least two approvers`);
      }
      for (const e of ctx.catalogs.sandbox.environments) {
        if (e.cluster.context !== `logstack-${e.name}`) bad.push(`sandbox: ${e.name} context must be logstack-${e.name}`);
        if (e.delivery !== 'direct') bad.push(`sandbox: ${e.name} delivery must be direct (no Argo CD controller runs there)`);
        if (e.aws.bucket !== `logstack-${e.name}-loki`) bad.push(`sandbox: ${e.name} bucket must be logstack-${e.name}-loki`);
        if (e.aws.region !== 'us-east-1') bad.push(`sandbox: ${e.name} region must be us-east-1`);
      }
      for (const e of ctx.catalogs.real.environments) {
        if (e.delivery === 'argocd' && e.argocd?.application !== `logstack-${e.name}`) bad.push(`${CATALOG_FILES.real}: ${e.name} Application must be logstack-${e.name}`);
      }
      return bad;
    },
  },
  {
    name: 'pin files (gitops/apps/environments) name a catalog environment and a full commit',
    check(ctx) {
      const dir = join(GITOPS, 'apps', 'environments');
      if (!existsSync(dir)) return [];
      return filesUnder(dir, ['.yaml']).flatMap((f) => {
        const env = basename(f, '.yaml');
        const doc = parse(readFileSync(f, 'utf8')) as unknown;
        const out: string[] = [];
        const e = ctx.catalogs.real.environments.find((x) => x.name === env);
        if (!e) out.push(`${rel(f)}: no environment ${env} in the catalog`);
        else if (e.delivery !== 'argocd' || e.argocd?.application !== `logstack-${env}`) out.push(`${rel(f)}: ${env} is not delivered by the Application logstack-${env}`);
        if (at(doc, 'environment') !== env) out.push(`${rel(f)}: environment must be ${env}, is ${str(at(doc, 'environment'))}`);
        if (!/^[0-9a-f]{40}$/.test(str(at(doc, 'revision')))) out.push(`${rel(f)}: revision must be a full commit SHA, is ${str(at(doc, 'revision'))}`);
        return out;
      });
    },
  },
  {
    name: 'one object per resource file',
    check() {
      return listedResourceFiles().flatMap((f) => {
        const text = readFileSync(f, 'utf8');
        const docs = text.split(/^---\s*$/m).filter((d) => d.replace(/#.*$/gm, '').trim().length > 0);
        return docs.length === 1 ? [] : [`${rel(f)}: ${docs.length} objects`];
      });
    },
  },
  {
    name: 'overlays stay one screen long (kustomization and each patch ≤ 40 lines)',
    check() {
      return filesUnder(join(GITOPS, 'overlays'), ['.yaml'])
        .filter((f) => f.endsWith('kustomization.yaml') || f.includes('/patches/'))
        .flatMap((f) => {
          const lines = readFileSync(f, 'utf8').trimEnd().split('\n').length;
          return lines > 40 ? [`${rel(f)}: ${lines} lines`] : [];
        });
    },
  },
  {
    name: 'the worker RBAC is least privilege',
    check(ctx) {
      const bad: string[] = [];
      for (const [target, objs] of [...envRenders(ctx), ['apps', ctx.renders.apps] as const]) {
        const namespaces = new Set(objs.map((o) => o.metadata.namespace).filter(Boolean));
        for (const role of objs.filter((o) => (o.kind === 'Role' || o.kind === 'ClusterRole') && o.metadata.name === GITOPS_NAMES.workerServiceAccount)) {
          if (role.kind === 'Role' && !namespaces.has(role.metadata.namespace) && role.metadata.namespace !== 'openshift-gitops') bad.push(`${target}: ${refOf(role)} is in a namespace the overlay does not use`);
          for (const rule of (at(role, 'rules') ?? []) as unknown[]) {
            const list = (k: string) => (at(rule, k) ?? []) as string[];
            if ([...list('apiGroups'), ...list('resources'), ...list('verbs')].includes('*')) bad.push(`${target}: ${refOf(role)} has a wildcard`);
            if (list('verbs').some((v) => v === 'escalate' || v === 'impersonate')) bad.push(`${target}: ${refOf(role)} may escalate or impersonate`);
            if (list('verbs').includes('bind') && !list('resourceNames').length) bad.push(`${target}: ${refOf(role)} may bind any role`);
            if (list('resources').includes('secrets') && !list('resourceNames').length && list('verbs').some((v) => v !== 'create')) bad.push(`${target}: ${refOf(role)} reads or changes every Secret in ${role.metadata.namespace}`);
          }
        }
        const cr = objs.find((o) => o.kind === 'ClusterRole' && o.metadata.name === GITOPS_NAMES.workerServiceAccount);
        if (cr && target !== 'apps') {
          const bindable = ((at(cr, 'rules') ?? []) as unknown[]).filter((r) => ((at(r, 'verbs') ?? []) as string[]).includes('bind')).flatMap((r) => (at(r, 'resourceNames') ?? []) as string[]);
          for (const b of find(objs, 'ClusterRoleBinding')) {
            const role = at(b, 'roleRef', 'name') as string;
            if (!bindable.includes(role)) bad.push(`${target}: the worker could not apply ${refOf(b)}: no bind on ${role}`);
          }
        }
      }
      return bad;
    },
  },
  {
    name: 'admission policies fence the worker only: failurePolicy Fail, matched on its account, bound with Deny',
    check(ctx) {
      const bad: string[] = [];
      const worker = `request.userInfo.username == 'system:serviceaccount:${GITOPS_NAMES.workerNamespace}:${GITOPS_NAMES.workerServiceAccount}'`;
      const objs = [...ctx.renders.admission, ...ctx.renders.apps];
      const policies = find(objs, 'ValidatingAdmissionPolicy');
      if (policies.length < 4) bad.push(`${policies.length} admission policies rendered, expected subscriptions, secrets, externalsecrets and applications`);
      for (const p of policies) {
        if (at(p, 'spec', 'failurePolicy') !== 'Fail') bad.push(`${refOf(p)}: failurePolicy must be Fail`);
        const conditions = (at(p, 'spec', 'matchConditions') ?? []) as unknown[];
        if (conditions.length !== 1 || str(at(conditions[0], 'expression')).trim() !== worker) bad.push(`${refOf(p)}: must match the worker's account only (${worker})`);
        const bindings = find(objs, 'ValidatingAdmissionPolicyBinding').filter((b) => at(b, 'spec', 'policyName') === p.metadata.name);
        if (bindings.length !== 1) bad.push(`${refOf(p)}: ${bindings.length} bindings`);
        for (const b of bindings) if (str(at(b, 'spec', 'validationActions')) !== '["Deny"]') bad.push(`${refOf(b)}: validationActions must be [Deny]`);
      }
      return bad;
    },
  },
  {
    name: 'admission lists equal the tree: Subscriptions, Secrets and ExternalSecrets (targets, remote keys) the overlays carry',
    check(ctx) {
      const bad: string[] = [];
      const variable = (name: string, v: string): string => {
        const p = find(ctx.renders.admission, 'ValidatingAdmissionPolicy', name)[0];
        const found = ((at(p, 'spec', 'variables') ?? []) as unknown[]).find((x) => at(x, 'name') === v);
        return typeof at(found, 'expression') === 'string' ? (at(found, 'expression') as string) : '';
      };
      const quoted = (text: string): string[] => [...text.matchAll(/'([^']*)'/g)].map((m) => m[1] ?? '');
      const same = (what: string, policy: string[], tree: string[]): void => {
        const a = [...new Set(policy)].sort();
        const b = [...new Set(tree)].sort();
        if (JSON.stringify(a) !== JSON.stringify(b)) bad.push(`${what}: the policy lists ${JSON.stringify(a)}, the overlays carry ${JSON.stringify(b)}`);
      };
      const envs = envRenders(ctx).flatMap(([, objs]) => objs);
      const subs = find(envs, 'Subscription').map((o) => `${o.metadata.namespace}/${o.metadata.name} package=${str(at(o, 'spec', 'name'))} channel=${str(at(o, 'spec', 'channel'))} source=${str(at(o, 'spec', 'sourceNamespace'))}/${str(at(o, 'spec', 'source'))}`);
      same('Subscriptions', quoted(variable('logstack-worker-subscriptions', 'allowed')), subs);
      const loki = find(envs, 'ExternalSecret', GITOPS_NAMES.lokiExternalSecret)[0]?.metadata.namespace ?? '';
      same('Secrets', quoted(variable('logstack-worker-secrets', 'allowed')), [`${GITOPS_NAMES.storeCredential.namespace}/${GITOPS_NAMES.storeCredential.name}`, `${loki}/${GITOPS_NAMES.lokiExternalSecret}`]);
      const externalSecrets = find([...envs, ...ctx.renders.bootstrap], 'ExternalSecret');
      const targets = [...variable('logstack-worker-externalsecrets', 'targets').matchAll(/'([^']+)'\s*:\s*'([^']+)'/g)].map((m) => `${m[1]} -> ${m[2]}`);
      same('ExternalSecret targets', targets, externalSecrets.map((o) => `${o.metadata.namespace}/${o.metadata.name} -> ${str(at(o, 'spec', 'target', 'name') ?? o.metadata.name)}`));
      const keys = [...variable('logstack-worker-externalsecrets', 'remoteKeys').matchAll(/'([^']+)'\s*:\s*\[([^\]]*)\]/g)].flatMap((m) => quoted(m[2] ?? '').map((k) => `${m[1]} <- ${k}`));
      const treeKeys = externalSecrets.flatMap((o) => [
        ...((at(o, 'spec', 'data') ?? []) as unknown[]).map((d) => str(at(d, 'remoteRef', 'key'))),
        ...((at(o, 'spec', 'dataFrom') ?? []) as unknown[]).map((d) => str(at(d, 'extract', 'key'))),
      ].map((k) => `${o.metadata.namespace}/${o.metadata.name} <- ${k}`));
      same('ExternalSecret remote keys', keys, treeKeys);
      return bad;
    },
  },
  {
    name: "the AppProject and the Application policy's parameters name the GitOps repository and each environment's cluster, never a wildcard",
    check(ctx) {
      const bad: string[] = [];
      const apps = ctx.renders.apps;
      const remote = ctx.catalogs.real.gitops.remote;
      const project = find(apps, 'AppProject')[0];
      if (str(at(project, 'spec', 'sourceRepos')) !== JSON.stringify([remote])) bad.push(`apps: the AppProject's sourceRepos must be exactly [${remote}]`);
      const dests = (at(project, 'spec', 'destinations') ?? []) as unknown[];
      for (const d of dests) if (at(d, 'server') === '*' || at(d, 'name') === '*' || at(d, 'namespace') === '*') bad.push(`apps: the AppProject has a wildcard destination ${JSON.stringify(d)}`);
      const names = [...new Set(dests.map((d) => at(d, 'name')).filter((n) => n !== undefined))].sort();
      const contexts = ctx.catalogs.real.environments.map((e) => e.cluster.context).sort();
      if (JSON.stringify(names) !== JSON.stringify(contexts)) bad.push(`apps: the AppProject's destination clusters ${JSON.stringify(names)} are not the catalog's contexts ${JSON.stringify(contexts)}`);
      const vap = find(apps, 'ValidatingAdmissionPolicy', 'logstack-worker-applications')[0];
      const variable = (v: string): string => str(at(((at(vap, 'spec', 'variables') ?? []) as unknown[]).find((x) => at(x, 'name') === v), 'expression'));
      const literals = (v: string): string[] => [...variable(v).matchAll(/'([^']*)'/g)].map((m) => m[1] ?? '');
      if (JSON.stringify(literals('repoURL')) !== JSON.stringify([remote])) bad.push(`apps: the Application policy's repoURL must be ${remote}`);
      if (JSON.stringify(literals('project')) !== JSON.stringify(['logstack'])) bad.push("apps: the Application policy's project must be logstack");
      const listed = literals('destinations').sort();
      const expected = [
        ...find(apps, 'Application').map((a) => `server=${str(at(a, 'spec', 'destination', 'server'))} namespace=${str(at(a, 'spec', 'destination', 'namespace'))}`),
        ...contexts.flatMap((c) => find(apps, 'ApplicationSet').map((s) => `name=${c} namespace=${str(at(s, 'spec', 'template', 'spec', 'destination', 'namespace'))}`)),
      ].sort();
      if (JSON.stringify(listed) !== JSON.stringify(expected)) bad.push(`apps: the Application policy's destinations ${JSON.stringify(listed)} differ from the Applications' ${JSON.stringify(expected)}`);
      for (const a of [...find(apps, 'Application').map((x) => at(x, 'spec')), ...find(apps, 'ApplicationSet').map((x) => at(x, 'spec', 'template', 'spec'))])
        if (at(a, 'source', 'repoURL') !== remote) bad.push(`apps: an Application source is ${str(at(a, 'source', 'repoURL'))}, not ${remote}`);
      return bad;
    },
  },
  {
    name: 'the worker holds no right on admission policies or bindings',
    check(ctx) {
      const bad: string[] = [];
      for (const [target, objs] of Object.entries(ctx.renders)) {
        for (const role of objs.filter((o) => o.kind === 'Role' || o.kind === 'ClusterRole')) {
          for (const rule of (at(role, 'rules') ?? []) as unknown[]) {
            const groups = (at(rule, 'apiGroups') ?? []) as string[];
            if (groups.includes('admissionregistration.k8s.io') || groups.includes('*')) bad.push(`${target}: ${refOf(role)} has a rule on admissionregistration.k8s.io`);
          }
        }
      }
      return bad;
    },
  },
];

/** Runs every rule. */
export function checkAll(ctx: PolicyContext): { rule: string; violations: string[] }[] {
  return POLICY_RULES.map((r) => ({ rule: r.name, violations: r.check(ctx) }));
}
