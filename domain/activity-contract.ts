import type { Catalog, Environment, GateKind } from './environments.ts';
import type { DriftFinding } from './inputs.ts';
import type { DiffSummary } from './progress.ts';
import type { AcquireAnswer, HolderWatchOutcome, LockRelease, LockRequest, LockRun, ReleaseOutcome } from './lock.ts';
import type { EvidenceLocation, EvidenceStatement } from './evidence.ts';
import type { AwsPlan } from './aws-plan.ts';
import type { NotificationEvent, NotificationTarget } from './notifications.ts';

/**
 * The activity surface the workflows orchestrate — the one contract between `workflows/` (which
 * imports it as a type only) and the implementations in `activities/`, kept here so that neither of
 * those rooms imports the other. Every activity is idempotent, returns no secret material (ARNs,
 * versions, hashes and names only), heartbeats while it waits and stops on cancellation.
 * Input-at-fault errors are non-retryable `ApplicationFailure`s whose `type` is a `FailureType`.
 */
export interface LogstackActivities {
  // ── catalog ──────────────────────────────────────────────────────────────────────────────
  /** Reads and validates the configured environment catalog. Read-only. Fails `InvalidInput` when the file breaks the schema. */
  loadCatalog(): Promise<Catalog>;

  // ── the environment lock (through the Temporal client) ──────────────────────────────────
  /** Asks `lock-<env>` for the lease by update-with-start on the lock task queue. Idempotent per request ID. */
  acquireLock(input: { request: LockRequest }): Promise<AcquireAnswer>;
  /** Signals `lock-<env>` the holder's release (or a waiting request's withdrawal); `no-lock` when the lock is not running. */
  releaseLock(input: { environment: string; release: LockRelease }): Promise<ReleaseOutcome>;
  /** Run by the lock: returns when the holder's run closes (for any reason), at once when it is not a requester, or once the lease is released. */
  awaitLockHolderClose(input: { environment: string; holder: LockRun & { workflowType: string; grantedAt: string } }): Promise<HolderWatchOutcome>;

  // ── AWS ──────────────────────────────────────────────────────────────────────────────────
  /** Creates the bucket if absent and converges encryption, versioning, public-access block, TLS-only policy, lifecycle and tags. `Conflict` when owned elsewhere. */
  ensureBucket(input: { environment: Environment }): Promise<{ bucket: string; created: boolean; changed: string[] }>;
  /** Ensures the IAM user (static) or role trusting the cluster OIDC issuer (sts) with a policy scoped to the bucket. */
  ensureLokiCredentials(input: { environment: Environment }): Promise<{ mode: 'static' | 'sts'; principalArn: string; created: boolean }>;
  /**
   * Writes the Loki-shaped JSON into Secrets Manager (static: creates an access key only when the stored one is
   * missing or invalid, removing keys it no longer references; sts: role_arn). Puts a version only when content changed.
   */
  seedLokiSecret(input: { environment: Environment; principalArn: string }): Promise<{ secretArn: string; versionId: string; sha256: string; changed: boolean }>;
  /**
   * Read-only (Get/List/Head/Describe calls only): what the AWS convergence of the environment would change — bucket
   * retention, versioning, encryption, public-access block, TLS-only statement; the Loki principal's and the ESO
   * reader's policy documents statement by statement; the Loki secret's key names — destructive changes flagged. A
   * missing resource is `create`; one not logstack's is `conflict`. Names and key names only, never a value.
   */
  planAws(input: { environment: Environment; revision: string }): Promise<AwsPlan>;

  // ── Kubernetes: bootstrap, render, apply, state ─────────────────────────────────────────
  /**
   * ESO's identity on the environment's cluster, one per environment (`logstack-<env>-secrets-reader`, allowed to
   * read that environment's secrets only). Static: the reader IAM user and its one access key, written as the
   * store credential Secret (never in Git or history; the worker's own key never). Sts: the reader IAM role (web
   * identity, exact `:sub`/`:aud`) and the store service account's role-ARN annotation. Names and ARNs only.
   */
  ensureStoreCredential(input: { environment: Environment }): Promise<{ namespace: string; name: string; created: boolean; principalArn?: string; rotated?: boolean }>;
  /** Renders `overlay` of the GitOps repo at `revision` with kustomize. Returns digest and counts only. `OperatorRuleViolation` when the environment's own overlay breaks an operator rule (domain/operator-rules/). */
  renderOverlay(input: { environment: Environment; revision: string; overlay?: string }): Promise<{ commit: string; digest: string; objects: number; kinds: Record<string, number> }>;
  /**
   * Server-side applies the rendered overlay (field manager `logstack`, inventory label). `dryRun` returns the diff
   * summary only. Prunes only labelled objects, and only when `prune` is true. `ManifestRejected` with the server's message;
   * `OperatorRuleViolation` before any request when the environment's own overlay breaks an operator rule.
   */
  applyOverlay(input: { environment: Environment; revision: string; overlay?: string; dryRun?: boolean; prune?: boolean }): Promise<{ commit: string; digest: string; applied: number; diff: DiffSummary }>;
  /** Reads the deployed-revision record kept in the cluster (`logstack-system` ConfigMap). */
  readDeployedState(input: { environment: Environment }): Promise<DeployedState | null>;
  /** Writes the deployed-revision record. Idempotent for the same content. */
  recordDeployedState(input: { environment: Environment; revision: string; verified: boolean; previousRevision: string | null }): Promise<DeployedState>;

