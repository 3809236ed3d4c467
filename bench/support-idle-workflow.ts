/**
 * A workflow that waits and does nothing else: what a cached workflow costs the worker's heap with nothing but
 * the SDK in its bundle, for the workflow memory benchmark to print next to logstack's figure. Bundled for a
 * bench worker only.
 */
import { condition } from '@temporalio/workflow';

/** Waits until it is terminated. */
export async function idleWorkflow(): Promise<void> {
  await condition(() => false);
}
