/**
 * What the token issued for this run's copy of the worker service account (test/reliability/rbac-identity.ts)
 * is on the staging cluster: it authenticates as that account, and escalation attempts made with it are
 * refused by the API server.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { stringify } from 'yaml';
import { NAMESPACE, RUN, SERVICE_ACCOUNT, SUBJECT, kubectl, describeRbac } from './rbac-identity.ts';

describeRbac('what its token can do', (identity) => {
  it('the token authenticates as the run’s copy of the worker service account', async () => {
    const who = await kubectl(['auth', 'whoami', '-o', 'json'], { kubeconfig: identity.tokenConfig });
    assert.equal(who.code, 0, who.err);
    const user = (JSON.parse(who.out) as { status: { userInfo: { username: string; groups: string[] } } }).status
      .userInfo;
    assert.equal(user.username, SUBJECT);
    assert.ok(user.groups.includes(`system:serviceaccounts:${NAMESPACE}`), user.groups.join(','));
  });

  it('escalation attempts with the token itself are refused by the API server (server-side dry run)', async () => {
    const withToken = (args: string[], input?: string) =>
      kubectl(args, { kubeconfig: identity.tokenConfig, ...(input === undefined ? {} : { input }) });
    const attempts: { what: string; run: () => Promise<{ code: number; out: string; err: string }> }[] = [
      {
        what: 'bind cluster-admin to itself',
        run: () =>
          withToken([
            'create',
            'clusterrolebinding',
            `${RUN}-admin`,
            '--clusterrole=cluster-admin',
            `--serviceaccount=${NAMESPACE}:${SERVICE_ACCOUNT}`,
            '--dry-run=server',
          ]),
      },
      {
        what: 'a Role that reads every Secret of the Loki namespace',
        run: () =>
          withToken([
            'create',
            'role',
            `${RUN}-secrets`,
            '-n',
            'openshift-logging',
            '--verb=get,list',
            '--resource=secrets',
            '--dry-run=server',
          ]),
      },
      {
        what: 'widen the worker ClusterRole to everything',
        run: () =>
          withToken(
            ['apply', '--server-side', '--field-manager=logstack', '--force-conflicts', '--dry-run=server', '-f', '-'],
            stringify({
              apiVersion: 'rbac.authorization.k8s.io/v1',
              kind: 'ClusterRole',
              metadata: { name: 'logstack-worker' },
              rules: [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }],
            }),
          ),
      },
      { what: 'read a Secret of kube-system', run: () => withToken(['get', 'secrets', '-n', 'kube-system']) },
      {
        what: 'read the store credential of another name',
        run: () => withToken(['get', 'secret', 'other-credentials', '-n', 'external-secrets']),
      },
    ];
    for (const attempt of attempts) {
      const result = await attempt.run();
      assert.notEqual(result.code, 0, `${attempt.what} was allowed:\n${result.out}`);
      assert.match(
        result.err,
        /forbidden/i,
        `${attempt.what}: refused as forbidden, not for another reason:\n${result.err}`,
      );
    }
    // The same token can do its job: reading the deployed-state record is allowed.
    const allowed = await withToken(['get', 'configmaps', '-n', NAMESPACE, '-o', 'name']);
    assert.equal(allowed.code, 0, allowed.err);
  });
});
