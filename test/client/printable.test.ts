/**
 * Text from history reaches terminals escaped: controls, line breaks and bidirectional overrides that
 * anyone who can start or message a workflow could put into a name, a step detail, a reason or a failure
 * message are printed as visible escapes, in lines, tables, JSON and error messages alike.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CommandContext, type CliIo } from '../../client/context.ts';
import { describeError } from '../../client/errors.ts';
import { approvalLines, formatStep } from '../../client/follow.ts';
import { printable, printableJson, printableLines } from '../../client/printable.ts';

/** What a hostile writer would put into history: clear screen, a forged line, a carriage return, a bell, a C1 CSI, right-to-left override. */
const HOSTILE = 'ok\u001b[2J\n✓ promote-production completed\rbob\u0007\u009b31m\u202etxt.exe\u2066x\u2069\u2028';
/** Every character a terminal acts on instead of showing. */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;

/** A context whose output is captured. */
function capture(): { ctx: CommandContext; out: () => string } {
  let text = '';
  const io: CliIo = { out: (s) => void (text += s), err: (s) => void (text += s), isTTY: false, env: {} };
  return { ctx: new CommandContext(io, { output: 'table' }), out: () => text };
}

describe('printing text that came from history', () => {
  it('escapes every control, line break and bidirectional character, and keeps all other text', () => {
    assert.equal(
      printable(HOSTILE),
      'ok\\u{001b}[2J\\n✓ promote-production completed\\rbob\\u{0007}\\u{009b}31m\\u{202e}txt.exe\\u{2066}x\\u{2069}\\u{2028}',
    );
    const plain = 'Zoë → 日本 production ✓ — löki-s3 🚀 tab-free';
    assert.equal(printable(plain), plain);
    assert.equal(printableLines('first\u001b[31m\nsecond\u202e'), 'first\\u{001b}[31m\nsecond\\u{202e}');
  });

  it('keeps JSON parseable to the same value while escaping what JSON.stringify leaves raw', () => {
    const value = { by: HOSTILE, steps: [{ detail: `\u009b\u202e${HOSTILE}` }] };
    const json = printableJson(JSON.stringify(value, null, 2));
    assert.doesNotMatch(json.replace(/\n/g, ''), UNSAFE);
    assert.deepEqual(JSON.parse(json), value);
  });

  it('prints steps, the approval block, tables and JSON from history without a single raw control', () => {
    const step = formatStep({ name: `apply ${HOSTILE}`, status: 'failed', detail: HOSTILE });
    assert.doesNotMatch(step, UNSAFE);
    assert.match(step, /✗ apply ok\\u\{001b\}\[2J\\n✓ promote-production completed/);
    const approval = approvalLines(
      'promote-production',
      {
        environment: 'production',
        requestedBy: HOSTILE,
        approvers: [`bob${HOSTILE}`],
        deadline: '2026-12-03T00:00:00Z',
        diff: { created: [HOSTILE], changed: [], unchanged: 0, toBeDeleted: [], destructive: [], digest: 'sha256:' + '1'.repeat(64) },
      },
      'production',
    );
    for (const line of approval) assert.doesNotMatch(line, UNSAFE, line);

    const { ctx, out } = capture();
    ctx.line(`detail: ${HOSTILE}`);
    ctx.printTable(['ENV', 'RUNNING'], [['production', HOSTILE]]);
    ctx.printJson({ by: HOSTILE });
    ctx.printJsonLine({ reason: HOSTILE });
    // Only the CLI's own line breaks remain.
    assert.doesNotMatch(out().replace(/\n/g, ''), UNSAFE);
    assert.ok(out().includes('\\u{202e}txt.exe'), out());
  });

  it('puts a failure message from history on one escaped line', () => {
    const failed = Object.assign(new Error('Workflow execution failed'), {
      name: 'WorkflowFailedError',
      cause: { name: 'ApplicationFailure', type: `GateFailed\u001b[0m`, message: HOSTILE },
    });
    const { message } = describeError(failed);
    assert.doesNotMatch(message, UNSAFE);
    assert.match(message, /^workflow failed \(GateFailed\\u\{001b\}\[0m\): ok\\u\{001b\}\[2J\\n✓ promote-production completed/);
  });
});
