/**
 * The rows of the bad-input table, grouped by what is wrong: every workflow type and the CLI, each fed an
 * input that is wrong in one way. Each group runs in a `bad-inputs-<group>.test.ts` file of its own
 * (test/reliability/bad-inputs-table.ts runs a group); `bad-inputs-coverage.test.ts` checks the groups
 * together cover every workflow type and the CLI.
 *
 * The catalog edits and set-ups some rows share are here too: a set-up runs after the row's catalog is in
 * place and before the "before" inventory.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Document } from 'yaml';
import { FailureType, MAX_INPUT_BYTES, WorkflowTypes } from '../../domain/index.ts';
import { approveUpdate, progressQuery, rejectUpdate } from '../../workflows/messages.ts';
import { knownGoodRevision } from '../worker/sandbox-runs.ts';
import { outcomeOf, type BadInputs, type CatalogEdit, type Outcome } from './bad-inputs-context.ts';
import { checkRow, ctx, type Row } from './bad-inputs-table.ts';

const execFileAsync = promisify(execFile);

// ── catalogs ──────────────────────────────────────────────────────────────────────────────

const FREEZE_REASON = 'quarter-end close';

/** A freeze window on production around now. */
const freezeProduction: CatalogEdit = (doc) => {
  const hour = 3600_000;
  const window = {
    start: new Date(Date.now() - hour).toISOString(),
    end: new Date(Date.now() + hour).toISOString(),
    reason: FREEZE_REASON,
  };
  doc.setIn(['environments', environmentIndex(doc, 'production'), 'freezeWindows'], doc.createNode([window]));
};

function environmentIndex(doc: Document, name: string): number {
  const list = doc.toJS() as { environments: { name: string }[] };
  const i = list.environments.findIndex((e) => e.name === name);
  if (i < 0) throw new Error(`the sandbox catalog has no ${name}`);
  return i;
}

/** Environment `qa` on the dev cluster with its own AWS names, never bootstrapped (no deployed state). */
function addQa(doc: Document, order: string[], overlay = 'gitops/overlays/dev'): void {
  doc.set('promotionOrder', doc.createNode(order));
  doc.addIn(
    ['environments'],
    doc.createNode({
      name: 'qa',
      cluster: { context: 'logstack-dev', oidcIssuer: 'oidc.qa.logstack.sandbox' },
      aws: {
        region: 'us-east-1',
        bucket: 'logstack-qa-bad-inputs',
        secretName: 'logstack/qa-bad-inputs/loki-s3',
        credentialMode: 'sts',
        principalName: 'logstack-qa-bad-inputs',
      },
      overlay,
      delivery: 'direct',
      loki: { size: '1x.demo' },
      gates: ['external-secrets-synced'],
      retentionDays: 7,
    }),
  );
}

/** Production with one approver: breaks the four-eyes rule of the catalog schema. */
const oneApprover: CatalogEdit = (doc) => {
  doc.setIn(['environments', environmentIndex(doc, 'production'), 'approvers'], doc.createNode(['alice']));
};

// ── set-ups ───────────────────────────────────────────────────────────────────────────────

/** Bootstraps `env` at a known-good revision unless it is verified already (a fresh sandbox). */
async function ensureVerified(env: string): Promise<Record<string, string>> {
  const state = await ctx().deployedState(env);
  if (state['verified'] === 'true' && state['revision']) return state;
  const outcome = await ctx().run(WorkflowTypes.bootstrapEnvironment, {
    environment: env,
    revision: await knownGoodRevision(ctx().sandbox, env),
  });
  assert.equal(outcome.type, undefined, `set-up: bootstrapping ${env} failed: ${outcome.message}`);
  return ctx().deployedState(env);
}

/**
 * Makes staging → production a promotion that reaches the approval: staging verified at a commit
 * production does not run verified. When both run the same commit, a commit that changes no manifest
 * (the GitOps README) is pushed and rolled out to staging.
 */
