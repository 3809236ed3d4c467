/**
 * How one group of the bad-input table runs: each row asserts the documented failure type
 * (`ApplicationFailure.type` along the failure's cause chain) or CLI exit code, a message that names what
 * to fix, and **no side effect**: an inventory of moto, every cluster and the Git remote
 * (test/reliability/inventory.ts) taken before and after the row is the same, and none of the row's
 * workflows completed an activity that writes. Set-ups that must change something (a pushed commit, a
 * promotion left waiting for approval) run before the "before" inventory.
 *
 * Each `bad-inputs-*.test.ts` file runs one group of rows (test/reliability/bad-inputs-rows.ts) on its own
 * in-process worker and stand-ins (test/reliability/bad-inputs-context.ts).
 *
 * Not an effect, hence not in the inventory: Temporal itself — the failed workflow executions, and the
 * `lock-<env>` workflow a row may start before it fails (it holds no lease afterwards and is ended when the
 * file's worker stops).
 */
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { FailureType, type WorkflowType } from '../../domain/index.ts';
import { startBadInputs, type BadInputs, type CatalogEdit, type Outcome } from './bad-inputs-context.ts';
import { diffInventory, takeInventory } from './inventory.ts';

/** What a row must end with. */
export type Expected = { readonly type: FailureType } | { readonly exit: number };

/** One row of the table. */
export interface Row {
  readonly name: string;
  /** The workflow type or `cli`. */
  readonly target: WorkflowType | 'cli' | 'approve update' | 'reject update';
  readonly expect: Expected;
  /** Each must match the message: the field, environment or action a person has to fix. */
  readonly says: readonly RegExp[];
  /** The worker's catalog for this row (default: the sandbox catalog). */
  readonly catalog?: CatalogEdit;
  /** Runs after the catalog is in place and before the "before" inventory. */
  readonly setUp?: () => Promise<void>;
  readonly run: (t: TestContext) => Promise<Outcome>;
  /** Runs after the "after" inventory (undoes the set-up). */
  readonly cleanUp?: () => Promise<void>;
}

/** One line of the printed table. */
interface Line {
  readonly row: string;
  readonly expected: string;
  readonly got: string;
  readonly diffEmpty: boolean;
}

/** The test name of a row, also its line in the table. */
export const rowName = (row: Row): string => `${row.target}: ${row.name}`;

/** A row's expectation as printed. */
export const expectedText = (e: Expected): string => ('type' in e ? e.type : `exit ${e.exit}`);
const gotText = (o: Outcome, e: Expected): string =>
  'type' in e ? (o.type ?? `no type (${o.message.slice(0, 60)})`) : `exit ${o.exit ?? '?'}`;

const lines: Line[] = [];
let current: BadInputs | undefined;

/**
 * The running context of this file's table (worker, CLI, catalog file).
 * @throws Error outside {@link describeBadInputs}'s tests.
 */
export function ctx(): BadInputs {
  if (!current) throw new Error('the bad-input table is not running: rows run inside describeBadInputs');
  return current;
}

const PROJECT_TYPES: ReadonlySet<string> = new Set(Object.values(FailureType));

/**
 * Activities that write nothing: reads (the AWS plan's too), renders, server-side dry-runs, `resolveRevision` (which fetches
 * into the worker's own clone, never pushes), and `acquireLock` and `releaseLock` (Temporal's own coordination:
 * the lease is released when the run ends, and nothing of AWS, the clusters or Git is touched). Local activities
 * count as much as the others (`scheduledActivities` reads their markers).
 */
const READ_ONLY_ACTIVITIES: ReadonlySet<string> = new Set([
  'loadCatalog',
  'acquireLock',
  'releaseLock',
  'resolveRevision',
  'renderOverlay',
  'readDeployedState',
  'applyOverlay(dry-run)',
  'inventoryLiveObjects',
  'scanDrift',
  'planAws',
]);

/** Runs one row: catalog, set-up, inventory, the bad input, inventory, assertions. */
export async function checkRow(t: TestContext, row: Row): Promise<void> {
  const context = ctx();
  let outcome: Outcome;
  let diff: string[];
  let inventoryMs: number[];
  let workflows: string[];
  try {
    await row.setUp?.();
    context.useCatalog(row.catalog);
    const firstWorkflow = context.started.length;
    const beforeRow = await takeInventory(context.sandbox);
    outcome = await row.run(t);
    const afterRow = await takeInventory(context.sandbox);
    diff = diffInventory(beforeRow, afterRow);
    inventoryMs = [beforeRow.tookMs, afterRow.tookMs];
    workflows = context.started.slice(firstWorkflow);
  } finally {
    context.useCatalog();
    await row.cleanUp?.();
  }
  lines.push({
    row: rowName(row),
    expected: expectedText(row.expect),
    got: gotText(outcome, row.expect),
    diffEmpty: diff.length === 0,
  });
  t.diagnostic(
    `${row.target} | ${row.name} | expected ${expectedText(row.expect)} | got ${gotText(outcome, row.expect)} | diff ${diff.length === 0 ? 'empty' : diff.length} | inventories ${inventoryMs.join(' + ')} ms`,
  );
  if ('type' in row.expect)
    assert.equal(outcome.type, row.expect.type, `failure type; the failure was: ${outcome.message}`);
  else assert.equal(outcome.exit, row.expect.exit, `exit code; the output was: ${outcome.message}`);
  for (const words of row.says) assert.match(outcome.message, words, 'the message says what to fix');
  // The same claim from the other side: no activity that writes completed in the row's workflows. An
  // `applyOverlay` that failed with a project failure type wrote nothing: it renders, then dry-runs every
  // object, and those are where such failures come from (activities/kubernetes/overlay.ts).
  for (const workflowId of workflows) {
    const activities = await context.scheduledActivities(workflowId);
    t.diagnostic(
      `${workflowId} ran: ${activities.map((a) => `${a.name} (${a.failureType ?? a.ended})`).join(', ') || 'no activity'}`,
    );
    const writes = activities.filter(
      (a) =>
        !READ_ONLY_ACTIVITIES.has(a.name) &&
        !(a.name === 'applyOverlay' && a.failureType !== undefined && PROJECT_TYPES.has(a.failureType)),
    );
    assert.deepEqual(writes, [], `${workflowId} ran activities that write`);
  }
  assert.deepEqual(diff, [], `no side effect, but the inventory changed:\n${diff.join('\n')}`);
}

/**
 * Registers one group of the table: starts the worker and the stand-ins once for the group, runs each row as
 * a test in order, then checks that every row produced an outcome and prints the group's table.
 */
export function describeBadInputs(what: string, rows: readonly Row[]): void {
  describe(
    `bad inputs — ${what}: typed failure, a message that says what to fix, no side effect (gate statuses by stand-ins)`,
    { concurrency: false },
    () => {
      before(async () => {
        current = await startBadInputs();
      });
      after(async () => {
        await current?.stop();
        current = undefined;
      });

      for (const row of rows) {
        it(rowName(row), (t) => checkRow(t, row));
      }

      it(`every ${what} row ran, and the table is printed`, (t) => {
        const ran = new Set(lines.map((l) => l.row));
        for (const row of rows) assert.ok(ran.has(rowName(row)), `row ran to its outcome: ${rowName(row)}`);
        const width = Math.max(...lines.map((l) => l.row.length));
        t.diagnostic(`${'row'.padEnd(width)} | expected | got | diff empty`);
        for (const l of lines)
          t.diagnostic(`${l.row.padEnd(width)} | ${l.expected} | ${l.got} | ${l.diffEmpty ? 'yes' : 'NO'}`);
      });
    },
  );
}
