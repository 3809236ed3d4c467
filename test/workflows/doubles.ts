/**
 * Typed activity doubles for the workflow unit tests: an in-memory world (catalog, deployed state, what is
 * live, pins) and every activity of the contract, recording each call. Tests replace single activities with
 * `world.overrides` and make gates fail with `world.gateFails`. Doubles only — never used outside test/workflows.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import {
  FailureType,
  GateKinds,
  parseCatalog,
  type AwsPlan,
  type Catalog,
  type DiffSummary,
  type DriftFinding,
  type Environment,
  type EvidenceStatement,
  type GateKind,
  type NotificationEvent,
  type NotificationTarget,
} from '../../domain/index.ts';
import type {
  DeployedState,
  GateOutcome,
  LogstackActivities,
  MigrationInventory,
} from '../../domain/activity-contract.ts';
import { createLockActivities } from '../../activities/lock/lock.ts';
import { catalogDocument, REFS } from './fixtures.ts';

/** One recorded activity call. */
export interface ActivityCall {
  readonly name: keyof LogstackActivities;
  readonly workflowId: string;
  readonly attempt: number;
  readonly environment?: string;
  readonly revision?: string;
  readonly summary?: string;
  /** Selected input fields (dryRun, prune, overlay, phase, objects …). */
  readonly input: Readonly<Record<string, unknown>>;
}

/** Activities that only read; everything else counts as a side effect. `applyOverlay` with `dryRun` reads too. */
export const READ_ONLY_ACTIVITIES: ReadonlySet<keyof LogstackActivities> = new Set([
  'loadCatalog',
  'acquireLock',
  'releaseLock',
  'awaitLockHolderClose',
  'renderOverlay',
  'readDeployedState',
  'resolveRevision',
  'inventoryLiveObjects',
  'scanDrift',
  'planAws',
]);

/** True when the call changed something (or could have). */
export function isSideEffect(call: ActivityCall): boolean {
  return !READ_ONLY_ACTIVITIES.has(call.name) && !(call.name === 'applyOverlay' && call.input['dryRun'] === true);
}

const EMPTY_DIFF: DiffSummary = {
  created: [],
  changed: ['LokiStack/openshift-logging/logging-loki'],
  unchanged: 11,
  toBeDeleted: [],
  destructive: [],
  digest: `sha256:${'5'.repeat(64)}`,
};

/** An AWS plan with nothing to change. */
function noAwsChanges(environment: string, revision: string): AwsPlan {
  return { environment, revision, changes: [], destructive: [], unchanged: 14 };
}

/** The activities with plain or promised results: what a double (or a test's override) implements. */
export type ActivityBehaviour = {
  [K in keyof LogstackActivities]: (
    ...args: Parameters<LogstackActivities[K]>
  ) => Awaited<ReturnType<LogstackActivities[K]>> | ReturnType<LogstackActivities[K]>;
};

/** The mutable world the doubles act on. `reset()` between tests. */
export class DoubleWorld {
  catalog: Catalog = parseCatalog(catalogDocument());
  readonly deployed = new Map<string, DeployedState>();
  /** What each environment really runs (set by apply, or by pin for Argo CD delivery). */
  readonly live = new Map<string, string>();
  readonly pinned = new Map<string, string>();
  readonly calls: ActivityCall[] = [];
  overrides: Partial<ActivityBehaviour> = {};
  /** Decides whether a gate fails for what the environment runs at that moment. */
  gateFails: (gate: GateKind, environment: string, live: string | undefined) => boolean = () => false;
  diff: DiffSummary = EMPTY_DIFF;
  inventory: MigrationInventory = { objects: [] };
  findings = new Map<string, DriftFinding[]>();
  /** The statements `recordEvidence` was given, in order. */
  readonly evidence: EvidenceStatement[] = [];
  /** The AWS plan `planAws` returns (default: nothing to change); tests set one with changes. */
  awsPlan: (environment: string, revision: string) => AwsPlan = noAwsChanges;
  /** What `notify` was asked to send (every attempt), in order. */
  readonly notifications: { readonly target: NotificationTarget; readonly event: NotificationEvent; readonly attempt: number }[] = [];

  /** Back to a fresh world with the fixture catalog. */
  reset(): void {
    this.catalog = parseCatalog(catalogDocument());
    this.deployed.clear();
    this.live.clear();
    this.pinned.clear();
    this.calls.length = 0;
    this.overrides = {};
    this.gateFails = () => false;
    this.diff = EMPTY_DIFF;
    this.inventory = { objects: [] };
    this.findings = new Map();
    this.evidence.length = 0;
    this.awsPlan = noAwsChanges;
    this.notifications.length = 0;
  }

  /** Edits the catalog document and re-validates it, as `loadCatalog` would. */
  editCatalog(edit: (doc: ReturnType<typeof catalogDocument>) => void): void {
    const doc = catalogDocument();
    edit(doc);
    this.catalog = parseCatalog(doc);
  }

