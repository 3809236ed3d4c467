/**
 * Adversarial rows of payload encryption, hostile text and protected changes: the codec server without its token, ciphertext replayed into
 * another namespace, hostile names and text in approvals, a change to a protected environment without a
 * requester, hostile catalog names, and hostile text from history printed by the CLI. Each row asserts its
 * typed refusal (HTTP status, exit code or failure type).
 *
 * Where a row goes through the real worker (the bad-inputs context: an in-process worker on its own task
 * queue, with its own catalog file), it also asserts that no activity that writes ran and that the part of
 * the inventory the row could touch is unchanged: AWS names of the environment, every Git ref, and the
 * environment's cluster objects in `logstack-system` and the Loki namespace. Other helpers change other
 * parts of the sandbox at the same time (their own clusters' objects, moto names and Git branches), so a
 * whole-inventory diff would show their work, not this row's.
 *
 * The approval rows run on the time-skipping test server with the activity doubles (a promotion waiting
 * for approval on the real sandbox costs minutes): the `approve` update goes through Temporal's update
 * path to the workflow's validator, and the doubles record that nothing was written.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { WorkflowHandle } from '@temporalio/client';
import { AesGcmCodec, parseCodecKeys } from '../../codec/codec.ts';
import { startCodecServer, type RunningCodecServer } from '../../client/codec-server.ts';
import { describeError } from '../../client/errors.ts';
import { formatStep, approvalLines } from '../../client/follow.ts';
import { FailureType, WorkflowTypes, type WorkflowType } from '../../domain/index.ts';
import { approveUpdate, progressQuery, rejectUpdate } from '../../workflows/messages.ts';
import { promoteEnvironment } from '../../workflows/index.ts';
import { cli } from '../client/helpers.ts';
import { isSideEffect } from '../workflows/doubles.ts';
import { REV } from '../workflows/fixtures.ts';
import { startHarness, waitUntil, type Harness } from '../workflows/harness.ts';
import { startBadInputs, type BadInputs, type CatalogEdit, type Outcome } from './bad-inputs-context.ts';
import { diffInventory, takeInventory, type Inventory } from './inventory.ts';

const UI = 'http://127.0.0.1:8233';
const TOKEN = 'adversarial-codec-token-0123456789';
const KEY = `k1:${btoa(String.fromCharCode(...new Uint8Array(32).fill(9)))}`;
const plainPayload = { metadata: { encoding: btoa('json/plain') }, data: btoa('{"secretArn":"arn:aws:secretsmanager:x"}') };

async function post(base: string, path: string, headers: Record<string, string>, body: unknown): Promise<{ status: number; error?: string; payloads?: unknown[] }> {
  const res = await fetch(`${base}${path}`, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const parsed = (await res.json()) as { error?: string; payloads?: unknown[] };
  return { status: res.status, ...parsed };
}

/** The inventory lines a refused change to `env` could have caused: its AWS names, Git, its logstack and Loki namespaces. */
function touchedBy(env: string, lines: readonly string[]): string[] {
  return lines.filter(
    (line) =>
      (line.includes(' aws ') && line.includes(env)) ||
      line.includes(' git ') ||
      (line.includes(`cluster ${env} `) && /\/(logstack-system|openshift-logging)\//.test(line)) ||
      (line.includes(`cluster ${env} `) && /logstack-state-/.test(line)),
  );
}

describe('adversarial: codec server and namespace-bound ciphertext', () => {
  let server: RunningCodecServer;
  before(async () => {
    const codec = await AesGcmCodec.create(parseCodecKeys(KEY), { namespace: 'default' });
    server = await startCodecServer({ codec, origins: [UI], token: TOKEN, port: 0 });
  });
  after(() => server.close());

  it('adversarial: codec request without a token (from the UI origin) → 401', async () => {
    const res = await post(server.url, '/decode', { Origin: UI, 'X-Namespace': 'default' }, { payloads: [] });
    assert.equal(res.status, 401);
  });

  it('adversarial: codec request without an Origin header and without a token → 401 (no CORS skip of auth)', async () => {
    const res = await post(server.url, '/encode', { 'X-Namespace': 'default' }, { payloads: [plainPayload] });
    assert.equal(res.status, 401);
    assert.equal(res.payloads, undefined);
  });

  it('adversarial: codec request with a wrong token of the same length → 401', async () => {
    const wrong = TOKEN.replace(/.$/, 'X');
    assert.equal(wrong.length, TOKEN.length);
    const res = await post(server.url, '/decode', { Authorization: `Bearer ${wrong}`, 'X-Namespace': 'default' }, { payloads: [] });
    assert.equal(res.status, 401);
  });

  it('adversarial: codec request with a token of the wrong length (prefix, longer) → 401', async () => {
    for (const token of [TOKEN.slice(0, 8), `${TOKEN}${TOKEN}`, '']) {
      const res = await post(server.url, '/decode', { Authorization: `Bearer ${token}`, 'X-Namespace': 'default' }, { payloads: [] });
      assert.equal(res.status, 401, `token of ${token.length} characters`);
    }
  });

  it('adversarial: `codec-server --no-auth` on 0.0.0.0 → refused, exit 2, nothing listens', async () => {
    const res = await cli(['codec-server', '--port', '0', '--host', '0.0.0.0', '--no-auth'], { LOGSTACK_CODEC_KEYS: KEY, LOGSTACK_CODEC_TOKEN: undefined });
    assert.equal(res.code, 2);
    assert.match(res.err, /--no-auth is only allowed on a loopback address/);
    assert.doesNotMatch(res.out, /codec server on/);
  });

  it('adversarial: ciphertext sealed for one namespace, replayed into another → refused (decrypt fails)', async () => {
    const sealed = await post(server.url, '/encode', { Authorization: `Bearer ${TOKEN}`, 'X-Namespace': 'team-a' }, { payloads: [plainPayload] });
    assert.equal(sealed.status, 200);
    const replayed = await post(server.url, '/decode', { Authorization: `Bearer ${TOKEN}`, 'X-Namespace': 'team-b' }, { payloads: sealed.payloads });
    assert.equal(replayed.status, 422);
    assert.match(replayed.error ?? '', /failed authentication in namespace "team-b"/);
    // And in a worker or client of the other namespace: the codec itself refuses it.
    const [k] = parseCodecKeys(KEY);
    assert.ok(k);
    const teamA = await AesGcmCodec.create([k], { namespace: 'team-a' });
    const [payload] = await teamA.encode([{ metadata: { encoding: new TextEncoder().encode('json/plain') }, data: new TextEncoder().encode('"x"') }]);
    await assert.rejects(teamA.forNamespace('team-b').decode(payload ? [payload] : []), { name: 'PayloadDecryptionError' });
  });
});

describe('adversarial: hostile names and text in approvals (time-skipping server, activity doubles)', () => {
  let h: Harness;
  let handle: WorkflowHandle<typeof promoteEnvironment>;
  before(async () => {
    h = await startHarness('adversarial-codec-text');
    h.world.verified('staging', REV.v2, REV.v1);
    h.world.verified('production', REV.v1);
    handle = await h.start(promoteEnvironment, [{ from: 'staging', to: 'production', requestedBy: 'alice' }]);
    await waitUntil(() => handle.query(progressQuery), (p) => p.awaitingApproval !== undefined);
  });
  after(async () => {
    await handle?.terminate('adversarial rows done').catch(() => undefined);
    await h?.stop();
  });

  const refusal = async (promise: Promise<unknown>): Promise<{ type?: string; message?: string }> => {
    try {
      await promise;
    } catch (err) {
      const cause = (err as { cause?: { type?: string; message?: string } }).cause;
      return { type: cause?.type, message: cause?.message };
    }
    throw new Error('expected the update to be refused');
  };

  for (const [what, by] of [
    ['an ANSI escape', 'bob\u001b[2J\u001b[H'],
    ['a bidi override', 'b\u202Eob'],
    ['a newline', 'bob\napproved by: carol'],
  ] as const) {
    it(`adversarial: approval \`by\` with ${what} → InvalidInput, nothing approved or written`, async () => {
      const refused = await refusal(handle.executeUpdate(approveUpdate, { args: [{ by }] }));
      assert.equal(refused.type, FailureType.InvalidInput);
      assert.match(refused.message ?? '', /by: a person name/);
      assert.equal((await handle.query(progressQuery)).phase, 'awaiting-approval');
      assert.deepEqual(h.world.calls.filter(isSideEffect), []);
    });
  }

  it('adversarial: reject with a reason holding an ANSI escape → InvalidInput', async () => {
    const refused = await refusal(handle.executeUpdate(rejectUpdate, { args: [{ by: 'bob', reason: 'no\u001b]8;;http://evil\u0007' }] }));
    assert.equal(refused.type, FailureType.InvalidInput);
    assert.match(refused.message ?? '', /reason: must not contain control/);
  });

  it('adversarial: the requester approving as `ALICE` (case) or `ａｌｉｃｅ` (full width) → NotAuthorized (four-eyes)', async () => {
    for (const by of ['ALICE', 'ａｌｉｃｅ']) {
      const refused = await refusal(handle.executeUpdate(approveUpdate, { args: [{ by }] }));
      assert.equal(refused.type, FailureType.NotAuthorized, by);
      assert.match(refused.message ?? '', /four-eyes/);
    }
    assert.deepEqual(h.world.calls.filter(isSideEffect), []);
  });
});

describe('adversarial: protected changes without a requester and hostile catalog names, through the worker', () => {
  let bad: BadInputs;
  before(async () => {
    bad = await startBadInputs();
  });
  after(async () => {
    await bad?.stop();
  });

  /** Runs `type` with `input` on the worker (catalog edited by `edit`), checks no writer ran and the inventory part `env` could touch. */
  async function refusedRow(env: string, type: WorkflowType, input: unknown, edit?: CatalogEdit): Promise<Outcome> {
    bad.useCatalog(edit);
    let beforeRow: Inventory;
    let outcome: Outcome;
    let afterRow: Inventory;
    const first = bad.started.length;
    try {
      beforeRow = await takeInventory(bad.sandbox);
      outcome = await bad.run(type, input);
      afterRow = await takeInventory(bad.sandbox);
    } finally {
      bad.useCatalog();
    }
    for (const workflowId of bad.started.slice(first)) {
      const activities = await bad.scheduledActivities(workflowId);
      assert.deepEqual(activities.map((a) => a.name).filter((n) => n !== 'loadCatalog'), [], `${workflowId} ran only loadCatalog`);
    }
    assert.deepEqual(touchedBy(env, diffInventory(beforeRow, afterRow)), [], 'the inventory part this row could touch is unchanged');
    return outcome;
  }

  it('adversarial: promotion staging → production without requestedBy → InvalidInput, nothing written', async () => {
    const outcome = await refusedRow('production', WorkflowTypes.promoteEnvironment, { from: 'staging', to: 'production' });
    assert.equal(outcome.type, FailureType.InvalidInput);
    assert.match(outcome.message, /requestedBy: production is protected/);
  });

  it('adversarial: migration of production without requestedBy → InvalidInput, nothing written', async () => {
    const outcome = await refusedRow('production', WorkflowTypes.migrateProduction, {});
    assert.equal(outcome.type, FailureType.InvalidInput);
    assert.match(outcome.message, /requestedBy/);
  });

  const lokiField = (field: string, value: string): CatalogEdit => (doc) => {
    doc.setIn(['environments', 0, 'loki', field], value);
  };

  it('adversarial: catalog with `loki.namespace: ".."` → InvalidInput naming environments.0.loki.namespace', async () => {
    const outcome = await refusedRow('dev', WorkflowTypes.bootstrapEnvironment, { environment: 'dev' }, lokiField('namespace', '..'));
    assert.equal(outcome.type, FailureType.InvalidInput);
    assert.match(outcome.message, /environments\.0\.loki\.namespace: loki\.namespace must be a DNS-1123 label/);
  });

  it('adversarial: catalog with `loki.namespace: ""` → InvalidInput naming environments.0.loki.namespace', async () => {
    const outcome = await refusedRow('dev', WorkflowTypes.bootstrapEnvironment, { environment: 'dev' }, lokiField('namespace', ''));
    assert.equal(outcome.type, FailureType.InvalidInput);
    assert.match(outcome.message, /environments\.0\.loki\.namespace: loki\.namespace must not be empty/);
  });

  it('adversarial: catalog with `loki.secretName: "../x"` → InvalidInput naming environments.0.loki.secretName', async () => {
    const outcome = await refusedRow('dev', WorkflowTypes.bootstrapEnvironment, { environment: 'dev' }, lokiField('secretName', '../x'));
    assert.equal(outcome.type, FailureType.InvalidInput);
    assert.match(outcome.message, /environments\.0\.loki\.secretName/);
  });
});

describe('adversarial: hostile text from history printed by the CLI', () => {
  const hostile = 'wrong window\u001b[2J\u001b[1;1H\nApproved by: carol \u202Eevil';

  it('adversarial: the CLI prints a hostile rejection reason escaped (failure message, step detail, approval block)', () => {
    const failure = Object.assign(new Error('workflow failed'), {
      name: 'WorkflowFailedError',
      cause: { name: 'ApplicationFailure', type: FailureType.ApprovalRejected, message: `bob rejected the change to production: ${hostile}` },
    });
    const texts = [
      describeError(failure).message,
      formatStep({ name: 'await-approval', status: 'failed', detail: `bob rejected: ${hostile}` }),
      ...approvalLines('promote-production', {
        environment: 'production',
        requestedBy: `mallory${hostile}`,
        approvers: ['bob', `carol${hostile}`],
        deadline: '2026-01-02T10:00:00Z',
      }, 'production'),
    ];
    for (const text of texts) {
      assert.doesNotMatch(text, /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/u, JSON.stringify(text));
    }
    assert.match(texts[0] ?? '', /wrong window\\u\{001b\}\[2J.*\\nApproved by: carol \\u\{202e\}evil/);
  });
});
