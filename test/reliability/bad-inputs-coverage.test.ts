/**
 * The bad-input table as a whole: its groups (test/reliability/bad-inputs-rows.ts), each run by a
 * `bad-inputs-<group>.test.ts` file that also checks every one of its rows ran, together give every workflow
 * type and the CLI rows of their own. Reads the row definitions only; needs no sandbox.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WorkflowTypes } from '../../domain/index.ts';
import { rowGroups } from './bad-inputs-rows.ts';
import { expectedText, rowName } from './bad-inputs-table.ts';

describe('bad inputs: the table of all groups', () => {
  it('covers every workflow type and the CLI with at least 15 rows, and prints the table', (t) => {
    const rows = Object.values(rowGroups).flat();
    const targets = new Set(rows.map((r) => r.target));
    for (const type of [...Object.values(WorkflowTypes), 'cli'] as const)
      assert.ok(targets.has(type), `a row for ${type}`);
    assert.ok(rows.length >= 15, `${rows.length} rows`);
    const names = rows.map(rowName);
    assert.deepEqual(
      names.filter((n, i) => names.indexOf(n) !== i),
      [],
      'each row has a name of its own',
    );
    const width = Math.max(...names.map((n) => n.length));
    t.diagnostic(`${'row'.padEnd(width)} | group | expected`);
    for (const [group, groupRows] of Object.entries(rowGroups))
      for (const r of groupRows) t.diagnostic(`${rowName(r).padEnd(width)} | ${group} | ${expectedText(r.expect)}`);
  });
});
