/**
 * Names fixed by the `gitops/` tree that code must agree with (the activities that apply, adopt and
 * gate, the tests that prove the tree). Pure data; a test keeps it equal to the rendered manifests.
 */
export const GITOPS_NAMES = {
  /** The ClusterSecretStore every ExternalSecret of the stack reads from. */
  secretStore: 'logstack-aws',
  /**
   * Static mode only: the Secret holding the store's AWS access key, written into the cluster by the
   * bootstrap (never into Git). Its namespace is named in the store, as ESO requires for cluster stores.
   */
  storeCredential: {
    namespace: 'external-secrets',
    name: 'logstack-aws-credentials',
    accessKeyIdKey: 'access-key-id',
    secretAccessKeyKey: 'secret-access-key',
  },
  /** STS mode only: the service account whose token ESO trades for the store's IAM role. */
  storeServiceAccount: { namespace: 'external-secrets', name: 'logstack-secrets-reader' },
  /** The ExternalSecret rendering the Loki object-storage Secret (same name as the Secret). */
  lokiExternalSecret: 'logging-loki-s3',
  /** The Logging 6 forwarder and its collector service account, in the Loki namespace. */
  logForwarder: 'collector',
  collectorServiceAccount: 'logcollector',
  /** Where the worker's identity lives on every managed cluster. */
  workerNamespace: 'logstack-system',
  workerServiceAccount: 'logstack-worker',
  /** Operator Subscriptions (namespace/name) the stack installs. */
  subscriptions: [
    { namespace: 'openshift-operators-redhat', name: 'loki-operator' },
    { namespace: 'openshift-logging', name: 'cluster-logging' },
    { namespace: 'external-secrets-operator', name: 'openshift-external-secrets-operator' },
  ],
} as const;

/**
 * Argo CD sync waves of the overlays: operators, then the ESO operand, the secret store, the
 * secrets, the LokiStack, and last the forwarder that writes into it.
 */
export const SYNC_WAVES = {
  operators: 0,
  operands: 1,
  secretStore: 2,
  secrets: 3,
  lokiStack: 4,
  logForwarding: 5,
} as const;
