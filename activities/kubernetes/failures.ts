/**
 * Maps apiserver answers onto the project's failure types: rejections (400/422) become
 * `ManifestRejected` with the server's message, field-manager conflicts (409 with
 * FieldManagerConflict causes) become `Conflict` naming fields and owners, 403 becomes
 * `AccessDenied`. Everything else (5xx, timeouts, optimistic-concurrency 409s) is left for retries.
 */
import { FailureType } from '../../domain/index.ts';
import { isApplicationFailure, nonRetryable } from '../errors.ts';
import { KubeApiError, type KubeStatus } from './rest.ts';

/** Status code and apiserver Status of any client error, when it came from the apiserver. */
export function apiErrorOf(error: unknown): { status: number; body: KubeStatus | undefined } | undefined {
  if (error instanceof KubeApiError) return { status: error.status, body: error.body };
  return undefined;
}

/** True when the error is the apiserver answering 404 Not Found. */
export function isNotFound(error: unknown): boolean {
  return apiErrorOf(error)?.status === 404;
}

/** A field owned by another manager, parsed from a server-side apply conflict. */
export interface FieldConflict {
  readonly field: string;
  readonly owner: string;
}

/** The conflicts of a 409 server-side apply answer; empty for any other error. */
export function fieldConflicts(error: unknown): FieldConflict[] {
  const api = apiErrorOf(error);
  if (api?.status !== 409) return [];
  return (api.body?.details?.causes ?? [])
    .filter((c) => c.reason === 'FieldManagerConflict')
    .map((c) => ({ field: c.field ?? '(unknown field)', owner: /conflict with "([^"]+)"/.exec(c.message ?? '')?.[1] ?? '(unknown manager)' }));
}

/** True for the 422 an apiserver sends when a write would change an immutable field. */
export function isImmutableFieldError(error: unknown): boolean {
  const api = apiErrorOf(error);
  if (api?.status !== 422) return false;
  const texts = [api.body?.message ?? '', ...(api.body?.details?.causes ?? []).map((c) => c.message ?? '')];
  return texts.some((t) => /immutable/i.test(t));
}

/**
 * The failure to throw for an error raised while writing `ref`; returns non-apiserver errors and
 * transient answers unchanged so the retry policy handles them.
 */
export function mapWriteError(error: unknown, ref: string, context: string): unknown {
  if (isApplicationFailure(error)) return error;
  const api = apiErrorOf(error);
  if (!api) return error;
  const serverMessage = api.body?.message ?? `HTTP ${api.status}`;
  if (api.status === 400 || api.status === 422) {
    return nonRetryable(FailureType.ManifestRejected, `${context} rejected ${ref}: ${serverMessage} — fix the manifest in Git`, {
      object: ref,
      status: api.status,
      reason: api.body?.reason ?? null,
    });
  }
  const conflicts = fieldConflicts(error);
  if (conflicts.length > 0) {
    const owners = [...new Set(conflicts.map((c) => c.owner))];
    const list = conflicts.map((c) => `${c.field} (owned by "${c.owner}")`).join(', ');
    return nonRetryable(
      FailureType.Conflict,
      `${ref} has fields owned by another field manager: ${list}; remove them from Git, hand them over (adopt), or stop "${owners.join('", "')}" from writing them`,
      { object: ref, conflicts, owners },
    );
  }
  if (api.status === 403) {
    return nonRetryable(FailureType.AccessDenied, `${context} refused access to ${ref}: ${serverMessage} — grant the worker's account this permission`, {
      object: ref,
    });
  }
  return error;
}
