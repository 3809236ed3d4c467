/**
 * A workflow of `steps` sequential activities that do nothing: what Temporal itself costs per step on this
 * machine and server (scheduling, task dispatch, workflow tasks, history writes), for the orchestration
 * overhead benchmark to print next to the product's figure. Bundled for a bench worker only.
 */
import { proxyActivities } from '@temporalio/workflow';

/** The activity the bench worker registers next to this workflow. */
export interface NoopActivities {
  noop(step: number): Promise<number>;
}

const { noop } = proxyActivities<NoopActivities>({ startToCloseTimeout: '1 minute' });

/** Runs `steps` no-op activities one after the other; returns how many ran. */
export async function noopSteps(steps: number): Promise<number> {
  let done = 0;
  for (let i = 0; i < steps; i++) done += (await noop(i)) === i ? 1 : 0;
  return done;
}
