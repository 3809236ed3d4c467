/**
 * The configuration room: one resolver for the worker and the CLI. Temporal settings come from a TOML
 * profile and the `TEMPORAL_*` variables (`@temporalio/envconfig`), logstack's own from `LOGSTACK_*`
 * and the usual AWS and Kubernetes variables; flags override variables override the profile override
 * defaults. It may import `domain/` and configuration libraries only.
 */
export { ConfigError, describeProblem, type Env, type Problem } from './problems.ts';
export {
  connectionOptions,
  LEGACY_TLS_VARIABLES,
  resolveTemporal,
  TEMPORAL_VARIABLES,
  type SettingSource,
  type TemporalFlags,
  type TemporalSettings,
  type TemporalTls,
} from './temporal.ts';
export { ENVIRONMENT_VARIABLES, loadWorkerConfig, untracedBundlePath, WORKER_VARIABLES, type WorkerConfig } from './worker.ts';
export { resolveTracing, TRACING_VARIABLES, type TracingSettings } from './tracing.ts';
