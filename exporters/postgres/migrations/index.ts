// The migrations, shipped inside the package as modules (no folder to find at
// run time), for the store's schema. Add a migration: a new module, one line here.

import type { Kysely } from 'kysely';
import type { Migration, MigrationProvider } from 'kysely/migration';
import * as initial from './0001-initial.ts';

// biome-ignore lint/suspicious/noExplicitAny: migrations take Kysely<any>.
type Step = { up(db: Kysely<any>, schema: string): Promise<void>; down?(db: Kysely<any>, schema: string): Promise<void> };

const MIGRATIONS: Readonly<Record<string, Step>> = {
  '0001-initial': initial,
};

/** Kysely's Migrator takes its migrations from here, bound to one schema. */
export function migrationProvider(schema: string): MigrationProvider {
  return {
    getMigrations: async () => {
      const bound: Record<string, Migration> = {};
      for (const [name, step] of Object.entries(MIGRATIONS)) {
        const { down } = step;
        bound[name] = { up: (db) => step.up(db, schema), ...(down ? { down: (db: Kysely<unknown>) => down(db, schema) } : {}) };
      }
      return bound;
    },
  };
}