async function ensurePromotableToProduction(): Promise<void> {
  const staging = await ensureVerified('staging');
  const production = await ctx().deployedState('production');
  if (production['verified'] !== 'true' || production['revision'] !== staging['revision']) return;
  const commit = await ctx().pushCommit(
    'main',
    (dir) => {
      const readme = join(dir, 'gitops', 'README.md');
      writeFileSync(readme, `${readFileSync(readme, 'utf8')}\n<!-- reviewed ${new Date().toISOString()} -->\n`);
    },
    'GitOps README: review note',
  );
  const outcome = await ctx().run(WorkflowTypes.rolloutEnvironment, {
    environment: 'staging',
    revision: commit,
    reason: 'set-up: a revision to promote',
  });
  assert.equal(outcome.type, undefined, `set-up: rolling staging out to ${commit} failed: ${outcome.message}`);
}

/**
 * A promotion whose source stage is verified (dev → staging, else staging → production; dev is bootstrapped
 * when neither is), and a commit of the GitOps remote that is not the one verified there.
 */
async function promotionWithUnverifiedCommit(): Promise<{ from: string; to: string; commit: string }> {
  const candidates = [
    { from: 'dev', to: 'staging' },
    { from: 'staging', to: 'production' },
  ];
  let chosen: { from: string; to: string; verified: string } | undefined;
  for (const { from, to } of candidates) {
    const state = await ctx().deployedState(from);
    if (state['verified'] === 'true' && state['revision']) {
      chosen = { from, to, verified: state['revision'] };
      break;
    }
  }
  chosen ??= { from: 'dev', to: 'staging', verified: (await ensureVerified('dev'))['revision'] ?? '' };
  const { stdout } = await execFileAsync('git', ['-C', ctx().sandbox.git.remote, 'rev-list', '--max-count=20', 'main']);
  const verified = chosen.verified;
  const commit = stdout
    .trim()
    .split('\n')
    .find((c) => c && c !== verified);
  if (!commit) throw new Error('the GitOps remote has a single commit');
  return { from: chosen.from, to: chosen.to, commit };
}

