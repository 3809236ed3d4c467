/** Git and catalog steps: read the catalog, resolve revisions, pin an environment to a commit. */
import { shortSha } from '../../domain/index.ts';
import { defineStep } from './step.ts';
import type { EnvironmentInput } from './aws.ts';

/** `load-catalog`: reads and validates the environment catalog. Read-only (local); the only call before validation. */
export const loadCatalog = defineStep({
  profile: 'short',
  local: true,
  timeoutSeconds: 60,
  title: 'load environment catalog',
  summary: (_input: Record<string, never>) => 'load environment catalog',
  run: ({ activities, options }, _input: Record<string, never>) =>
    activities.loadCatalog.executeWithOptions(options, []),
  describe: (c) => `${c.environments.length} environments; promotion order ${c.promotionOrder.join(' → ')}`,
});

/** `resolve-revision`: a branch, tag or short SHA to a full commit on the GitOps remote. Read-only (local). */
export const resolveRevision = defineStep({
  profile: 'short',
  local: true,
  timeoutSeconds: 120,
  title: 'resolve revision',
  summary: ({ revision }: { readonly revision: string }) => `resolve revision ${revision}`,
  run: ({ activities, options }, input: { readonly revision: string }) =>
    activities.resolveRevision.executeWithOptions(options, [input]),
  describe: (r) => r.commit,
});

/** Input of `pin-revision`. */
export interface PinInput extends EnvironmentInput {
  readonly commit: string;
}

/** `pin-revision`: commits and pushes the environment's pin; no commit when already pinned. */
export const pinRevision = defineStep({
  profile: 'short',
  timeoutSeconds: 180,
  title: 'pin revision in Git',
  summary: ({ environment, commit }: PinInput) => `pin ${environment.name} to ${shortSha(commit)} in Git`,
  run: ({ activities, options }, input: PinInput) => activities.pinRevision.executeWithOptions(options, [input]),
  describe: (r) => (r.changed ? `pushed ${shortSha(r.pinCommit)}` : 'already pinned'),
});
