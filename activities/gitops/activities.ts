/**
 * The Git activities (resolve, pin, read pin) and `renderOverlay`, over one lazily opened working
 * clone per worker.
 */
import { isCommitSha, type Environment } from '../../domain/index.ts';
import type { GitRepo } from './git.ts';
import { pinRevision, readPinnedRevision } from './pins.ts';
import { assertOperatorRules } from './preflight.ts';
import type { OverlayRenderer } from './render.ts';
import { resolveRevision } from './revisions.ts';

/** Supplies the working clone and the renderer (opened on first use). */
export interface GitopsDeps {
  readonly repo: () => Promise<GitRepo>;
  readonly renderer: () => Promise<OverlayRenderer>;
}

/** Creates the Git activities and `renderOverlay`. */
export function createGitopsActivities(deps: GitopsDeps) {
  return {
    /**
     * Resolves a tag, branch or (short) SHA on the GitOps remote to a full commit. Read-only.
     * @throws ApplicationFailure `InvalidInput` when the syntax is wrong or the remote has no such revision.
     */
    resolveRevision: async (input: { revision: string }): Promise<{ commit: string }> => {
      return { commit: await resolveRevision(await deps.repo(), input.revision) };
    },

    /**
     * Pins the environment to `commit` in `gitops/apps/environments/<env>.yaml` (commit + push).
     * Idempotent: no commit when already pinned; concurrent pushes are retried on the new tip. The overlay at
     * `commit` is rendered and held to the operators' rules first (`preflight.ts`), so Git never points Argo CD
     * at manifests the operators would refuse.
     * @throws ApplicationFailure `InvalidInput` for a non-SHA or unknown commit; `OperatorRuleViolation` or
     *   `ManifestRejected` (the overlay does not render) before anything is pushed.
     */
    pinRevision: async (input: { environment: Environment; commit: string }): Promise<{ pinCommit: string; changed: boolean }> => {
      if (isCommitSha(input.commit)) {
        assertOperatorRules(input.environment, await (await deps.renderer()).render(input.commit, input.environment.overlay));
      }
      return pinRevision(await deps.repo(), input.environment, input.commit);
    },

    /** Reads the commit the environment is pinned to on the remote branch; null when not pinned to a commit. Read-only. */
    readPinnedRevision: async (input: { environment: Environment }): Promise<{ commit: string | null }> => {
      return { commit: await readPinnedRevision(await deps.repo(), input.environment) };
    },

    /**
     * Renders the environment's overlay (or `overlay`) at `revision` with kustomize. Read-only;
     * returns the commit, a digest and counts — never the manifests. The environment's own overlay is held to
     * the operators' rules (`preflight.ts`), so bootstrap, which renders first, stops before any AWS change.
     * @throws ApplicationFailure `InvalidInput` (unknown revision or overlay), `ManifestRejected` (kustomize failed),
     *   `OperatorRuleViolation`.
     */
    renderOverlay: async (input: { environment: Environment; revision: string; overlay?: string }): Promise<{ commit: string; digest: string; objects: number; kinds: Record<string, number> }> => {
      const repo = await deps.repo();
      const commit = await resolveRevision(repo, input.revision);
      const rendered = await (await deps.renderer()).render(commit, input.overlay ?? input.environment.overlay);
      assertOperatorRules(input.environment, rendered);
      return { commit, digest: rendered.digest, objects: rendered.objects.length, kinds: { ...rendered.kinds } };
    },
  };
}
