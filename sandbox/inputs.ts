/**
 * What the sandbox offers, published as the product's ordinary inputs: a Temporal profile (TOML, the
 * format the `temporal` CLI and the SDKs read) and an env file of the variables the worker and the CLI
 * read. The product never reads the sandbox; the project's own scripts load these files explicitly
 * (`sandbox exec -- <command>`), and a user can do the same (`node --env-file=<file> …`).
 */
import { execFileSync } from 'node:child_process';
import { createPrivateKey, createPublicKey, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import { clientConfigToToml } from '@temporalio/envconfig';
import { join } from 'node:path';
import { parse, parseDocument } from 'yaml';
import { EVIDENCE_KEY_ENV, parseStateKeys, STATE_KEYS_ENV, type StateKey } from '../domain/index.ts';
import { CACHE_ROOT, ENV_FILE, PROFILE_FILE, REPO_ROOT, RUN_DIR, SANDBOX_PROFILE } from './paths.ts';
import type { SandboxRuntime } from './status.ts';

/** moto accepts any key; these are its conventional test credentials, never a real key. */
const MOTO_CREDENTIALS = { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_REGION: 'us-east-1' } as const;

/** The names of the variables the sandbox publishes. */
export const PUBLISHED_VARIABLES = [
  'TEMPORAL_CONFIG_FILE',
  'TEMPORAL_PROFILE',
  'LOGSTACK_UI_URL',
  'LOGSTACK_CATALOG',
  'GIT_CONFIG_COUNT',
  'GIT_CONFIG_KEY_0',
  'GIT_CONFIG_VALUE_0',
  'KUBECONFIG',
  'LOGSTACK_KUBECTL',
  'AWS_ENDPOINT_URL',
  STATE_KEYS_ENV,
  'LOGSTACK_SIGNED_CATALOG',
  'LOGSTACK_APPROVER_KEYS',
  EVIDENCE_KEY_ENV,
  'LOGSTACK_EVIDENCE_PUBLIC_KEY',
  ...(Object.keys(MOTO_CREDENTIALS) as (keyof typeof MOTO_CREDENTIALS)[]),
] as const;

/**
 * Removes the published variables from `env`. The sandbox's own parts (the Temporal CLI reads
 * `TEMPORAL_PROFILE` too) must never be configured by what an earlier `up` published: after `down`
 * the profile they name is gone.
 */
export function withoutInputs(env: NodeJS.ProcessEnv): void {
  for (const name of PUBLISHED_VARIABLES) delete env[name];
}

/**
 * The sandbox's deployed-state record key, `LOGSTACK_STATE_KEYS` form. Kept in the sandbox cache, beside (not
 * in) the runtime state: a process that loaded the published variables before a `down --purge` or an
 * `up --fresh` keeps signing with the same key as the processes started after it.
 */
const STATE_KEYS_FILE = join(CACHE_ROOT, 'state-keys');

/**
 * The sandbox's `LOGSTACK_STATE_KEYS`: a random 32-byte key generated once per sandbox cache (mode 0600)
 * and reused by every later `up`, purged or not, so a record is verifiable by every process of the sandbox.
 */
export function sandboxStateKeys(): string {
  if (existsSync(STATE_KEYS_FILE)) return readFileSync(STATE_KEYS_FILE, 'utf8').trim();
  mkdirSync(CACHE_ROOT, { recursive: true });
  const spec = `sandbox1:${randomBytes(32).toString('base64')}`;
  try {
    writeFileSync(STATE_KEYS_FILE, `${spec}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    // Another process created it first: theirs is the key.
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return readFileSync(STATE_KEYS_FILE, 'utf8').trim();
  }
  return spec;
}

/** The sandbox's evidence signing key (a 32-byte ed25519 seed, base64) and its public key (PEM), in the cache. */
const EVIDENCE_KEY_FILE = join(CACHE_ROOT, 'evidence-key');
/** The public half, for `logstack evidence verify --key`. */
export const EVIDENCE_PUBLIC_KEY_FILE = join(CACHE_ROOT, 'evidence-key.pub.pem');

/**
 * The sandbox's `LOGSTACK_EVIDENCE_KEY`: a random ed25519 seed generated once per sandbox cache (mode 0600),
 * outside the repository like the state key, reused by every later `up`; its public key is written beside it.
 */
export function sandboxEvidenceKey(): string {
  mkdirSync(CACHE_ROOT, { recursive: true });
  let seed: string;
  if (existsSync(EVIDENCE_KEY_FILE)) seed = readFileSync(EVIDENCE_KEY_FILE, 'utf8').trim();
  else {
    seed = randomBytes(32).toString('base64');
    try {
      writeFileSync(EVIDENCE_KEY_FILE, `${seed}\n`, { mode: 0o600, flag: 'wx' });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      seed = readFileSync(EVIDENCE_KEY_FILE, 'utf8').trim();
    }
  }
  if (!existsSync(EVIDENCE_PUBLIC_KEY_FILE)) {
    const der = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.from(seed, 'base64')]);
    const publicKey = createPublicKey(createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }));
    writeFileSync(EVIDENCE_PUBLIC_KEY_FILE, publicKey.export({ format: 'pem', type: 'spki' }), { mode: 0o644 });
  }
  return seed;
}

/**
 * The parsed `LOGSTACK_STATE_KEYS` of `env` for tests and benchmarks that build activities themselves
 * (they run through `sandbox exec`, which publishes it).
 * @throws Error saying how to run them when the variable is missing or wrong.
 */
export function stateKeysFromEnv(env: Readonly<Record<string, string | undefined>> = process.env): readonly StateKey[] {
  const { keys, problems } = parseStateKeys(env[STATE_KEYS_ENV] ?? '');
  if (problems.length > 0) throw new Error(`${STATE_KEYS_ENV}: ${problems.join('; ')} — run through \`npm run sandbox -- exec -- <command>\``);
  return keys;
}

/** The sandbox catalog of the repository. */
const SANDBOX_CATALOG = join(REPO_ROOT, 'sandbox/environments.yaml');

/** The remote the sandbox catalog names: a placeholder the published Git configuration maps. */
function catalogRemote(): string {
  const remote = (parse(readFileSync(SANDBOX_CATALOG, 'utf8')) as { gitops?: { remote?: unknown } }).gitops?.remote;
  if (typeof remote !== 'string' || remote === '') throw new Error(`${SANDBOX_CATALOG} names no gitops.remote`);
  return remote;
}

/**
 * The sandbox's approver keys: an ed25519 key pair per production approver of the sandbox catalog, generated once
 * by ssh-keygen into the sandbox cache's `approver-keys/` (`<name>` mode 0600, `<name>.pub`), beside (not in) the
 * runtime state and never in the repository, reused by every later `up`, purged or not.
 */
export const APPROVER_KEYS_DIR = join(CACHE_ROOT, 'approver-keys');

/** The production approvers of the repository's sandbox catalog. */
function productionApprovers(): string[] {
  const catalog = parse(readFileSync(SANDBOX_CATALOG, 'utf8')) as { environments?: { name?: string; approvers?: unknown[] }[] };
  const approvers = catalog.environments?.find((e) => e.name === 'production')?.approvers ?? [];
  return approvers.map((a) => (typeof a === 'string' ? a : String((a as { name?: unknown }).name)));
}

/** Generates the missing approver keys; returns `{ name: public key line }`. */
export function sandboxApproverKeys(): Record<string, string> {
  mkdirSync(APPROVER_KEYS_DIR, { recursive: true, mode: 0o700 });
  const keys: Record<string, string> = {};
  for (const name of productionApprovers()) {
    const file = join(APPROVER_KEYS_DIR, name);
    if (!existsSync(`${file}.pub`)) {
      // Generated beside, then renamed: a concurrent `up` or `exec` never sees half a key pair.
      const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `${name}@logstack-sandbox`, '-f', temp], { stdio: 'ignore' });
      if (!existsSync(`${file}.pub`)) {
        renameSync(temp, file);
        renameSync(`${temp}.pub`, `${file}.pub`);
      } else {
        rmSync(temp, { force: true });
        rmSync(`${temp}.pub`, { force: true });
      }
    }
    keys[name] = readFileSync(`${file}.pub`, 'utf8').trim();
  }
  return keys;
}

