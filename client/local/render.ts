/**
 * `kubectl kustomize` of an overlay for `logstack render`. This is the one place the CLI spawns a
 * process (allowed for this file only in eslint.config.js): rendering is local by nature, and kubectl's
 * embedded kustomize is the same renderer the worker's activities use.
 */
import { execFile } from 'node:child_process';
import { CliError, ExitCode } from '../errors.ts';

/** The kubectl to use: `--kubectl`, `LOGSTACK_KUBECTL` (as the worker), else `kubectl` on PATH. */
export function kubectlPath(flag: string | undefined, env: Readonly<Record<string, string | undefined>>): string {
  return flag ?? env['LOGSTACK_KUBECTL'] ?? 'kubectl';
}

/**
 * Renders the overlay directory with `kubectl kustomize` (no shell, 2 min, 64 MiB of output).
 * @throws CliError when kubectl is missing or kustomize fails (its stderr included).
 */
export function renderOverlay(kubectl: string, overlayDir: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(kubectl, ['kustomize', overlayDir], { timeout: 120_000, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (!error) {
        resolve(stdout);
        return;
      }
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        reject(new CliError(`kubectl not found at "${kubectl}"; install it, or pass --kubectl / set LOGSTACK_KUBECTL`, ExitCode.failed));
        return;
      }
      reject(new CliError(`kustomize could not build ${overlayDir}:\n${stderr.trim().slice(0, 4000)}`, ExitCode.failed));
    });
  });
}