/** Waits until `handle`'s progress shows it waiting for approval. */
async function untilAwaitingApproval(handle: Awaited<ReturnType<BadInputs['start']>>): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const progress = await handle.query(progressQuery).catch(() => undefined);
    if (progress?.awaitingApproval) return;
    const description = await handle.describe();
    if (description.status.name !== 'RUNNING') {
      const failure = await handle.result().then(
        () => 'completed',
        (error: unknown) => outcomeOf(error).message,
      );
      throw new Error(`the promotion ended before waiting for approval: ${failure}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error('the promotion did not reach its approval within 150 s');
}

const update = async (call: Promise<unknown>): Promise<Outcome> =>
  call.then(
    () => ({ message: 'the update was accepted' }),
    (error: unknown) => outcomeOf(error),
  );

const UNKNOWN_SHA = '0123456789abcdef0123456789abcdef01234567';
const BROKEN_BRANCH = `bad-inputs-broken-${process.pid}`;
/** Set up by their rows before the "before" inventory. */
let brokenCommit = '';
let unverified = { from: '', to: '', commit: '' };

// ── the rows, by what they get wrong ──────────────────────────────────────────────────────

const bootstrap = WorkflowTypes.bootstrapEnvironment;
const rollout = WorkflowTypes.rolloutEnvironment;
const promote = WorkflowTypes.promoteEnvironment;
const migrate = WorkflowTypes.migrateProduction;
const drift = WorkflowTypes.remediateDrift;

/** Inputs of the wrong shape: missing, unknown and wrongly typed fields, a malformed revision, an oversized input. */
export const shapeRows: readonly Row[] = [
  {
    name: 'missing field',
    target: bootstrap,
    expect: { type: FailureType.InvalidInput },
    says: [/fix these fields/, /environment/],
    run: () => ctx().run(bootstrap, {}),
  },
  {
    name: 'wrong type: a string instead of the input object',
    target: bootstrap,
    expect: { type: FailureType.InvalidInput },
    says: [/fix these fields/, /\(root\).*object/i],
    run: () => ctx().run(bootstrap, 'dev'),
  },
  {
    name: 'wrong type: environment is a number',
    target: bootstrap,
    expect: { type: FailureType.InvalidInput },
    says: [/environment: .*string/i],
    run: () => ctx().run(bootstrap, { environment: 42 }),
  },
  {
    name: 'malformed revision',
    target: bootstrap,
    expect: { type: FailureType.InvalidInput },
    says: [/revision/, /Git commit SHA, branch or tag/],
    run: () => ctx().run(bootstrap, { environment: 'dev', revision: 'main..HEAD' }),
  },
  {
    name: 'unknown field',
    target: rollout,
    expect: { type: FailureType.InvalidInput },
    says: [/force/, /[Uu]nrecognized key/],
    run: () => ctx().run(rollout, { environment: 'dev', revision: 'main', force: true }),
  },
  {
    name: 'missing revision',
    target: rollout,
    expect: { type: FailureType.InvalidInput },
    says: [/revision:/],
    run: () => ctx().run(rollout, { environment: 'dev' }),
  },
  {
    name: 'oversized input',
    target: rollout,
    expect: { type: FailureType.InvalidInput },
    says: [new RegExp(`the limit is ${MAX_INPUT_BYTES}`), /Pass names and revisions, not manifests/],
    run: () => ctx().run(rollout, { environment: 'dev', revision: 'main', reason: 'x'.repeat(MAX_INPUT_BYTES + 1) }),
  },
  {
    name: 'wrong type: autoApprove is a string',
    target: promote,
    expect: { type: FailureType.InvalidInput },
    says: [/autoApprove/, /boolean/],
    run: () => ctx().run(promote, { from: 'dev', to: 'staging', autoApprove: 'yes' }),
  },
  {
    name: 'environment other than production',
    target: migrate,
    expect: { type: FailureType.InvalidInput },
    says: [/environment/, /"production"/],
    run: () => ctx().run(migrate, { environment: 'staging' }),
  },
  {
    name: 'wrong type: dryRun is a string',
    target: migrate,
    expect: { type: FailureType.InvalidInput },
    says: [/dryRun/, /boolean/],
    run: () => ctx().run(migrate, { dryRun: 'yes' }),
  },
  {
    name: 'unknown mode',
    target: drift,
    expect: { type: FailureType.InvalidInput },
    says: [/mode/, /report/, /remediate/],
    run: () => ctx().run(drift, { mode: 'fix' }),
  },
];

/** Environments the catalog does not know, and promotions that break the promotion order. */
export const environmentRows: readonly Row[] = [
  {
    name: 'unknown environment',
    target: bootstrap,
    expect: { type: FailureType.UnknownEnvironment },
    says: [/unknown environment "qa"/, /catalog knows: dev, staging, production/],
    run: () => ctx().run(bootstrap, { environment: 'qa' }),
  },
  {
    name: 'from = to',
    target: promote,
    expect: { type: FailureType.InvalidInput },
    says: [/from and to are both "staging"/, /promote to the next stage/],
    run: () => ctx().run(promote, { from: 'staging', to: 'staging' }),
  },
  {
    name: 'skipped stage dev → production',
    target: promote,
    expect: { type: FailureType.PromotionOrderViolation },
    says: [/"production" does not follow "dev"/, /promote dev → staging first/],
    run: () => ctx().run(promote, { from: 'dev', to: 'production', requestedBy: 'alice' }),
  },
  {
    name: 'unknown target environment',
    target: promote,
    expect: { type: FailureType.UnknownEnvironment },
    says: [/unknown environment "prod"/, /catalog knows/],
    run: () => ctx().run(promote, { from: 'staging', to: 'prod' }),
  },
  {
    name: 'unknown environment',
    target: drift,
    expect: { type: FailureType.UnknownEnvironment },
    says: [/unknown environment "qa"/, /catalog knows/],
    run: () => ctx().run(drift, { environments: ['dev', 'qa'], mode: 'remediate' }),
  },
];

/** The worker's catalog is at fault (missing overlay, schema violation) or forbids the change (a freeze window). */
export const catalogRows: readonly Row[] = [
  {
    name: 'missing overlay for a new environment (catalog points at a path that does not exist)',
    target: bootstrap,
    expect: { type: FailureType.InvalidInput },
    says: [/overlay gitops\/overlays\/qa-missing does not exist/, /fix the overlay path in the catalog/],
    catalog: (doc) => addQa(doc, ['dev', 'qa', 'staging', 'production'], 'gitops/overlays/qa-missing'),
    run: () => ctx().run(bootstrap, { environment: 'qa' }),
  },
  {
    name: 'missing overlay (catalog points dev at a path that does not exist)',
    target: rollout,
    expect: { type: FailureType.InvalidInput },
    says: [/overlay gitops\/overlays\/dev-missing does not exist/, /fix the overlay path in the catalog/],
    catalog: (doc) =>
      doc.setIn(['environments', environmentIndex(doc, 'dev'), 'overlay'], 'gitops/overlays/dev-missing'),
    run: () => ctx().run(rollout, { environment: 'dev', revision: 'main' }),
  },
  {
    name: 'catalog that fails its schema (protected production with one approver)',
    target: rollout,
    expect: { type: FailureType.InvalidInput },
    says: [/environment catalog .* is invalid/, /environments\.2\.approvers/, /at least two approvers/],
    catalog: oneApprover,
    run: () => ctx().run(rollout, { environment: 'dev', revision: 'main' }),
  },
  {
    name: 'change freeze on production',
    target: rollout,
    expect: { type: FailureType.ChangeFreeze },
    says: [
      /production is in a change freeze until/,
      new RegExp(FREEZE_REASON),
      /retry after it ends or remove the window/,
    ],
    catalog: freezeProduction,
    run: () => ctx().run(rollout, { environment: 'production', revision: 'main' }),
  },
  {
    name: 'change freeze on production',
    target: promote,
    expect: { type: FailureType.ChangeFreeze },
    says: [/production is in a change freeze/, new RegExp(FREEZE_REASON)],
    catalog: freezeProduction,
    run: () => ctx().run(promote, { from: 'staging', to: 'production', requestedBy: 'alice' }),
  },
  {
    name: 'change freeze on production',
    target: migrate,
    expect: { type: FailureType.ChangeFreeze },
    says: [/production is in a change freeze/, /remove the window from the catalog/],
    catalog: freezeProduction,
    run: () => ctx().run(migrate, { requestedBy: 'alice' }),
  },
  {
    name: 'catalog that fails its schema (retention beyond 30 days)',
    target: drift,
    expect: { type: FailureType.InvalidInput },
    says: [/is invalid; fix these fields/, /environments\.0\.retentionDays/, /30/],
    catalog: (doc) => doc.setIn(['environments', environmentIndex(doc, 'dev'), 'retentionDays'], 90),
    run: () => ctx().run(drift, { mode: 'remediate' }),
  },
];

/** Revisions that cannot be delivered: unknown on the remote, rejected by the API server, not verified where they come from. */
export const revisionRows: readonly Row[] = [
  {
    name: 'unknown revision (well-formed SHA that is not on the remote)',
    target: bootstrap,
    expect: { type: FailureType.InvalidInput },
    says: [new RegExp(UNKNOWN_SHA), /not a branch, tag or commit of the GitOps remote/, /push it first/],
    run: () => ctx().run(bootstrap, { environment: 'dev', revision: UNKNOWN_SHA }),
  },
  {
    name: 'unknown revision',
    target: rollout,
    expect: { type: FailureType.InvalidInput },
    says: [/no-such-branch/, /not a branch, tag or commit/],
    run: () => ctx().run(rollout, { environment: 'dev', revision: 'no-such-branch' }),
  },
  {
    // The operator-rule pre-flight (domain/operator-rules/) refuses it before the API server's dry-run is asked.
    name: 'overlay the operators refuse (LokiStack size outside the CRD enum, pushed to a branch)',
    target: rollout,
    expect: { type: FailureType.OperatorRuleViolation },
    says: [/LokiStack\/openshift-logging\/logging-loki: spec\.size/, /Unsupported value: "1x\.huge"/, /Fix the overlay or the catalog/],
    setUp: async () => {
      brokenCommit = await ctx().pushCommit(
        BROKEN_BRANCH,
        (dir) => {
          const file = join(dir, 'gitops', 'overlays', 'dev', 'patches', 'lokistack-size.yaml');
          writeFileSync(file, readFileSync(file, 'utf8').replace('size: 1x.demo', 'size: 1x.huge'));
        },
        'dev: LokiStack size 1x.huge (not a size the Loki Operator knows)',
      );
    },
    run: () => ctx().run(rollout, { environment: 'dev', revision: brokenCommit }),
    cleanUp: async () => {
      if (brokenCommit) await ctx().deleteBranch(BROKEN_BRANCH);
    },
  },
  {
    name: 'revision that is not the one verified in the source stage',
    target: promote,
    expect: { type: FailureType.RevisionNotVerified },
    says: [/is not the revision verified in (dev|staging)/, /roll out and verify/],
    setUp: async () => {
      unverified = await promotionWithUnverifiedCommit();
    },
    run: () => ctx().run(promote, { from: unverified.from, to: unverified.to, revision: unverified.commit, requestedBy: 'alice' }),
  },
  {
    name: 'source stage with nothing verified (qa, never bootstrapped)',
    target: promote,
    expect: { type: FailureType.RevisionNotVerified },
    says: [/nothing is verified in qa yet/, /roll out and verify a revision there first/],
    catalog: (doc) => addQa(doc, ['dev', 'qa', 'staging', 'production']),
    run: () => ctx().run(promote, { from: 'qa', to: 'staging' }),
  },
];

/** Approvals on protected production: `autoApprove` does not bypass them; refused approvers leave the promotion waiting. */
export const approvalRows: readonly Row[] = [
  {
    name: 'autoApprove on protected production is refused: it still waits, and times out',
    target: promote,
    expect: { type: FailureType.ApprovalTimedOut },
    says: [/nobody approved the change to production/, /alice, bob, carol/],
    setUp: ensurePromotableToProduction,
    run: async () => {
      const handle = await ctx().start(promote, {
        from: 'staging',
        to: 'production',
        requestedBy: 'alice',
        autoApprove: true,
        approvalTimeoutSeconds: 1,
      });
      const outcome = await handle.result().then(
        () => ({ message: 'completed' }),
        (error: unknown) => outcomeOf(error),
      );
      const progress = await handle.query(progressQuery);
      const skipped = progress.steps.find((s) => s.name === 'auto-approve');
      return { ...outcome, message: `${outcome.message} | ${skipped?.detail ?? 'no auto-approve step'}` };
    },
  },
  {
    name: 'protected production, nobody approves: approval times out (refused approvals below)',
    target: promote,
    expect: { type: FailureType.ApprovalTimedOut },
    says: [
      /nobody approved the change to production before/,
      /start the promotion again when an approver \(alice, bob, carol\) is available/,
    ],
    setUp: ensurePromotableToProduction,
    run: async (t) => {
      const handle = await ctx().start(promote, {
        from: 'staging',
        to: 'production',
        requestedBy: 'alice',
        approvalTimeoutSeconds: 20,
      });
      await untilAwaitingApproval(handle);
      const nested: Row[] = [
        {
          name: 'approver not on the allow-list',
          target: 'approve update',
          expect: { type: FailureType.NotAuthorized },
          says: [/"mallory" may not approve or reject changes to production/, /allowed approvers: alice, bob, carol/],
          run: () => update(handle.executeUpdate(approveUpdate, { args: [{ by: 'mallory' }] })),
        },
        {
          name: 'self-approval by the requester (four-eyes)',
          target: 'approve update',
          expect: { type: FailureType.NotAuthorized },
          says: [/four-eyes: alice requested this change/, /ask another approver \(bob, carol\)/],
          run: () => update(handle.executeUpdate(approveUpdate, { args: [{ by: 'alice' }] })),
        },
        {
          name: 'reject without a reason',
          target: 'reject update',
          expect: { type: FailureType.InvalidInput },
          says: [/reason/],
          run: () => update(handle.executeUpdate(rejectUpdate, { args: [{ by: 'bob' } as never] })),
        },
        {
          name: 'logstack approve by someone not on the allow-list',
          target: 'cli',
          expect: { exit: 1 },
          says: [/NotAuthorized/, /"mallory" may not approve/, /allowed approvers/],
          run: () => ctx().cli('approve', handle.workflowId, '--by', 'mallory'),
        },
      ];
      for (const row of nested) await t.test(`${row.target}: ${row.name}`, (tt) => checkRow(tt, row));
      const description = await handle.describe();
      assert.equal(description.status.name, 'RUNNING', 'the refused approvals left the promotion waiting');
      return handle.result().then(
        () => ({ message: 'completed' }),
        (error: unknown) => outcomeOf(error),
      );
    },
  },
];

/** The `logstack` CLI: usage errors (exit 2) and failures the workflows report (exit 1). */
export const cliRows: readonly Row[] = [
  {
    name: 'no command',
    target: 'cli',
    expect: { exit: 2 },
    says: [/Usage: logstack/, /bootstrap/],
    run: () => ctx().cli(),
  },
  {
    name: 'unknown command',
    target: 'cli',
    expect: { exit: 2 },
    says: [/unknown command 'deploy'/],
    run: () => ctx().cli('deploy', 'dev'),
  },
  {
    name: 'rollout without --revision',
    target: 'cli',
    expect: { exit: 2 },
    says: [/required option '--revision/],
    run: () => ctx().cli('rollout', 'dev'),
  },
  {
    name: 'environment name that is not one',
    target: 'cli',
    expect: { exit: 2 },
    says: [/Production/, /an environment name: lowercase letters/],
    run: () => ctx().cli('promote', '--from', 'staging', '--to', 'Production'),
  },
  {
    name: 'malformed revision',
    target: 'cli',
    expect: { exit: 2 },
    says: [/revision/, /Git commit SHA, branch or tag/],
    run: () => ctx().cli('rollout', 'dev', '--revision', 'main..HEAD'),
  },
  {
    name: 'approval timeout of zero seconds',
    target: 'cli',
    expect: { exit: 2 },
    says: [/--approval-timeout/, /whole number of seconds ≥ 1/],
    run: () => ctx().cli('promote', '--from', 'staging', '--to', 'production', '--approval-timeout', '0'),
  },
  {
    name: 'unknown drift mode',
    target: 'cli',
    expect: { exit: 2 },
    says: [/fix/, /report, remediate/],
    run: () => ctx().cli('drift', '--mode', 'fix'),
  },
  {
    name: 'unknown output format',
    target: 'cli',
    expect: { exit: 2 },
    says: [/xml/, /table, json/],
    run: () => ctx().cli('status', '--output', 'xml'),
  },
  {
    name: 'bootstrap of an unknown environment (refused by the workflow)',
    target: 'cli',
    expect: { exit: 1 },
    says: [/UnknownEnvironment/, /unknown environment "qa"/, /catalog knows/],
    run: () => ctx().cli('bootstrap', 'qa', '--wait'),
  },
  {
    name: 'promotion that skips a stage (refused by the workflow)',
    target: 'cli',
    expect: { exit: 1 },
    says: [/PromotionOrderViolation/, /promote dev → staging first/],
    run: () => ctx().cli('promote', '--from', 'dev', '--to', 'production', '--requested-by', 'alice', '--wait'),
  },
  {
    name: 'validate a catalog that fails its schema',
    target: 'cli',
    expect: { exit: 1 },
    says: [/environments\.2\.approvers/, /at least two approvers/],
    run: () => ctx().cli('validate', ctx().writeCatalog('one-approver.yaml', oneApprover)),
  },
];

/** Every group, by the name its test file runs it under. */
export const rowGroups = {
  'input shape': shapeRows,
  environments: environmentRows,
  catalog: catalogRows,
  revisions: revisionRows,
  approvals: approvalRows,
  cli: cliRows,
} as const satisfies Record<string, readonly Row[]>;
