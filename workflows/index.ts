/**
 * The workflow entry point the worker bundles. Every export here is a Workflow Type: renaming one breaks
 * running histories (version with patching instead).
 */
export { bootstrapEnvironment } from './bootstrap.ts';
export { rolloutEnvironment } from './rollout.ts';
export { promoteEnvironment } from './promote.ts';
export { migrateProduction } from './migrate.ts';
export { remediateDrift } from './drift.ts';
export { environmentLock } from './lock.ts';
