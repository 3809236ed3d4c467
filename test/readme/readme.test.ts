/**
 * Every command in the README, run as written, on the sandbox. The README's commands are read from the
 * file itself (its `sh` blocks and the inline commands in its prose); each must be claimed by exactly one
 * play of `plays.ts` (checked without the sandbox by `claims.test.ts`). A play runs its commands
 * through bash with `logstack` and `temporal` on PATH and checks what a reader would check.
 *
 * Three kinds of claims cannot execute the line itself, and say so: `npm ci` (the install step this
 * suite was started by — a test cannot reinstall the node_modules it runs from), the commands that are
 * this suite or part of it (checked to really run the same files; `test:experiments` is checked to run
 * files of experiments/ only, none of this suite's), and `docker compose` (no Docker engine here; the
 * compose file's structure is tested in test/client/docker-compose.test.ts).
 *
 * The Loki Operator, Cluster Logging Operator, OLM and Argo CD cannot run here: while the CLI plays run,
 * the sandbox's controller stand-ins write their statuses, as in the main job.
 *
 * The sandbox play stops, purges and restarts the sandbox (it is what those commands do), so this file
 * leaves a fresh sandbox bootstrapped by the main job behind it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parseDocument } from 'yaml';
import { Client, Connection, ScheduleNotFoundError, WorkflowFailedError } from '@temporalio/client';
import { TEMPORAL_DEFAULTS, workflowIds, DRIFT_SCHEDULE_ID } from '../../domain/index.ts';
import { progressQuery } from '../../workflows/messages.ts';
import { CACHE_ROOT, loadVersions, RUN_DIR, STATUS_FILE, temporalCliPath } from '../../sandbox/paths.ts';
import { readInputs } from '../../sandbox/inputs.ts';
import { requireSandbox } from '../../sandbox/status.ts';
import { ROOT, startStandIns } from '../support/processes.ts';
import { startReceiver, until } from '../support/otlp-receiver.ts';
import { endLocksOnTaskQueue, endOrphanedLocks } from '../worker/sandbox-runs.ts';
import { PLAYS } from './plays.ts';
import { ReadmeShell, type Background, type ShellResult } from './shell.ts';

const ENVIRONMENTS = ['dev', 'staging', 'production'];
const QUEUE = TEMPORAL_DEFAULTS.taskQueue;
const CODEC_PORT = 8081;
const versions = loadVersions();
const TEMPORAL_CLI = temporalCliPath(versions);
const KUBECTL = join(CACHE_ROOT, 'build', `kube-${versions.go.kubernetes.version}`, 'bin', 'kubectl');


/** Placeholders in the README's prose and what this run puts in their place. */
const PLACEHOLDERS: Readonly<Record<string, string>> = { '<command>': 'status', '<id>': 'bootstrap-dev', '<context>': 'logstack-dev' };
const fill = (command: string): string => command.replace(/<\w+>/g, (p) => PLACEHOLDERS[p] ?? p);

function ok(result: ShellResult, command: string): string {
  assert.equal(result.code, 0, `\`${command}\` exited with ${result.code ?? result.signal}:\n${result.out.slice(-4000)}`);
  return result.out;
}

/** The bare Git remote's commit count on main. */
function remoteCommits(remote: string): number {
  return Number(execFileSync('git', ['-C', remote, 'rev-list', '--count', 'main'], { encoding: 'utf8' }).trim());
}

