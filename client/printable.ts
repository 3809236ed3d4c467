/**
 * Text that came from workflow history (names, step details, comments, reasons, failure messages) is
 * written by anyone who may start or message a workflow. Before the CLI prints it to a terminal, every
 * character that could move the cursor, recolour or clear the screen, forge a line, or reorder what the
 * reader sees (bidirectional overrides) is shown as a visible escape instead.
 */

import { Document, visit } from 'yaml';

/**
 * C0 and C1 controls, DEL, the line and paragraph separators, and the bidirectional marks, embeddings,
 * overrides and isolates.
 */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/gu;

/** What `JSON.stringify` leaves raw inside strings (it escapes C0 itself; the layout's line breaks stay). */
const UNSAFE_IN_JSON = /[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/gu;

const NAMED: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** The visible escape of one unsafe character: `\n`, `\r`, `\t`, else `\u{…}` with its code point. */
function escape(char: string): string {
  return NAMED[char] ?? `\\u{${(char.codePointAt(0) ?? 0).toString(16).padStart(4, '0')}}`;
}

/**
 * One line of text safe to print: every control, separator and bidirectional character (newlines
 * included) becomes a visible escape; everything else is kept as it is.
 */
export function printable(text: string): string {
  return text.replace(UNSAFE, escape);
}

/** Like {@link printable}, but keeps the line breaks of text the CLI composed itself across lines. */
export function printableLines(text: string): string {
  return text
    .split('\n')
    .map((line) => printable(line))
    .join('\n');
}

/**
 * JSON that is safe to show in a terminal: `JSON.stringify` escapes C0 controls but leaves C1 controls,
 * separators and bidirectional characters raw; they are written as `\uXXXX` escapes, so the text still
 * parses to the same value.
 */
export function printableJson(json: string): string {
  return json.replace(UNSAFE_IN_JSON, (char) => `\\u${(char.codePointAt(0) ?? 0).toString(16).padStart(4, '0')}`);
}

/**
 * A value as a YAML document that is safe to show in a terminal: every string holding a control, separator
 * or bidirectional character is written double-quoted, and inside it each such character is an escape
 * (`\n`, `\e`, `\u202e`…), so the document still parses to the same value. No line folding.
 */
export function printableYaml(value: unknown): string {
  const doc = new Document(value);
  visit(doc, {
    Scalar(_key, node) {
      if (typeof node.value === 'string' && new RegExp(UNSAFE.source, 'u').test(node.value)) node.type = 'QUOTE_DOUBLE';
    },
  });
  // The library escapes C0 controls in double-quoted scalars itself; what it leaves raw can only be inside one.
  return doc.toString({ lineWidth: 0 }).replace(UNSAFE_IN_JSON, (char) => `\\u${(char.codePointAt(0) ?? 0).toString(16).padStart(4, '0')}`);
}
