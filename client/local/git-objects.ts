/**
 * Whether a commit exists in a local Git repository, read from its object store with the file system only
 * (the client runs no `git`): the loose object `objects/xx/yyyy…`, else the pack indexes (`objects/pack/*.idx`,
 * version 2) and the object's type in its pack. Follows a worktree's `.git` file and `commondir`, bare
 * repositories, and `objects/info/alternates`. SHA-1 repositories.
 */
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { inflateSync } from 'node:zlib';

/** The object directories of the repository at `path` (a work tree, a bare repository or a `.git` directory). */
export function objectDirectories(path: string): string[] {
  let gitDir = resolve(path);
  const dotGit = join(gitDir, '.git');
  if (existsSync(dotGit)) {
    gitDir = statSync(dotGit).isDirectory() ? dotGit : resolve(path, /^gitdir:\s*(.+)$/m.exec(readFileSync(dotGit, 'utf8'))?.[1]?.trim() ?? '.git');
  }
  const commonFile = join(gitDir, 'commondir');
  const common = existsSync(commonFile) ? resolve(gitDir, readFileSync(commonFile, 'utf8').trim()) : gitDir;
  const objects = join(common, 'objects');
  if (!existsSync(objects)) throw new Error(`${path} is not a Git repository (no objects directory at ${objects})`);
  const dirs = [objects];
  const alternates = join(objects, 'info', 'alternates');
  if (existsSync(alternates)) {
    for (const line of readFileSync(alternates, 'utf8').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'))) {
      dirs.push(isAbsolute(line) ? line : resolve(objects, line));
    }
  }
  return dirs;
}

function looseType(objects: string, sha: string): string | undefined {
  const file = join(objects, sha.slice(0, 2), sha.slice(2));
  if (!existsSync(file)) return undefined;
  const header = inflateSync(readFileSync(file), { finishFlush: 2 }).subarray(0, 32).toString('latin1');
  return header.split(' ')[0];
}

/** The pack offset of `sha` in a version-2 index, or undefined. */
function offsetInIndex(idx: Buffer, sha: Buffer): number | undefined {
  if (idx.readUInt32BE(0) !== 0xff744f63 || idx.readUInt32BE(4) !== 2) return undefined;
  const first = sha[0] ?? 0;
  const fanout = 8;
  const count = idx.readUInt32BE(fanout + 255 * 4);
  let lo = first === 0 ? 0 : idx.readUInt32BE(fanout + (first - 1) * 4);
  let hi = idx.readUInt32BE(fanout + first * 4);
  const names = fanout + 256 * 4;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const cmp = idx.subarray(names + mid * 20, names + mid * 20 + 20).compare(sha);
    if (cmp === 0) {
      const offsets = names + count * 20 + count * 4;
      const small = idx.readUInt32BE(offsets + mid * 4);
      if ((small & 0x80000000) === 0) return small;
      const large = offsets + count * 4 + (small & 0x7fffffff) * 8;
      return Number(idx.readBigUInt64BE(large));
    }
    if (cmp < 0) lo = mid + 1;
    else hi = mid;
  }
  return undefined;
}

const PACK_TYPES: Readonly<Record<number, string>> = { 1: 'commit', 2: 'tree', 3: 'blob', 4: 'tag', 6: 'ofs-delta', 7: 'ref-delta' };

function packedType(objects: string, sha: string): string | undefined {
  const packDir = join(objects, 'pack');
  if (!existsSync(packDir)) return undefined;
  const wanted = Buffer.from(sha, 'hex');
  for (const name of readdirSync(packDir).filter((n) => n.endsWith('.idx'))) {
    const offset = offsetInIndex(readFileSync(join(packDir, name)), wanted);
    if (offset === undefined) continue;
    const fd = openSync(join(packDir, name.replace(/\.idx$/, '.pack')), 'r');
    try {
      const byte = Buffer.alloc(1);
      readSync(fd, byte, 0, 1, offset);
      return PACK_TYPES[((byte[0] ?? 0) >> 4) & 7] ?? 'unknown';
    } finally {
      closeSync(fd);
    }
  }
  return undefined;
}

/**
 * True when `sha` (40 hex) is a commit of the repository at `path`. A deltified packed object counts as
 * present (its type is that of its base, which this reader does not resolve).
 * @throws Error when `path` is not a Git repository.
 */
export function commitInRepository(path: string, sha: string): boolean {
  if (!/^[0-9a-f]{40}$/.test(sha)) return false;
  for (const objects of objectDirectories(path)) {
    const type = looseType(objects, sha) ?? packedType(objects, sha);
    if (type !== undefined) return type === 'commit' || type.endsWith('-delta');
  }
  return false;
}
