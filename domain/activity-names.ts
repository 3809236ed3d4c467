/**
 * The name of every activity of {@link LogstackActivities}, as a value: what a worker registers before the
 * activity modules (and their Kubernetes and AWS clients) are loaded. The compiler keeps the list exact —
 * a name missing here or not in the contract fails the build.
 */
import type { LogstackActivities } from './activity-contract.ts';

/** Every activity name, in the contract's order. */
export const ACTIVITY_NAMES = [
  'loadCatalog',
  'acquireLock',
  'releaseLock',
  'awaitLockHolderClose',
  'ensureBucket',
  'ensureLokiCredentials',
  'seedLokiSecret',
  'planAws',
  'ensureStoreCredential',
  'renderOverlay',
  'applyOverlay',
  'readDeployedState',
  'recordDeployedState',
  'waitForExternalSecretSynced',
  'waitForSecretStoreReady',
  'waitForArgoAppAtRevision',
  'waitForOperatorsSucceeded',
  'approvePinnedInstallPlans',
  'waitForLokiStackReady',
  'waitForLogForwarderReady',
  'resolveRevision',
  'pinRevision',
  'inventoryLiveObjects',
  'adoptObjects',
  'scanDrift',
  'remediateFinding',
  'recordEvidence',
  'notify',
] as const satisfies readonly (keyof LogstackActivities)[];

/** An activity name. */
export type ActivityName = (typeof ACTIVITY_NAMES)[number];

/** Fails to compile when the contract has an activity the list lacks. */
const exhaustive: [Exclude<keyof LogstackActivities, ActivityName>] extends [never] ? true : never = true;
void exhaustive;