/** The sandbox catalog with signed approvals for production: the repository's, plus the generated keys. */
export const SIGNED_CATALOG_FILE = join(RUN_DIR, 'environments-signed.yaml');

/**
 * Writes {@link SIGNED_CATALOG_FILE}: the repository's sandbox catalog whose production lists its approvers with
 * their generated SSH public keys and takes `approvals: signed` (written only when its content changes, by rename).
 * Returns its path. The repository's catalog (`LOGSTACK_CATALOG`) stays `named`.
 */
export function signedSandboxCatalog(): string {
  const keys = sandboxApproverKeys();
  const doc = parseDocument(readFileSync(SANDBOX_CATALOG, 'utf8'));
  const environments = doc.get('environments') as { items?: { get(key: string): unknown }[] } | undefined;
  const index = environments?.items?.findIndex((e) => e.get('name') === 'production') ?? -1;
  if (index < 0) throw new Error(`${SANDBOX_CATALOG} has no production environment`);
  doc.setIn(['environments', index, 'approvers'], doc.createNode(Object.entries(keys).map(([name, key]) => ({ name, key }))));
  doc.setIn(['environments', index, 'approvals'], 'signed');
  const text = `# Generated by the logstack sandbox from sandbox/environments.yaml: production approvers with their generated keys.\n${doc.toString()}`;
  mkdirSync(RUN_DIR, { recursive: true });
  if (!existsSync(SIGNED_CATALOG_FILE) || readFileSync(SIGNED_CATALOG_FILE, 'utf8') !== text) {
    const temp = `${SIGNED_CATALOG_FILE}.${process.pid}`;
    writeFileSync(temp, text);
    renameSync(temp, SIGNED_CATALOG_FILE);
  }
  return SIGNED_CATALOG_FILE;
}

