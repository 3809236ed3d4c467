/**
 * The main job on the local sandbox (`npm run demo`): sandbox up, worker up, bootstrap dev, staging
 * and production, promote dev → staging → production — production requested by one allowed person
 * and approved by another, as people would: production takes signed approvals, so the approver signs the
 * request's statement with their SSH key (the sandbox's generated approver keys) — printing every step live
 * with each workflow's Web UI link, and a final status table. Everything goes through the `logstack` CLI and real parts; the
 * statuses of controllers that cannot run here (OLM, Loki Operator, Cluster Logging Operator) are
 * written by the sandbox stand-ins.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, parseDocument } from 'yaml';
import { runCli } from '../client/cli.ts';
import type { CliIo } from '../client/context.ts';
import { ExitCode } from '../client/errors.ts';
import { readInputs } from './inputs.ts';
import { requireSandbox } from './status.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const started = Date.now();
const elapsed = (): string => `${((Date.now() - started) / 1000).toFixed(1)}s`;
const say = (line: string): void => void process.stdout.write(`\n== ${line} (${elapsed()})\n`);

/** A CLI io that prefixes every line, so concurrent commands stay readable. */
function prefixedIo(prefix: string): CliIo {
  const write = (stream: NodeJS.WriteStream) => (text: string) => {
    for (const line of text.split('\n')) if (line.length) stream.write(`${prefix} ${line}\n`);
  };
  return { out: write(process.stdout), err: write(process.stderr), isTTY: false, env: process.env };
}

async function cli(prefix: string, ...argv: string[]): Promise<void> {
  const code = await runCli(argv, prefixedIo(prefix));
  if (code !== ExitCode.ok) throw new Error(`logstack ${argv.join(' ')} exited with ${code}`);
}

/** Runs a TypeScript module as a Node child process (type stripping) and resolves once `ready` matches its output. */
function startChild(name: string, args: string[], ready: RegExp): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let seen = '';
    const onData = (chunk: Buffer) => {
      seen += chunk.toString();
      if (ready.test(seen)) {
        child.stdout?.off('data', onData);
        child.stderr?.off('data', onData);
        child.stdout?.resume();
        child.stderr?.resume();
        resolve(child);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code} before it was ready:\n${seen.slice(-3000)}`)));
  });
}

function runToEnd(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: 'inherit' });
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${args.join(' ')} exited with ${code}`))));
  });
}

/** Two different allowed approvers of production from the catalog: one requests, the other approves. */
function productionPeople(catalogPath: string): { requester: string; approver: string } {
  const catalog = parse(readFileSync(catalogPath, 'utf8')) as { environments: { name: string; approvers?: (string | { name: string })[] }[] };
  const approvers = (catalog.environments.find((e) => e.name === 'production')?.approvers ?? []).map((a) => (typeof a === 'string' ? a : a.name));
  const [requester, approver] = approvers;
  if (!requester || !approver) throw new Error('the catalog must list two production approvers');
  return { requester, approver };
}

/**
 * A platform engineer's change, pushed to the GitOps remote: raise the LokiStack's ingestion limit
 * annotation in base (a structured YAML edit). Returns the new commit.
 */
function pushChange(remote: string): string {
  const work = mkdtempSync(join(tmpdir(), 'logstack-demo-'));
  try {
    const git = (...args: string[]) => execFileSync('git', ['-C', work, '-c', 'user.name=Demo Engineer', '-c', 'user.email=demo@localhost', ...args], { encoding: 'utf8' }).trim();
    execFileSync('git', ['clone', '--quiet', remote, work]);
    const file = join(work, 'gitops/base/loki-stack/lokistack.yaml');
    const doc = parseDocument(readFileSync(file, 'utf8'));
    doc.setIn(['metadata', 'annotations', 'logstack.io/change'], `demo ${new Date().toISOString()}`);
    writeFileSync(file, doc.toString());
    git('commit', '--quiet', '-am', 'Annotate the LokiStack with the change being rolled out');
    git('push', '--quiet', 'origin', 'HEAD:main');
    return git('rev-parse', 'HEAD');
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

const children: ChildProcess[] = [];
const stopChildren = () => {
  for (const c of children) c.kill('SIGTERM');
};
process.once('SIGINT', () => {
  stopChildren();
  process.exit(130);
});

try {
  say('sandbox up');
  await runToEnd(['sandbox/cli.ts', 'up']);
  const sandbox = requireSandbox();
  // The demo targets the sandbox the way a user would: its published inputs become this process's
  // environment, read by the CLI below and inherited by the worker and the stand-ins.
  Object.assign(process.env, readInputs());
  // Production with signed approvals: the worker reads the sandbox catalog that lists the approvers' generated keys.
  const signedCatalog = process.env['LOGSTACK_SIGNED_CATALOG'] ?? '';
  const approverKeys = process.env['LOGSTACK_APPROVER_KEYS'] ?? '';
  if (!signedCatalog || !approverKeys) throw new Error('the sandbox published no signed catalog (LOGSTACK_SIGNED_CATALOG, LOGSTACK_APPROVER_KEYS)');
  process.env['LOGSTACK_CATALOG'] = signedCatalog;

  say('worker and controller stand-ins up');
  children.push(await startChild('stand-ins', ['sandbox/cli.ts', 'stand-ins'], /stand-ins writing/));
  children.push(await startChild('worker', ['worker/main.ts'], /"state":"RUNNING"/));

  say('bootstrap dev, staging and production (concurrently)');
  await Promise.all(['dev', 'staging', 'production'].map((env) => cli(`[${env}]`, 'bootstrap', env, '--wait')));

  const commit = pushChange(sandbox.git.remote);
  say(`a change is pushed to the GitOps remote (${commit.slice(0, 7)}); roll it out to dev`);
  await cli('[rollout dev]', 'rollout', 'dev', '--revision', commit, '--wait');

  say('promote dev → staging');
  await cli('[promote staging]', 'promote', '--from', 'dev', '--to', 'staging', '--requested-by', 'demo', '--wait');

  const { requester, approver } = productionPeople(signedCatalog);
  say(`promote staging → production, requested by ${requester}, approved by ${approver} with a signature of their SSH key`);
  const promotion = cli('[promote production]', 'promote', '--from', 'staging', '--to', 'production', '--requested-by', requester, '--wait');
  const approval = (async () => {
    // Approve as a person would: once the workflow shows it is waiting for approval.
    const { Connection, Client } = await import('@temporalio/client');
    const { progressQuery } = await import('../workflows/messages.ts');
    const connection = await Connection.connect({ address: sandbox.temporal.address });
    try {
      const handle = new Client({ connection }).workflow.getHandle('promote-production');
      for (let i = 0; i < 600; i++) {
        const progress = await handle.query(progressQuery).catch(() => undefined);
        if (progress?.awaitingApproval) {
          await new Promise((r) => setTimeout(r, 2000)); // a person reads the diff before approving
          break;
        }
        await new Promise((r) => setTimeout(r, 500));
      }
    } finally {
      await connection.close();
    }
    await cli(`[${approver}]`, 'approve', 'production', '--by', approver, '--comment', 'reviewed the diff', '--key', join(approverKeys, approver));
  })();
  await Promise.all([promotion, approval]);

  say('status');
  await cli('[status]', 'status');
  say(`done — explore every workflow in the Temporal Web UI: ${sandbox.temporal.ui}/namespaces/default/workflows`);
} catch (error) {
  process.stderr.write(`demo failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
} finally {
  stopChildren();
}
