/** Kubernetes steps: the ESO store credential, overlays (render, apply, dry-run, prune) and the deployed-state record. */
import { shortSha, type DiffSummary, type Environment } from '../../domain/index.ts';
import { defineStep } from './step.ts';
import type { EnvironmentInput } from './aws.ts';

/** One line for a dry-run or apply diff: counts, and destructive changes by name. */
export function describeDiff(diff: DiffSummary): string {
  const counts = `+${diff.created.length} ~${diff.changed.length} -${diff.toBeDeleted.length} =${diff.unchanged}`;
  return diff.destructive.length > 0 ? `${counts}; destructive: ${diff.destructive.join(', ')}` : counts;
}

/** `ensure-store-credential`: static-mode ESO's AWS credential Secret, created in the cluster (never in Git or history). */
export const ensureStoreCredential = defineStep({
  profile: 'short',
  timeoutSeconds: 120,
  title: 'ensure ESO store credential',
  summary: ({ environment }: EnvironmentInput) =>
    environment.aws.credentialMode === 'static'
      ? `ensure ESO store credential in ${environment.name}`
      : `check ESO store credential in ${environment.name} (sts: nothing to create)`,
  run: ({ activities, options }, input: EnvironmentInput) =>
    activities.ensureStoreCredential.executeWithOptions(options, [input]),
  describe: (r) => `${r.namespace}/${r.name}${r.created ? ' (created)' : ''}`,
});

/** Input of the overlay steps. */
export interface OverlayInput {
  readonly environment: Environment;
  readonly revision: string;
  /** Defaults to the environment's overlay. */
  readonly overlay?: string;
}

const overlayOf = (i: OverlayInput): string => i.overlay ?? i.environment.overlay;

/** `apply-overlay`: render + server-side apply, no pruning. `ManifestRejected` with the API server's message. */
export const applyOverlay = defineStep({
  profile: 'apply',
  timeoutSeconds: 600,
  title: 'apply overlay',
  summary: (i: OverlayInput) => `apply ${overlayOf(i)} at ${shortSha(i.revision)} to ${i.environment.name}`,
  run: ({ activities, options }, i: OverlayInput) =>
    activities.applyOverlay.executeWithOptions(options, [
      { environment: i.environment, revision: i.revision, overlay: overlayOf(i), prune: false },
    ]),
  describe: (r) => `${r.applied} objects applied at ${shortSha(r.commit)} (${describeDiff(r.diff)})`,
});

/**
 * `render-overlay`: kustomize build of the overlay at a revision, touching no cluster. Read-only (local).
 * `InvalidInput` when the overlay does not exist.
 */
export const renderOverlay = defineStep({
  profile: 'apply',
  local: true,
  timeoutSeconds: 300,
  title: 'render overlay',
  summary: (i: OverlayInput) => `render ${overlayOf(i)} at ${shortSha(i.revision)} for ${i.environment.name}`,
  run: ({ activities, options }, i: OverlayInput) =>
    activities.renderOverlay.executeWithOptions(options, [
      { environment: i.environment, revision: i.revision, overlay: overlayOf(i) },
    ]),
  describe: (r) => `${r.objects} objects at ${shortSha(r.commit)}`,
});

/** `diff-overlay`: server-side dry-run of the overlay; returns the diff summary only (names, never contents). */
export const diffOverlay = defineStep({
  profile: 'apply',
  timeoutSeconds: 600,
  title: 'dry-run diff',
  summary: (i: OverlayInput) => `dry-run ${overlayOf(i)} at ${shortSha(i.revision)} against ${i.environment.name}`,
  run: ({ activities, options }, i: OverlayInput) =>
    activities.applyOverlay.executeWithOptions(options, [
      { environment: i.environment, revision: i.revision, overlay: overlayOf(i), dryRun: true },
    ]),
  describe: (r) => describeDiff(r.diff),
});

/** `prune-overlay`: apply again with pruning on; removes only labelled objects no longer rendered. Run after the gates. */
export const pruneOverlay = defineStep({
  profile: 'apply',
  timeoutSeconds: 600,
  title: 'prune objects removed from Git',
  summary: (i: OverlayInput) => `prune ${overlayOf(i)} at ${shortSha(i.revision)} in ${i.environment.name}`,
  run: ({ activities, options }, i: OverlayInput) =>
    activities.applyOverlay.executeWithOptions(options, [
      { environment: i.environment, revision: i.revision, overlay: overlayOf(i), prune: true },
    ]),
  describe: (r) => (r.diff.toBeDeleted.length > 0 ? `pruned ${r.diff.toBeDeleted.join(', ')}` : 'nothing to prune'),
});

/** `read-deployed-state`: the deployed-revision record of the environment. Read-only. */
export const readDeployedState = defineStep({
  profile: 'short',
  timeoutSeconds: 60,
  title: 'read deployed state',
  summary: ({ environment }: EnvironmentInput) => `read deployed state of ${environment.name}`,
  run: ({ activities, options }, input: EnvironmentInput) =>
    activities.readDeployedState.executeWithOptions(options, [input]),
  describe: (s) => (s ? `${shortSha(s.revision)} ${s.verified ? 'verified' : 'not verified'}` : 'nothing recorded yet'),
});

/** Input of `record-deployed-state`. */
export interface RecordInput extends EnvironmentInput {
  readonly revision: string;
  readonly verified: boolean;
  /** The last verified revision before `revision`. */
  readonly previousRevision: string | null;
}

/** `record-deployed-state`: writes the deployed-revision record. Idempotent for the same content. */
export const recordDeployedState = defineStep({
  profile: 'short',
  timeoutSeconds: 60,
  title: 'record deployed state',
  summary: (i: RecordInput) =>
    `record ${i.environment.name} at ${shortSha(i.revision)} (${i.verified ? 'verified' : 'not yet verified'})`,
  run: ({ activities, options }, input: RecordInput) =>
    activities.recordDeployedState.executeWithOptions(options, [input]),
  describe: (s) =>
    `${shortSha(s.revision)} ${s.verified ? `verified${s.verifiedAt ? ` at ${s.verifiedAt}` : ''}` : 'not verified'}`,
});
