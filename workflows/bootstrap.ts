/** `bootstrapEnvironment`: from nothing to a verified revision, idempotently. */
import { patched } from '@temporalio/workflow';
import { bootstrapInputSchema, WorkflowTypes, type BootstrapInput, type BootstrapResult } from '../domain/index.ts';
import { deliverAndVerify, deliveryPlan, priorState } from './delivery.ts';
import type { LockOptions } from './lock.ts';
import { bootstrapRendersOverlayFirst } from './patches.ts';
import { Phase } from './progress.ts';
import { prepare, runWorkflow, underLock } from './run.ts';
import { runStep } from './steps/index.ts';
import { declareVersioning } from './versioning.ts';

/** The overlay holding the initial ClusterSecretStore (static credential) and the ExternalSecret that bootstraps the others. */
export const BOOTSTRAP_OVERLAY = 'gitops/overlays/bootstrap';

/** Input of {@link bootstrapEnvironment}. */
export type BootstrapWorkflowInput = BootstrapInput & LockOptions;

/**
 * Bootstraps one environment: bucket → Loki credentials → Secrets Manager secret → ESO store credential →
 * bootstrap overlay → ClusterSecretStore Ready (static mode) → deliver the environment overlay at `revision`
 * (default: the GitOps branch head) → gates (the ExternalSecret sync among them) → record the verified
 * revision. Every step is idempotent, so re-running it converges. Holds the environment lock throughout.
 * `AUTO_UPGRADE` on versioned workers: it can wait for the lock behind a day-long promotion (`versioning.ts`).
 * @throws ApplicationFailure `InvalidInput` (including an overlay that does not exist or build), `UnknownEnvironment`,
 *   `ChangeFreeze` before any side effect; `EnvironmentLocked` (failIfLocked); `GateFailed`, `ManifestRejected`,
 *   `Conflict`, `AccessDenied` from the steps.
 */
export async function bootstrapEnvironment(input: BootstrapWorkflowInput): Promise<BootstrapResult> {
  return runWorkflow(WorkflowTypes.bootstrapEnvironment, async (run) => {
    const { tracker } = run;
    const opening = await prepare(
      run,
      {
        schema: bootstrapInputSchema(),
        environment: (args) => args.environment,
        resolve: async ({ args, catalog }) => ({
          revision: (await runStep(tracker, 'resolve-revision', { revision: args.revision ?? catalog.gitops.branch }))
            .commit,
        }),
      },
      input,
    );
    const { environment, revision } = opening;
    // A catalog naming an overlay that does not build fails here, before the AWS resources and the bootstrap
    // overlay are created.
    if (patched(bootstrapRendersOverlayFirst.id)) await runStep(tracker, 'render-overlay', { environment, revision });

    // The bootstrap store authenticates with the static credential this workflow creates in the cluster;
    // in sts mode the environment overlay brings the store (service-account auth), checked by the ESO gate.
    const storeGate = environment.aws.credentialMode === 'static';
    const plan = [
      'ensure-bucket',
      'ensure-loki-credentials',
      'seed-loki-secret',
      'ensure-store-credential',
      'apply-overlay',
      ...(storeGate ? (['wait-secret-store-ready'] as const) : []),
      ...deliveryPlan(environment),
    ] as const;
    return underLock(opening, plan, async (state) => {
      const prior = priorState(state);
      tracker.setPhase(Phase.provisioning);
      const bucket = await runStep(tracker, 'ensure-bucket', { environment });
      const credentials = await runStep(tracker, 'ensure-loki-credentials', { environment });
      const secret = await runStep(tracker, 'seed-loki-secret', {
        environment,
        principalArn: credentials.principalArn,
      });
      await runStep(tracker, 'ensure-store-credential', { environment });
      await runStep(tracker, 'apply-overlay', { environment, revision, overlay: BOOTSTRAP_OVERLAY });
      if (storeGate) await runStep(tracker, 'wait-secret-store-ready', { environment });
      const gates = await deliverAndVerify(tracker, environment, revision, prior.lastVerified);
      return { environment: environment.name, bucket: bucket.bucket, secretArn: secret.secretArn, revision, gates };
    });
  });
}
declareVersioning(bootstrapEnvironment, WorkflowTypes.bootstrapEnvironment);
