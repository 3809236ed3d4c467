/**
 * Gate steps: watch-driven activities that heartbeat and stop with `GateFailed` when their budget runs out
 * (or fail fast, e.g. on Argo CD Degraded). One step per {@link GateKind}.
 */
import { GateKinds, shortSha, type Environment, type GateKind } from '../../domain/index.ts';
import type { GateOutcome } from '../../domain/activity-contract.ts';
import { defineStep } from './step.ts';
import type { EnvironmentInput } from './aws.ts';

const describeGate = (g: GateOutcome): string => `${g.detail} (after ${Math.round(g.waitedMs / 1000)} s)`;

/** `wait-external-secret-synced`: forced refresh, store Ready, SecretSynced after the force, exact Loki keys. */
export const waitExternalSecretSynced = defineStep({
  profile: 'gate',
  timeoutSeconds: 300,
  title: 'wait for ExternalSecret synced',
  summary: ({ environment }: EnvironmentInput) => `wait for ExternalSecret ${environment.loki.secretName} synced in ${environment.name}`,
  run: ({ activities, options, timeoutSeconds }, { environment }: EnvironmentInput) =>
    activities.waitForExternalSecretSynced.executeWithOptions(options, [{ environment, timeoutSeconds }]),
  describe: describeGate,
});

/** `wait-secret-store-ready`: after the bootstrap overlay, every logstack ClusterSecretStore is Ready. */
export const waitSecretStoreReady = defineStep({
  profile: 'gate',
  timeoutSeconds: 300,
  title: 'wait for ClusterSecretStore Ready',
  summary: ({ environment }: EnvironmentInput) => `wait for ClusterSecretStore Ready in ${environment.name}`,
  run: ({ activities, options, timeoutSeconds }, { environment }: EnvironmentInput) =>
    activities.waitForSecretStoreReady.executeWithOptions(options, [{ environment, timeoutSeconds }]),
  describe: describeGate,
});

/** Input of `wait-argocd-app`. */
export interface ArgoInput extends EnvironmentInput {
  readonly revision: string;
}

/** `wait-argocd-app`: Application synced at exactly `revision`, Healthy, last operation Succeeded. */
export const waitArgoApp = defineStep({
  profile: 'gate',
  timeoutSeconds: 900,
  title: 'wait for Argo CD app',
  summary: ({ environment, revision }: ArgoInput) => `wait for Argo app ${environment.argocd?.application ?? environment.name} at ${shortSha(revision)}`,
  run: ({ activities, options, timeoutSeconds }, { environment, revision }: ArgoInput) =>
    activities.waitForArgoAppAtRevision.executeWithOptions(options, [{ environment, revision, timeoutSeconds }]),
  describe: describeGate,
});

/** `wait-operators-succeeded`: every Subscription's installed CSV in phase Succeeded. */
export const waitOperatorsSucceeded = defineStep({
  profile: 'gate',
  timeoutSeconds: 900,
  title: 'wait for operators Succeeded',
  summary: ({ environment }: EnvironmentInput) => `wait for operator CSVs Succeeded in ${environment.name}`,
  run: ({ activities, options, timeoutSeconds }, { environment }: EnvironmentInput) =>
    activities.waitForOperatorsSucceeded.executeWithOptions(options, [{ environment, timeoutSeconds }]),
  describe: describeGate,
});

/** `wait-lokistack-ready`: LokiStack Ready=True. */
export const waitLokiStackReady = defineStep({
  profile: 'gate',
  timeoutSeconds: 900,
  title: 'wait for LokiStack Ready',
  summary: ({ environment }: EnvironmentInput) => `wait for LokiStack ${environment.loki.stackName} Ready in ${environment.name}`,
  run: ({ activities, options, timeoutSeconds }, { environment }: EnvironmentInput) =>
    activities.waitForLokiStackReady.executeWithOptions(options, [{ environment, timeoutSeconds }]),
  describe: describeGate,
});

/** `approve-install-plans`: approve Manual InstallPlans that install exactly the CSV pinned in Git. */
export const approveInstallPlans = defineStep({
  profile: 'short',
  timeoutSeconds: 120,
  title: 'approve pinned InstallPlans',
  summary: ({ environment }: EnvironmentInput) => `approve pinned InstallPlans in ${environment.name}`,
  run: ({ activities, options }, { environment }: EnvironmentInput) => activities.approvePinnedInstallPlans.executeWithOptions(options, [{ environment }]),
  describe: (r: { approved: string[]; leftForAPerson: string[] }) =>
    `${r.approved.length ? `approved ${r.approved.join('; ')}` : 'nothing to approve'}${r.leftForAPerson.length ? `; left for a person: ${r.leftForAPerson.join(', ')}` : ''}`,
});

/** `wait-log-forwarder-ready`: ClusterLogForwarder Authorized, Valid and Ready. */
export const waitLogForwarderReady = defineStep({
  profile: 'gate',
  timeoutSeconds: 600,
  title: 'wait for ClusterLogForwarder Ready',
  summary: ({ environment }: EnvironmentInput) => `wait for ClusterLogForwarder Ready in ${environment.name}`,
  run: ({ activities, options, timeoutSeconds }, { environment }: EnvironmentInput) =>
    activities.waitForLogForwarderReady.executeWithOptions(options, [{ environment, timeoutSeconds }]),
  describe: describeGate,
});

/** The step kind that checks each catalog gate. */
export const gateSteps = {
  [GateKinds.externalSecretsSynced]: 'wait-external-secret-synced',
  [GateKinds.operatorsSucceeded]: 'wait-operators-succeeded',
  [GateKinds.lokiStackReady]: 'wait-lokistack-ready',
  [GateKinds.logForwarderReady]: 'wait-log-forwarder-ready',
  [GateKinds.argoAppAtRevision]: 'wait-argocd-app',
} as const satisfies Record<GateKind, string>;

/** The gates an environment checks after delivery, in catalog order, without repeats. */
export function gatesOf(environment: Environment): GateKind[] {
  return [...new Set(environment.gates)];
}
