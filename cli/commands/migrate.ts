// `spanflow migrate`: creates or updates the store's tables (its schema, or the embedded folder and database file, when missing).

import type { Command } from 'commander';
import type { Output } from '../io.ts';
import { migrateStore } from '../store.ts';
import { JSON_FLAG, storeFlags } from './shared.ts';

export function registerMigrate(program: Command, out: Output): void {
  program
    .command('migrate')
    .description("create or update the run store's tables")
    .option(...JSON_FLAG)
    .action(async (flags: { json?: boolean }, command: Command) => {
      const outcome = await migrateStore(out, storeFlags(command));
      if (flags.json) return out.json(outcome);
      if (outcome.applied.length === 0) out.line(`${outcome.location} is up to date (${outcome.current.join(', ')})`);
      else out.line(`${outcome.location}: applied ${outcome.applied.join(', ')}`);
    });
}
