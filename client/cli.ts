/**
 * The `logstack` CLI (docs/architecture.md#the-logstack-cli): commander for parsing, one file per command under `commands/`.
 * Runs on Node (`npm run logstack -- …`, the `logstack` bin) and on Deno (`deno task logstack …`).
 * Exit codes: 0 done, 1 failed, 2 usage, 3 rejected or timed out.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, Option } from 'commander';
import { TEMPORAL_DEFAULTS } from '../domain/index.ts';
import { registerApproval } from './commands/approval.ts';
import { registerApprove } from './commands/approve.ts';
import { registerBootstrap } from './commands/bootstrap.ts';
import { registerCodecServer } from './commands/codec-server.ts';
import { registerDrift } from './commands/drift.ts';
import { registerEvidence } from './commands/evidence.ts';
import { registerMigrate } from './commands/migrate.ts';
import { registerPromote } from './commands/promote.ts';
import { registerReject } from './commands/reject.ts';
import { registerRender } from './commands/render.ts';
import { registerRollout } from './commands/rollout.ts';
import type { Runner } from './commands/runner.ts';
import { registerSchedule } from './commands/schedule.ts';
import { registerState } from './commands/state.ts';
import { registerStatus } from './commands/status.ts';
import { registerValidate } from './commands/validate.ts';
import { registerWatch } from './commands/watch.ts';
import { CommandContext, OUTPUT_FORMATS, processIo, type CliIo, type GlobalOptions } from './context.ts';
import { describeError, ExitCode } from './errors.ts';
import { printableLines } from './printable.ts';

/** Commander error codes that are not usage errors: help and version were asked for. */
const CLEAN_EXITS = new Set(['commander.helpDisplayed', 'commander.version']);

/** Builds the program; `runner` receives every command body. */
export function buildProgram(io: CliIo, runner: Runner): Command {
  const program = new Command('logstack')
    .description('Run the GitOps lifecycle of the OpenShift logging stack as Temporal workflows')
    .addOption(new Option('-o, --output <format>', 'output format').choices(OUTPUT_FORMATS).default('table'))
    .addOption(new Option('--address <host:port>', `Temporal frontend (default: $TEMPORAL_ADDRESS, the profile's address, or ${TEMPORAL_DEFAULTS.address})`))
    .addOption(new Option('--namespace <name>', `Temporal namespace (default: $TEMPORAL_NAMESPACE or ${TEMPORAL_DEFAULTS.namespace})`))
    .addOption(new Option('--profile <name>', 'Temporal profile to read from $TEMPORAL_CONFIG_FILE (default: $TEMPORAL_PROFILE or "default")'))
    .addOption(new Option('--task-queue <name>', `task queue of the worker (default: $LOGSTACK_TASK_QUEUE or ${TEMPORAL_DEFAULTS.taskQueue})`))
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) })
    .exitOverride()
    .showHelpAfterError('(add --help for usage)')
    .addHelpText(
      'after',
      `
Environment: TEMPORAL_CONFIG_FILE + TEMPORAL_PROFILE (a Temporal TOML profile), TEMPORAL_ADDRESS,
  TEMPORAL_NAMESPACE, LOGSTACK_TASK_QUEUE, TEMPORAL_TLS_CLIENT_CERT_PATH / TEMPORAL_TLS_CERT,
  TEMPORAL_TLS_CLIENT_KEY_PATH / TEMPORAL_TLS_KEY, TEMPORAL_TLS_SERVER_CA_CERT_PATH / TEMPORAL_TLS_CA,
  TEMPORAL_TLS_SERVER_NAME, TEMPORAL_API_KEY, LOGSTACK_UI_URL, LOGSTACK_CATALOG, LOGSTACK_KUBECTL,
  LOGSTACK_CODEC_KEYS (payload encryption keys, the same as the worker's).
  \`state show|repair\` read KUBECONFIG (the catalog's contexts), LOGSTACK_KUBECTL and
  LOGSTACK_STATE_KEYS (the deployed-state record keys, the same as the worker's).
  Flags override variables, variables override the profile, the profile overrides the defaults.
Exit codes: 0 done, 1 failed, 2 usage, 3 rejected or approval timed out.`,
    );
  for (const register of [
    registerBootstrap,
    registerRollout,
    registerPromote,
    registerApprove,
    registerReject,
    registerApproval,
    registerStatus,
    registerWatch,
    registerDrift,
    registerSchedule,
    registerMigrate,
    registerRender,
    registerValidate,
    registerState,
    registerCodecServer,
    registerEvidence,
  ]) {
    register(program, runner);
  }
  return program;
}

/**
 * Runs the CLI on `argv` (arguments only, without the executable and script) and returns the exit
 * code; never calls `process.exit`, so tests can run it in-process.
 */
export async function runCli(argv: readonly string[], io: CliIo = processIo): Promise<ExitCode> {
  let exitCode: ExitCode = ExitCode.ok;
  const contexts: CommandContext[] = [];
  const runner: Runner = {
    async run(command, body) {
      const ctx = new CommandContext(io, command.optsWithGlobals<GlobalOptions>());
      contexts.push(ctx);
      exitCode = await body(ctx);
    },
  };
  const program = buildProgram(io, runner);
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      exitCode = CLEAN_EXITS.has(error.code) ? ExitCode.ok : ExitCode.usage;
    } else {
      const { exitCode: code, message } = describeError(error);
      io.err(`logstack: ${printableLines(message)}\n`);
      exitCode = code;
    }
  } finally {
    await Promise.all(contexts.map((c) => c.close()));
  }
  return exitCode;
}

/**
 * Ends the process quietly when its output is closed early (`logstack status | head`): a reader that has
 * seen enough is not an error, and Node would otherwise crash on the unhandled EPIPE.
 */
export function exitQuietlyOnClosedPipe(): void {
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
  });
}

const invokedDirectly = (import.meta as { main?: boolean }).main === true || (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url));
if (invokedDirectly) {
  exitQuietlyOnClosedPipe();
  process.exitCode = await runCli(process.argv.slice(2));
}
