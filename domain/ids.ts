/** Temporal names shared by the worker, the client, the CLI and the Temporal CLI recipes in the README. */
export const TEMPORAL_DEFAULTS = {
  address: 'localhost:7233',
  namespace: 'default',
  taskQueue: 'logstack',
  uiPort: 8233,
} as const;

/** Workflow type names — each is also the exported workflow function name. Renaming one breaks running histories. */
export const WorkflowTypes = {
  bootstrapEnvironment: 'bootstrapEnvironment',
  rolloutEnvironment: 'rolloutEnvironment',
  promoteEnvironment: 'promoteEnvironment',
  migrateProduction: 'migrateProduction',
  remediateDrift: 'remediateDrift',
} as const;
export type WorkflowType = (typeof WorkflowTypes)[keyof typeof WorkflowTypes];

/** Keyword search attributes registered on the namespace and set by every mutating workflow. */
export const SearchAttributeNames = {
  environment: 'LogstackEnvironment',
  revision: 'LogstackRevision',
} as const;

/** The Schedule that runs drift remediation. */
export const DRIFT_SCHEDULE_ID = 'drift-remediation';

/** Default workflow IDs used by the CLI; the lock per environment holds regardless of IDs. */
export const workflowIds = {
  bootstrap: (env: string): string => `bootstrap-${env}`,
  rollout: (env: string): string => `rollout-${env}`,
  promote: (to: string): string => `promote-${to}`,
  migrate: (env: string): string => `migrate-${env}`,
  drift: (): string => 'drift-remediation',
  /** The long-lived lock workflow that serialises mutations of one environment. */
  lock: (env: string): string => `lock-${env}`,
} as const;

/** Field manager used for every server-side apply. */
export const FIELD_MANAGER = 'logstack';

/** Label carried by every object logstack applies; pruning only ever touches objects with it. */
export const INVENTORY_LABEL = 'logstack.io/inventory';

/** Namespace and ConfigMap name prefix holding the deployed-revision record of an environment. */
export const STATE_NAMESPACE = 'logstack-system';
export const stateConfigMapName = (env: string): string => `logstack-state-${env}`;
