/**
 * Rules for text people write into workflow inputs, updates and the catalog, so it is safe to store and
 * to print: person names (requesters, approvers, the `by` of a decision) are NFKC-normalised, limited to a
 * small charset and compared case-insensitively; free text (comments, reasons) may hold any printable
 * character but no control, separator or bidirectional one. The CLI escapes whatever it prints anyway
 * (`client/printable.ts`); these rules keep hostile text out of history in the first place.
 */
import { z } from 'zod';
import { once } from './once.ts';

/** Longest person name, in characters after NFKC normalisation. */
export const MAX_PERSON_LENGTH = 128;

/**
 * A person name after NFKC: starts with a letter or digit; then letters (any script), combining marks,
 * digits, single spaces and `. _ @ + ' -` (so `alice`, `Bob Smith`, `jürgen.müller@example.com`,
 * `o'brien` pass); at most 128 characters.
 */
const PERSON = /^[\p{L}\p{N}](?:[\p{L}\p{M}\p{N}._@+'-]| (?! ))*$/u;

/**
 * Controls (C0, DEL, C1), the line and paragraph separators, and the bidirectional marks, embeddings,
 * overrides and isolates (`U+061C`, `U+200E/F`, `U+202A–202E`, `U+2066–2069`).
 */
const UNSAFE_TEXT = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;

/** True when `text` holds a control, separator or bidirectional character. */
export function hasUnsafeCharacters(text: string): boolean {
  return UNSAFE_TEXT.test(text);
}

/**
 * The comparison key of a person name: NFKC, lower-cased, NFKC again (so `Bob`, `BOB` and the
 * full-width `Ｂｏｂ` are one person).
 */
export function personKey(name: string): string {
  return name.normalize('NFKC').toLowerCase().normalize('NFKC');
}

/** True when two names denote the same person under {@link personKey}. */
export function samePerson(a: string, b: string): boolean {
  return personKey(a) === personKey(b);
}

/** A person name: NFKC-normalised on parse, then checked against the charset above. */
export const personNameSchema = once(() =>
  z
    .string()
    .transform((name) => name.normalize('NFKC'))
    .pipe(
      z
        .string()
        .min(1)
        .max(MAX_PERSON_LENGTH)
        .regex(PERSON, "a person name: letters, digits, single spaces and . _ @ + ' -, starting with a letter or digit (no control or bidirectional characters)"),
    ),
);

/** Free text (a comment, a reason) of at most `max` characters without control, separator or bidirectional characters. */
export function safeTextSchema(max: number, min = 0): z.ZodString {
  return z
    .string()
    .min(min)
    .max(max)
    .refine((text) => !hasUnsafeCharacters(text), {
      message: 'must not contain control characters (newlines, ANSI escapes…), line separators or bidirectional characters',
    });
}
