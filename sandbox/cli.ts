/**
 * `npm run sandbox -- build|up|down|status [--json]` — the local sandbox of real parts on 127.0.0.1:
 * Temporal dev server + Web UI, moto, one kube-apiserver + etcd per environment with upstream CRDs,
 * a real External Secrets controller per cluster, and a bare Git remote.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { Command } from 'commander';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { buildAll } from './build.ts';
import { clusterPorts, ensureGitRemote, startAll } from './components.ts';
import { recordedPids, stopDaemon } from './exec.ts';
import { CACHE_ROOT, ENV_FILE, GIT_REMOTE_DIR, KUBECONFIG_FILE, REPO_ROOT, RUN_DIR, STATUS_FILE, loadVersions } from './paths.ts';
import { publishInputs, readInputs, withdrawInputs, withoutInputs } from './inputs.ts';
import { readSandbox, type SandboxRuntime, type SandboxStatus } from './status.ts';

const say = (line: string): void => {
  process.stderr.write(`sandbox: ${line}\n`);
};

/** Every process name the sandbox may have started, in the order `down` stops them. */
function processNames(): string[] {
  const clusters = loadVersions().clusters;
  return [
    ...clusters.map((c) => `external-secrets-${c}`),
    'temporal',
    'moto',
    ...clusters.map((c) => `kube-controller-manager-${c}`),
    ...clusters.map((c) => `kube-apiserver-${c}`),
    ...clusters.map((c) => `etcd-${c}`),
  ];
}

/** Writes the sandbox catalog with its Git remote resolved to the bare repository. */
function writeCatalog(gitRemote: string): string {
  const source = join(REPO_ROOT, 'sandbox/environments.yaml');
  const target = join(RUN_DIR, 'environments.yaml');
  if (!existsSync(source)) return source;
  const doc = parse(readFileSync(source, 'utf8')) as { gitops?: { remote?: string } };
  if (doc.gitops) doc.gitops.remote = gitRemote;
  writeFileSync(target, stringify(doc));
  return target;
}

function publicStatus(s: SandboxRuntime): SandboxStatus {
  return { temporal: s.temporal, aws: s.aws, kubeconfig: s.kubeconfig, clusters: s.clusters, git: s.git };
}

async function up(fresh: boolean): Promise<void> {
  const started = Date.now();
  if (fresh) await down(true);
  const v = loadVersions();
  const artefacts = await buildAll(v, say);
  const built = Date.now();
  const { awsEndpoint, gitRemote } = await startAll(artefacts, v, say);
  const status: SandboxRuntime = {
    temporal: { address: `127.0.0.1:${v.ports.temporal}`, ui: `http://127.0.0.1:${v.ports.temporalUi}`, cli: artefacts.temporal },
    aws: { endpoint: awsEndpoint },
    kubeconfig: KUBECONFIG_FILE,
    clusters: clusterPorts(v).map((c) => ({ name: c.name, context: c.context })),
    git: { remote: gitRemote },
    testServer: artefacts.testServer,
    kubectl: artefacts.kubectl,
    catalog: writeCatalog(gitRemote),
    pids: recordedPids(processNames()),
  };
  writeFileSync(STATUS_FILE, JSON.stringify(status, null, 2));
  publishInputs(status);
  say(`up in ${((Date.now() - started) / 1000).toFixed(1)}s (build ${((built - started) / 1000).toFixed(1)}s); Web UI ${status.temporal.ui}`);
}

async function down(purge: boolean): Promise<void> {
  for (const name of processNames()) {
    if (await stopDaemon(name)) say(`stopped ${name}`);
  }
  rmSync(STATUS_FILE, { force: true });
  withdrawInputs();
  if (purge) {
    rmSync(RUN_DIR, { recursive: true, force: true });
    say(`removed state in ${RUN_DIR} (build cache in ${CACHE_ROOT} kept)`);
  }
}

