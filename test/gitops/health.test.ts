/**
 * The Argo CD health checks run in a real Lua interpreter (Lua 5.4 in WebAssembly) against sample
 * objects of each kind: Healthy, Progressing and Degraded cases. Argo CD runs them on gopher-lua
 * (Lua 5.1), so the scripts are also checked for syntax that 5.1 lacks.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { type LuaEngine, LuaFactory } from 'wasmoon';
import { ROOT } from './lib.ts';
import { HEALTH_CHECKS } from './policy.ts';

type Status = 'Healthy' | 'Progressing' | 'Degraded' | 'Suspended';
interface Sample {
  readonly name: string;
  readonly obj: Record<string, unknown>;
  readonly status: Status;
  readonly message?: RegExp;
}

const cond = (type: string, status: 'True' | 'False', reason = '', message = '', extra: Record<string, unknown> = {}) => ({ type, status, reason, message, ...extra });
const meta = (generation = 1) => ({ metadata: { name: 'x', namespace: 'openshift-logging', generation } });

const SAMPLES: Record<string, readonly Sample[]> = {
  LokiStack: [
    { name: 'Ready', status: 'Healthy', obj: { ...meta(), status: { conditions: [cond('Pending', 'False'), cond('Ready', 'True', 'ReadyComponents', 'All components ready')] } } },
    { name: 'no status yet', status: 'Progressing', obj: { ...meta() } },
    { name: 'components pending', status: 'Progressing', message: /PendingComponents/, obj: { ...meta(), status: { conditions: [cond('Pending', 'True', 'PendingComponents', 'some pods are pending')] } } },
    { name: 'Ready of an older generation', status: 'Progressing', message: /generation 1/, obj: { ...meta(2), status: { conditions: [cond('Ready', 'True', 'ReadyComponents', '', { observedGeneration: 1 })] } } },
    { name: 'storage secret missing', status: 'Degraded', message: /MissingObjectStorageSecret/, obj: { ...meta(), status: { conditions: [cond('Ready', 'False'), cond('Degraded', 'True', 'MissingObjectStorageSecret', 'Missing secrets for object storage')] } } },
    { name: 'failed', status: 'Degraded', obj: { ...meta(), status: { conditions: [cond('Failed', 'True', 'FailedComponents', 'ingester crashed')] } } },
  ],
  ClusterLogForwarder: [
    { name: 'authorized, valid, ready', status: 'Healthy', obj: { ...meta(), status: { conditions: [cond('Authorized', 'True'), cond('Valid', 'True'), cond('Ready', 'True')], outputConditions: [cond('outputs', 'True')] } } },
    { name: 'no status yet', status: 'Progressing', obj: { ...meta() } },
    { name: 'only authorized so far', status: 'Progressing', obj: { ...meta(), status: { conditions: [cond('Authorized', 'True')] } } },
    { name: 'conditions of an older generation', status: 'Progressing', obj: { ...meta(3), status: { conditions: [cond('Valid', 'False', 'ValidationFailure', '', { observedGeneration: 2 })] } } },
    { name: 'not authorized', status: 'Degraded', message: /Authorized=False/, obj: { ...meta(), status: { conditions: [cond('Authorized', 'False', 'ClusterRoleMissing', 'insufficient permissions on service account')] } } },
    { name: 'invalid spec', status: 'Degraded', message: /ValidationFailure/, obj: { ...meta(), status: { conditions: [cond('Authorized', 'True'), cond('Valid', 'False', 'ValidationFailure', 'one or more outputs are invalid')] } } },
    { name: 'an output failing', status: 'Degraded', message: /outputConditions/, obj: { ...meta(), status: { conditions: [cond('Authorized', 'True'), cond('Valid', 'True'), cond('Ready', 'True')], outputConditions: [cond('output-default-lokistack', 'False', 'ValidationFailure', 'secret missing')] } } },
  ],
  Subscription: [
    { name: 'installed, at latest', status: 'Healthy', message: /loki-operator.v6.4.0 installed/, obj: { ...meta(), status: { state: 'AtLatestKnown', installedCSV: 'loki-operator.v6.4.0', currentCSV: 'loki-operator.v6.4.0' } } },
    { name: 'installed, newer CSV awaiting Manual approval', status: 'Healthy', message: /waits for its InstallPlan/, obj: { ...meta(), status: { state: 'UpgradePending', installedCSV: 'loki-operator.v6.4.0', currentCSV: 'loki-operator.v6.4.1', conditions: [cond('InstallPlanPending', 'True', 'RequiresApproval')] } } },
    { name: 'no status yet', status: 'Progressing', obj: { ...meta() } },
    { name: 'first install awaiting approval', status: 'Progressing', message: /RequiresApproval/, obj: { ...meta(), status: { state: 'UpgradePending', currentCSV: 'loki-operator.v6.4.0', conditions: [cond('InstallPlanPending', 'True', 'RequiresApproval')] } } },
    { name: 'resolution failed', status: 'Degraded', message: /ResolutionFailed/, obj: { ...meta(), status: { conditions: [cond('ResolutionFailed', 'True', 'ConstraintsNotSatisfiable', 'no operators found in channel stable-9.9')] } } },
    { name: 'catalog unhealthy', status: 'Degraded', obj: { ...meta(), status: { conditions: [cond('CatalogSourcesUnhealthy', 'True', 'UnhealthyCatalogSourceFound')] } } },
  ],
  ClusterServiceVersion: [
    { name: 'Succeeded', status: 'Healthy', obj: { ...meta(), status: { phase: 'Succeeded', reason: 'InstallSucceeded', message: 'install strategy completed with no errors' } } },
    { name: 'no status yet', status: 'Progressing', obj: { ...meta() } },
    { name: 'Installing', status: 'Progressing', obj: { ...meta(), status: { phase: 'Installing', reason: 'InstallWaiting' } } },
    { name: 'Failed', status: 'Degraded', message: /InstallCheckFailed/, obj: { ...meta(), status: { phase: 'Failed', reason: 'InstallCheckFailed', message: 'deployment not ready' } } },
  ],
  InstallPlan: [
    { name: 'Complete', status: 'Healthy', message: /cluster-logging.v6.4.0/, obj: { ...meta(), spec: { approved: true, clusterServiceVersionNames: ['cluster-logging.v6.4.0'] }, status: { phase: 'Complete' } } },
    { name: 'no status yet', status: 'Progressing', obj: { ...meta() } },
    { name: 'Installing', status: 'Progressing', obj: { ...meta(), spec: { approved: true, clusterServiceVersionNames: ['cluster-logging.v6.4.0'] }, status: { phase: 'Installing' } } },
    { name: 'approved, phase not yet moved on', status: 'Progressing', obj: { ...meta(), spec: { approved: true, clusterServiceVersionNames: ['a.v1.0.0'] }, status: { phase: 'RequiresApproval' } } },
    { name: 'waiting for Manual approval', status: 'Suspended', message: /approval/, obj: { ...meta(), spec: { approved: false, approval: 'Manual', clusterServiceVersionNames: ['cluster-logging.v6.4.0'] }, status: { phase: 'RequiresApproval' } } },
    { name: 'Failed', status: 'Degraded', message: /BundleLookupFailed/, obj: { ...meta(), spec: { approved: true, clusterServiceVersionNames: ['a.v1.0.0'] }, status: { phase: 'Failed', conditions: [cond('Installed', 'False', 'BundleLookupFailed', 'bundle unpacking failed')] } } },
  ],
};

let factory: LuaFactory;
before(() => {
  factory = new LuaFactory();
});

/** Runs one health script with `obj` as Argo CD provides it: a plain Lua table. */
async function runCheck(script: string, obj: Record<string, unknown>): Promise<{ status: string; message: string }> {
  const lua: LuaEngine = await factory.createEngine({ enableProxy: false });
  try {
    lua.global.set('obj', obj);
    const hs = (await lua.doString(script)) as { status?: unknown; message?: unknown };
    assert.equal(typeof hs.status, 'string', 'the script must return a table with a string status');
    assert.equal(typeof hs.message, 'string', 'the script must return a table with a string message');
    return { status: hs.status as string, message: hs.message as string };
  } finally {
    lua.global.close();
  }
}

