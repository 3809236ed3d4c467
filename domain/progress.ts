import type { AwsPlan, AwsPlanUnavailable } from './aws-plan.ts';

/** Status of one named step as shown by the `progress` query, the CLI and the Web UI. */
export const StepStatus = {
  pending: 'pending',
  running: 'running',
  succeeded: 'succeeded',
  failed: 'failed',
  skipped: 'skipped',
  compensated: 'compensated',
} as const;
export type StepStatus = (typeof StepStatus)[keyof typeof StepStatus];

/** One step of a workflow run. Times are ISO-8601 strings from workflow time. */
export interface StepProgress {
  readonly name: string;
  readonly status: StepStatus;
  readonly startedAt?: string;
  readonly endedAt?: string;
  readonly detail?: string;
}

/** What the `progress` query returns at any moment. */
export interface Progress {
  readonly phase: string;
  readonly steps: readonly StepProgress[];
  readonly awaitingApproval?: {
    readonly environment: string;
    readonly requestedBy?: string;
    readonly approvers: readonly string[];
    /** Dry-run diff summary of what the target will change. */
    readonly diff?: DiffSummary;
    /** The digest an approval must name (`diff.digest`): approving means approving exactly this change. */
    readonly digest?: string;
    /** True when an earlier approval was given for a change that is no longer what would be applied. */
    readonly changedSinceApproval?: boolean;
    readonly deadline?: string;
    /** `signed` when a decision must carry an SSH signature of its statement; `named` when names alone decide. */
    readonly approvals?: 'signed' | 'named';
    /** What the approval statement binds (`domain/approval.ts`): this workflow's ID and run, and the full commit. */
    readonly workflowId?: string;
    readonly runId?: string;
    readonly revision?: string;
    /** Workflow time the request was shown: a signed time may not be earlier (less one minute of clock skew). */
    readonly shownAt?: string;
    /**
     * What AWS convergence would change for the target (`planAws`, read-only), destructive changes flagged; or why
     * it could not be read. Shown, not signed: the approval's digest covers the Kubernetes diff only (a promotion
     * writes nothing in AWS). Absent in runs started before the `aws-plan` patch.
     */
    readonly aws?: AwsPlan | AwsPlanUnavailable;
  };
}

/** Counts of a server-side dry-run diff; object names only, never contents. */
export interface DiffSummary {
  readonly created: readonly string[];
  readonly changed: readonly string[];
  readonly unchanged: number;
  readonly toBeDeleted: readonly string[];
  /** Changes that lose data or availability (deletions, immutable-field replacement, storage changes). */
  readonly destructive: readonly string[];
  /**
   * `sha256:<hex>` over what would change: each created or changed object as it would become and as the cluster
   * holds it now, and each object to delete. An approval names it; a different digest is a different change.
   */
  readonly digest: string;
}
