/**
 * The secret scanner of the secret-hygiene tests (test/reliability/secret-scan.ts) finds a planted secret in
 * every encoding the scans rely on — plain, base64 at every alignment, base64url, hex, nested base64 — and
 * nothing in a sample without it. Needs no sandbox.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { markerSecret, scanFor, secretOf } from './secret-scan.ts';

describe('secret hygiene: the scanner', () => {
  it('the scanner finds a planted secret in every encoding and nested encoding, and nothing in a clean sample', () => {
    const planted = markerSecret('planted');
    const secret = [secretOf('planted marker', planted)];
    const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');
    const samples: Record<string, string | Buffer> = {
      plain: `{"note":"x${planted}y"}`,
      'base64, aligned': `data: ${b64(planted)}`,
      'base64 inside a longer value (offset 1)': b64(`a${planted}`),
      'base64 inside a longer value (offset 2)': b64(`ab${planted}`),
      base64url: Buffer.from(`{"k":"${planted}"}`).toString('base64url'),
      hex: `0x${Buffer.from(planted).toString('hex')}`,
      HEX: Buffer.from(planted).toString('hex').toUpperCase(),
      'base64 of JSON holding base64 (a payload holding Secret data)': JSON.stringify({
        data: b64(JSON.stringify({ kind: 'Secret', data: { k: b64(planted) } })),
      }),
      'bytes with the value inside': Buffer.concat([Buffer.from([0, 255, 1]), Buffer.from(planted), Buffer.from([7])]),
    };
    for (const [what, sample] of Object.entries(samples)) {
      assert.notDeepEqual(scanFor(secret, sample, what), [], `the scanner finds the marker: ${what}`);
    }
    const clean = JSON.stringify({
      data: b64(JSON.stringify({ kind: 'Secret', data: { k: b64(markerSecret('other')) } })),
      note: planted.slice(0, 10),
    });
    assert.deepEqual(scanFor(secret, clean, 'clean sample'), [], 'no finding without the secret');
  });
});