describe('Argo CD health checks (Lua)', () => {
  for (const h of HEALTH_CHECKS) {
    const script = readFileSync(join(ROOT, h.file), 'utf8');
    const samples = SAMPLES[h.kind] ?? [];

    test(`${h.kind}: samples cover Healthy, Progressing and Degraded`, () => {
      for (const s of ['Healthy', 'Progressing', 'Degraded'] as const) assert.ok(samples.some((x) => x.status === s), `${h.kind} has no ${s} sample`);
    });

    test(`${h.kind}: script uses only Lua 5.1 syntax (gopher-lua)`, () => {
      const code = script.replace(/--.*$/gm, '').replace(/"(?:[^"\\]|\\.)*"/g, '""');
      for (const [pattern, what] of [
        [/\bgoto\b/, 'goto'],
        [/\/\//, 'integer division //'],
        [/[^~=<>]=?[&|]|~[^=]|<<|>>/, 'bitwise operators'],
        [/<(const|close)>/, 'attribs'],
        [/\butf8\.|\bmath\.tointeger|\btable\.move|\bstring\.pack/, 'a Lua 5.3+ library function'],
      ] as const) {
        assert.doesNotMatch(code, pattern, `${h.file} uses ${what}, which gopher-lua (Lua 5.1) lacks`);
      }
    });

    for (const s of samples) {
      test(`${h.kind}: ${s.name} → ${s.status}`, async () => {
        const hs = await runCheck(script, s.obj);
        assert.equal(hs.status, s.status, `message: ${hs.message}`);
        assert.ok(hs.message.length > 0, 'every verdict carries a message');
        if (s.message) assert.match(hs.message, s.message);
      });
    }
  }
});