  /** Records a verified deployment, as an earlier successful rollout would have left it. */
  verified(environment: string, revision: string, previousRevision: string | null = null): void {
    this.deployed.set(environment, {
      environment,
      revision,
      verified: true,
      verifiedAt: '2026-01-01T00:00:00.000Z',
      previousRevision,
    });
    this.live.set(environment, revision);
    this.pinned.set(environment, revision);
  }

  /** Calls made by one workflow, by activity name. */
  namesFor(workflowId: string): string[] {
    return this.calls.filter((c) => c.workflowId === workflowId).map((c) => c.name);
  }
}

interface InputLike {
  readonly environment?: Environment;
  readonly revision?: string;
  readonly commit?: string;
  readonly [key: string]: unknown;
}

function record(world: DoubleWorld, name: keyof LogstackActivities, input: InputLike | undefined): void {
  const ctx = Context.current();
  const { environment, revision, commit, ...rest } = input ?? {};
  const call: ActivityCall = {
    name,
    workflowId: ctx.info.workflowExecution?.workflowId ?? '(standalone)',
    attempt: ctx.info.attempt,
    ...(environment ? { environment: environment.name } : {}),
    ...((revision ?? commit) ? { revision: revision ?? commit } : {}),
    input: rest,
  };
  world.calls.push(call);
}

const gateOutcome = (gate: GateKind, detail: string): GateOutcome => ({ gate, ok: true, detail, waitedMs: 1500 });

function gateFailure(gate: GateKind, environment: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(
    `${gate} did not become ready in ${environment}: LokiStack condition Degraded=True (PendingComponents)`,
    FailureType.GateFailed,
    {
      gate,
      environment,
    },
  );
}

/**
 * Creates the typed doubles of every activity in {@link LogstackActivities}, acting on `world`.
 * Each call is recorded first; an override in `world.overrides` then replaces the default behaviour.
 */
