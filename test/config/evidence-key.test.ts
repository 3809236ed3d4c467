/** `LOGSTACK_EVIDENCE_KEY` in the worker's configuration: required, checked at start, never printed. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { ConfigError, loadWorkerConfig } from '../../config/index.ts';

const BASE = { LOGSTACK_CATALOG: 'gitops/environments.yaml', LOGSTACK_STATE_KEYS: `k1:${btoa('k'.repeat(32))}` };

describe('LOGSTACK_EVIDENCE_KEY', () => {
  it('accepts a base64 seed, a hex seed and a PKCS#8 PEM (also with \\n escapes), and refuses to start without one, saying how to make one', () => {
    const seed = randomBytes(32);
    assert.equal(loadWorkerConfig({ ...BASE, LOGSTACK_EVIDENCE_KEY: seed.toString('base64') }).evidenceKey, seed.toString('base64'));
    assert.ok(loadWorkerConfig({ ...BASE, LOGSTACK_EVIDENCE_KEY: seed.toString('hex') }).evidenceKey);
    const pem = '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n-----END PRIVATE KEY-----\n';
    assert.ok(loadWorkerConfig({ ...BASE, LOGSTACK_EVIDENCE_KEY: pem }).evidenceKey);
    assert.ok(loadWorkerConfig({ ...BASE, LOGSTACK_EVIDENCE_KEY: pem.replace(/\n/g, '\\n') }).evidenceKey);
    let missing: unknown;
    try {
      loadWorkerConfig(BASE);
    } catch (e) {
      missing = e;
    }
    assert.ok(missing instanceof ConfigError, 'a worker without an evidence key does not start');
    assert.match(missing.message, /- LOGSTACK_EVIDENCE_KEY \(unset\): required: the ed25519 key that signs the evidence record .*openssl genpkey -algorithm ed25519/);
  });

  it('refuses a malformed key at start, showing *** instead of the value', () => {
    const secret = 'not-a-key-but-secret-looking-material';
    let error: unknown;
    try {
      loadWorkerConfig({ ...BASE, LOGSTACK_EVIDENCE_KEY: secret });
    } catch (e) {
      error = e;
    }
    assert.ok(error instanceof ConfigError);
    assert.match(error.message, /- LOGSTACK_EVIDENCE_KEY="\*\*\*": an ed25519 PKCS#8 PEM/);
    assert.ok(!error.message.includes(secret));
  });
});
