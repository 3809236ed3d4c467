/**
 * `logstack state show|repair` against the sandbox's real staging kube-apiserver and GitOps remote, on
 * a record of its own (`state-<suffix>`, in a copy of the sandbox catalog). The worker's own
 * activities read what the CLI wrote, so both sides apply the same signature rules; the record is
 * edited by hand (`kubectl-edit` field manager) the way a person would break it.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { runCli } from '../../client/cli.ts';
import type { CliIo } from '../../client/context.ts';
import { STATE_NAMESPACE, stateConfigMapName } from '../../domain/index.ts';
import { deleteObject, readObject, serverSideApply } from '../../activities/kubernetes/apply.ts';
import { clusterOf, environment, sandboxActivities, suffix, twoRemoteCommits, writeStatus } from '../activities/sandbox-parts.ts';
import { REPO } from './helpers.ts';

const name = `state-${suffix()}`;
const app = { apiVersion: 'argoproj.io/v1alpha1', kind: 'Application', metadata: { name, namespace: STATE_NAMESPACE } };
const env = environment('staging', { name, delivery: 'argocd', argocd: { application: name, namespace: STATE_NAMESPACE } });
const cluster = clusterOf(env);
const [r1, r2] = twoRemoteCommits(`state-${suffix()}`);
const acts = sandboxActivities();

let dir: string;
let catalog: string;

/** Runs the CLI in-process; `confirm` stands for a person at a terminal (absent: no terminal). */
async function cli(args: readonly string[], confirm?: (q: string) => Promise<boolean>): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIo = { out: (t) => void (out += t), err: (t) => void (err += t), isTTY: false, env: process.env, ...(confirm ? { confirm } : {}) };
  const code = await runCli([...args, '--catalog', catalog], io);
  return { code, out, err };
}

const configMap = () => readObject(cluster, { apiVersion: 'v1', kind: 'ConfigMap', name: stateConfigMapName(name), namespace: STATE_NAMESPACE });

function kubectlEdit(data: Record<string, string>) {
  return cluster.request({
    method: 'PATCH',
    path: `/api/v1/namespaces/${STATE_NAMESPACE}/configmaps/${stateConfigMapName(name)}`,
    query: { fieldManager: 'kubectl-edit' },
    contentType: 'application/merge-patch+json',
    body: { data },
  });
}

