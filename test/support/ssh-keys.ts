/**
 * Real SSH keys and signatures for the signed-approval tests: `ssh-keygen` generates ed25519 key pairs in a
 * temporary directory and signs statements with `ssh-keygen -Y sign`, exactly as an approver would.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { APPROVAL_NAMESPACE } from '../../domain/index.ts';

/** A set of generated key pairs by person name; `close()` deletes them. */
export interface TestKeys {
  /** The directory holding `<name>` (private) and `<name>.pub`. */
  readonly dir: string;
  /** The `ssh-ed25519 AAAA… <name>@example` line of `name`. */
  publicKey(name: string): string;
  /** The private key file of `name`. */
  privateKeyPath(name: string): string;
  /** `ssh-keygen -Y sign -n <namespace> -f <name's key>` over `message`: the armored signature. */
  sign(name: string, message: string, namespace?: string): string;
  close(): void;
}

/** Generates an ed25519 key pair (no passphrase) for each name. */
export function generateTestKeys(names: readonly string[]): TestKeys {
  const dir = mkdtempSync(join(tmpdir(), 'logstack-ssh-'));
  for (const name of names) {
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `${name}@example`, '-f', join(dir, name)], { stdio: 'ignore' });
  }
  return {
    dir,
    publicKey: (name) => readFileSync(join(dir, `${name}.pub`), 'utf8').trim(),
    privateKeyPath: (name) => join(dir, name),
    sign: (name, message, namespace = APPROVAL_NAMESPACE) =>
      execFileSync('ssh-keygen', ['-q', '-Y', 'sign', '-n', namespace, '-f', join(dir, name)], { input: message, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] }),
    close: () => rmSync(dir, { recursive: true, force: true }),
  };
}
