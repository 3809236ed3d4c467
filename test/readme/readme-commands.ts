/**
 * The commands the README tells people to type: every line of its `sh` code blocks (continuation lines
 * joined, trailing comments removed, `export` lines kept with the block they configure) and every inline
 * code span that starts like a command. The README test claims each one and runs it.
 */
import { readFileSync } from 'node:fs';

/** One command as written in the README. */
export interface ReadmeCommand {
  /** The command text, exactly as a reader would type it (continuations joined with one space). */
  readonly text: string;
  /** Where it is: `block` (an `sh` fence) or `inline` (a code span in prose). */
  readonly where: 'block' | 'inline';
  /** 1-based line of the README where it starts. */
  readonly line: number;
}

/** Inline code spans that are commands (not file names, variables or values). */
const INLINE_COMMAND = /^(?:npm |npx |logstack |temporal |docker |kubectl |git |[A-Z][A-Z0-9_]*=\S+ (?:npm|logstack) )/;

/** Removes a trailing `# comment` that is outside quotes. */
export function stripComment(line: string): string {
  let quote: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === quote) quote = null;
    } else if (c === "'" || c === '"') {
      quote = c;
    } else if (c === '#' && (i === 0 || /\s/.test(line[i - 1] ?? ''))) {
      return line.slice(0, i).trimEnd();
    }
  }
  return line.trimEnd();
}

/** The commands of one README text, in order of appearance. */
export function readmeCommands(markdown: string): ReadmeCommand[] {
  const lines = markdown.split('\n');
  const commands: ReadmeCommand[] = [];
  /** The prose with fenced blocks blanked out (line numbers kept), for inline spans that may wrap lines. */
  const prose: string[] = [];
  let fence: string | null = null;
  let pending: { text: string; line: number } | null = null;
  lines.forEach((raw, index) => {
    const line = index + 1;
    const opening = /^```(\S*)/.exec(raw);
    if (opening) {
      fence = fence === null ? (opening[1] ?? '') : null;
      prose.push('');
      return;
    }
    prose.push(fence === null ? raw : '');
    if (fence !== 'sh') return;
    const text = stripComment(raw).trim();
    if (!text && !pending) return;
    const continued = text.endsWith('\\');
    const part = continued ? text.slice(0, -1).trim() : text;
    pending = pending ? { text: `${pending.text} ${part}`, line: pending.line } : { text: part, line };
    if (!continued) {
      if (pending.text) commands.push({ text: pending.text, where: 'block', line: pending.line });
      pending = null;
    }
  });
  const text = prose.join('\n');
  for (const match of text.matchAll(/`([^`]+)`/g)) {
    const span = (match[1] ?? '').replace(/\s+/g, ' ').trim();
    if (!INLINE_COMMAND.test(span)) continue;
    const line = text.slice(0, match.index).split('\n').length;
    commands.push({ text: span, where: 'inline', line });
  }
  return commands;
}

/** The commands of the repository's README.md. */
export function loadReadmeCommands(path: string): ReadmeCommand[] {
  return readmeCommands(readFileSync(path, 'utf8'));
}
