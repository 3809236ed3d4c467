/**
 * The environment every child process of the worker starts with — `git`, `kubectl kustomize`, a kubeconfig's
 * exec credential plugins: the worker's own, less the variables that carry its keys. A child needs `PATH`,
 * `HOME`, proxies and its own configuration (a credential plugin its cloud credentials); none needs the payload
 * codec keys, the evidence signing key, the deployed-state record keys or the worker's Temporal credentials,
 * so none is handed them.
 */

/** The worker's variables that carry key material, never passed to a child process. */
export const WORKER_SECRET_VARIABLES: readonly string[] = [
  'LOGSTACK_CODEC_KEYS',
  'LOGSTACK_EVIDENCE_KEY',
  'LOGSTACK_STATE_KEYS',
  'TEMPORAL_API_KEY',
  'TEMPORAL_TLS_CLIENT_KEY_DATA',
];

/**
 * `base` (default: this process's environment) without {@link WORKER_SECRET_VARIABLES}, with `extra` on top.
 * Pure: returns a new object.
 */
export function childEnvironment(extra: Readonly<Record<string, string>> = {}, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base };
  for (const name of WORKER_SECRET_VARIABLES) delete env[name];
  return { ...env, ...extra };
}