describe('logstack state show|repair on the sandbox', () => {
  before(() => {
    // A copy of the sandbox catalog with this test's environment; its overlays resolve through a link to gitops/.
    dir = mkdtempSync(join(tmpdir(), 'logstack-state-cli-'));
    symlinkSync(join(REPO, 'gitops'), join(dir, 'gitops'));
    mkdirSync(join(dir, 'catalog'));
    catalog = join(dir, 'catalog', 'environments.yaml');
    const doc = parse(readFileSync(join(REPO, 'sandbox/environments.yaml'), 'utf8')) as { environments: unknown[] };
    doc.environments.push(env);
    writeFileSync(catalog, stringify(doc));
  });
  after(async () => {
    rmSync(dir, { recursive: true, force: true });
    await deleteObject(cluster, { apiVersion: app.apiVersion, kind: app.kind, name, namespace: STATE_NAMESPACE });
    await deleteObject(cluster, { apiVersion: 'v1', kind: 'ConfigMap', name: stateConfigMapName(name), namespace: STATE_NAMESPACE });
  });

  it('show: an absent record passes; repair of an absent record needs --revision', async () => {
    const show = await cli(['state', 'show', name]);
    assert.equal(show.code, 0, show.err);
    assert.match(show.out, new RegExp(`ConfigMap logstack-system/logstack-state-${name} on cluster context "logstack-staging"`));
    assert.match(show.out, /absent/);
    const repair = await cli(['state', 'repair', name, '--yes']);
    assert.equal(repair.code, 2);
    assert.match(repair.err, /pass --revision <sha>/);
  });

  it('repair --revision --verified --yes writes a record the worker\'s activities accept', async () => {
    const res = await cli(['state', 'repair', name, '--revision', r1, '--verified', '--yes']);
    assert.equal(res.code, 0, res.err + res.out);
    assert.match(res.out, /repaired: .* passes every check/);
    const state = await acts.readDeployedState({ environment: env });
    assert.equal(state?.revision, r1);
    assert.equal(state?.verified, true);
  });

  it('show: a hand edit fails the checks, listed one by one with the Argo CD synced revision; the worker refuses it too', async () => {
    await serverSideApply(cluster, {
      ...app,
      spec: { project: 'default', source: { repoURL: 'https://git.example.com/logstack.git', targetRevision: r2, path: 'gitops/overlays/staging' }, destination: { server: 'https://kubernetes.default.svc', namespace: 'openshift-logging' } },
    });
    await writeStatus(cluster, app, { sync: { status: 'Synced', revision: r2 }, health: { status: 'Healthy' } });
    await kubectlEdit({ revision: 'main', verified: 'true', note: 'hotfix' });
    const table = await cli(['state', 'show', name]);
    assert.equal(table.code, 1, table.err);
    assert.match(table.out, /✗ revision "main" is not a full 40-hex commit SHA/);
    assert.match(table.out, /✗ its signature does not match its content/);
    assert.match(table.out, /✗ data fields note, revision are owned by field manager "kubectl-edit"/);
    assert.match(table.out, /✗ data holds keys that are no part of the record: note/);
    assert.match(table.out, new RegExp(`Argo CD Application logstack-system/${name}: synced revision ${r2} \\(Synced, Healthy\\)`));
    const json = await cli(['state', 'show', name, '-o', 'json']);
    const shown = JSON.parse(json.out) as { ok: boolean; record: Record<string, string>; argocd: { revision: string }; foreignOwners: { manager: string }[] };
    assert.equal(shown.ok, false);
    assert.equal(shown.record['revision'], 'main');
    assert.equal(shown.argocd.revision, r2);
    assert.deepEqual(shown.foreignOwners.map((o) => o.manager), ['kubectl-edit']);
    await assert.rejects(acts.readDeployedState({ environment: env }), /StateRecordInvalid|not trustworthy/);
  });

  it('repair refuses without a terminal and without --yes, stops when the person says no, and needs a usable revision', async () => {
    const rv = (await configMap())?.metadata.resourceVersion;
    const noTty = await cli(['state', 'repair', name, '--revision', r2]);
    assert.equal(noTty.code, 2);
    assert.match(noTty.err, /no terminal to ask; pass --yes/);
    const questions: string[] = [];
    const declined = await cli(['state', 'repair', name, '--revision', r2], (q) => {
      questions.push(q);
      return Promise.resolve(false);
    });
    assert.equal(declined.code, 3);
    assert.match(questions[0] ?? '', new RegExp(`rewrite logstack-system/logstack-state-${name} on "logstack-staging"\\?`));
    const fromRecord = await cli(['state', 'repair', name, '--yes']);
    assert.equal(fromRecord.code, 2);
    assert.match(fromRecord.err, /the record's revision "main" is not a full 40-hex commit SHA/);
    const unknown = await cli(['state', 'repair', name, '--yes', '--revision', 'f'.repeat(40)]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.err, /is not a commit of the GitOps remote/);
    assert.equal((await configMap())?.metadata.resourceVersion, rv, 'nothing changed');
  });

  it('repair --revision --no-verified (confirmed) leaves a record owned only by logstack, without stray keys, that the next rollout can write', async () => {
    const res = await cli(['state', 'repair', name, '--revision', r2, '--no-verified'], () => Promise.resolve(true));
    assert.equal(res.code, 0, res.err + res.out);
    assert.match(res.out, /will write, signed with key/);
    const cm = await configMap();
    assert.deepEqual([...new Set(cm?.metadata.managedFields?.map((m) => m.manager))], ['logstack']);
    assert.deepEqual(Object.keys((cm?.['data'] as Record<string, string>) ?? {}).sort(), ['environment', 'previousRevision', 'revision', 'signature', 'verified', 'verifiedAt']);
    assert.deepEqual(await acts.readDeployedState({ environment: env }), { environment: name, revision: r2, verified: false, verifiedAt: null, previousRevision: null });
    // The worker's plain (unforced) server-side apply writes it again without a conflict.
    const next = await acts.recordDeployedState({ environment: env, revision: r2, verified: true, previousRevision: r1 });
    assert.equal(next.verified, true);
    const show = await cli(['state', 'show', name]);
    assert.equal(show.code, 0, show.out);
    assert.match(show.out, /checks: all pass/);
  });
});
