/**
 * `applyOverlay`: render the environment's overlay at a revision and server-side apply it to the
 * environment's cluster (see overlay.ts for the dry-run-first guarantee).
 */
import type { DiffSummary, Environment } from '../../domain/index.ts';
import type { GitRepo } from '../gitops/git.ts';
import type { OverlayRenderer } from '../gitops/render.ts';
import { assertOperatorRules } from '../gitops/preflight.ts';
import { resolveRevision } from '../gitops/revisions.ts';
import type { KubeClusters } from './cluster.ts';
import { applyOverlayObjects, inventoryId } from './overlay.ts';

/** What `applyOverlay` needs. */
export interface ApplyOverlayDeps {
  readonly clusters: KubeClusters;
  readonly repo: () => Promise<GitRepo>;
  readonly renderer: () => Promise<OverlayRenderer>;
}

/** Creates `applyOverlay`. */
export function createApplyOverlay(deps: ApplyOverlayDeps) {
  /**
   * Server-side applies the overlay rendered at `revision` (field manager `logstack`, inventory label
   * `logstack.io/inventory=<env>.<overlay>` naming the apply set). Every object is dry-run first, so a
   * rejection, a field conflict or a missing kind fails before anything is written. `dryRun` returns
   * the diff summary only, leftovers to delete included; `prune` deletes labelled objects no longer rendered (an
   * apply without it neither deletes nor looks for them: its `toBeDeleted` is empty). Idempotent: a second
   * run applies nothing. Returns names and counts only. The environment's own overlay is held to the operators'
   * rules before the first request to the cluster (`../gitops/preflight.ts`): a violation fails
   * `OperatorRuleViolation` with nothing dry-run or written.
   * @throws ApplicationFailure `OperatorRuleViolation`, `ManifestRejected`, `Conflict`, `MissingCustomResource`, `AccessDenied`, `InvalidInput`.
   */
  return async function applyOverlay(input: { environment: Environment; revision: string; overlay?: string; dryRun?: boolean; prune?: boolean }): Promise<{ commit: string; digest: string; applied: number; diff: DiffSummary }> {
    const env = input.environment;
    const cluster = deps.clusters.forContext(env.cluster.context);
    const commit = await resolveRevision(await deps.repo(), input.revision);
    const overlay = input.overlay ?? env.overlay;
    const rendered = await (await deps.renderer()).render(commit, overlay);
    assertOperatorRules(env, rendered);
    const result = await applyOverlayObjects(cluster, rendered.objects, { dryRun: input.dryRun ?? false, prune: input.prune ?? false, inventory: inventoryId(env.name, overlay) });
    return { commit, digest: rendered.digest, applied: result.applied, diff: result.diff };
  };
}
