/**
 * Deliberately broken objects, each derived from a rendered good one by a single fault, with the
 * words the API server's rejection must contain. Proves the server-side dry-run (and the CRD
 * schemas behind it) actually refuse what is wrong rather than accepting anything.
 */
import { type KObject, type RenderTarget, at } from './lib.ts';

/** One broken object and why the API server must refuse it. */
export interface BrokenCase {
  readonly name: string;
  readonly object: KObject;
  /** A fragment of the API server's error message. */
  readonly rejects: RegExp;
}

function pick(objs: readonly KObject[], kind: string, name?: string): KObject {
  const o = objs.find((x) => x.kind === kind && (name === undefined || x.metadata.name === name));
  if (!o) throw new Error(`no ${kind} ${name ?? ''} rendered to break`);
  return structuredClone(o);
}

function edit(o: KObject, path: (string | number)[], value: unknown): KObject {
  const parent = at(o, ...path.slice(0, -1)) as Record<string | number, unknown> | undefined;
  if (!parent || typeof parent !== 'object') throw new Error(`cannot edit ${path.join('.')} of ${o.kind}`);
  const key = path[path.length - 1] as string | number;
  if (value === undefined) delete parent[key];
  else parent[key] = value;
  return o;
}

/** The broken cases, built from the renders. */
export function brokenCases(r: Record<RenderTarget, KObject[]>): BrokenCase[] {
  const dev = r.dev;
  const apps = r.apps;
  return [
    { name: 'LokiStack size 2x.huge', object: edit(pick(dev, 'LokiStack'), ['spec', 'size'], '2x.huge'), rejects: /spec\.size.*Unsupported value: "2x\.huge"/ },
    { name: 'LokiStack tenants.mode openshift', object: edit(pick(dev, 'LokiStack'), ['spec', 'tenants', 'mode'], 'openshift'), rejects: /spec\.tenants\.mode.*Unsupported value/ },
    { name: 'LokiStack storage secret without type', object: edit(pick(dev, 'LokiStack'), ['spec', 'storage', 'secret', 'type'], undefined), rejects: /spec\.storage\.secret\.type: Required value/ },
    { name: 'LokiStack retention "30d"', object: edit(pick(dev, 'LokiStack'), ['spec', 'limits', 'global', 'retention', 'days'], '30d'), rejects: /retention\.days: expected numeric/ },
    { name: 'Application without spec.destination', object: edit(pick(apps, 'Application', 'logstack-root'), ['spec', 'destination'], undefined), rejects: /spec\.destination: Required value/ },
    { name: 'ApplicationSet without generators', object: edit(pick(apps, 'ApplicationSet'), ['spec', 'generators'], undefined), rejects: /spec\.generators: Required value/ },
    { name: 'ClusterLogForwarder without serviceAccount', object: edit(pick(dev, 'ClusterLogForwarder'), ['spec', 'serviceAccount'], undefined), rejects: /spec\.serviceAccount: Required value/ },
    { name: 'ClusterLogForwarder lokiStack output without its lokiStack block', object: edit(pick(dev, 'ClusterLogForwarder'), ['spec', 'outputs', 0, 'lokiStack'], undefined), rejects: /an output of type lokiStack needs its lokiStack block/ },
    { name: 'ClusterLogForwarder output type lokistack (wrong case)', object: edit(pick(dev, 'ClusterLogForwarder'), ['spec', 'outputs', 0, 'type'], 'lokistack'), rejects: /type.*Unsupported value: "lokistack"/ },
    { name: 'ExternalSecret with a misspelt field', object: edit(pick(dev, 'ExternalSecret'), ['spec', 'target', 'templates'], {}), rejects: /spec\.target\.templates: field not declared in schema/ },
    { name: 'ClusterSecretStore without service', object: edit(pick(dev, 'ClusterSecretStore'), ['spec', 'provider', 'aws', 'service'], undefined), rejects: /service: Required value/ },
    { name: 'Subscription without source', object: edit(pick(dev, 'Subscription'), ['spec', 'source'], undefined), rejects: /spec\.source: Required value/ },
    { name: 'ArgoCD health check without its Lua', object: edit(pick(apps, 'ArgoCD'), ['spec', 'resourceHealthChecks', 0, 'check'], undefined), rejects: /check: Required value/ },
    { name: 'ExternalSecretsConfig not named cluster', object: edit(pick(dev, 'ExternalSecretsConfig'), ['metadata', 'name'], 'default'), rejects: /singleton named cluster/ },
  ];
}
