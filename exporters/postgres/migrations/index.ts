// The migrations, shipped inside the package as modules (no folder to find at
// run time), for the store's schema. Add a migration: a new module, one line here.

import type { Kysely } from 'kysely';
import type { Migration, MigrationProvider } from 'kysely/migration';
import type { Engine } from '../engine.ts';
import * as initial from './0001-initial.ts';
import * as durableRuns from './0002-durable-runs.ts';

// biome-ignore lint/suspicious/noExplicitAny: migrations take Kysely<any>.
type Step = { up(db: Kysely<any>, schema: string, engine: Engine): Promise<void>; down?(db: Kysely<any>, schema: string, engine: Engine): Promise<void> };

const MIGRATIONS: Readonly<Record<string, Step>> = {
  '0001-initial': initial,
  '0002-durable-runs': durableRuns,
};

/** Kysely's Migrator takes its migrations from here, bound to one schema on one engine. */
export function migrationProvider(schema: string, engine: Engine): MigrationProvider {
  return {
    getMigrations: async () => {
      const bound: Record<string, Migration> = {};
      for (const [name, step] of Object.entries(MIGRATIONS)) {
        const { down } = step;
        bound[name] = { up: (db) => step.up(db, schema, engine), ...(down ? { down: (db: Kysely<unknown>) => down(db, schema, engine) } : {}) };
      }
      return bound;
    },
  };
}
