/**
 * Determinism check: every recorded history (see `record.ts`) must replay against the current workflow code.
 * A failure here means a change would break running executions — version it with a patch
 * (`workflows/patches.ts`) instead. Also checks the patch register against the histories and the code:
 * which recorded histories carry each patch's marker, and that every call site uses a registered ID.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { Worker } from '@temporalio/worker';
import ts from 'typescript';
import { WorkflowTypes } from '../../domain/index.ts';
import { workflowBundlerOptions, workflowInterceptorModules } from '../../worker/bundle.ts';
import * as patchModule from '../../workflows/patches.ts';
import { PATCHES, RETIREMENTS, type Patch } from '../../workflows/patches.ts';
import { installTestRuntime, WORKFLOWS_PATH } from '../workflows/harness.ts';
import { historyFromPlain } from './history-json.ts';

installTestRuntime();

/** One event of a history file, as much of it as this test reads. */
interface PlainEvent {
  readonly workflowExecutionStartedEventAttributes?: { readonly workflowType?: { readonly name?: string } };
  readonly markerRecordedEventAttributes?: {
    readonly markerName?: string;
    readonly details?: Record<string, { readonly payloads?: readonly { readonly data?: string }[] }>;
  };
}

const dir = new URL('./histories/', import.meta.url);
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .sort();
const recorded = files.map((file) => {
  const plain = JSON.parse(readFileSync(new URL(file, dir), 'utf8')) as { events: PlainEvent[] };
  return { name: file.replace(/\.json$/, ''), plain, history: historyFromPlain(plain) };
});

/** The patch IDs whose markers a history carries (the SDK's `core_patch` markers, `{ id, deprecated }` as JSON). */
function patchMarkers(events: readonly PlainEvent[]): string[] {
  return events.flatMap((e) => {
    const marker = e.markerRecordedEventAttributes;
    if (marker?.markerName !== 'core_patch') return [];
    const data = marker.details?.['patch-data']?.payloads?.[0]?.data;
    if (data === undefined) throw new Error('a patch marker without patch data');
    return [(JSON.parse(Buffer.from(data, 'base64').toString('utf8')) as { id: string }).id];
  });
}

