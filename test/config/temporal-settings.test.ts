/**
 * The shared Temporal resolver of the worker and the CLI: a TOML profile, overridden by the `TEMPORAL_*`
 * variables, overridden by flags; the older TLS variable names mapped to the newer ones; every wrong
 * value reported at once, one line each, naming where it came from.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, connectionOptions, resolveTemporal, type TemporalFlags } from '../../config/index.ts';
import { resolveSettings } from '../../client/connection.ts';
import { CliError } from '../../client/errors.ts';

const dir = mkdtempSync(join(tmpdir(), 'logstack-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const file = (name: string, text: string): string => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
const ca = file('ca.pem', '-----BEGIN CERTIFICATE-----\nnot parsed here\n-----END CERTIFICATE-----\n');
const cert = file('client.pem', 'client certificate');
const key = file('client.key', 'client key');
const profiles = file(
  'temporal.toml',
  `[profile.default]
address = "profile.example:7233"
namespace = "from-profile"

[profile.secure]
address = "secure.example:7233"
namespace = "secure-ns"
[profile.secure.tls]
server_name = "temporal.internal"
server_ca_cert_path = "${ca}"

[profile.broken]
address = "no-port"
`,
);

/** The problems a resolution reports, as the lines a person reads. */
function problems(flags: TemporalFlags, env: Record<string, string>): string[] {
  try {
    resolveTemporal(flags, env);
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.message.split('\n').slice(1, error.message.split('\n').indexOf('Variables:')).map((l) => l.trim());
  }
  assert.fail('the configuration was accepted');
}

