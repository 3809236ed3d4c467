/**
 * One client per environment's kubeconfig context: JSON requests and watches over one keep-alive
 * connection pool (rest.ts), and cached discovery (Kind → resource). Object verbs build on it (apply.ts).
 */
import { delimiter } from 'node:path';
import { FailureType } from '../../domain/index.ts';
import { nonRetryable } from '../errors.ts';
import { type Kubeconfig, loadKubeconfigFiles } from './kubeconfig.ts';
import { KubeApiError, type KubeRequest, type KubeTransport, type WatchHandler, createTransport } from './rest.ts';

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
  /** The context's namespace: where a namespaced object that names none is written (`default` unless the context says). */
  readonly defaultNamespace: string;
  /** A JSON request (see {@link KubeTransport.request}). */
  request<T>(request: KubeRequest): Promise<T>;
  /** A watch stream (see {@link KubeTransport.watch}). */
  watch(path: string, query: KubeRequest['query'], onEvent: WatchHandler, signal: AbortSignal, idleMs: number): Promise<void>;
  /**
   * Where `kind` of `apiVersion` is served.
   * @throws ApplicationFailure `MissingCustomResource` when the cluster does not serve it.
   */
  resource(apiVersion: string, kind: string): Promise<ResourceInfo>;
  /** Like {@link resource} but undefined when the kind is not served. */
  tryResource(apiVersion: string, kind: string): Promise<ResourceInfo | undefined>;
  /** The collection path of `kind`, in `namespace` when the kind is namespaced. */
  collectionPath(info: ResourceInfo, namespace?: string): string;
  /** The path of one object; a namespaced kind without `namespace` is in {@link defaultNamespace}. */
  objectPath(info: ResourceInfo, name: string, namespace?: string): string;
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

function groupPath(apiVersion: string): string {
  return apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
}

function createCluster(kubeconfig: Kubeconfig, context: string): KubeCluster {
  const connection = kubeconfig.connection(context);
  const transport: KubeTransport = createTransport(connection);
  const discovery = new Map<string, Promise<ApiResourceList | undefined>>();

  const request = <T>(req: KubeRequest): Promise<T> => transport.request<T>(req);

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

  const collectionPath = (info: ResourceInfo, namespace?: string): string => {
    const ns = info.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
    return `${groupPath(info.apiVersion)}${ns}/${info.plural}`;
  };

  return {
    context,
    defaultNamespace: connection.namespace,
    request,
    watch: (path, query, onEvent, signal, idleMs) => transport.watch(path, query, onEvent, signal, idleMs),
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
    collectionPath,
    objectPath(info, name, namespace) {
      return `${collectionPath(info, info.namespaced ? (namespace ?? connection.namespace) : undefined)}/${encodeURIComponent(name)}`;
    },
    forgetDiscovery() {
      discovery.clear();
    },
  };
}

/**
 * Loads a kubeconfig file — or a `KUBECONFIG`-style list of files, merged — (or takes a loaded {@link Kubeconfig}) and hands out one client per context.
 * Read-only: loading never contacts a cluster.
 * @throws ApplicationFailure `InvalidInput` when the file is missing or not a kubeconfig.
 */
export function createKubeClusters(kubeconfig: string | Kubeconfig): KubeClusters {
  const base = typeof kubeconfig === 'string' ? loadKubeconfigFiles(kubeconfig.split(delimiter).filter((p) => p !== '')) : kubeconfig;
  const clients = new Map<string, KubeCluster>();
  return {
    forContext(context) {
      let client = clients.get(context);
      if (!client) {
        if (!base.contexts.includes(context)) {
          throw nonRetryable(
            FailureType.InvalidInput,
            `kubeconfig has no context "${context}" (it has: ${base.contexts.join(', ')}); fix cluster.context in the catalog`,
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
