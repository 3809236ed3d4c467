/**
 * What every command gets: the output channel and format, the resolved Temporal settings, and a
 * lazily opened client (commands that only read local files or serve HTTP never connect).
 */
import { createInterface } from 'node:readline/promises';
import Table from 'cli-table3';
import { printableJson, printableLines, printableYaml } from './printable.ts';
import { connectClient, resolveSettings, type ConnectionFlags, type ConnectionSettings, type TemporalClient } from './connection.ts';

/** Where the CLI writes; tests pass their own to capture output. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  /** True when stdout is a terminal. */
  readonly isTTY: boolean;
  readonly env: Readonly<Record<string, string | undefined>>;
  /**
   * Asks a person a yes/no question and resolves true only for "y" or "yes". Absent when nobody can
   * answer (no terminal on stdin and stdout): commands that need a confirmation then refuse.
   */
  readonly confirm?: (question: string) => Promise<boolean>;
}

/** Asks on the terminal; anything but y/yes is a no. */
async function askTerminal(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
  } finally {
    rl.close();
  }
}

/** The process's stdout/stderr and environment; confirmations when stdin and stdout are a terminal. */
export const processIo: CliIo = {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
  isTTY: Boolean(process.stdout.isTTY),
  env: process.env,
  ...(process.stdin.isTTY && process.stdout.isTTY ? { confirm: askTerminal } : {}),
};

/** `--output` values. */
export const OUTPUT_FORMATS = ['table', 'json', 'yaml'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** Global options, as commander parses them. */
export interface GlobalOptions extends ConnectionFlags {
  readonly output: OutputFormat;
}

/** Per-invocation context shared by the commands. */
export class CommandContext {
  readonly io: CliIo;
  readonly output: OutputFormat;
  readonly #flags: ConnectionFlags;
  #settings: ConnectionSettings | undefined;
  #client: Promise<TemporalClient> | undefined;

  constructor(io: CliIo, options: GlobalOptions) {
    this.io = io;
    this.output = options.output;
    this.#flags = { address: options.address, namespace: options.namespace, taskQueue: options.taskQueue, profile: options.profile };
  }

  /** Resolved Temporal settings (flags → variables → Temporal profile → defaults). */
  get settings(): ConnectionSettings {
    this.#settings ??= resolveSettings(this.#flags, this.io.env);
    return this.#settings;
  }

  /** The Temporal client, connected on first use. */
  temporal(): Promise<TemporalClient> {
    this.#client ??= connectClient(this.settings, { env: this.io.env });
    return this.#client;
  }

  /** True when the output is machine-readable: JSON, or YAML (what {@link printJson} then writes). */
  get json(): boolean {
    return this.output === 'json' || this.output === 'yaml';
  }

  /** Writes one line of text; controls and bidirectional characters in it are shown as escapes. */
  line(text = ''): void {
    this.io.out(`${printableLines(text)}\n`);
  }

  /**
   * Writes a value as JSON (pretty; one document), or as one YAML document with `--output yaml`, with every
   * control or bidirectional character escaped.
   */
  printJson(value: unknown): void {
    if (this.output === 'yaml') this.io.out(printableYaml(value));
    else this.io.out(`${printableJson(JSON.stringify(value, null, 2))}\n`);
  }

  /**
   * Writes a value as one JSON line (streams of events), or with `--output yaml` as one YAML document opened
   * by `---` (a multi-document stream); escaped as {@link printJson}.
   */
  printJsonLine(value: unknown): void {
    if (this.output === 'yaml') this.io.out(`---\n${printableYaml(value)}`);
    else this.io.out(`${printableJson(JSON.stringify(value))}\n`);
  }

  /** Writes a plain table (no colours, so output is the same in a terminal and a pipe). */
  printTable(head: readonly string[], rows: readonly (readonly string[])[]): void {
    const table = new Table({ head: [...head], style: { head: [], border: [] }, wordWrap: false });
    for (const row of rows) table.push(row.map((cell) => printableLines(cell)));
    this.io.out(`${table.toString()}\n`);
  }

  /** Closes the client if one was opened. */
  async close(): Promise<void> {
    const pending = this.#client;
    this.#client = undefined;
    if (!pending) return;
    try {
      await (await pending).close();
    } catch {
      // never connected, or already closed: nothing to release
    }
  }
}