export function createActivityDoubles(world: DoubleWorld): LogstackActivities {
  const gate =
    (kind: GateKind, detail: string) =>
    ({ environment }: { environment: Environment }): GateOutcome => {
      if (world.gateFails(kind, environment.name, world.live.get(environment.name)))
        throw gateFailure(kind, environment.name);
      return gateOutcome(kind, detail);
    };

  // The lock's activities are the real ones: they only talk to the test server, through the worker's client.
  const lock = createLockActivities();
  const defaults: ActivityBehaviour = {
    loadCatalog: () => world.catalog,
    acquireLock: (input) => lock.acquireLock(input),
    releaseLock: (input) => lock.releaseLock(input),
    awaitLockHolderClose: (input) => lock.awaitLockHolderClose(input),
    ensureBucket: ({ environment }) => ({ bucket: environment.aws.bucket, created: false, changed: [] }),
    ensureLokiCredentials: ({ environment }) => ({
      mode: environment.aws.credentialMode,
      principalArn: `arn:aws:iam::000000000000:${environment.aws.credentialMode === 'static' ? 'user' : 'role'}/logstack-${environment.name}-loki`,
      created: false,
    }),
    seedLokiSecret: ({ environment }) => ({
      secretArn: `arn:aws:secretsmanager:${environment.aws.region}:000000000000:secret:${environment.aws.secretName}-Ab12Cd`,
      versionId: 'c0ffee00-0000-4000-8000-000000000001',
      sha256: 'ab'.repeat(32),
      changed: false,
    }),
    planAws: ({ environment, revision }) => world.awsPlan(environment.name, revision),
    approvePinnedInstallPlans: () => ({ approved: [], leftForAPerson: [] }),
    waitForSecretStoreReady: () =>
      gateOutcome(GateKinds.externalSecretsSynced, 'ClusterSecretStore logstack-aws Ready'),
    ensureStoreCredential: ({ environment }) => ({
      namespace: 'external-secrets',
      name: environment.aws.credentialMode === 'static' ? 'logstack-aws-store' : 'none',
      created: false,
    }),
    renderOverlay: ({ revision }) => ({
      commit: revision,
      digest: 'sha256:' + 'cd'.repeat(32),
      objects: 12,
      kinds: { LokiStack: 1 },
    }),
    applyOverlay: ({ environment, revision, overlay, dryRun, prune }) => {
      if (!dryRun && (overlay ?? environment.overlay) === environment.overlay)
        world.live.set(environment.name, revision);
      const diff = dryRun ? world.diff : prune ? { ...EMPTY_DIFF, changed: [] } : EMPTY_DIFF;
      return { commit: revision, digest: 'sha256:' + 'cd'.repeat(32), applied: dryRun ? 0 : 12, diff };
    },
    readDeployedState: ({ environment }) => world.deployed.get(environment.name) ?? null,
    recordDeployedState: ({ environment, revision, verified, previousRevision }) => {
      const state: DeployedState = {
        environment: environment.name,
        revision,
        verified,
        verifiedAt: verified ? new Date().toISOString() : null,
        previousRevision,
      };
      world.deployed.set(environment.name, state);
      return state;
    },
    waitForExternalSecretSynced: gate(
      GateKinds.externalSecretsSynced,
      'ExternalSecret logging-loki-s3 SecretSynced; 5 keys',
    ),
    waitForArgoAppAtRevision: ({ environment, revision }) => {
      if (world.gateFails(GateKinds.argoAppAtRevision, environment.name, world.live.get(environment.name))) {
        throw gateFailure(GateKinds.argoAppAtRevision, environment.name);
      }
      return gateOutcome(GateKinds.argoAppAtRevision, `Synced at ${revision.slice(0, 7)}, Healthy`);
    },
    waitForOperatorsSucceeded: gate(
      GateKinds.operatorsSucceeded,
      'loki-operator.v6.2.0, cluster-logging.v6.2.0 Succeeded',
    ),
    waitForLokiStackReady: gate(GateKinds.lokiStackReady, 'LokiStack logging-loki Ready'),
    waitForLogForwarderReady: gate(GateKinds.logForwarderReady, 'ClusterLogForwarder Authorized, Valid, Ready'),
    resolveRevision: ({ revision }) => {
      const commit = /^[0-9a-f]{40}$/.test(revision) ? revision : REFS[revision];
      if (!commit)
        throw ApplicationFailure.nonRetryable(
          `revision "${revision}" does not exist on the GitOps remote`,
          FailureType.InvalidInput,
        );
      return { commit };
    },
    pinRevision: ({ environment, commit }) => {
      const changed = world.pinned.get(environment.name) !== commit;
      world.pinned.set(environment.name, commit);
      world.live.set(environment.name, commit);
      return { pinCommit: 'e'.repeat(40), changed };
    },
    inventoryLiveObjects: () => world.inventory,
    adoptObjects: ({ objects }) => ({ adopted: objects, unchanged: [] }),
    scanDrift: ({ environment }) => world.findings.get(environment.name) ?? [],
    remediateFinding: ({ finding }) => ({ remediated: true, detail: `fixed ${finding.object}` }),
    // Signing and storing are the activity's (test/activities/evidence.test.ts); the double keeps the statement.
    recordEvidence: ({ environment, statement }) => {
      world.evidence.push(statement);
      return { envelope: JSON.stringify(statement), keyid: 'double', sha256: '0'.repeat(64), location: environment.evidence ? { s3: { bucket: environment.evidence.bucket, key: `${environment.name}/${statement.predicate.workflow.id}` } } : {} };
    },
    // Rendering and delivery are the activity's (test/activities/notify.test.ts); the double keeps what it was asked to send.
    notify: ({ target, event }) => {
      const attempt = Context.current().info.attempt;
      world.notifications.push({ target, event, attempt });
      return { status: 200, attempt };
    },
  };

  const doubles = {} as Record<keyof LogstackActivities, (input?: InputLike) => Promise<unknown>>;
  for (const name of Object.keys(defaults) as (keyof LogstackActivities)[]) {
    doubles[name] = async (input?: InputLike) => {
      // The lock's watch of its holder belongs to the lock workflow, not to the run a test looks at.
      if (name !== 'awaitLockHolderClose') record(world, name, input);
      const impl = (world.overrides[name] ?? defaults[name]) as (input?: InputLike) => unknown;
      return await impl(input);
    };
  }
  return doubles as unknown as LogstackActivities;
}

/**
 * A gate double that watches like the real one (heartbeating) for as long as the environment runs
 * `blockedRevision` and the activity is not cancelled; then it stops. Passes at once for other revisions.
 * It ends as soon as a rollback moves the environment, so it never completes after its workflow closed.
 */
export function watchWhileLive(world: DoubleWorld, gate: GateKind, blockedRevision: string) {
  return async ({ environment }: { environment: Environment }): Promise<GateOutcome> => {
    const ctx = Context.current();
    if (world.live.get(environment.name) !== blockedRevision) return gateOutcome(gate, 'Ready');
    while (!ctx.cancellationSignal.aborted && world.live.get(environment.name) === blockedRevision) {
      ctx.heartbeat();
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error('watch stopped');
  };
}

/**
 * An `applyOverlay` double the API server's admission rejects (`ManifestRejected`) for `revision`, before
 * anything is written; other revisions apply as usual.
 */
export function rejectApplyOf(revision: string): ActivityBehaviour['applyOverlay'] {
  return (input) => {
    if (input.revision === revision) {
      throw ApplicationFailure.nonRetryable(
        'LokiStack.loki.grafana.com "logging-loki" is invalid: spec.size: Unsupported value',
        FailureType.ManifestRejected,
      );
    }
    return {
      commit: input.revision,
      digest: 'sha256:00',
      applied: 12,
      diff: { created: [], changed: [], unchanged: 12, toBeDeleted: [], destructive: [], digest: `sha256:${'6'.repeat(64)}` },
    };
  };
}
