/**
 * Gate steps: watch-driven activities that heartbeat and stop with `GateFailed` when their budget runs out
 * (or fail fast, e.g. on Argo CD Degraded). One step per {@link GateKind}, all made by one factory.
 */
import { GateKinds, shortSha, type Environment, type GateKind } from '../../domain/index.ts';
import type { ActivityFunctionWithOptions } from '@temporalio/workflow';
import type { GateOutcome, LogstackActivities } from '../../domain/activity-contract.ts';
import { defineStep, type StepDefinition } from './step.ts';
import type { EnvironmentInput } from './aws.ts';

/** The activities that wait for a gate: they take a wait budget and report a {@link GateOutcome}. */
type GateActivity = {
  [K in keyof LogstackActivities]: LogstackActivities[K] extends (input: infer I) => Promise<GateOutcome>
    ? 'timeoutSeconds' extends keyof I
      ? K
      : never
    : never;
}[keyof LogstackActivities];

/** What a gate step takes: its activity's input without the wait budget, which the step adds. */
type GateInput<K extends GateActivity> = Omit<Parameters<LogstackActivities[K]>[0], 'timeoutSeconds'>;

/**
 * A gate step: runs `activity` on the gate profile with the step's wait budget added to its input, and
 * describes the outcome with how long it waited.
 */
function gateStep<K extends GateActivity>(
  activity: K,
  spec: { readonly timeoutSeconds: number; readonly title: string; readonly summary: (input: GateInput<K>) => string },
): StepDefinition<GateInput<K>, GateOutcome> {
  return defineStep({
    profile: 'gate',
    ...spec,
    run: ({ activities, options, timeoutSeconds }, input: GateInput<K>) => {
      const call = activities[activity] as ActivityFunctionWithOptions<
        (input: GateInput<K> & { timeoutSeconds: number }) => Promise<GateOutcome>
      >;
      return call.executeWithOptions(options, [{ ...input, timeoutSeconds }]);
    },
    describe: (g) => `${g.detail} (after ${Math.round(g.waitedMs / 1000)} s)`,
  });
}

/** `wait-external-secret-synced`: forced refresh, store Ready, SecretSynced after the force, exact Loki keys. */
export const waitExternalSecretSynced = gateStep('waitForExternalSecretSynced', {
  timeoutSeconds: 300,
  title: 'wait for ExternalSecret synced',
  summary: ({ environment }) => `wait for ExternalSecret ${environment.loki.secretName} synced in ${environment.name}`,
});

/** `wait-secret-store-ready`: after the bootstrap overlay, every logstack ClusterSecretStore is Ready. */
export const waitSecretStoreReady = gateStep('waitForSecretStoreReady', {
  timeoutSeconds: 300,
  title: 'wait for ClusterSecretStore Ready',
  summary: ({ environment }) => `wait for ClusterSecretStore Ready in ${environment.name}`,
});

/** `wait-argocd-app`: Application synced at exactly `revision`, Healthy, last operation Succeeded. */
export const waitArgoApp = gateStep('waitForArgoAppAtRevision', {
  timeoutSeconds: 900,
  title: 'wait for Argo CD app',
  summary: ({ environment, revision }) =>
    `wait for Argo app ${environment.argocd?.application ?? environment.name} at ${shortSha(revision)}`,
});

/** `wait-operators-succeeded`: every Subscription's installed CSV in phase Succeeded. */
export const waitOperatorsSucceeded = gateStep('waitForOperatorsSucceeded', {
  timeoutSeconds: 900,
  title: 'wait for operators Succeeded',
  summary: ({ environment }) => `wait for operator CSVs Succeeded in ${environment.name}`,
});

/** `wait-lokistack-ready`: LokiStack Ready=True. */
export const waitLokiStackReady = gateStep('waitForLokiStackReady', {
  timeoutSeconds: 900,
  title: 'wait for LokiStack Ready',
  summary: ({ environment }) => `wait for LokiStack ${environment.loki.stackName} Ready in ${environment.name}`,
});

/** `wait-log-forwarder-ready`: ClusterLogForwarder Authorized, Valid and Ready. */
export const waitLogForwarderReady = gateStep('waitForLogForwarderReady', {
  timeoutSeconds: 600,
  title: 'wait for ClusterLogForwarder Ready',
  summary: ({ environment }) => `wait for ClusterLogForwarder Ready in ${environment.name}`,
});

/** `approve-install-plans`: approve Manual InstallPlans that install exactly the CSV pinned in Git. Not a wait: no budget. */
export const approveInstallPlans = defineStep({
  profile: 'short',
  timeoutSeconds: 120,
  title: 'approve pinned InstallPlans',
  summary: ({ environment }: EnvironmentInput) => `approve pinned InstallPlans in ${environment.name}`,
  run: ({ activities, options }, { environment }: EnvironmentInput) =>
    activities.approvePinnedInstallPlans.executeWithOptions(options, [{ environment }]),
  describe: (r: { approved: string[]; leftForAPerson: string[] }) =>
    `${r.approved.length ? `approved ${r.approved.join('; ')}` : 'nothing to approve'}${r.leftForAPerson.length ? `; left for a person: ${r.leftForAPerson.join(', ')}` : ''}`,
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
