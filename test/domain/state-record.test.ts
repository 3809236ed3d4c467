/** The deployed-state record's pure rules: canonical encoding, signature, key list, shape and ownership checks. */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  canonicalStateRecord,
  foreignDataOwners,
  parseStateKeys,
  signStateRecord,
  signatureProblem,
  stateRecordProblems,
  stateRecordRefusal,
  type StateMac,
  type StateRecordData,
} from '../../domain/index.ts';

const mac: StateMac = (key, message) => new Uint8Array(createHmac('sha256', key).update(message, 'utf8').digest());
const sha = (c: string): string => c.repeat(40);
const record: StateRecordData = { environment: 'staging', revision: sha('a'), verified: 'true', verifiedAt: '2026-01-02T03:04:05.000Z', previousRevision: sha('b') };
const keyOf = (id: string, fill: string) => `${id}:${btoa(fill.repeat(32))}`;
const { keys } = parseStateKeys(`${keyOf('new', 'n')},${keyOf('old', 'o')}`);

describe('deployed-state record rules', () => {
  it('encodes the five fields in a fixed order as a JSON array, so no value can shift into another field', () => {
    assert.equal(canonicalStateRecord(record), JSON.stringify(['logstack-state/v1', 'staging', sha('a'), 'true', '2026-01-02T03:04:05.000Z', sha('b')]));
    // A separator inside one value does not make two records encode alike.
    const a = canonicalStateRecord({ ...record, verifiedAt: 'x","y', previousRevision: '' });
    const b = canonicalStateRecord({ ...record, verifiedAt: 'x', previousRevision: 'y' });
    assert.notEqual(a, b);
  });

  it('signs with the first key as v1:<keyId>:<base64 HMAC-SHA256> of the canonical encoding', () => {
    const signature = signStateRecord(record, keys, mac);
    const expected = createHmac('sha256', new TextEncoder().encode('n'.repeat(32))).update(canonicalStateRecord(record)).digest('base64');
    assert.equal(signature, `v1:new:${expected}`);
    assert.equal(signatureProblem(record, signature, keys, mac), null);
  });

  it('verifies with any listed key (rotation) and refuses unknown keys, changed content and malformed signatures', () => {
    const [, old] = keys;
    assert.ok(old);
    const byOld = signStateRecord(record, [old], mac);
    assert.equal(signatureProblem(record, byOld, keys, mac), null, 'an old key still verifies');
    assert.match(signatureProblem(record, byOld, keys.slice(0, 1), mac) ?? '', /names key "old", which is not among the configured keys \(new\)/);
    const signature = signStateRecord(record, keys, mac);
    assert.match(signatureProblem({ ...record, verified: 'false' }, signature, keys, mac) ?? '', /does not match its content under key "new"/);
    assert.match(signatureProblem(record, undefined, keys, mac) ?? '', /carries no "signature"/);
    assert.match(signatureProblem(record, 'hmac:abc', keys, mac) ?? '', /not in the form v1:<keyId>:<base64 HMAC-SHA256>/);
    const forged = `v1:new:${btoa('f'.repeat(32))}`;
    assert.match(signatureProblem(record, forged, keys, mac) ?? '', /forged/);
  });

  it('parses keys: at least 32 bytes, unique ids, standard or URL-safe base64', () => {
    assert.deepEqual(parseStateKeys(`k1:${btoa('x'.repeat(32)).replace(/=+$/, '')}`).problems, []);
    assert.deepEqual(parseStateKeys('').problems, ['needs at least one id:base64key entry (generate a key with `openssl rand -base64 32`)']);
    assert.match(parseStateKeys(`k1:${btoa('x'.repeat(31))}`).problems[0] ?? '', /31 bytes; at least 32/);
    assert.equal(parseStateKeys(`k1:${btoa('x'.repeat(31))},${keyOf('k2', 'y')}`).keys.length, 0, 'no keys when any entry is wrong');
  });

  it('checks shapes: full SHAs, a boolean verified, the environment the record is for', () => {
    const signed = (data: StateRecordData) => ({ ...data, signature: signStateRecord(data, keys, mac) });
    assert.deepEqual(stateRecordProblems({ data: signed(record) }, 'staging', keys, mac), []);
    const edited = signed({ ...record, revision: 'main', verified: 'yes', previousRevision: 'abc1234' });
    assert.deepEqual(stateRecordProblems({ data: edited }, 'production', keys, mac), [
      'revision "main" is not a full 40-hex commit SHA',
      'previousRevision "abc1234" is not a full 40-hex commit SHA',
      'verified "yes" is neither "true" nor "false"',
      'environment "staging" is not "production"',
    ]);
    assert.deepEqual(stateRecordProblems({ data: signed({ ...record, previousRevision: '', verifiedAt: '' }) }, 'staging', keys, mac), [], 'empty optional fields are fine');
  });

  it('names every other field manager that owns data keys; logstack and metadata-only owners pass', () => {
    const managedFields = [
      { manager: 'logstack', operation: 'Apply', fieldsV1: { 'f:data': { 'f:revision': {}, 'f:verified': {} } } },
      { manager: 'kubectl-edit', operation: 'Update', fieldsV1: { 'f:data': { 'f:verified': {}, 'f:revision': {} } } },
      { manager: 'kubectl-label', operation: 'Update', fieldsV1: { 'f:metadata': { 'f:labels': { 'f:x': {} } } } },
    ];
    assert.deepEqual(foreignDataOwners(managedFields), [{ manager: 'kubectl-edit', operation: 'Update', fields: ['revision', 'verified'] }]);
    const problems = stateRecordProblems({ data: { ...record, signature: signStateRecord(record, keys, mac) }, managedFields }, 'staging', keys, mac);
    assert.deepEqual(problems, ['data fields revision, verified are owned by field manager "kubectl-edit" (Update), not "logstack": a hand edit']);
    const message = stateRecordRefusal('staging', 'logstack-system/logstack-state-staging', 'logstack-staging', problems);
    assert.match(message, /ConfigMap logstack-system\/logstack-state-staging on cluster context "logstack-staging"/);
    assert.match(message, /\(1\) data fields revision, verified are owned by field manager "kubectl-edit"/);
    assert.match(message, /`logstack state repair staging`/);
  });
});
