/**
 * One client per environment's kubeconfig context: the generic `KubernetesObjectApi` for object
 * verbs, a raw JSON transport for subresources, a `Watch`, and cached discovery (Kind → resource).
 */
import { KubeConfig, KubernetesObjectApi, type RequestContext, Watch } from '@kubernetes/client-node';
import { FailureType } from '../../domain/index.ts';
import { nonRetryable } from '../errors.ts';
import { KubeApiError, type KubeRequest, kubeRequest } from './rest.ts';

/** Where a kind is served: its plural resource name and whether it is namespaced. */
export interface ResourceInfo {
  readonly apiVersion: string;
  readonly kind: string;
  readonly plural: string;
  readonly namespaced: boolean;
}

/** Everything activities need to talk to one cluster. */
export interface KubeCluster {
  readonly context: string;
  readonly config: KubeConfig;
  /** Generic object verbs (create, read, list, patch incl. server-side apply, delete). */
  readonly objects: KubernetesObjectApi;
  readonly watcher: Watch;
  /** A raw JSON request (subresources, lists for watches, metrics). */
  request<T>(request: KubeRequest): Promise<T>;
  /**
   * Where `kind` of `apiVersion` is served.
   * @throws ApplicationFailure `MissingCustomResource` when the cluster does not serve it.
   */
  resource(apiVersion: string, kind: string): Promise<ResourceInfo>;
  /** Like {@link resource} but undefined when the kind is not served. */
  tryResource(apiVersion: string, kind: string): Promise<ResourceInfo | undefined>;
  /** The collection path of `kind`, in `namespace` when the kind is namespaced. */
  collectionPath(info: ResourceInfo, namespace?: string): string;
  /** Forgets cached discovery (after CRDs were installed). */
  forgetDiscovery(): void;
}

/** The clients of every context in one kubeconfig. */
export interface KubeClusters {
  /**
   * The client of `context`, created once.
   * @throws ApplicationFailure `InvalidInput` when the kubeconfig has no such context.
   */
  forContext(context: string): KubeCluster;
}

interface ApiResourceList {
  readonly resources: readonly { name: string; kind: string; namespaced: boolean }[];
}

/**
 * A `KubeConfig` whose requests share one connection pool. The client library builds a new undici `Agent` for
 * every request it authenticates, so each object call, list and watch would open its own TLS connection
 * (parsing the CA and handshaking again) and none would be reused. Here the first request's dispatcher, built
 * from the context's TLS settings, serves every later one: keep-alive connections are reused across the
 * generic object API, watches and raw requests. Credentials (bearer tokens, exec plugins) are still applied to
 * every request; TLS material (CA, client certificate) is read once per context for the life of the worker.
 */
export class PooledKubeConfig extends KubeConfig {
  #dispatcher: ReturnType<RequestContext['getDispatcher']> | undefined;

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    this.#dispatcher ??= context.getDispatcher();
    if (this.#dispatcher) context.setDispatcher(this.#dispatcher);
  }
}

function groupPath(apiVersion: string): string {
  return apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
}

function createCluster(base: KubeConfig, context: string): KubeCluster {
  const config = new PooledKubeConfig();
  config.loadFromString(base.exportConfig());
  config.setCurrentContext(context);
  const discovery = new Map<string, Promise<ApiResourceList | undefined>>();

  const request = <T>(req: KubeRequest): Promise<T> => kubeRequest<T>(config, req);

  const listFor = (apiVersion: string): Promise<ApiResourceList | undefined> => {
    let pending = discovery.get(apiVersion);
    if (!pending) {
      pending = request<ApiResourceList>({ method: 'GET', path: groupPath(apiVersion) }).catch((error: unknown) => {
        discovery.delete(apiVersion);
        if (error instanceof KubeApiError && error.status === 404) return undefined;
        throw error;
      });
      discovery.set(apiVersion, pending);
    }
    return pending;
  };

  const tryResource = async (apiVersion: string, kind: string): Promise<ResourceInfo | undefined> => {
    let list = await listFor(apiVersion);
    let found = list?.resources.find((r) => r.kind === kind && !r.name.includes('/'));
    if (!found) {
      // A CRD may have been installed since the cache was filled: look once more.
      discovery.delete(apiVersion);
      list = await listFor(apiVersion);
      found = list?.resources.find((r) => r.kind === kind && !r.name.includes('/'));
    }
    if (!found) discovery.delete(apiVersion);
    return found && { apiVersion, kind, plural: found.name, namespaced: found.namespaced };
  };

  return {
    context,
    config,
    objects: KubernetesObjectApi.makeApiClient(config),
    watcher: new Watch(config),
    request,
    tryResource,
    async resource(apiVersion, kind) {
      const info = await tryResource(apiVersion, kind);
      if (!info) {
        throw nonRetryable(
          FailureType.MissingCustomResource,
          `cluster "${context}" does not serve ${kind} (${apiVersion}); install its CustomResourceDefinition (or the operator that ships it) first`,
          { context, apiVersion, kind },
        );
      }
      return info;
    },
    collectionPath(info, namespace) {
      const ns = info.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
      return `${groupPath(info.apiVersion)}${ns}/${info.plural}`;
    },
    forgetDiscovery() {
      discovery.clear();
    },
  };
}

/**
 * Loads a kubeconfig file (or takes a loaded `KubeConfig`) and hands out one client per context.
 * Read-only: loading never contacts a cluster.
 */
export function createKubeClusters(kubeconfig: string | KubeConfig): KubeClusters {
  const base = typeof kubeconfig === 'string' ? loadKubeConfig(kubeconfig) : kubeconfig;
  const clients = new Map<string, KubeCluster>();
  return {
    forContext(context) {
      let client = clients.get(context);
      if (!client) {
        if (!base.getContextObject(context)) {
          throw nonRetryable(
            FailureType.InvalidInput,
            `kubeconfig has no context "${context}" (it has: ${base.getContexts().map((c) => c.name).join(', ')}); fix cluster.context in the catalog`,
            { context },
          );
        }
        client = createCluster(base, context);
        clients.set(context, client);
      }
      return client;
    },
  };
}

function loadKubeConfig(path: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  return kc;
}
