/** Migration steps: inventory what a script made, then adopt it without deleting anything. */
import type { MigrationInventory } from '../../domain/activity-contract.ts';
import { defineStep } from './step.ts';
import type { OverlayInput } from './kubernetes.ts';

/** `inventory-live-objects`: live objects and who manages them (script, client-side apply, logstack, absent). Read-only. */
export const inventoryLiveObjects = defineStep({
  profile: 'apply',
  timeoutSeconds: 300,
  title: 'inventory live objects',
  summary: ({ environment }: OverlayInput) => `inventory live objects in ${environment.name}`,
  run: ({ activities, options }, { environment, revision }: OverlayInput) =>
    activities.inventoryLiveObjects.executeWithOptions(options, [{ environment, revision }]),
  describe: (inv: MigrationInventory) => {
    const counts = new Map<string, number>();
    for (const o of inv.objects) counts.set(o.managedBy, (counts.get(o.managedBy) ?? 0) + 1);
    return [...counts].map(([k, n]) => `${n} ${k}`).join(', ') || 'no objects';
  },
});

/** Input of `adopt-objects`. */
export interface AdoptInput extends OverlayInput {
  readonly objects: string[];
  readonly phase: 'merge' | 'own';
}

/** `adopt-objects`: `merge` — ESO Merge onto the existing Secret, server-side apply takes field ownership; `own` — ESO Owner. */
export const adoptObjects = defineStep({
  profile: 'apply',
  timeoutSeconds: 600,
  title: 'adopt objects',
  summary: ({ environment, objects, phase }: AdoptInput) =>
    `adopt ${objects.length} objects in ${environment.name} (${phase === 'merge' ? 'ESO Merge, take field ownership' : 'ESO Owner'})`,
  run: ({ activities, options }, { environment, revision, objects, phase }: AdoptInput) =>
    activities.adoptObjects.executeWithOptions(options, [{ environment, revision, objects, phase }]),
  describe: (r) => `adopted ${r.adopted.length}, unchanged ${r.unchanged.length}`,
});
