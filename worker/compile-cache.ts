/**
 * Node's module compile cache for the worker process: the V8 code of every module the worker loads (the
 * Temporal SDK, the AWS SDK, the sources after type stripping) is kept on disk and reused by the next start, so a
 * restarted worker does not parse and compile them again. Measured with `npm run bench:cold-start`: the prebuilt
 * worker's start 1.39 → 1.01 s on Node and its idle RSS 199 → 188 MiB. Deno keeps its own code cache, so there
 * this does nothing.
 *
 * Where: `NODE_COMPILE_CACHE` when it is set (the operator's choice, as Node reads it), else a directory of this
 * user's own under the system temp directory. That directory is created private (0700) and used only while it
 * still is: a directory someone else owns, a symbolic link, or one others may write to could hold code this
 * process would run, so the cache is then left off, and the start line says why. `NODE_DISABLE_COMPILE_CACHE=1`
 * turns it off. A cache that cannot be used never stops the worker: it starts as it would without one.
 */
import { lstatSync, mkdirSync } from 'node:fs';
import module from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The part of `node:module` this uses; Deno's `node:module` has none of it. */
interface CompileCacheApi {
  readonly enableCompileCache?: (directory?: string) => {
    readonly status: number;
    readonly message?: string;
    readonly directory?: string;
  };
  readonly constants?: { readonly compileCacheStatus?: Readonly<Record<string, number>> };
}

let state = 'off: not enabled';

/** What the cache is for this process, for the worker's start line: its directory, or `off: <why>`. */
export function describeCompileCache(): string {
  return state;
}

/**
 * Why `directory` may not hold code this process runs, or undefined when it may: it must be a real directory (not
 * a link), owned by this user, and writable by no one else.
 */
export function unsafeCacheDirectory(directory: string, uid: number): string | undefined {
  const stat = lstatSync(directory);
  if (stat.isSymbolicLink() || !stat.isDirectory()) return `${directory} is not a directory of its own`;
  if (stat.uid !== uid) return `${directory} belongs to uid ${stat.uid}, not to this process (uid ${uid})`;
  if ((stat.mode & 0o022) !== 0) return `${directory} is writable by others (mode ${(stat.mode & 0o777).toString(8)})`;
  return undefined;
}

/**
 * Enables the module compile cache for the rest of this process; call it before the modules it should cover are
 * loaded. Never throws: a cache that cannot be used leaves the worker as it was, and {@link describeCompileCache}
 * says why.
 */
export function enableCompileCache(env: NodeJS.ProcessEnv = process.env): string {
  const api = module as unknown as CompileCacheApi;
  if (api.enableCompileCache === undefined || typeof process.getuid !== 'function') return (state = 'off: not on Node');
  if (env['NODE_DISABLE_COMPILE_CACHE'] === '1') return (state = 'off: NODE_DISABLE_COMPILE_CACHE=1');
  const chosen = env['NODE_COMPILE_CACHE'];
  let directory: string | undefined = chosen !== undefined && chosen !== '' ? chosen : undefined;
  try {
    if (directory === undefined) {
      const uid = process.getuid();
      directory = join(tmpdir(), `logstack-compile-cache-${uid}`);
      mkdirSync(directory, { recursive: true, mode: 0o700 });
      const unsafe = unsafeCacheDirectory(directory, uid);
      if (unsafe !== undefined) return (state = `off: ${unsafe}`);
    }
    const result = api.enableCompileCache(directory);
    const enabled = api.constants?.compileCacheStatus;
    const ok = result.status === enabled?.['ENABLED'] || result.status === enabled?.['ALREADY_ENABLED'];
    if (!ok) return (state = `off: ${result.message ?? `status ${result.status}`}`);
    // Worker threads (the SDK runs workflows in one) enable the cache only from the variable.
    env['NODE_COMPILE_CACHE'] = directory;
    return (state = directory);
  } catch (error) {
    return (state = `off: ${error instanceof Error ? error.message : String(error)}`);
  }
}
