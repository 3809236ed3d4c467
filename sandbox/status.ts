import { existsSync, readFileSync } from 'node:fs';
import { STATUS_FILE } from './paths.ts';

/** What `npm run sandbox -- status --json` prints, exactly. */
export interface SandboxStatus {
  temporal: { address: string; ui: string; cli: string };
  aws: { endpoint: string };
  kubeconfig: string;
  clusters: { name: string; context: string }[];
  git: { remote: string };
}

/** Extra runtime facts kept beside the public status (not printed by `status --json`). */
export interface SandboxRuntime extends SandboxStatus {
  /** Path of the time-skipping test server wrapper (for `server.executable: {type:'existing-path'}`). */
  testServer: string;
  /** Path of the kubectl built from the same Kubernetes release. */
  kubectl: string;
  /** The sandbox's environment catalog. */
  catalog: string;
  /** Static admin bearer token per cluster name (sandbox only). */
  pids: Record<string, number>;
}

/** Reads the running sandbox's facts, or undefined when the sandbox was never brought up. */
export function readSandbox(): SandboxRuntime | undefined {
  if (!existsSync(STATUS_FILE)) return undefined;
  return JSON.parse(readFileSync(STATUS_FILE, 'utf8')) as SandboxRuntime;
}

/** Like {@link readSandbox} but throws a message that says how to start it. */
export function requireSandbox(): SandboxRuntime {
  const s = readSandbox();
  if (!s) throw new Error('the sandbox is not up: run `npm run sandbox -- up` first');
  return s;
}