const histories = recorded.map(({ name, plain }) => ({
  name,
  type: plain.events[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name ?? '(no start event)',
  markers: patchMarkers(plain.events),
}));

/** Per patch: the histories carrying its marker, and those of its workflow types recorded without it. */
const table = PATCHES.map((patch) => ({
  patch,
  carrying: histories.filter((h) => h.markers.includes(patch.id)).map((h) => h.name),
  without: histories
    .filter((h) => (patch.workflowTypes as readonly string[]).includes(h.type) && !h.markers.includes(patch.id))
    .map((h) => h.name),
}));

/** Every `patched(...)` and `deprecatePatch(...)` call in workflows/, with the text of its argument. */
function patchCalls(): { file: string; fn: string; arg: string }[] {
  const root = new URL('../../workflows/', import.meta.url);
  const sources = readdirSync(root, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
  return sources.flatMap((file) => {
    const source = ts.createSourceFile(file, readFileSync(new URL(file, root), 'utf8'), ts.ScriptTarget.Latest, true);
    const calls: { file: string; fn: string; arg: string }[] = [];
    const visit = (node: ts.Node): void => {
      if (
        ts.isCallExpression(node) &&
        ts.isIdentifier(node.expression) &&
        ['patched', 'deprecatePatch'].includes(node.expression.text)
      ) {
        calls.push({ file, fn: node.expression.text, arg: node.arguments.map((a) => a.getText(source)).join(', ') });
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
    return calls;
  });
}

describe('replay of recorded histories', () => {
  it('has at least one history of every workflow type, and of the lock', () => {
    const types = new Set(
      recorded.map((h) => h.history.events?.[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name),
    );
    for (const type of [...Object.values(WorkflowTypes), 'environmentLock'])
      assert.ok(types.has(type), `no recorded history of ${type}`);
  });

  // With the interceptors of each bundle the worker runs (traced and untraced), so the replay runs the code production
  // runs, and a run can move between a worker that traces and one that does not.
  for (const traced of [true, false]) {
    it(`replays every history without a determinism violation (${traced ? 'traced' : 'untraced'} bundle)`, async () => {
      const failures: string[] = [];
      const inputs = recorded.map(({ name, history }) => ({ workflowId: name, history }));
      for await (const result of Worker.runReplayHistories(
        { workflowsPath: WORKFLOWS_PATH, bundlerOptions: workflowBundlerOptions(traced), interceptors: { workflowModules: workflowInterceptorModules(traced) }, replayName: 'logstack-replay' },
        inputs,
      )) {
        if (result.error) failures.push(`${result.workflowId}: ${result.error.name}: ${result.error.message}`);
      }
      assert.deepEqual(failures, []);
      assert.ok(recorded.length >= 10, `${recorded.length} histories`);
    });
  }
});

describe('retired histories', () => {
  for (const retirement of RETIREMENTS) {
    it(`${retirement.id}: each history recorded before it fails to replay, as its register entry says`, async () => {
      const folder = new URL(`../retired/${retirement.retiredHistories}/`, dir);
      const retired = readdirSync(folder)
        .filter((f) => f.endsWith('.json'))
        .map((file) => ({ workflowId: file.replace(/\.json$/, ''), history: historyFromPlain(JSON.parse(readFileSync(new URL(file, folder), 'utf8')) as { events: PlainEvent[] }) }));
      assert.ok(retired.length > 0, `no history in test/replay/retired/${retirement.retiredHistories}`);
      const replayable: string[] = [];
      for await (const result of Worker.runReplayHistories(
        { workflowsPath: WORKFLOWS_PATH, bundlerOptions: workflowBundlerOptions(true), interceptors: { workflowModules: workflowInterceptorModules(true) }, replayName: 'logstack-retired' },
        retired,
      )) {
        if (!result.error) replayable.push(result.workflowId);
        else assert.equal(result.error.name, 'DeterminismViolationError', `${result.workflowId}: ${result.error.message}`);
      }
      // A history that still replays was not retired by this change: it belongs in histories/.
      assert.deepEqual(replayable, []);
    });
  }
});

describe('patch register', () => {
  it('names which recorded histories carry each patch marker, and each patch has one', (t) => {
    for (const { patch, carrying, without } of table) {
      t.diagnostic(
        `${patch.id} (${patch.introduced.date}, ${patch.stage}): carried by ${carrying.join(', ') || 'none'}`,
      );
      t.diagnostic(
        `${patch.id}: ${patch.workflowTypes.join('/')} histories without it: ${without.join(', ') || 'none'}`,
      );
    }
    // A patch no history carries has a new path that no replay covers.
    assert.deepEqual(
      table.filter((row) => row.carrying.length === 0).map((row) => row.patch.id),
      [],
    );
  });

  it('knows every marker in the recorded histories, on the workflow types it names', () => {
    const byId = new Map<string, Patch>(PATCHES.map((p) => [p.id, p]));
    const stray = histories.flatMap((h) =>
      h.markers
        .filter((id) => !(byId.get(id)?.workflowTypes as readonly string[] | undefined)?.includes(h.type))
        .map((id) => `${h.name}: ${id}`),
    );
    assert.deepEqual(stray, []);
  });

  it('is what the workflows call: each call names a register constant, each patch is called as its stage says', () => {
    const constants = new Map(
      Object.entries(patchModule).flatMap(([name, value]) =>
        PATCHES.includes(value as Patch) ? [[name, value as Patch] as const] : [],
      ),
    );
    const calls = patchCalls();
    assert.ok(calls.length > 0, 'no patched() call found: the scan is broken');
    const literal = calls.filter((c) => !constants.has(c.arg.replace(/\.id$/, '')) || !c.arg.endsWith('.id'));
    assert.deepEqual(literal, [], 'patch IDs are passed as <constant>.id from workflows/patches.ts');
    for (const [name, patch] of constants) {
      const fns = calls.filter((c) => c.arg === `${name}.id`).map((c) => c.fn);
      const expected = patch.stage === 'patched' ? 'patched' : 'deprecatePatch';
      assert.ok(
        fns.length > 0 && fns.every((fn) => fn === expected),
        `${patch.id} is ${patch.stage}, called by ${fns.join(', ') || 'nothing'}`,
      );
    }
    assert.equal(new Set(PATCHES.map((p) => p.id)).size, PATCHES.length, 'patch IDs are unique');
  });
});