/** The variables the sandbox publishes, in the order the env file lists them. */
export function sandboxVariables(status: SandboxRuntime): Record<(typeof PUBLISHED_VARIABLES)[number], string> {
  return {
    TEMPORAL_CONFIG_FILE: PROFILE_FILE,
    TEMPORAL_PROFILE: SANDBOX_PROFILE,
    LOGSTACK_UI_URL: status.temporal.ui,
    // The repository's own sandbox catalog, so local reads (`logstack validate`, `render`) find its
    // overlays beside it. The remote it names (a placeholder) is mapped to the sandbox's bare
    // repository by Git's own configuration variables (`url.<bare>.insteadOf`), for every git call.
    LOGSTACK_CATALOG: SANDBOX_CATALOG,
    GIT_CONFIG_COUNT: '1',
    GIT_CONFIG_KEY_0: `url.${status.git.remote}.insteadOf`,
    GIT_CONFIG_VALUE_0: catalogRemote(),
    KUBECONFIG: status.kubeconfig,
    LOGSTACK_KUBECTL: status.kubectl,
    AWS_ENDPOINT_URL: status.aws.endpoint,
    LOGSTACK_STATE_KEYS: sandboxStateKeys(),
    // The same catalog with signed production approvals, and the folder of the approvers' private keys (the demo
    // runs its worker on it and signs with them: `logstack approve production --by bob --key <folder>/bob`).
    LOGSTACK_SIGNED_CATALOG: signedSandboxCatalog(),
    LOGSTACK_APPROVER_KEYS: APPROVER_KEYS_DIR,
    LOGSTACK_EVIDENCE_KEY: sandboxEvidenceKey(),
    LOGSTACK_EVIDENCE_PUBLIC_KEY: EVIDENCE_PUBLIC_KEY_FILE,
    ...MOTO_CREDENTIALS,
  };
}

/** Writes the profile and the env file (mode 0600: the env file holds moto's test key, the state key and the evidence key). */
export function publishInputs(status: SandboxRuntime): void {
  const toml = clientConfigToToml({ profiles: { [SANDBOX_PROFILE]: { address: status.temporal.address, namespace: 'default' } } });
  writeFileSync(PROFILE_FILE, toml, { mode: 0o600 });
  const lines = Object.entries(sandboxVariables(status)).map(([name, value]) => `${name}=${JSON.stringify(value)}`);
  writeFileSync(ENV_FILE, `# Inputs of the logstack sandbox, written by \`sandbox up\`; load with \`sandbox exec -- <command>\` or \`node --env-file\`.\n${lines.join('\n')}\n`, { mode: 0o600 });
}

/** Removes the published inputs (on `down`), so nothing points at stopped parts. */
export function withdrawInputs(): void {
  rmSync(ENV_FILE, { force: true });
  rmSync(PROFILE_FILE, { force: true });
}

/**
 * The published variables, read back from the env file.
 * @throws Error saying how to start the sandbox when it has not published its inputs.
 */
export function readInputs(): Record<string, string> {
  if (!existsSync(ENV_FILE)) throw new Error(`the sandbox is not up (no ${ENV_FILE}): run \`npm run sandbox -- up\` first`);
  const inputs = parseEnv(readFileSync(ENV_FILE, 'utf8')) as Record<string, string>;
  // An env file published before the state key existed: the key is the run directory's all the same.
  inputs[STATE_KEYS_ENV] ??= sandboxStateKeys();
  // … and one published before signed approvals: the signed catalog and the keys are the cache's all the same.
  inputs['LOGSTACK_SIGNED_CATALOG'] ??= signedSandboxCatalog();
  inputs['LOGSTACK_APPROVER_KEYS'] ??= APPROVER_KEYS_DIR;
  // Likewise the evidence key, published after the state key.
  inputs[EVIDENCE_KEY_ENV] ??= sandboxEvidenceKey();
  inputs['LOGSTACK_EVIDENCE_PUBLIC_KEY'] ??= EVIDENCE_PUBLIC_KEY_FILE;
  return inputs;
}
