import type { Command } from 'commander';
import type { CommandContext } from '../context.ts';
import type { ExitCode } from '../errors.ts';

/** What each command file receives to register itself. */
export interface Runner {
  /**
   * Runs a command body with the context built from `command`'s global options, and records its exit
   * code. Errors are reported by the CLI entry with their exit code.
   */
  run(command: Command, body: (ctx: CommandContext) => Promise<ExitCode>): Promise<void>;
}

/** A command file's entry: adds its command(s) to the program. */
export type RegisterCommand = (program: Command, runner: Runner) => void;
