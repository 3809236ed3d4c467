/**
 * A right the activities need, missing from the worker's RBAC (a second identity of this run without the
 * cluster-wide list of ConfigMaps that prune searches — test/reliability/rbac-identity.ts): the activity fails
 * at once with a non-retryable `AccessDenied` naming what the API server refused.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { parse, stringify } from 'yaml';
import { createActivities } from '../../activities/index.ts';
import { parseCatalog } from '../../domain/index.ts';
import { GITOPS_NAMES } from '../../domain/gitops.ts';
import { knownGoodRevision } from '../worker/sandbox-runs.ts';
import { ENV, NAMESPACE, RUN, forThisRun, kubectl, describeRbac, sandbox, tokenKubeconfig } from './rbac-identity.ts';
import { stateKeysFromEnv } from '../../sandbox/inputs.ts';

describeRbac('a missing right', (identity) => {
  it('a right missing from the RBAC fails the activity at once, non-retryable AccessDenied naming what was refused', async () => {
    // A second identity of this run: the same rules without the list of ConfigMaps in openshift-logging that prune searches.
    const suffix = `${RUN}-nolist`;
    const account = `${GITOPS_NAMES.workerServiceAccount}-${suffix}`;
    const reduced = forThisRun(identity.rendered, suffix);
    let removed = 0;
    for (const o of reduced.filter((r) => r.kind === 'Role' && r.metadata.namespace === 'openshift-logging')) {
      const rules = (o.rules ?? []) as { resources?: string[]; verbs?: string[] }[];
      const kept = rules.filter((rule) => !(rule.resources?.join() === 'configmaps' && rule.verbs?.join() === 'list'));
      removed += rules.length - kept.length;
      o.rules = kept;
    }
    assert.equal(removed, 1, 'the Role of openshift-logging has the ConfigMap list rule to remove');
    const applied = await kubectl(['apply', '--server-side', '--field-manager=logstack-rbac-test', '-f', '-'], {
      input: reduced.map((o) => stringify(o)).join('---\n'),
    });
    assert.equal(applied.code, 0, applied.err);
    const issued = await kubectl(['create', 'token', account, '-n', NAMESPACE, '--duration=10m']);
    assert.equal(issued.code, 0, issued.err);
    /** The worker's activities with `kubeconfig`'s identity and their own Git working clone. */
    const activitiesAs = (kubeconfig: string, gitDir: string) =>
      createActivities({
        catalogPath: sandbox.catalog,
        stateKeys: stateKeysFromEnv(),
        kubeconfig,
        kubectlPath: sandbox.kubectl,
        git: { workdir: join(identity.dir, gitDir) },
      });
    const activities = activitiesAs(tokenKubeconfig(issued.out.trim(), identity.dir, account), 'git');
    const environment = parseCatalog(parse(readFileSync(sandbox.catalog, 'utf8'))).environments.find(
      (e) => e.name === ENV,
    );
    assert.ok(environment);
    const revision = await knownGoodRevision(sandbox, ENV);
    // The worker, with all its rights, delivered this revision before the right went missing (as on a running estate):
    // the overlay's own Roles are in place, so the dry run below changes no Role — a change the API server would weigh
    // against the reduced rights (escalation) before the ConfigMap list this test is about.
    const delivered = await activitiesAs(identity.tokenConfig, 'git-full').applyOverlay({ environment, revision });
    assert.equal(delivered.commit, revision);
    const error = await activities.applyOverlay({ environment, revision, dryRun: true }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(
      error instanceof ApplicationFailure,
      `the dry-run apply failed with an ApplicationFailure: ${String(error)}`,
    );
    assert.equal(error.type, 'AccessDenied');
    assert.equal(error.nonRetryable, true, 'a retry cannot grant the right');
    assert.match(error.message, /ConfigMap list in namespace openshift-logging/);
    assert.match(error.message, /cannot list resource "configmaps"/);
  });
});