describe('Temporal settings: flags over variables over the profile over defaults', () => {
  it('uses the defaults when nothing is configured (no HOME: no default profile file)', () => {
    const s = resolveTemporal({}, {});
    assert.deepEqual([s.address, s.namespace, s.taskQueue, s.source, s.tls, s.profile.file], ['localhost:7233', 'default', 'logstack', 'default', undefined, undefined]);
  });

  it('reads the profile, lets variables override it and flags override both', () => {
    const env = { TEMPORAL_CONFIG_FILE: profiles };
    const fromProfile = resolveTemporal({}, env);
    assert.deepEqual([fromProfile.address, fromProfile.namespace, fromProfile.source, fromProfile.profile.file], ['profile.example:7233', 'from-profile', 'profile', profiles]);
    const fromEnv = resolveTemporal({}, { ...env, TEMPORAL_ADDRESS: 'env.example:7233', LOGSTACK_TASK_QUEUE: 'q-env' });
    assert.deepEqual([fromEnv.address, fromEnv.namespace, fromEnv.taskQueue, fromEnv.source], ['env.example:7233', 'from-profile', 'q-env', 'env']);
    const fromFlags = resolveTemporal({ address: 'flag.example:7233', namespace: 'ns-flag', taskQueue: 'q-flag' }, { ...env, TEMPORAL_ADDRESS: 'env.example:7233' });
    assert.deepEqual([fromFlags.address, fromFlags.namespace, fromFlags.taskQueue, fromFlags.source], ['flag.example:7233', 'ns-flag', 'q-flag', 'flag']);
  });

  it('selects a profile by TEMPORAL_PROFILE or --profile, and the profile brings its TLS', () => {
    for (const [flags, env] of [
      [{}, { TEMPORAL_CONFIG_FILE: profiles, TEMPORAL_PROFILE: 'secure' }],
      [{ profile: 'secure' }, { TEMPORAL_CONFIG_FILE: profiles, TEMPORAL_PROFILE: 'default' }],
    ] as const) {
      const s = resolveTemporal(flags, env);
      assert.equal(s.address, 'secure.example:7233');
      assert.equal(s.profile.name, 'secure');
      assert.ok(s.tls && typeof s.tls === 'object', 'TLS is on');
      assert.equal(s.tls.serverNameOverride, 'temporal.internal');
      assert.equal(Buffer.from(s.tls.serverRootCACertificate ?? []).toString(), Buffer.from(`-----BEGIN CERTIFICATE-----\nnot parsed here\n-----END CERTIFICATE-----\n`).toString());
    }
  });

  it('maps TEMPORAL_TLS_CA/_CERT/_KEY to the newer names: a server CA alone turns TLS on, as in the CLI', () => {
    const caOnly = resolveTemporal({}, { TEMPORAL_ADDRESS: 'tls.example:7233', TEMPORAL_TLS_CA: ca });
    assert.ok(caOnly.tls && typeof caOnly.tls === 'object');
    assert.ok(caOnly.tls.serverRootCACertificate, 'the CA is used without a client certificate');
    assert.equal(caOnly.tls.clientCertPair, undefined);
    const mtls = resolveTemporal({}, { TEMPORAL_TLS_CERT: cert, TEMPORAL_TLS_KEY: key });
    assert.ok(mtls.tls && typeof mtls.tls === 'object');
    assert.equal(Buffer.from(mtls.tls.clientCertPair?.crt ?? []).toString(), 'client certificate');
    assert.equal(Buffer.from(mtls.tls.clientCertPair?.key ?? []).toString(), 'client key');
    const same = resolveTemporal({}, { TEMPORAL_TLS_CA: ca, TEMPORAL_TLS_SERVER_CA_CERT_PATH: ca });
    assert.ok(same.tls);
    assert.deepEqual(connectionOptions(resolveTemporal({}, { TEMPORAL_API_KEY: 'k' })), { address: 'localhost:7233', tls: true, apiKey: 'k' });
  });

  it('reports every wrong value at once, each with where it came from', () => {
    const lines = problems(
      { namespace: '' },
      { TEMPORAL_ADDRESS: 'temporal.internal', TEMPORAL_TLS_CA: ca, TEMPORAL_TLS_SERVER_CA_CERT_PATH: join(dir, 'other.pem'), TEMPORAL_TLS_CERT: join(dir, 'missing.pem') },
    );
    assert.deepEqual(lines, [
      `- TEMPORAL_TLS_CA="${ca}": the same path as TEMPORAL_TLS_SERVER_CA_CERT_PATH="${join(dir, 'other.pem')}", or unset`,
      `- TEMPORAL_TLS_CLIENT_CERT_PATH="${join(dir, 'missing.pem')}": an existing PEM file`,
      `- TEMPORAL_TLS_SERVER_CA_CERT_PATH="${join(dir, 'other.pem')}": an existing PEM file`,
      '- TEMPORAL_TLS_CLIENT_KEY_PATH (unset): both halves of the mTLS pair: set the client certificate and the client key (TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY), or neither',
      '- TEMPORAL_ADDRESS="temporal.internal": host:port, e.g. localhost:7233',
      '- --namespace="": a namespace name',
    ]);
  });

  it('names the profile key of a wrong profile value, a missing profile file and an unknown profile', () => {
    assert.deepEqual(problems({}, { TEMPORAL_CONFIG_FILE: profiles, TEMPORAL_PROFILE: 'broken' }), ['- profile "broken" key address="no-port": host:port, e.g. localhost:7233']);
    assert.deepEqual(problems({}, { TEMPORAL_CONFIG_FILE: join(dir, 'none.toml') }), [`- TEMPORAL_CONFIG_FILE="${join(dir, 'none.toml')}": an existing TOML file of Temporal profiles`]);
    const unknown = problems({ profile: 'nope' }, { TEMPORAL_CONFIG_FILE: profiles });
    assert.equal(unknown.length, 1);
    assert.match(unknown[0] ?? '', /^- --profile="nope": .*nope/);
  });

  it('is what the CLI resolves too: a wrong value is a usage error (exit 2) with the same lines', () => {
    assert.throws(
      () => resolveSettings({}, { TEMPORAL_ADDRESS: 'temporal.internal' }),
      (error: unknown) => error instanceof CliError && error.exitCode === 2 && error.message.includes('- TEMPORAL_ADDRESS="temporal.internal": host:port'),
    );
    assert.equal(resolveSettings({}, { TEMPORAL_CONFIG_FILE: profiles }).address, 'profile.example:7233');
  });
});
