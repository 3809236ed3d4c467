/**
 * The deployed-revision record in a real cluster's `logstack-system` ConfigMap: signed on write, and
 * refused on read and before any write when its signature, its commits (checked against the sandbox's
 * GitOps remote) or its field ownership are wrong. Each scenario has its own `state-<suffix>` record.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { type Environment, STATE_NAMESPACE, type StateKey, type StateRecordData, parseStateKeys, signStateRecord, stateConfigMapName } from '../../domain/index.ts';
import { readObject, serverSideApply } from '../../activities/kubernetes/apply.ts';
import { hmacSha256 } from '../../activities/state/signature.ts';
import { stateKeysFromEnv } from '../../sandbox/inputs.ts';
import { clusterOf, environment, failureTypeOf, sandboxActivities, suffix, twoRemoteCommits } from './sandbox-parts.ts';

const stateEnv = (): Environment => environment('staging', { name: `state-${suffix()}` });
const configMapOf = (env: Environment) => readObject(clusterOf(env), { apiVersion: 'v1', kind: 'ConfigMap', name: stateConfigMapName(env.name), namespace: STATE_NAMESPACE });
const resourceVersion = async (env: Environment) => (await configMapOf(env))?.metadata.resourceVersion;
const dataOf = async (env: Environment) => (await configMapOf(env))?.['data'] as Record<string, string> | undefined;

/** Two real commits of the sandbox's GitOps remote (read, never pushed). */
const [r1, r2] = twoRemoteCommits(`state-${suffix()}`);
/** Well formed, but no commit of the remote. */
const unknownSha = randomBytes(20).toString('hex');

const key = (id: string): StateKey => {
  const [parsed] = parseStateKeys(`${id}:${randomBytes(32).toString('base64')}`).keys;
  assert.ok(parsed);
  return parsed;
};

/** One activity set for all scenarios that use the sandbox's published key. */
const acts = sandboxActivities();

/** Writes the record's data as logstack would (server-side apply, field manager `logstack`), bypassing the activity. */
async function writeRaw(env: Environment, data: Record<string, string>): Promise<void> {
  await serverSideApply(clusterOf(env), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: stateConfigMapName(env.name), namespace: STATE_NAMESPACE }, data }, { force: true });
}

/** A record's fields with a valid signature under `keys`. */
function signed(data: StateRecordData, keys: readonly StateKey[] = stateKeysFromEnv()): Record<string, string> {
  return { ...data, signature: signStateRecord(data, keys, hmacSha256) };
}

/** A merge patch under another field manager, as `kubectl edit` / `kubectl patch` writes. */
function kubectlEdit(env: Environment, data: Record<string, string>) {
  return clusterOf(env).request({
    method: 'PATCH',
    path: `/api/v1/namespaces/${STATE_NAMESPACE}/configmaps/${stateConfigMapName(env.name)}`,
    query: { fieldManager: 'kubectl-edit' },
    contentType: 'application/merge-patch+json',
    body: { data },
  });
}

/** The refusal's type and message. */
async function refusal(promise: Promise<unknown>): Promise<{ type: string | undefined; message: string; nonRetryable: boolean }> {
  try {
    await promise;
  } catch (error) {
    const failure = error as { type?: string; message: string; nonRetryable?: boolean };
    return { type: failure.type, message: failure.message, nonRetryable: failure.nonRetryable === true };
  }
  throw new Error('expected a refusal');
}

describe('deployed-revision state on a real kube-apiserver', () => {
  const env = stateEnv();

  it('reads null before anything was recorded', async () => {
    assert.equal(await acts.readDeployedState({ environment: env }), null);
  });

  it('records a signed record once: the same record twice writes nothing and keeps verifiedAt', async () => {
    const first = await acts.recordDeployedState({ environment: env, revision: r1, verified: true, previousRevision: null });
    assert.equal(first.revision, r1);
    assert.ok(first.verifiedAt);
    const data = await dataOf(env);
    const [active] = stateKeysFromEnv();
    assert.ok(active);
    assert.match(data?.['signature'] ?? '', new RegExp(`^v1:${active.id}:[A-Za-z0-9+/]{43}=$`));
    const rv = await resourceVersion(env);
    await new Promise((r) => setTimeout(r, 1100));
    const second = await acts.recordDeployedState({ environment: env, revision: r1, verified: true, previousRevision: null });
    assert.deepEqual(second, first);
    assert.equal(await resourceVersion(env), rv, 'one side effect');
    assert.deepEqual(await acts.readDeployedState({ environment: env }), first);
  });

  it('a new revision moves the previous one along; unverified clears verifiedAt; only logstack owns the record', async () => {
    const next = await acts.recordDeployedState({ environment: env, revision: r2, verified: false, previousRevision: r1 });
    assert.deepEqual(next, { environment: env.name, revision: r2, verified: false, verifiedAt: null, previousRevision: r1 });
    assert.deepEqual(await acts.readDeployedState({ environment: env }), next);
    const managers = (await configMapOf(env))?.metadata.managedFields?.map((m) => m.manager);
    assert.deepEqual([...new Set(managers)], ['logstack']);
  });

  it('refuses a revision that is empty, not a full SHA, or not a commit of the remote, with InvalidInput and nothing written', async () => {
    const rv = await resourceVersion(env);
    assert.equal(await failureTypeOf(acts.recordDeployedState({ environment: env, revision: '', verified: false, previousRevision: null })), 'InvalidInput');
    assert.equal(await failureTypeOf(acts.recordDeployedState({ environment: env, revision: 'main', verified: true, previousRevision: null })), 'InvalidInput');
    const unknown = await refusal(acts.recordDeployedState({ environment: env, revision: unknownSha, verified: true, previousRevision: r2 }));
    assert.equal(unknown.type, 'InvalidInput');
    assert.match(unknown.message, new RegExp(`revision ${unknownSha} is not a commit of the GitOps remote`));
    assert.equal(await resourceVersion(env), rv);
  });
});

