import { z } from 'zod';
import { DomainError, FailureType } from './failures.ts';
import { formatIssues } from './environments.ts';
import { personNameSchema, safeTextSchema } from './text.ts';
import { MAX_ARMORED_SIGNATURE } from './sshsig.ts';

/** Largest accepted workflow input, in bytes of JSON — far below Temporal's 2 MB payload limit. */
export const MAX_INPUT_BYTES = 16 * 1024;

const envName = z.string().min(1).max(63);
const revision = z
  .string()
  .regex(/^(?!-)(?!.*\.\.)[A-Za-z0-9._/@^~-]{1,255}$/, 'a Git commit SHA, branch or tag');
/** Requesters and approvers: NFKC-normalised, a sane charset, compared case-insensitively (`domain/text.ts`). */
const person = personNameSchema;

/** `bootstrapEnvironment` input. */
export const bootstrapInputSchema = z.strictObject({ environment: envName, revision: revision.optional() });
/** `rolloutEnvironment` input. */
export const rolloutInputSchema = z.strictObject({
  environment: envName,
  revision,
  reason: safeTextSchema(500).optional(),
});
/** `promoteEnvironment` input. */
export const promoteInputSchema = z.strictObject({
  from: envName,
  to: envName,
  revision: revision.optional(),
  requestedBy: person.optional(),
  autoApprove: z.boolean().optional(),
  /** How long a protected environment waits for `approve` before `ApprovalTimedOut`; default 24 h. */
  approvalTimeoutSeconds: z.number().int().min(1).max(7 * 24 * 3600).optional(),
});
/** `migrateProduction` input. */
export const migrateInputSchema = z.strictObject({
  environment: z.literal('production').optional(),
  dryRun: z.boolean().optional(),
  /** Who asked for the migration; required (unless `dryRun`) since production is protected. */
  requestedBy: person.optional(),
});
/** `remediateDrift` input. */
export const driftInputSchema = z.strictObject({
  environments: z.array(envName).max(50).optional(),
  mode: z.enum(['report', 'remediate']).optional(),
});
/** Shared option: fail fast with `EnvironmentLocked` instead of waiting for the lock. */
export const lockOptionSchema = z.strictObject({
  failIfLocked: z.boolean().optional(),
  /** While queued, let a newer request of the same kind for the environment replace this one (default true). */
  supersede: z.boolean().optional(),
});

export type BootstrapInput = z.infer<typeof bootstrapInputSchema>;
export type RolloutInput = z.infer<typeof rolloutInputSchema>;
export type PromoteInput = z.infer<typeof promoteInputSchema>;
export type MigrateInput = z.infer<typeof migrateInputSchema>;
export type DriftInput = z.infer<typeof driftInputSchema>;

const diffDigest = z.string().regex(/^sha256:[0-9a-f]{64}$/, 'sha256:<64 hex digits>, as progress.awaitingApproval.digest shows it');
/** An armored SSH signature (`ssh-keygen -Y sign -n logstack-approval`) of the request's statement (`domain/approval.ts`). */
const signature = z.string().min(1).max(MAX_ARMORED_SIGNATURE);
/** The time written in the signed statement: ISO-8601 UTC, e.g. 2026-12-02T15:00:00Z. */
const signedTime = z.iso.datetime();

/** `approve` update argument. */
export const approveSchema = z.strictObject({
  by: person,
  comment: safeTextSchema(1000).optional(),
  /** The diff digest the approver saw (`progress.awaitingApproval.digest`); refused when it is not the current one. */
  digest: diffDigest.optional(),
  /** SSH signature of the statement; required where the environment has `approvals: signed`. */
  signature: signature.optional(),
  /** The statement's time; required with `signature`. */
  time: signedTime.optional(),
});
/** `reject` update argument. */
export const rejectSchema = z.strictObject({
  by: person,
  reason: safeTextSchema(1000, 1),
  /** The diff digest the approver saw; refused when it is not the current one. */
  digest: diffDigest.optional(),
  /** SSH signature of the statement (decision reject, with the reason); required where `approvals: signed`. */
  signature: signature.optional(),
  /** The statement's time; required with `signature`. */
  time: signedTime.optional(),
});
export type ApproveInput = z.infer<typeof approveSchema>;
export type RejectInput = z.infer<typeof rejectSchema>;

/** Result of every gate: names only, never secret material. */
export interface GateResult {
  readonly gate: string;
  readonly ok: boolean;
  readonly detail?: string;
}

export interface BootstrapResult {
  readonly environment: string;
  readonly bucket: string;
  readonly secretArn: string;
  readonly revision: string;
  readonly gates: readonly GateResult[];
}
export interface RolloutResult {
  readonly environment: string;
  readonly revision: string;
  readonly previousRevision: string | null;
  readonly rolledBack: boolean;
}
export interface PromoteResult {
  readonly from: string;
  readonly to: string;
  readonly revision: string;
  readonly previousRevision: string | null;
  readonly approvedBy?: string;
  readonly rolledBack: boolean;
}
export interface MigrateResult {
  readonly adopted: readonly string[];
  readonly unchanged: readonly string[];
  readonly skipped: readonly string[];
  readonly gates: readonly GateResult[];
}
export interface DriftFinding {
  readonly environment: string;
  readonly class: 'git-vs-cluster' | 'external-secrets' | 'aws' | 'operators';
  readonly object: string;
  readonly detail: string;
  readonly safeToRemediate: boolean;
}
export interface DriftResult {
  readonly findings: readonly DriftFinding[];
  readonly remediated: readonly DriftFinding[];
}

/**
 * Validates one workflow input: size first (no oversized payload is even parsed), then shape.
 * @throws DomainError `InvalidInput` listing each wrong or missing field.
 */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  let size: number;
  try {
    size = JSON.stringify(input ?? null).length;
  } catch {
    throw new DomainError({ type: FailureType.InvalidInput, message: `${what} input must be plain JSON` });
  }
  if (size > MAX_INPUT_BYTES) {
    throw new DomainError({
      type: FailureType.InvalidInput,
      message: `${what} input is ${size} bytes; the limit is ${MAX_INPUT_BYTES}. Pass names and revisions, not manifests`,
    });
  }
  const result = schema.safeParse(input);
  if (!result.success) {
    throw new DomainError({
      type: FailureType.InvalidInput,
      message: `${what} input is invalid; fix these fields:\n${formatIssues(result.error)}`,
    });
  }
  return result.data;
}
