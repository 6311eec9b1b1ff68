// The `spanflow` command line: global store options, the commands, and exit
// codes (0 done, 1 the command failed, 2 the command line was wrong). Expected
// errors print one clear message; only a bug prints a stack (with SPANFLOW_DEBUG).

import { Command, CommanderError } from 'commander';
import { RunIdError, StoreError } from '../exporters/postgres/index.ts';
import { registerCleanup } from './commands/cleanup.ts';
import { registerCompare } from './commands/compare.ts';
import { registerDurable } from './commands/durable.ts';
import { registerExport } from './commands/export.ts';
import { registerGraph } from './commands/graph.ts';
import { registerMigrate } from './commands/migrate.ts';
import { registerReplay } from './commands/replay.ts';
import { registerRuns } from './commands/runs.ts';
import { registerServe } from './commands/serve.ts';
import { registerShow } from './commands/show.ts';
import { registerStats } from './commands/stats.ts';
import { registerWorker } from './commands/worker.ts';
import { CommandError, type Io, Output, UsageError } from './io.ts';
import { MissingDependencyError, messageOf } from '../sdk/index.ts';

export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

const VERSION = '0.1.0';

function program(out: Output): Command {
  const root = new Command('spanflow')
    .description('list, show, compare and replay stored spanflow runs; resume and retry durable runs; serve them live over HTTP; print pipeline graphs; migrate the store; run a distributed queue\'s worker')
    .version(VERSION, '-V, --version')
    .option('--database-url <url>', 'a postgres:// URL (default: SPANFLOW_DATABASE_URL, else DATABASE_URL, else the embedded database)')
    .option('--data-dir <dir>', 'the embedded database folder when there is no URL (default: SPANFLOW_DATA_DIR, else .spanflow/db)')
    .option('--schema <name>', 'the Postgres schema of the tables (default: SPANFLOW_SCHEMA, else spanflow)')
    .showHelpAfterError('(add --help for usage)')
    .showSuggestionAfterError(true)
    .configureOutput({
      writeOut: (text) => out.write(text),
      writeErr: (text) => out.io.stderr(text),
      getOutHelpWidth: () => out.columns,
      getErrHelpWidth: () => out.columns,
      getOutHasColors: () => out.color,
      getErrHasColors: () => out.color,
    })
    .exitOverride();
  for (const register of [registerRuns, registerShow, registerCompare, registerExport, registerReplay, registerStats, registerCleanup, registerGraph, registerMigrate, registerDurable, registerServe, registerWorker]) {
    register(root, out);
  }
  // Subcommands inherit the output and the exit override.
  for (const command of root.commands) command.copyInheritedSettings(root);
  return root;
}

/** The exit code for an error, after saying what went wrong. */
function fail(out: Output, error: unknown): number {
  if (error instanceof CommanderError) {
    // Commander has printed its message (or the help, or the version) already.
    return error.exitCode === 0 || error.code === 'commander.helpDisplayed' || error.code === 'commander.version' ? EXIT.ok : EXIT.usage;
  }
  if (error instanceof UsageError) {
    out.warn(`spanflow: ${error.message}`);
    return EXIT.usage;
  }
  if (error instanceof CommandError || error instanceof StoreError || error instanceof RunIdError || error instanceof MissingDependencyError) {
    out.warn(`spanflow: ${error.message}`);
    return EXIT.failed;
  }
  out.warn(`spanflow: ${messageOf(error)}`);
  if (out.env.SPANFLOW_DEBUG && error instanceof Error && error.stack) out.warn(error.stack);
  else out.warn('(this looks like a bug in spanflow: run again with SPANFLOW_DEBUG=1 for the stack, and report it)');
  return EXIT.failed;
}

/**
 * Runs the CLI on `argv` (the arguments after the command name) and returns
 * the exit code; it never exits the process, so tests call it in-process.
 */
export async function main(argv: readonly string[], io: Io): Promise<number> {
  const out = new Output(io);
  try {
    await program(out).parseAsync([...argv], { from: 'user' });
    return EXIT.ok;
  } catch (error) {
    return fail(out, error);
  }
}
