// What the commands share: the store flags from the global options, and the
// options every listing takes.

import type { Command } from 'commander';
import type { StoreFlags } from '../store.ts';

/** The global store options (--database-url, --data-dir, --schema), wherever on the line they were given. */
export function storeFlags(command: Command): StoreFlags {
  const all = command.optsWithGlobals<StoreFlags>();
  return { databaseUrl: all.databaseUrl, dataDir: all.dataDir, schema: all.schema };
}

export const JSON_FLAG = ['--json', 'print JSON instead of a table'] as const;