  // ── gates (watch-driven, heartbeating, cancellable) ─────────────────────────────────────
  /** Forces an ESO refresh, then waits for store Ready, ExternalSecret SecretSynced after the force, and the exact keys. */
  waitForExternalSecretSynced(input: { environment: Environment; timeoutSeconds?: number }): Promise<GateOutcome>;
  /** Bootstrap gate: every ClusterSecretStore logstack applied is Ready (ESO reaches Secrets Manager). */
  waitForSecretStoreReady(input: { environment: Environment; timeoutSeconds?: number }): Promise<GateOutcome>;
  /** Refreshes the Argo CD Application, then waits for Synced at `revision`, Healthy, last operation Succeeded; fails fast on Degraded. */
  waitForArgoAppAtRevision(input: { environment: Environment; revision: string; timeoutSeconds?: number }): Promise<GateOutcome>;
  /** Waits for every Subscription's installed CSV (or only `subscriptions`, as `namespace/name`) to reach phase Succeeded. */
  waitForOperatorsSucceeded(input: { environment: Environment; timeoutSeconds?: number; subscriptions?: readonly string[] }): Promise<GateOutcome>;
  /** Approves Manual InstallPlans only where they install exactly the Subscription's pinned `startingCSV`. */
  approvePinnedInstallPlans(input: { environment: Environment }): Promise<{ approved: string[]; leftForAPerson: string[] }>;
  /** Waits for LokiStack Ready=True. */
  waitForLokiStackReady(input: { environment: Environment; timeoutSeconds?: number }): Promise<GateOutcome>;
  /** Waits for every ClusterLogForwarder in the Loki namespace (or only `name`) to have Authorized, Valid and Ready = True. */
  waitForLogForwarderReady(input: { environment: Environment; timeoutSeconds?: number; name?: string }): Promise<GateOutcome>;

  // ── Git ──────────────────────────────────────────────────────────────────────────────────
  /** Resolves a tag, branch or (short) SHA on the GitOps remote to a full commit. `InvalidInput` when unknown. */
  resolveRevision(input: { revision: string }): Promise<{ commit: string }>;
  /** Pins an environment to `commit` in Git (commit + push). Idempotent: no commit when already pinned. `OperatorRuleViolation` before any push when the overlay at `commit` breaks an operator rule. */
  pinRevision(input: { environment: Environment; commit: string }): Promise<{ pinCommit: string; changed: boolean }>;

  // ── migration and drift ──────────────────────────────────────────────────────────────────
  /** Lists live objects of the environment and who manages them (script / client-side apply / logstack). Read-only. */
  inventoryLiveObjects(input: { environment: Environment; revision: string }): Promise<MigrationInventory>;
  /** Adopts script-managed objects without deleting: ESO Merge-then-Owner for the Secret, server-side apply takes field ownership. */
  adoptObjects(input: { environment: Environment; revision: string; objects: string[]; phase: 'merge' | 'own' }): Promise<{ adopted: string[]; unchanged: string[] }>;
  /** Classifies drift for one environment (Git vs cluster, ESO, AWS, operators). Read-only. */
  scanDrift(input: { environment: Environment }): Promise<DriftFinding[]>;
  /** Fixes one finding classified as safe. Idempotent. */
  remediateFinding(input: { environment: Environment; finding: DriftFinding }): Promise<{ remediated: boolean; detail: string }>;

  // ── evidence ─────────────────────────────────────────────────────────────────────────────
  /**
   * Signs `statement` with the worker's evidence key (DSSE envelope, ed25519) and stores it: in the
   * environment's S3 evidence location (created owned, versioned, object-locked; written once, `Conflict` when
   * the key holds other bytes) and, for Argo CD delivery, as `evidence/<env>/<workflowId>.intoto.json` beside
   * the pins. Idempotent: signing is deterministic, so a retry stores the same bytes. Returns the envelope text.
   */
  recordEvidence(input: { environment: Environment; statement: EvidenceStatement }): Promise<RecordedEvidence>;

  // ── notifications ────────────────────────────────────────────────────────────────────────
  /**
   * Sends `event` to one of the environment's notification targets, rendered in the target's format: reads the
   * URL at delivery time (the catalog's `url`, a `LOGSTACK_NOTIFY_…` worker variable, or a Secrets Manager
   * secret), POSTs the JSON with a 10-second timeout, and never logs or returns the URL. Fails retryable
   * (`NotificationFailed`) on a timeout, a network error, 429 or 5xx; non-retryable on any other 4xx or a URL
   * that cannot be used.
   */
  notify(input: { environment: Environment; target: NotificationTarget; event: NotificationEvent }): Promise<NotifyOutcome>;
}

/** What `notify` delivered: the receiver's HTTP status and the attempt that succeeded (never the URL). */
export interface NotifyOutcome {
  readonly status: number;
  readonly attempt: number;
}

/** What `recordEvidence` stored: the envelope text, its key id and SHA-256, and where it is. */
export interface RecordedEvidence {
  readonly envelope: string;
  readonly keyid: string;
  readonly sha256: string;
  readonly location: EvidenceLocation;
}

/** The deployed-revision record of one environment. */
export interface DeployedState {
  readonly environment: string;
  readonly revision: string;
  readonly verified: boolean;
  readonly verifiedAt: string | null;
  readonly previousRevision: string | null;
}

/** The result of a gate. `detail` names conditions, never secret values. */
export interface GateOutcome {
  readonly gate: GateKind;
  readonly ok: true;
  readonly detail: string;
  /** Milliseconds between the activity's start and the condition being observed. */
  readonly waitedMs: number;
}

/** What exists in a cluster before migration, and who manages it. */
export interface MigrationInventory {
  readonly objects: readonly { readonly ref: string; readonly managedBy: 'script' | 'client-side-apply' | 'logstack' | 'absent' }[];
}
