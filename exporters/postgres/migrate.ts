// Migrations through Kysely's Migrator, with their bookkeeping tables in the store's own schema.

import type { Kysely } from 'kysely';
import type { Engine } from './engine.ts';
import { Migrator } from './kysely.ts';
import { migrationProvider } from './migrations/index.ts';
import type { Database } from './schema.ts';

export interface MigrationOutcome {
  /** Migrations run now, in order (empty when the schema was up to date). */
  readonly applied: readonly string[];
  /** Every migration the schema has now. */
  readonly current: readonly string[];
}

/** A schema name the store can use: lower-case letters, digits and underscores, starting with a letter or underscore. */
export function checkSchemaName(schema: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
    throw new TypeError(`spanflow/postgres: schema must be a Postgres identifier of lower-case letters, digits and _ (got ${JSON.stringify(schema)})`);
  }
  return schema;
}

/**
 * Kysely's Migrator finds its table by introspecting every table of the
 * database, and on Postgres that query resolves each table's name and columns
 * again (pg_get_serial_sequence): another session's schema dropped, table
 * dropped or columns changed meanwhile (pg-boss migrating its own schema)
 * makes it fail with "schema … does not exist" (3F000), "relation … does not
 * exist" (42P01) or "column … of relation … does not exist" (42703), though
 * nothing of ours changed. Such a read is simply made again (a few times: a
 * change takes one transaction).
 */
async function introspecting<T>(schema: string, read: () => Promise<T>): Promise<T> {
  for (let tries = 1; ; tries++) {
    try {
      return await read();
    } catch (error) {
      if (tries >= 5 || !changedElsewhere(error, schema)) throw error;
    }
  }
}

/** Codes of an object another session dropped or changed while a read resolved it. */
const CHANGED_ELSEWHERE = new Set(['3F000', '42P01', '42703']);

function changedElsewhere(error: unknown, schema: string): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  return typeof code === 'string' && CHANGED_ELSEWHERE.has(code) && typeof message === 'string' && !message.includes(`"${schema}"`);
}

function migrator(db: Kysely<Database>, engine: Engine, schema: string): InstanceType<typeof Migrator> {
  return new Migrator({
    db,
    provider: migrationProvider(schema, engine),
    migrationTableSchema: schema,
    migrationTableName: 'migrations',
    migrationLockTableName: 'migration_lock',
  });
}

export class MigrationError extends Error {
  override name = 'MigrationError';
}

/**
 * Brings the schema up to date (creating it if need be). Safe to call from
 * several processes at once (on SQLite each migration runs in a transaction
 * that takes the write lock first: one process at a time).
 */
export async function migrateToLatest(db: Kysely<Database>, engine: Engine, schema: string): Promise<MigrationOutcome> {
  // Up to date (the common case): read only, so no lock is taken (on SQLite, a writer of another process is not waited for).
  const known = await introspecting(schema, () => migrator(db, engine, schema).getMigrations());
  if (known.every((m) => m.executedAt !== undefined)) return { applied: [], current: known.map((m) => m.name) };
  let outcome = await migrator(db, engine, schema).migrateToLatest();
  // Two processes creating the same schema at once: the loser sees a duplicate; once more finds it made.
  // A schema dropped elsewhere while the Migrator looked for its table: once more too.
  for (let tries = 1; outcome.error && (isDuplicate(outcome.error) || changedElsewhere(outcome.error, schema)) && tries < 5; tries++) {
    outcome = await migrator(db, engine, schema).migrateToLatest();
  }
  if (outcome.error) {
    const failed = outcome.results?.find((r) => r.status === 'Error')?.migrationName;
    const cause = outcome.error instanceof Error ? outcome.error.message : String(outcome.error);
    throw new MigrationError(`spanflow/postgres: migrating schema '${schema}' failed${failed ? ` in ${failed}` : ''}: ${cause}`, { cause: outcome.error });
  }
  const applied = (outcome.results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
  const current = (await introspecting(schema, () => migrator(db, engine, schema).getMigrations())).filter((m) => m.executedAt !== undefined).map((m) => m.name);
  return { applied, current };
}

/** Migrations the schema does not have yet. */
export async function pendingMigrations(db: Kysely<Database>, engine: Engine, schema: string): Promise<string[]> {
  const all = await introspecting(schema, () => migrator(db, engine, schema).getMigrations());
  return all.filter((m) => m.executedAt === undefined).map((m) => m.name);
}

function isDuplicate(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '23505' || code === '42P06' || code === '42P07';
}
