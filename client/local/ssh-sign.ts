/**
 * Signing an approval statement with the approver's own SSH key for `logstack approve|reject --key`: runs
 * `ssh-keygen -Y sign -n logstack-approval -f <key>` (allowed to spawn for this file only in eslint.config.js),
 * the statement on its standard input, the armored signature on its standard output. A private key file signs
 * directly (ssh-keygen asks for its passphrase on the terminal); a public key file (`.pub`) signs through the
 * SSH agent (`SSH_AUTH_SOCK`), which holds the private key.
 */
import { spawn } from 'node:child_process';
import { APPROVAL_NAMESPACE } from '../../domain/index.ts';
import { CliError, ExitCode } from '../errors.ts';

/** The ssh-keygen to run: `LOGSTACK_SSH_KEYGEN`, else `ssh-keygen` on PATH. */
export function sshKeygenPath(env: Readonly<Record<string, string | undefined>>): string {
  return env['LOGSTACK_SSH_KEYGEN'] ?? 'ssh-keygen';
}

/**
 * Signs `statement` in namespace `logstack-approval` with the key at `keyPath` (no shell, 2 min: time for a
 * passphrase or an agent's confirmation), ssh-keygen from {@link sshKeygenPath} run with `env`. Returns the
 * armored signature.
 * @throws CliError when ssh-keygen is missing or refuses (its stderr included).
 */
export function signStatement(
  statement: string,
  keyPath: string,
  env: Readonly<Record<string, string | undefined>>,
): Promise<string> {
  const sshKeygen = sshKeygenPath(env);
  return new Promise((resolve, reject) => {
    // stderr is a pipe too: ssh-keygen asks for a passphrase on /dev/tty, not on stderr.
    const child = spawn(sshKeygen, ['-q', '-Y', 'sign', '-n', APPROVAL_NAMESPACE, '-f', keyPath], {
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: 120_000,
      // The CLI's environment: SSH_AUTH_SOCK names the agent that signs for a public key file.
      env,
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
    child.on('error', (error: NodeJS.ErrnoException) => {
      reject(
        error.code === 'ENOENT'
          ? new CliError(`ssh-keygen not found at "${sshKeygen}"; install OpenSSH ≥ 8.1, or set LOGSTACK_SSH_KEYGEN`, ExitCode.failed)
          : new CliError(`could not run ssh-keygen: ${error.message}`, ExitCode.failed),
      );
    });
    child.on('close', (code) => {
      if (code === 0 && out.includes('-----BEGIN SSH SIGNATURE-----')) resolve(out);
      else reject(new CliError(`ssh-keygen -Y sign with ${keyPath} failed (exit ${code ?? 'signal'}): ${err.trim().slice(0, 2000) || 'no signature written'}`, ExitCode.failed));
    });
    child.stdin.end(statement);
  });
}
