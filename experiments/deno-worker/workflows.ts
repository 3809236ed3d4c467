/**
 * EXPERIMENTAL — the one workflow of the Deno worker experiment (`experiments/deno-worker/worker.ts`). Not part of
 * the product's workflows: it only proves that a workflow task and an activity task can run.
 */
import { proxyActivities } from '@temporalio/workflow';

/** The activity the experiment registers. */
export interface ExperimentActivities {
  greet(name: string): Promise<string>;
}

const { greet } = proxyActivities<ExperimentActivities>({
  startToCloseTimeout: '10 seconds',
  retry: { maximumAttempts: 1 },
});

/** Calls one activity and returns its answer. */
export async function denoExperimentHello(name: string): Promise<string> {
  return await greet(name);
}
