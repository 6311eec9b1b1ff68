// Where the CLI reads and writes: the process's streams for the `spanflow`
// command, or strings a test collects when it calls `main()` in-process.

import { styleText } from 'node:util';

/** What the CLI talks to. Everything but the two writers has a default from the process. */
export interface Io {
  /** Writes to standard output, as is (add the newline yourself). */
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** The terminal's width; tables and timelines fit it. Default: `COLUMNS`, else 120. */
  readonly columns?: number | undefined;
  /** Colour the output. Default false (the bin turns it on for a terminal, unless NO_COLOR). */
  readonly color?: boolean | undefined;
  /** The environment the store settings come from. Default `process.env`. */
  readonly env?: NodeJS.ProcessEnv | undefined;
  /** The folder relative paths start from. Default `process.cwd()`. */
  readonly cwd?: string | undefined;
  /** Stops a command that runs until stopped (`serve`), besides SIGINT and SIGTERM: for callers running the CLI in-process. */
  readonly signal?: AbortSignal | undefined;
}

/** The command line is wrong (an unknown option, a bad value): exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** The command could not do its job (no such run, an unreachable database): exit code 1. */
export class CommandError extends Error {
  override name = 'CommandError';
}

export const DEFAULT_COLUMNS = 120;

/** The process's own streams, with colour on a terminal that has it (NO_COLOR and FORCE_COLOR are honoured by Node). */
export function processIo(): Io {
  const out = process.stdout;
  // Output piped into a program that stops reading (`| head`): stop quietly, as other commands do.
  out.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    process.exit(0);
  });
  const color = out.isTTY === true && out.hasColors() && !process.env.NO_COLOR;
  return {
    stdout: (text) => out.write(text),
    stderr: (text) => process.stderr.write(text),
    columns: out.isTTY ? out.columns : undefined,
    color,
    env: process.env,
    cwd: process.cwd(),
  };
}

type Format = Parameters<typeof styleText>[0];

/** Output helpers shared by the commands: lines out, and colour only when it is on. */
export class Output {
  readonly io: Io;
  readonly columns: number;
  readonly color: boolean;
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;

  constructor(io: Io) {
    this.io = io;
    this.env = io.env ?? process.env;
    this.cwd = io.cwd ?? process.cwd();
    const fromEnv = Number.parseInt(this.env.COLUMNS ?? '', 10);
    this.columns = Math.max(40, io.columns && io.columns > 0 ? io.columns : fromEnv > 0 ? fromEnv : DEFAULT_COLUMNS);
    this.color = io.color === true;
  }

  line(text = ''): void {
    this.io.stdout(`${text}\n`);
  }

  write(text: string): void {
    this.io.stdout(text);
  }

  json(value: unknown): void {
    this.io.stdout(`${JSON.stringify(value, null, 2)}\n`);
  }

  warn(text: string): void {
    this.io.stderr(`${text}\n`);
  }

  style(format: Format, text: string): string {
    return this.color ? styleText(format, text, { validateStream: false }) : text;
  }
}