function status(json: boolean): void {
  const s = readSandbox();
  const pids = recordedPids(processNames());
  if (json) {
    if (!s) {
      process.stdout.write('null\n');
      process.exitCode = 1;
      return;
    }
    process.stdout.write(JSON.stringify(publicStatus(s), null, 2) + '\n');
    return;
  }
  if (!s) {
    process.stdout.write('sandbox: down (run `npm run sandbox -- up`)\n');
    process.exitCode = 1;
    return;
  }
  process.stdout.write(`Temporal   ${s.temporal.address}  Web UI ${s.temporal.ui}\nAWS (moto) ${s.aws.endpoint}\nkubeconfig ${s.kubeconfig}\n`);
  process.stdout.write(`contexts   ${s.clusters.map((c) => c.context).join(', ')}\nGit remote ${s.git.remote}\n`);
  for (const name of processNames()) process.stdout.write(`  ${pids[name] ? 'up  ' : 'DOWN'} ${name}${pids[name] ? ` (pid ${pids[name]})` : ''}\n`);
}

/**
 * Runs `command` with the sandbox's published inputs in its environment and exits as it exits. The
 * sandbox's values win over the caller's for the variables it publishes, so a shell set up for real AWS
 * or a real cluster never leaks into the sandbox; every other variable passes through.
 *
 * The command runs in a process group of its own and every termination signal this process receives is
 * forwarded to it exactly once: a worker drains on the first SIGTERM or SIGINT and would end at once on
 * a second, which a signal sent to the caller's whole group (a terminal's Ctrl-C, a supervisor) and then
 * forwarded would otherwise be.
 */
function exec(command: string, args: readonly string[]): void {
  const child = spawn(command, [...args], { stdio: 'inherit', detached: true, env: { ...process.env, ...readInputs() } });
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.on(signal, () => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    });
  }
  child.once('error', (error) => {
    say(`cannot run ${command}: ${error.message}`);
    process.exitCode = 127;
  });
  child.once('exit', (code, signal) => {
    // A command ended by a signal exits as a shell reports it: 128 + the signal's number.
    process.exitCode = code ?? 128 + (signal ? constants.signals[signal] : 0);
  });
}

const program = new Command('sandbox').description('the local sandbox of real parts').enablePositionalOptions();
// Every command but `exec` and `env` runs the sandbox itself: its parts start without the inputs it publishes.
program.hook('preAction', (_program, action) => {
  if (action.name() !== 'exec' && action.name() !== 'env') withoutInputs(process.env);
});
program.command('build').description('build every part that is missing from the cache').action(async () => {
  await buildAll(loadVersions(), say);
});
program
  .command('up')
  .description('build what is missing and start every part (idempotent)')
  .option('--fresh', 'first stop everything and delete runtime state, then start from scratch')
  .action((o: { fresh?: boolean }) => up(o.fresh === true));
program
  .command('down')
  .description('stop the processes the sandbox started (by recorded PIDs)')
  .option('--purge', 'also delete runtime state (clusters, Temporal history, Git remote)')
  .action((o: { purge?: boolean }) => down(o.purge === true));
program
  .command('status')
  .description('show where each part listens')
  .option('--json', 'print the machine-readable status')
  .action((o: { json?: boolean }) => status(o.json === true));

program
  .command('exec')
  .description("run a command with the sandbox's inputs (Temporal profile, catalog, kubeconfig, kubectl, AWS endpoint and moto's test key) in its environment")
  .argument('<command>', 'the program to run')
  .argument('[args...]', 'its arguments')
  .passThroughOptions()
  .action((command: string, args: string[]) => exec(command, args));
program
  .command('env')
  .description('print the env file the sandbox publishes (for `node --env-file`, or `set -a; . <file>`)')
  .option('--path', 'print only its path')
  .action((o: { path?: boolean }) => {
    const inputs = readInputs();
    process.stdout.write(o.path ? `${ENV_FILE}\n` : Object.entries(inputs).map(([k, v]) => `${k}=${v}\n`).join(''));
  });
program
  .command('reseed-git')
  .description("replace the sandbox's Git remote with a fresh one seeded from the current gitops/ tree (drops pins)")
  .action(async () => {
    rmSync(GIT_REMOTE_DIR, { recursive: true, force: true });
    await ensureGitRemote(say);
  });
program
  .command('stand-ins')
  .description('write the statuses of controllers that cannot run here (OLM, Loki Operator, Cluster Logging Operator); runs until stopped')
  .action(async () => {
    const { runStandIns } = await import('./stand-ins.ts');
    say('stand-ins writing LokiStack, ClusterLogForwarder, Subscription/InstallPlan/CSV statuses in every cluster');
    await runStandIns();
  });

// `status | head`: a reader that closed the pipe early has seen enough; end quietly.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
  process.exit(0);
});
await program.parseAsync(process.argv);