/** Pushes an engineer's change (an annotation on the LokiStack in base) to the remote; returns the commit. */
function pushChange(remote: string, note: string): string {
  const work = mkdtempSync(join(tmpdir(), 'logstack-readme-'));
  const git = (...args: string[]): string =>
    execFileSync('git', ['-C', work, '-c', 'user.name=Readme Reader', '-c', 'user.email=reader@localhost', ...args], { encoding: 'utf8' }).trim();
  try {
    execFileSync('git', ['clone', '--quiet', remote, work]);
    const file = join(work, 'gitops/base/loki-stack/lokistack.yaml');
    const doc = parseDocument(readFileSync(file, 'utf8'));
    doc.setIn(['metadata', 'annotations', 'logstack.io/change'], note);
    writeFileSync(file, doc.toString());
    git('commit', '--quiet', '-am', note);
    git('push', '--quiet', 'origin', 'HEAD:main');
    return git('rev-parse', 'HEAD');
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Waits until the workflow reports that it awaits approval; fails at once when `command` ends first. */
async function awaitingApproval(client: Client, workflowId: string, command?: Background): Promise<void> {
  const handle = client.workflow.getHandle(workflowId);
  let ended = false;
  void command?.exited.then(() => (ended = true));
  for (let i = 0; i < 600; i++) {
    const progress = await handle.query(progressQuery).catch(() => undefined);
    if (progress?.awaitingApproval) return;
    if (ended) throw new Error(`the command ended before ${workflowId} asked for approval:\n${command?.output().slice(-4000) ?? ''}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  const description = await handle.describe().catch(() => undefined);
  throw new Error(`${workflowId} never asked for approval (${description?.status.name ?? 'not found'}):\n${command?.output().slice(-4000) ?? ''}`);
}

/** Files matched by a `tsx --test` script of package.json (its quoted or bare glob arguments). */
function filesOfScript(script: string): string[] {
  const globs = [...script.matchAll(/"([^"]+\.test\.ts)"|(\S+\.test\.ts)/g)].map((m) => m[1] ?? m[2] ?? '');
  const all: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith('.test.ts')) all.push(relative(ROOT, path));
    }
  };
  walk(join(ROOT, 'test'));
  walk(join(ROOT, 'experiments'));
  return all.filter((file) => globs.some((glob) => path2regex(glob).test(file)));
}

function path2regex(glob: string): RegExp {
  const escaped = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*\*\//g, '(?:.*/)?').replace(/\*/g, '[^/]*');
  return new RegExp(`^${escaped}$`);
}

describe('README: every command, run as written', () => {
  const shell = new ReadmeShell(TEMPORAL_CLI, KUBECTL, Object.keys(readInputs()));
  const background: Background[] = [];
  /** The worker the CLI, Temporal CLI and ADR plays run on: the production start on Deno. */
  let playsWorker: Background | undefined;
  const children: ChildProcess[] = [];
  let connection: Connection | undefined;
  let client: Client;

  const connect = async (): Promise<Client> => {
    await connection?.close().catch(() => undefined);
    connection = await Connection.connect({ address: requireSandbox().temporal.address });
    client = new Client({ connection });
    return client;
  };
  const run = async (command: string, extra: Record<string, string> = {}): Promise<string> => ok(await shell.run(fill(command), extra), command);
  const stopBackground = async (): Promise<void> => {
    for (const b of background.splice(0)) await b.stop();
    for (const c of children.splice(0)) c.kill('SIGTERM');
  };

  before(async () => {
    await connect();
    await endOrphanedLocks(client, ENVIRONMENTS, 'README test start');
  });

  after(async () => {
    await stopBackground();
    if (connection) {
      await endLocksOnTaskQueue(client, ENVIRONMENTS, QUEUE, 'end of the README test').catch(() => undefined);
      await client.schedule.getHandle(DRIFT_SCHEDULE_ID).delete().catch(() => undefined);
      await connection.close();
    }
    shell.dispose();
  });

  it('sandbox: status, build, idempotent up, down, up, down --purge, up --fresh (with and without the UI codec), reseed-git', async () => {
    assert.match(await run('npm run sandbox -- status'), /up\s+kube-apiserver-dev/);
    const status = JSON.parse(await run('npm run -s sandbox -- status --json')) as { temporal: { address: string }; git: { remote: string } };
    assert.equal(status.temporal.address, `127.0.0.1:${versions.ports.temporal}`);
    await run('npm run sandbox -- build');
    assert.doesNotMatch(await run('npm run sandbox -- up'), /starting/, 'a second `up` must change nothing');

    const commitsBefore = remoteCommits(status.git.remote);
    await connection?.close();
    connection = undefined;
    await run('npm run sandbox -- down');
    const down = await shell.run('npm run sandbox -- status');
    assert.equal(down.code, 1, `status exits 1 while the sandbox is down:\n${down.out}`);
    assert.match(down.out, /sandbox: down/);
    assert.match(await run('npm run sandbox -- up'), /starting kube-apiserver for dev/);
    assert.equal(remoteCommits(status.git.remote), commitsBefore, '`down` then `up` keeps the state');

    await run('npm run sandbox -- down --purge');
    assert.ok(!existsSync(STATUS_FILE) && !existsSync(join(RUN_DIR, 'git')), '--purge deletes the runtime state');

    await run('LOGSTACK_UI_CODEC_ENDPOINT=http://127.0.0.1:8081 npm run sandbox -- up --fresh');
    const ui = requireSandbox().temporal.ui;
    const settings = async () => ((await (await fetch(`${ui}/api/v1/settings`)).json()) as { Codec: { Endpoint: string } }).Codec.Endpoint;
    assert.equal(await settings(), `http://127.0.0.1:${CODEC_PORT}`);
    await run('npm run sandbox -- up --fresh');
    assert.equal(await settings(), '', 'a plain fresh start has no UI codec endpoint');

    const remote = requireSandbox().git.remote;
    pushChange(remote, 'a change reseed-git drops');
    assert.equal(remoteCommits(remote), 2);
    await run('npm run sandbox -- reseed-git');
    assert.equal(remoteCommits(remote), 1, 'reseed-git replaces the remote with one seed commit');
    await connect();
  });

  it('kubectl: the sandbox kubeconfig and kubectl list the upstream CRDs', async () => {
    const out = await run(PLAYS.kubectl.slice(0, 2).join('\n'));
    assert.match(out, /externalsecrets\.external-secrets\.io/);
    assert.match(out, /applications\.argoproj\.io/);
  });

  it('main job: `npm run demo` bootstraps, rolls out and promotes to production with approval', async () => {
    const ci = readFileSync(join(ROOT, '.ci/run'), 'utf8');
    assert.match(ci, /^npm ci && npm test$/m, '`npm ci` is the install step CI runs before this suite');
    const out = await run('npm run demo');
    assert.match(out, /promote staging → production/);
    assert.match(out, /done — explore every workflow/);
    for (const env of ENVIRONMENTS) assert.match(out, new RegExp(`${env}\\s*│\\s*([0-9a-f]{7})\\s*│\\s*\\1\\b`), `status row of ${env}: the pinned revision is verified`);
  });

  it("inputs: a clean shell reaches the sandbox through its env file, with `sandbox exec` or by loading it", async () => {
    const clean = async (command: string): Promise<string> => ok(await shell.run(command, {}, 600_000, true), command);
    const [env, exec, load] = PLAYS.inputs;
    const published = await clean(env);
    for (const name of ['TEMPORAL_CONFIG_FILE', 'TEMPORAL_PROFILE', 'LOGSTACK_CATALOG', 'KUBECONFIG', 'LOGSTACK_KUBECTL', 'AWS_ENDPOINT_URL', 'LOGSTACK_STATE_KEYS']) {
      assert.match(published, new RegExp(`^${name}=\\S+$`, 'm'), `${env} lists ${name}`);
    }
    assert.match(await clean(exec), /production/);
    assert.match(await clean(`${load}\nlogstack status`), /production/);
    // The clean shell had none of them before the line, and has them after it.
    const show = 'echo "profile=${TEMPORAL_PROFILE:-none} catalog=${LOGSTACK_CATALOG:-none}"';
    assert.equal((await clean(show)).trim(), 'profile=none catalog=none');
    assert.match(await clean(`${load}\n${show}`), /^profile=sandbox catalog=\S+\/sandbox\/environments\.yaml$/m);
  });

  it('worker: the admin applies its RBAC to a cluster whose namespaces exist; prebuilt bundle, dev mode, the real-cluster catalog, and the production start', async () => {
    const rbac = await run(PLAYS.kubectl[2], { KUBECONFIG: requireSandbox().kubeconfig });
    assert.match(rbac, /clusterrole\.rbac\.authorization\.k8s\.io\/logstack-worker serverside-applied/);
    // Then the admission policies that fence the worker's writes (bound to the product's worker account only).
    const admission = await run(PLAYS.kubectl[3], { KUBECONFIG: requireSandbox().kubeconfig });
    assert.match(admission, /validatingadmissionpolicy\.admissionregistration\.k8s\.io\/logstack-worker-subscriptions serverside-applied/);
    assert.match(admission, /validatingadmissionpolicybinding\.admissionregistration\.k8s\.io\/logstack-worker-subscriptions serverside-applied/);
    assert.match(await run('npm run build:bundle'), /workflow bundles: \S*dist\/workflow-bundle\.js \d+ KiB \(traced\), \S*dist\/workflow-bundle\.untraced\.js \d+ KiB \(untraced\)/);
    for (const command of [
      'npm run worker',
      'LOGSTACK_WORKFLOW_BUNDLE=dist/workflow-bundle.js npm run worker',
      'npx node worker/main.ts',
      'MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=131072 MALLOC_TRIM_THRESHOLD_=131072 npx node --max-semi-space-size=2 --heap-growing-percent=20 worker/main.ts',
      'npm run -s deno -- task worker',
    ]) {
      const direct = !command.endsWith('npm run worker');
      // The product start is shown with a catalog of the reader's own (the quick start's).
      const worker = shell.start(command, direct ? { LOGSTACK_CATALOG: 'gitops/environments.yaml' } : {});
      background.push(worker); // stopped by the end of the file if an assertion fails first
      await worker.waitFor(/"state":"RUNNING"/);
      // Through `sandbox exec` the worker uses the sandbox catalog of the repository (its remote published apart).
      const catalog = direct ? 'gitops/environments.yaml' : 'sandbox/environments.yaml';
      assert.match(worker.output(), new RegExp(`"catalog":"[^"]*${catalog.replace('.', '\\.')}"`));
      const end = await worker.stop('SIGTERM');
      assert.doesNotMatch(end.out, /"level":"ERROR"/, `${command} logged an error:\n${end.out.slice(-3000)}`);
    }
    // The worker the CLI plays use: the production start on Deno, on the default task queue (the sandbox's catalog,
    // from this shell's published variables). Every CLI play below — bootstrap, rollout, promotion with approval and
    // rejection, drift, its schedule, the migration plan — runs on it.
    const worker = shell.start('LOGSTACK_WORKFLOW_BUNDLE=dist/workflow-bundle.js npm run -s deno -- task worker');
    background.push(worker);
    playsWorker = worker;
    await worker.waitFor(/"state":"RUNNING"/);
    // Tracing off: the untraced twin `npm run build:bundle` wrote next to the bundle named.
    assert.match(worker.output(), /"bundle":"prebuilt dist\/workflow-bundle\.untraced\.js, untraced"/);
    assert.match(worker.output(), /"runtime":"deno 2\.\d+\.\d+"/);
    assert.match(worker.output(), /"catalog":"[^"]*sandbox\/environments\.yaml"/);
    children.push(await startStandIns());
  });

  it('logstack CLI (controller statuses written by the stand-ins): every README example', async () => {
    assert.match(await run('logstack validate'), /3 environments \(dev → staging → production\)/);
    assert.match(await run('logstack validate --operator-rules'), /✓ production: gitops\/overlays\/production meets the operators' rules/);
    assert.match(await run('npx node client/cli.ts validate gitops/environments.yaml'), /gitops\/environments\.yaml: 3 environments/);
    assert.match(await run('logstack render dev'), /kind: LokiStack/);
    for (const command of ['npm run logstack -- <command>', 'npx node client/cli.ts <command>', 'npm run -s deno -- task logstack <command>', 'logstack status']) {
      assert.match(await run(command), /production/);
    }
    await run('logstack bootstrap dev --wait');
    await run('npx node client/cli.ts bootstrap dev --wait');

    const remote = requireSandbox().git.remote;
    const first = pushChange(remote, 'raise limits');
    await run('logstack rollout staging --revision main --reason "raise limits" --wait');
    assert.match(await run('logstack status'), new RegExp(`staging.*${first.slice(0, 7)}`));
    // The record the rollout wrote is signed and owned by logstack; a repair of a sound record keeps it as it is.
    assert.match(await run('logstack state show staging'), new RegExp(`revision\\s+│ ${first}[\\s\\S]*checks: all pass`));
    assert.match(await run('logstack state repair staging --yes'), new RegExp(`repaired: .* holds revision ${first} \\(verified true\\)`));
    assert.match(await run('logstack status production -o yaml'), /^-? *environment: production$/m);

    // Rejected: the promotion ends with exit 3, and `watch` follows it to that end.
    const rejected = shell.start('logstack promote --from staging --to production --requested-by alice --wait');
    background.push(rejected);
    await awaitingApproval(client, workflowIds.promote('production'), rejected);
    const watch = shell.start('logstack watch promote-production');
    background.push(watch);
    await watch.waitFor(/approval/i);
    await run('logstack reject production --by bob --reason "wrong window"');
    assert.equal((await rejected.exited).code, 3, rejected.output());
    assert.equal((await watch.exited).code, 3, watch.output());
    assert.match(rejected.output(), /logstack approve production --by/, '`promote --wait` says how to approve');

    // Approved: the same promotion again, approved by another allowed person.
    const approved = shell.start('logstack promote --from staging --to production --requested-by alice --wait');
    background.push(approved);
    await awaitingApproval(client, workflowIds.promote('production'), approved);
    await run('logstack approve production --by bob --comment "diff reviewed"');
    assert.equal((await approved.exited).code, 0, approved.output());
    assert.match(await run('logstack watch <id>'), /completed/i);

    await run('logstack drift --mode report');
    await client.workflow.getHandle(workflowIds.drift()).result();
    await run('logstack schedule drift --every 15m');
    const schedule = await client.schedule.getHandle(DRIFT_SCHEDULE_ID).describe();
    assert.equal(schedule.policies.overlap, 'SKIP');
    await client.schedule.getHandle(DRIFT_SCHEDULE_ID).delete();
    await run('logstack migrate production --dry-run');
    await client.workflow.getHandle(workflowIds.migrate('production')).result();
  });

  it('Temporal CLI: start, query, reject and approve by update, and the drift schedule', async () => {
    const run1 = async (command: string): Promise<string> => run(command);
    const [bootstrap, promote, query, reject, approve, schedule] = PLAYS.temporal;
    await run1(bootstrap);
    await client.workflow.getHandle(workflowIds.bootstrap('dev')).result();

    const remote = requireSandbox().git.remote;
    pushChange(remote, 'a change promoted with the Temporal CLI');
    await run('logstack rollout staging --revision main --reason "raise limits" --wait');
    await run1(promote);
    await awaitingApproval(client, workflowIds.promote('production'));
    assert.match(await run1(query), /awaitingApproval/);
    await run1(reject);
    await assert.rejects(client.workflow.getHandle(workflowIds.promote('production')).result(), (e: unknown) => e instanceof WorkflowFailedError);

    await run1(promote);
    await awaitingApproval(client, workflowIds.promote('production'));
    await run1(approve);
    const result = (await client.workflow.getHandle(workflowIds.promote('production')).result()) as { revision: string };
    assert.equal(result.revision, execFileSync('git', ['-C', remote, 'rev-parse', 'main'], { encoding: 'utf8' }).trim());

    await run1(schedule);
    const described = await client.schedule.getHandle(DRIFT_SCHEDULE_ID).describe();
    assert.equal(described.action.type, 'startWorkflow');
    await client.schedule.getHandle(DRIFT_SCHEDULE_ID).delete();
    await assert.rejects(client.schedule.getHandle(DRIFT_SCHEDULE_ID).describe(), ScheduleNotFoundError);
  });

  it("the ADR's entry points: the script promotes into staging and prints dev's rollout; the hand apply as a server-side dry run", async () => {
    const [promoteStaging, printDev, handApply] = PLAYS.adr;
    const promoted = await run(promoteStaging);
    assert.match(promoted, /promoteEnvironment/, promoted);
    const staging = await client.workflow.getHandle(workflowIds.promote('staging')).describe();
    assert.equal(staging.status.name, 'COMPLETED', 'the script waited for the promotion into staging');
    const printed = await run(printDev);
    assert.match(printed, /rollout dev --revision main/, 'dev is not promoted into: the script would run a rollout');
    const dryRun = await run(handApply, { KUBECONFIG: requireSandbox().kubeconfig });
    assert.match(dryRun, /lokistack\.loki\.grafana\.com\/logging-loki serverside-applied \(server dry run\)/, dryRun);
  });

  it('traces: a worker and the CLI export to an OTLP receiver on 127.0.0.1:4318, one trace from the CLI start to the run', async () => {
    // The Deno worker of the CLI, Temporal CLI and ADR plays drains, and needed no permission it was not given.
    const plays = await playsWorker?.stop();
    assert.ok(plays, 'the plays ran on the Deno worker');
    assert.match(plays.out, /"state":"STOPPED"/);
    assert.doesNotMatch(plays.out, /NotCapable/);
    for (const b of background.splice(0)) await b.stop(); // the worker below exports; the stand-ins keep running
    const receiver = await startReceiver(4318);
    try {
      const [tracedWorker, tracedRollout] = PLAYS.traces;
      const worker = shell.start(tracedWorker);
      background.push(worker);
      await worker.waitFor(/"state":"RUNNING"/);
      await run(tracedRollout);
      const start = await until('the CLI start span', () => receiver.spans.find((s) => s.name === 'StartWorkflow:rolloutEnvironment' && s.service === 'logstack-cli'));
      const runSpan = await until('the run span in the same trace', () => receiver.spans.find((s) => s.name === 'RunWorkflow:rolloutEnvironment' && s.traceId === start.traceId));
      assert.equal(runSpan.attributes['logstack.environment'], 'dev');
      await until('an activity span of the run', () => receiver.spans.find((s) => s.name.startsWith('RunActivity:') && s.traceId === start.traceId));
    } finally {
      for (const b of background.splice(0)) await b.stop();
      await new Promise((resolve) => receiver.server.close(resolve));
    }
  });

  it("signed approvals: the approver's statement and `approve --key`, against a worker on the signed sandbox catalog", async () => {
    // The CLI plays' worker reads the repository's sandbox catalog (named approvals); this one reads the signed copy
    // the sandbox publishes, whose production lists bob's generated key. The stand-ins keep running.
    for (const b of background.splice(0)) await b.stop();
    const signedCatalog = readInputs()['LOGSTACK_SIGNED_CATALOG'] ?? '';
    const approverKeys = readInputs()['LOGSTACK_APPROVER_KEYS'] ?? '';
    assert.ok(signedCatalog && approverKeys, 'the sandbox publishes LOGSTACK_SIGNED_CATALOG and LOGSTACK_APPROVER_KEYS');
    // Started directly, not through `npm run worker`: `sandbox exec` would put the published (named) catalog back.
    const worker = shell.start('npx node worker/main.ts', { LOGSTACK_WORKFLOW_BUNDLE: 'dist/workflow-bundle.js', LOGSTACK_CATALOG: signedCatalog });
    background.push(worker);
    await worker.waitFor(/"state":"RUNNING"/);
    assert.match(worker.output(), new RegExp(`"catalog":"${signedCatalog.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"`), 'the worker reads the signed catalog');

    const remote = requireSandbox().git.remote;
    const change = pushChange(remote, 'a change approved with a signature');
    await run('logstack rollout staging --revision main --reason "raise limits" --wait', { LOGSTACK_CATALOG: signedCatalog });
    const promotion = shell.start('logstack promote --from staging --to production --requested-by alice --wait', { LOGSTACK_CATALOG: signedCatalog });
    background.push(promotion);
    const handle = client.workflow.getHandle(workflowIds.promote('production'));
    try {
      await signedApproval(promotion, change, signedCatalog, approverKeys);
    } finally {
      // A failed assertion must not leave the promotion waiting: later suites start promote-production too.
      if ((await handle.describe().catch(() => undefined))?.status.name === 'RUNNING') await handle.terminate('README test: signed-approval play ended early');
      for (const b of background.splice(0)) await b.stop();
    }
  });

  /** The approver's two README commands against `promotion`, which waits for approval of `change`. */
  const signedApproval = async (promotion: Background, change: string, signedCatalog: string, approverKeys: string): Promise<void> => {
    await awaitingApproval(client, workflowIds.promote('production'), promotion);
    const [statementCommand = '', approveCommand = ''] = PLAYS.signed;
    const statement = await run(statementCommand, { LOGSTACK_CATALOG: signedCatalog });
    assert.match(statement, /^logstack-approval\/v1$/m, statement);
    assert.match(statement, new RegExp(`^revision: "${change}"$`, 'm'), 'the statement names the exact revision');
    assert.match(statement, /^approver: "bob"$/m);
    // The README's `~/.ssh/id_ed25519` is the approver's own key: here, bob's key generated by the sandbox.
    await run(approveCommand.replace('~/.ssh/id_ed25519', join(approverKeys, 'bob')), { LOGSTACK_CATALOG: signedCatalog });
    assert.equal((await promotion.exited).code, 0, promotion.output());
    const events = (await client.workflow.getHandle(workflowIds.promote('production')).fetchHistory()).events ?? [];
    const accepted = events.flatMap((e) => e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.args?.payloads ?? []);
    const inputs = accepted.map((p) => Buffer.from(p.data ?? new Uint8Array()).toString('utf8'));
    assert.ok(inputs.some((text) => text.includes('BEGIN SSH SIGNATURE') && text.includes('"by":"bob"')), `the accepted approval carries bob's SSH signature: ${inputs.join('\n')}`);
  };

  it('encrypted payloads: the codec block as a script, the codec server for the UI and the Temporal CLI', async () => {
    await stopBackground(); // the next worker encrypts; workers of one task queue share one codec
    const token = 'readme-codec-token-0123456789';
    const script = shell.start(PLAYS.codec.slice(0, 4).join('\n'), { LOGSTACK_CODEC_TOKEN: token });
    background.push(script);
    await script.waitFor(/"state":"RUNNING"/);
    await script.waitFor(/codec server on http:\/\/127\.0\.0\.1:8081/);
    assert.match(script.output(), /"payloadCodec":"aes-256-gcm"/);
    const plain = { metadata: { encoding: btoa('json/plain') }, data: btoa('"readme"') };
    const post = (path: string, payloads: unknown[]) =>
      fetch(`http://127.0.0.1:${CODEC_PORT}${path}`, { method: 'POST', headers: { 'Content-Type': 'application/json', Origin: 'http://127.0.0.1:8233', 'X-Namespace': 'default', Authorization: `Bearer ${token}` }, body: JSON.stringify({ payloads }) });
    const encoded = await post('/encode', [plain]);
    assert.equal(encoded.headers.get('access-control-allow-origin'), 'http://127.0.0.1:8233');
    const sealed = ((await encoded.json()) as { payloads: { metadata: Record<string, string> }[] }).payloads;
    assert.notEqual(sealed[0]?.metadata['encoding'], plain.metadata.encoding, 'encoded payloads are ciphertext');
    const opened = ((await (await post('/decode', sealed)).json()) as { payloads: unknown[] }).payloads;
    assert.deepEqual(opened, [plain]);
    assert.match(await run('temporal workflow show -w <id> --codec-endpoint http://127.0.0.1:8081 --codec-auth "Bearer $LOGSTACK_CODEC_TOKEN"', { LOGSTACK_CODEC_TOKEN: token }), /WorkflowExecutionCompleted|Completed/);
    await stopBackground();

    const server = shell.start('logstack codec-server --port 8081 --origin http://127.0.0.1:8233', { LOGSTACK_CODEC_KEYS: `k1:${btoa('k'.repeat(32))}`, LOGSTACK_CODEC_TOKEN: token });
    background.push(server);
    await server.waitFor(/CORS origins: http:\/\/127\.0\.0\.1:8233/);
    await stopBackground();
  });

  it('test commands: `npm test` runs typecheck, lint, this suite and the Deno suites; every subset script runs files of this suite', async () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    const scripts = pkg.scripts;
    const test = scripts['test'] ?? '';
    for (const step of ['npm run sandbox -- up --fresh', 'npm run typecheck', 'npm run lint', 'npm run test:node', 'npm run test:deno']) {
      assert.ok(test.includes(step), `npm test runs ${step}`);
    }
    const suite = filesOfScript(scripts['test:node'] ?? '');
    assert.ok(suite.includes('test/readme/readme.test.ts'), 'this file is part of `npm run test:node`');
    for (const name of ['test:sandbox', 'test:gitops', 'test:activities', 'test:workflows', 'test:client', 'test:reliability']) {
      const files = filesOfScript(scripts[name] ?? '');
      assert.ok(files.length > 0, `${name} runs some files`);
      assert.deepEqual(files.filter((f) => !suite.includes(f)), [], `${name} runs only files of test:node`);
    }
    // The experiments are outside the product: their tests run by their own script, never within npm test.
    const experiments = filesOfScript(scripts['test:experiments'] ?? '');
    assert.ok(experiments.length > 0, 'test:experiments runs some files');
    assert.deepEqual(
      experiments.filter((f) => !f.startsWith('experiments/') || suite.includes(f)),
      [],
      'test:experiments runs only experiments/, none of test:node',
    );
    assert.match(await run('npm run gitops:validate'), /valid/);
  });

  it('benchmarks: the small-scale run prints every figure; the full-scale scripts run the same files', async () => {
    const out = await run(PLAYS.bench[0]);
    const figures = out.split('\n').filter((l) => l.startsWith('{"metric"')).map((l) => JSON.parse(l) as { metric: string; value: number });
    const metrics = figures.map((f) => f.metric);
    for (const metric of ['gate_reaction_p50_ms', 'worker_cold_start_s', 'worker_cold_start_compile_cache_s', 'orchestration_overhead_per_step_ms', 'orchestration_overhead_vs_noop_floor_ms', 'orchestration_overhead_without_lock_vs_noop_floor_ms', 'workflow_code_per_workflow_task_ms', 'drift_scan_1000x3_s', 'concurrent_bootstraps_3_worker_rss_mb', 'concurrent_bootstraps_3_wall_vs_cpu_floor_s', 'concurrent_bootstraps_3_wall_vs_warm_one_s', 'workflow_heap_per_cached_workflow_kib', 'workflow_heap_per_cached_workflow_traced_kib', 'worker_cold_start_deno_vs_node_s', 'worker_idle_rss_deno_vs_node_mb', 'concurrent_bootstraps_3_worker_rss_deno_mb']) {
      assert.ok(metrics.includes(metric), `npm run bench printed ${metric}:\n${out.slice(-4000)}`);
    }
    for (const f of figures) assert.ok(Number.isFinite(f.value), `${f.metric} has a value`);
    // `npm run bench` at full scale is the same command without the knobs; each bench:* script runs one of its files.
    const scripts = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    const runner = readFileSync(join(ROOT, 'bench/run.ts'), 'utf8');
    const SANDBOX_EXEC = 'node sandbox/cli.ts exec -- ';
    assert.equal(scripts['bench'], `${SANDBOX_EXEC}tsx bench/run.ts`);
    for (const command of PLAYS.bench.slice(2)) {
      const script = scripts[command.replace('npm run ', '')] ?? '';
      const file = /^tsx bench\/([\w-]+\.ts)$/.exec(script.replace(SANDBOX_EXEC, ''))?.[1];
      assert.ok(file && runner.includes(`'${file}'`), `${command} runs a benchmark npm run bench runs (${script})`);
    }
  });

  it('docker compose: not runnable here (no Docker engine); its file is structure-tested elsewhere', () => {
    assert.ok(existsSync(join(ROOT, 'test/client/docker-compose.test.ts')));
    assert.ok(existsSync(join(ROOT, 'docker-compose.yml')));
  });
});
