import { z } from 'zod';
import { DomainError, FailureType } from './failures.ts';
import { formatIssues } from './environments.ts';
import { personNameSchema, safeTextSchema } from './text.ts';
import { MAX_ARMORED_SIGNATURE } from './sshsig.ts';
import { once } from './once.ts';

/** Largest accepted workflow input, in bytes of JSON — far below Temporal's 2 MB payload limit. */
export const MAX_INPUT_BYTES = 16 * 1024;

/*
 * Every schema here is built on first use ({@link once}): a workflow parses only its own input (and an approval
 * its decision), while the workflow worker evaluates this module again for every workflow it caches — an
 * environment lock, half of a busy worker's cache, parses none of them.
 */
const envName = once(() => z.string().min(1).max(63));
const revision = once(() =>
  z.string().regex(/^(?!-)(?!.*\.\.)[A-Za-z0-9._/@^~-]{1,255}$/, 'a Git commit SHA, branch or tag'),
);
/** Requesters and approvers: NFKC-normalised, a sane charset, compared case-insensitively (`domain/text.ts`). */
const person = personNameSchema;

/** `bootstrapEnvironment` input. */
export const bootstrapInputSchema = once(() =>
  z.strictObject({ environment: envName(), revision: revision().optional() }),
);
/** `rolloutEnvironment` input. */
export const rolloutInputSchema = once(() =>
  z.strictObject({
    environment: envName(),
    revision: revision(),
    reason: safeTextSchema(500).optional(),
  }),
);
/** `promoteEnvironment` input. */
export const promoteInputSchema = once(() =>
  z.strictObject({
    from: envName(),
    to: envName(),
    revision: revision().optional(),
    requestedBy: person().optional(),
    autoApprove: z.boolean().optional(),
    /** How long a protected environment waits for `approve` before `ApprovalTimedOut`; default 24 h. */
    approvalTimeoutSeconds: z.number().int().min(1).max(7 * 24 * 3600).optional(),
  }),
);
/** `migrateProduction` input. */
export const migrateInputSchema = once(() =>
  z.strictObject({
    environment: z.literal('production').optional(),
    dryRun: z.boolean().optional(),
    /** Who asked for the migration; required (unless `dryRun`) since production is protected. */
    requestedBy: person().optional(),
  }),
);
/** `remediateDrift` input. */
export const driftInputSchema = once(() =>
  z.strictObject({
    environments: z.array(envName()).max(50).optional(),
    mode: z.enum(['report', 'remediate']).optional(),
  }),
);
/** Shared option: fail fast with `EnvironmentLocked` instead of waiting for the lock. */
export const lockOptionSchema = once(() =>
  z.strictObject({
    failIfLocked: z.boolean().optional(),
    /** While queued, let a newer request of the same kind for the environment replace this one (default true). */
    supersede: z.boolean().optional(),
  }),
);

export type BootstrapInput = z.infer<ReturnType<typeof bootstrapInputSchema>>;
export type RolloutInput = z.infer<ReturnType<typeof rolloutInputSchema>>;
export type PromoteInput = z.infer<ReturnType<typeof promoteInputSchema>>;
export type MigrateInput = z.infer<ReturnType<typeof migrateInputSchema>>;
export type DriftInput = z.infer<ReturnType<typeof driftInputSchema>>;

/** The pieces of an approval decision both `approve` and `reject` carry. */
const decisionFields = once(() => ({
  /** The diff digest the approver saw (`progress.awaitingApproval.digest`); refused when it is not the current one. */
  digest: z
    .string()
    .regex(/^sha256:[0-9a-f]{64}$/, 'sha256:<64 hex digits>, as progress.awaitingApproval.digest shows it')
    .optional(),
  /** An armored SSH signature (`ssh-keygen -Y sign -n logstack-approval`) of the request's statement (`domain/approval.ts`); required where the environment has `approvals: signed`. */
  signature: z.string().min(1).max(MAX_ARMORED_SIGNATURE).optional(),
  /** The time written in the signed statement, ISO-8601 UTC (e.g. 2026-12-02T15:00:00Z); required with `signature`. */
  time: z.iso.datetime().optional(),
}));

/** `approve` update argument. */
export const approveSchema = once(() =>
  z.strictObject({
    by: person(),
    comment: safeTextSchema(1000).optional(),
    ...decisionFields(),
  }),
);
/** `reject` update argument (the signature covers decision reject, with the reason). */
export const rejectSchema = once(() =>
  z.strictObject({
    by: person(),
    reason: safeTextSchema(1000, 1),
    ...decisionFields(),
  }),
);
export type ApproveInput = z.infer<ReturnType<typeof approveSchema>>;
export type RejectInput = z.infer<ReturnType<typeof rejectSchema>>;

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
