#!/usr/bin/env node
// The `spanflow` command (package.json "bin"): `spanflow --help` lists the commands.
// What the command needs besides the engine (commander, cli-table3, kysely) is an optional peer:
// checked before the command's modules load, so a missing one is one line naming the install command.
import { checkPeers, MissingDependencyError } from '../sdk/index.ts';

try {
  checkPeers('the spanflow command');
} catch (error) {
  if (!(error instanceof MissingDependencyError)) throw error;
  process.stderr.write(`spanflow: ${error.message}\n`);
  process.exit(1);
}
const { main, processIo } = await import('./index.ts');
process.exitCode = await main(process.argv.slice(2), processIo());
