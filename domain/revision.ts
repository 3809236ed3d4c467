import { DomainError, FailureType } from './failures.ts';

/** A full 40-hex Git commit SHA. */
export type CommitSha = string & { readonly __brand: 'CommitSha' };

const FULL_SHA = /^[0-9a-f]{40}$/;
/** Branch, tag or (short) SHA: what a user may type. No spaces, no `..`, no leading `-`, ≤ 255 chars. */
const REF = /^(?!-)(?!.*\.\.)[A-Za-z0-9._/@^~-]{1,255}$/;

/** True for a full, lowercase 40-hex commit SHA. */
export function isCommitSha(value: string): value is CommitSha {
  return FULL_SHA.test(value);
}

/**
 * Checks that `value` is a plausible Git revision (branch, tag or SHA) before anything resolves it.
 * @throws DomainError `InvalidInput` naming the accepted shapes.
 */
export function assertRevisionSyntax(value: unknown, field = 'revision'): string {
  if (typeof value !== 'string' || !REF.test(value)) {
    throw new DomainError({
      type: FailureType.InvalidInput,
      message: `${field} must be a Git commit SHA, branch or tag (letters, digits, . _ / - only, no '..', no leading '-'); got ${JSON.stringify(value)?.slice(0, 80)}`,
      details: { field },
    });
  }
  return value;
}

/** The 7-character abbreviation used in summaries and the UI. */
export function shortSha(sha: string): string {
  return sha.slice(0, 7);
}