describe('deployed-state records that fail their checks are refused before anything is written', () => {
  it('a record edited to revision: main, verified: "true" (by logstack\'s own field manager, so only content is wrong)', async () => {
    const env = stateEnv();
    await acts.recordDeployedState({ environment: env, revision: r1, verified: false, previousRevision: null });
    const data = await dataOf(env);
    await writeRaw(env, { ...data, revision: 'main', verified: 'true' });
    const rv = await resourceVersion(env);
    const read = await refusal(acts.readDeployedState({ environment: env }));
    assert.equal(read.type, 'StateRecordInvalid');
    assert.ok(read.nonRetryable);
    assert.match(read.message, new RegExp(`ConfigMap logstack-system/logstack-state-${env.name} on cluster context "${env.cluster.context}"`));
    assert.match(read.message, /revision "main" is not a full 40-hex commit SHA/);
    assert.match(read.message, /signature does not match its content/);
    assert.match(read.message, new RegExp(`\`logstack state repair ${env.name}\``));
    const write = await refusal(acts.recordDeployedState({ environment: env, revision: r2, verified: true, previousRevision: r1 }));
    assert.equal(write.type, 'StateRecordInvalid');
    assert.equal(await resourceVersion(env), rv, 'nothing written');
  });

  it('a record with a forged signature, and one without any', async () => {
    const env = stateEnv();
    const fields: StateRecordData = { environment: env.name, revision: r1, verified: 'true', verifiedAt: new Date().toISOString(), previousRevision: '' };
    const [active] = stateKeysFromEnv();
    await writeRaw(env, { ...fields, signature: `v1:${active?.id}:${randomBytes(32).toString('base64')}` });
    assert.match((await refusal(acts.readDeployedState({ environment: env }))).message, /does not match its content under key .*forged/);
    await writeRaw(env, { ...fields, signature: '' });
    assert.match((await refusal(acts.readDeployedState({ environment: env }))).message, /carries no "signature"/);
    // The same fields, properly signed, pass: the refusals were about the signature alone.
    await writeRaw(env, signed(fields));
    assert.equal((await acts.readDeployedState({ environment: env }))?.revision, r1);
  });

  it('a well-formed, correctly signed SHA that is no commit of the GitOps remote', async () => {
    const env = stateEnv();
    await writeRaw(env, signed({ environment: env.name, revision: unknownSha, verified: 'true', verifiedAt: new Date().toISOString(), previousRevision: r1 }));
    const read = await refusal(acts.readDeployedState({ environment: env }));
    assert.equal(read.type, 'StateRecordInvalid');
    assert.deepEqual(read.message.match(/\(\d\) [^;]*/g), [`(1) revision ${unknownSha} is not a commit of the GitOps remote — inspect it with \`logstack state show ${env.name}\`, then rewrite it deliberately with \`logstack state repair ${env.name}\` (add --revision <sha> and --verified/--no-verified to state what is true)`]);
  });

  it('a data field patched by another field manager (kubectl edit) is refused, and recordDeployedState writes nothing', async () => {
    const env = stateEnv();
    await acts.recordDeployedState({ environment: env, revision: r1, verified: true, previousRevision: null });
    // Even a change the signature cannot see (an equal re-encoding is impossible, so: a new verifiedAt) makes the next rollout stop early.
    await kubectlEdit(env, { verifiedAt: '2020-01-01T00:00:00.000Z' });
    const rv = await resourceVersion(env);
    const read = await refusal(acts.readDeployedState({ environment: env }));
    assert.equal(read.type, 'StateRecordInvalid');
    assert.match(read.message, /data field verifiedAt is owned by field manager "kubectl-edit" \(Update\), not "logstack": a hand edit/);
    const write = await refusal(acts.recordDeployedState({ environment: env, revision: r2, verified: false, previousRevision: r1 }));
    assert.equal(write.type, 'StateRecordInvalid');
    assert.equal(await resourceVersion(env), rv, 'nothing written');
  });

  it('key rotation: a record signed with the old key still verifies; the next write is signed with the new key; a dropped key no longer verifies', async () => {
    const env = stateEnv();
    const oldKey = key('old');
    const newKey = key('new');
    const before = sandboxActivities({ stateKeys: [oldKey] });
    const rotated = sandboxActivities({ stateKeys: [newKey, oldKey] });
    const after = sandboxActivities({ stateKeys: [newKey] });
    await before.recordDeployedState({ environment: env, revision: r1, verified: true, previousRevision: null });
    assert.match((await dataOf(env))?.['signature'] ?? '', /^v1:old:/);
    assert.equal((await rotated.readDeployedState({ environment: env }))?.revision, r1, 'the old key verifies');
    await rotated.recordDeployedState({ environment: env, revision: r2, verified: false, previousRevision: r1 });
    assert.match((await dataOf(env))?.['signature'] ?? '', /^v1:new:/);
    assert.equal((await after.readDeployedState({ environment: env }))?.revision, r2);
    const dropped = await refusal(before.readDeployedState({ environment: env }));
    assert.match(dropped.message, /names key "new", which is not among the configured keys \(old\)/);
  });
});
