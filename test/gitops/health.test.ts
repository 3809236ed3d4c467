/**
 * The Argo CD health checks run in a real Lua interpreter (Lua 5.4 in WebAssembly) against sample
 * objects of each kind: Healthy, Progressing and Degraded cases. Argo CD runs them on gopher-lua
 * (Lua 5.1), so the scripts are also checked for syntax that 5.1 lacks.
 *
 * The samples follow what the controllers really write (OLM's Subscription conditions and states, the Loki
 * Operator's Ready/Pending/Failed/Degraded/Warning, the Cluster Logging Operator's
 * `observability.openshift.io/`-prefixed Authorized and Valid) and Argo CD's own Subscription check and its
 * fixtures — including the states where a missing or stale object is normal: an installed operator whose
 * InstallPlan OLM pruned, the old CSV being replaced during an upgrade, a superseded Manual InstallPlan, the
 * conditions the Loki Operator leaves False.
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
    { name: 'Ready with Warning=True (a schema upgrade is due): warned, not degraded', status: 'Healthy', message: /warning \(StorageNeedsSchemaUpdate\)/, obj: { ...meta(), status: { conditions: [cond('Ready', 'True', 'ReadyComponents'), cond('Warning', 'True', 'StorageNeedsSchemaUpdate', 'The schema configuration does not contain the most recent schema version')] } } },
    { name: 'Ready after recovering: old Degraded and Failed left False (normal)', status: 'Healthy', obj: { ...meta(), status: { conditions: [cond('Degraded', 'False', 'MissingObjectStorageSecret'), cond('Failed', 'False', 'FailedComponents'), cond('Pending', 'False', 'PendingComponents'), cond('Ready', 'True', 'ReadyComponents')] } } },
    { name: 'storage secret invalid (the operator\'s own reason)', status: 'Degraded', message: /InvalidObjectStorageSecret/, obj: { ...meta(), status: { conditions: [cond('Degraded', 'True', 'InvalidObjectStorageSecret', 'Invalid object storage secret contents: missing secret field: bucketnames')] } } },
    { name: 'Unmanaged: the operator leaves it alone', status: 'Suspended', obj: { ...meta(), spec: { managementState: 'Unmanaged' }, status: { conditions: [cond('Pending', 'True', 'PendingComponents')] } } },
  ],
  ClusterLogForwarder: [
    { name: 'authorized, valid, ready', status: 'Healthy', obj: { ...meta(), status: { conditions: [cond('Authorized', 'True'), cond('Valid', 'True'), cond('Ready', 'True')], outputConditions: [cond('outputs', 'True')] } } },
    { name: 'no status yet', status: 'Progressing', obj: { ...meta() } },
    { name: 'only authorized so far', status: 'Progressing', obj: { ...meta(), status: { conditions: [cond('Authorized', 'True')] } } },
    { name: 'conditions of an older generation', status: 'Progressing', obj: { ...meta(3), status: { conditions: [cond('Valid', 'False', 'ValidationFailure', '', { observedGeneration: 2 })] } } },
    { name: 'not authorized', status: 'Degraded', message: /Authorized=False/, obj: { ...meta(), status: { conditions: [cond('Authorized', 'False', 'ClusterRoleMissing', 'insufficient permissions on service account')] } } },
    { name: 'invalid spec', status: 'Degraded', message: /ValidationFailure/, obj: { ...meta(), status: { conditions: [cond('Authorized', 'True'), cond('Valid', 'False', 'ValidationFailure', 'one or more outputs are invalid')] } } },
    { name: 'an output failing', status: 'Degraded', message: /outputConditions/, obj: { ...meta(), status: { conditions: [cond('Authorized', 'True'), cond('Valid', 'True'), cond('Ready', 'True')], outputConditions: [cond('output-default-lokistack', 'False', 'ValidationFailure', 'secret missing')] } } },
    { name: 'as the operator writes it (observability.openshift.io/ prefixes, LogLevel, per-part conditions)', status: 'Healthy', obj: { ...meta(), status: { conditions: [cond('observability.openshift.io/Authorized', 'True', 'ClusterRolesExist'), cond('observability.openshift.io/LogLevel', 'True', 'ValidationSuccess'), cond('observability.openshift.io/Valid', 'True', 'ValidationSuccess'), cond('Ready', 'True', 'ReconciliationComplete')], inputConditions: [cond('observability.openshift.io/ValidInput-application', 'True', 'ValidationSuccess')], outputConditions: [cond('observability.openshift.io/ValidOutput-default-lokistack', 'True', 'ValidationSuccess')], pipelineConditions: [cond('observability.openshift.io/ValidPipeline-default-logstore', 'True', 'ValidationSuccess', 'pipeline "default-logstore" is valid')] } } },
    { name: 'prefixed Authorized=False (ClusterRoleMissing: the collector is undeployed)', status: 'Degraded', message: /Authorized=False \(ClusterRoleMissing\): insufficient permissions/, obj: { ...meta(), status: { conditions: [cond('observability.openshift.io/Authorized', 'False', 'ClusterRoleMissing', 'insufficient permissions on service account, not authorized to collect ["audit"] logs')] } } },
    { name: 'a pipeline whose refs are not found', status: 'Degraded', message: /pipelineConditions .*refs not found/, obj: { ...meta(), status: { conditions: [cond('observability.openshift.io/Authorized', 'True')], pipelineConditions: [cond('observability.openshift.io/ValidPipeline-p', 'False', 'ValidationFailure', 'refs not found: outputs[nowhere]')] } } },
    { name: 'prefixed Valid of an older generation', status: 'Progressing', message: /Valid reflects generation 1/, obj: { ...meta(2), status: { conditions: [cond('observability.openshift.io/Valid', 'True', 'ValidationSuccess', '', { observedGeneration: 1 })] } } },
    { name: 'Unmanaged: the operator leaves it alone', status: 'Suspended', obj: { ...meta(), spec: { managementState: 'Unmanaged' } } },
  ],
  Subscription: [
    { name: 'installed, at latest', status: 'Healthy', message: /loki-operator.v6.4.0 installed/, obj: { ...meta(), status: { state: 'AtLatestKnown', installedCSV: 'loki-operator.v6.4.0', currentCSV: 'loki-operator.v6.4.0' } } },
    { name: 'installed, newer CSV awaiting Manual approval', status: 'Healthy', message: /waits for its InstallPlan/, obj: { ...meta(), status: { state: 'UpgradePending', installedCSV: 'loki-operator.v6.4.0', currentCSV: 'loki-operator.v6.4.1', conditions: [cond('InstallPlanPending', 'True', 'RequiresApproval')] } } },
    { name: 'no status yet', status: 'Progressing', obj: { ...meta() } },
    { name: 'first install awaiting approval', status: 'Progressing', message: /RequiresApproval/, obj: { ...meta(), status: { state: 'UpgradePending', currentCSV: 'loki-operator.v6.4.0', conditions: [cond('InstallPlanPending', 'True', 'RequiresApproval')] } } },
    { name: 'resolution failed', status: 'Degraded', message: /ResolutionFailed/, obj: { ...meta(), status: { conditions: [cond('ResolutionFailed', 'True', 'ConstraintsNotSatisfiable', 'no operators found in channel stable-9.9')] } } },
    { name: 'catalog unhealthy', status: 'Degraded', obj: { ...meta(), status: { conditions: [cond('CatalogSourcesUnhealthy', 'True', 'UnhealthyCatalogSourceFound')] } } },
    {
      name: 'installed, at latest, its InstallPlan pruned by OLM (InstallPlanMissing/ReferencedInstallPlanNotFound): the issue\'s case',
      status: 'Healthy',
      message: /loki-operator.v6.4.0 installed; its InstallPlan was pruned by OLM \(ReferencedInstallPlanNotFound\)/,
      obj: { ...meta(), status: { state: 'AtLatestKnown', installedCSV: 'loki-operator.v6.4.0', currentCSV: 'loki-operator.v6.4.0', installPlanRef: { kind: 'InstallPlan', name: 'install-jx26v' }, conditions: [cond('CatalogSourcesUnhealthy', 'False', 'AllCatalogSourcesHealthy', 'all available catalogsources are healthy'), cond('InstallPlanMissing', 'True', 'ReferencedInstallPlanNotFound')] } },
    },
    { name: 'upgrade pending on a Manual plan while the old plan is pruned', status: 'Healthy', message: /waits for its InstallPlan; its InstallPlan was pruned/, obj: { ...meta(), status: { state: 'UpgradePending', installedCSV: 'loki-operator.v6.4.0', currentCSV: 'loki-operator.v6.4.1', conditions: [cond('InstallPlanMissing', 'True', 'ReferencedInstallPlanNotFound'), cond('InstallPlanPending', 'True', 'RequiresApproval')] } } },
    { name: 'installed, a newer CSV available (UpgradeAvailable)', status: 'Healthy', message: /cluster-logging.v6.4.0 installed; cluster-logging.v6.4.1 waits/, obj: { ...meta(), status: { state: 'UpgradeAvailable', installedCSV: 'cluster-logging.v6.4.0', currentCSV: 'cluster-logging.v6.4.1' } } },
    { name: 'installed, package deprecated: reported, not degraded', status: 'Healthy', message: /deprecated: channel stable-6.2 is deprecated/, obj: { ...meta(), status: { state: 'AtLatestKnown', installedCSV: 'cluster-logging.v6.2.3', conditions: [cond('ChannelDeprecated', 'True', 'Deprecated', 'channel stable-6.2 is deprecated'), cond('Deprecated', 'True', 'Deprecated', 'channel stable-6.2 is deprecated')] } } },
    { name: 'nothing installed and the referenced InstallPlan gone: OLM will not plan again by itself', status: 'Degraded', message: /InstallPlanMissing \(ReferencedInstallPlanNotFound\)/, obj: { ...meta(), status: { state: 'UpgradePending', currentCSV: 'loki-operator.v6.4.0', conditions: [cond('InstallPlanMissing', 'True', 'ReferencedInstallPlanNotFound')] } } },
    { name: 'InstallPlanMissing for another reason, even when installed', status: 'Degraded', message: /InstallPlanMissing \(InstallPlanNotFound\)/, obj: { ...meta(), status: { state: 'AtLatestKnown', installedCSV: 'loki-operator.v6.4.0', conditions: [cond('InstallPlanMissing', 'True', 'InstallPlanNotFound', 'plan gone')] } } },
    { name: 'InstallPlanMissing left False by OLM (normal)', status: 'Healthy', obj: { ...meta(), status: { state: 'AtLatestKnown', installedCSV: 'loki-operator.v6.4.0', conditions: [cond('InstallPlanMissing', 'False', 'ReferencedInstallPlanFound')] } } },
    { name: 'InstallPlan failed', status: 'Degraded', message: /InstallPlanFailed/, obj: { ...meta(), status: { state: 'UpgradePending', currentCSV: 'loki-operator.v6.4.0', conditions: [cond('InstallPlanFailed', 'True', 'InstallCheckFailed', 'install timeout')] } } },
    { name: 'bundle unpack failed', status: 'Degraded', message: /BundleUnpackFailed \(ErrorPreventedUnpacking\)/, obj: { ...meta(), status: { conditions: [cond('BundleUnpackFailed', 'True', 'ErrorPreventedUnpacking', 'bundle image pull failed')] } } },
    { name: 'bundle unpacking', status: 'Progressing', obj: { ...meta(), status: { currentCSV: 'loki-operator.v6.4.0', conditions: [cond('BundleUnpacking', 'True', 'UnpackingInProgress')] } } },
    { name: 'upgrade failed (state UpgradeFailed)', status: 'Degraded', message: /UpgradeFailed/, obj: { ...meta(), status: { state: 'UpgradeFailed', installedCSV: 'loki-operator.v6.4.0', currentCSV: 'loki-operator.v6.4.1' } } },
    { name: 'being deleted (Argo CD\'s terminating fixture)', status: 'Progressing', message: /Being deleted/, obj: { metadata: { name: 'x', deletionTimestamp: '2024-01-01T00:00:00Z', finalizers: ['example.com/finalizer'] } } },
  ],
  ClusterServiceVersion: [
    { name: 'Succeeded', status: 'Healthy', obj: { ...meta(), status: { phase: 'Succeeded', reason: 'InstallSucceeded', message: 'install strategy completed with no errors' } } },
    { name: 'no status yet', status: 'Progressing', obj: { ...meta() } },
    { name: 'Installing', status: 'Progressing', obj: { ...meta(), status: { phase: 'Installing', reason: 'InstallWaiting' } } },
    { name: 'Failed', status: 'Degraded', message: /InstallCheckFailed/, obj: { ...meta(), status: { phase: 'Failed', reason: 'InstallCheckFailed', message: 'deployment not ready' } } },
    { name: 'the old CSV during an upgrade (Replacing): stale and normal', status: 'Healthy', message: /Replacing: replaced by a newer version \(BeingReplaced\)/, obj: { ...meta(), status: { phase: 'Replacing', reason: 'BeingReplaced', message: 'being replaced by csv: loki-operator.v6.4.1' } } },
    { name: 'the old CSV after the upgrade (Deleting)', status: 'Healthy', obj: { ...meta(), status: { phase: 'Deleting', reason: 'Replaced', message: 'has been replaced by a newer ClusterServiceVersion that has successfully installed.' } } },
    { name: 'a copied CSV in a watched namespace', status: 'Healthy', message: /Copied/, obj: { ...meta(), status: { phase: 'Succeeded', reason: 'Copied', message: 'The operator is running in openshift-operators-redhat but is managing this namespace' } } },
    { name: 'requirements not met yet (Pending)', status: 'Progressing', message: /RequirementsNotMet/, obj: { ...meta(), status: { phase: 'Pending', reason: 'RequirementsNotMet', message: 'one or more requirements couldn\'t be found' } } },
  ],
  InstallPlan: [
    { name: 'Complete', status: 'Healthy', message: /cluster-logging.v6.4.0/, obj: { ...meta(), spec: { approved: true, clusterServiceVersionNames: ['cluster-logging.v6.4.0'] }, status: { phase: 'Complete' } } },
    { name: 'no status yet', status: 'Progressing', obj: { ...meta() } },
    { name: 'Installing', status: 'Progressing', obj: { ...meta(), spec: { approved: true, clusterServiceVersionNames: ['cluster-logging.v6.4.0'] }, status: { phase: 'Installing' } } },
    { name: 'approved, phase not yet moved on', status: 'Progressing', obj: { ...meta(), spec: { approved: true, clusterServiceVersionNames: ['a.v1.0.0'] }, status: { phase: 'RequiresApproval' } } },
    { name: 'waiting for Manual approval', status: 'Suspended', message: /approval/, obj: { ...meta(), spec: { approved: false, approval: 'Manual', clusterServiceVersionNames: ['cluster-logging.v6.4.0'] }, status: { phase: 'RequiresApproval' } } },
    { name: 'Failed', status: 'Degraded', message: /BundleLookupFailed/, obj: { ...meta(), spec: { approved: true, clusterServiceVersionNames: ['a.v1.0.0'] }, status: { phase: 'Failed', conditions: [cond('Installed', 'False', 'BundleLookupFailed', 'bundle unpacking failed')] } } },
    { name: 'a superseded Manual plan never approved (stale, kept by OLM): waits, never degrades', status: 'Suspended', obj: { ...meta(), spec: { approved: false, approval: 'Manual', clusterServiceVersionNames: ['loki-operator.v6.4.1'] }, status: { phase: 'RequiresApproval' } } },
    { name: 'an old Complete plan kept after an upgrade', status: 'Healthy', message: /loki-operator.v6.4.0/, obj: { ...meta(), spec: { approved: true, clusterServiceVersionNames: ['loki-operator.v6.4.0'] }, status: { phase: 'Complete' } } },
    { name: 'Planning', status: 'Progressing', obj: { ...meta(), spec: { approved: true, clusterServiceVersionNames: ['a.v1.0.0'] }, status: { phase: 'Planning' } } },
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
