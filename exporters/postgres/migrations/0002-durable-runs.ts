// Durable runs: the links between a run and its retry (both rows say so), and how often a run was resumed.
// Checkpoints themselves are `checkpoint` events (the events table, written by the same ordered writer).
// The same columns on both engines; SQLite adds a column to a STRICT table with a strict type.

import type { Kysely } from 'kysely';
import type { Engine } from '../engine.ts';
import { sql } from '../kysely.ts';

// biome-ignore lint/suspicious/noExplicitAny: migrations take Kysely<any> (they see the schema before and after).
export async function up(db: Kysely<any>, schema: string, engine: Engine): Promise<void> {
  const { uuid } = engine.types;
  const runs = () => db.schema.withSchema(schema).alterTable('runs');
  // The failed run this one retries, and the run that retried this one.
  await runs().addColumn('retry_of', sql.raw(uuid)).execute();
  await runs().addColumn('retried_by', sql.raw(uuid)).execute();
  // How many times a process claimed it to carry it on after its process died.
  await runs().addColumn('resumes', 'integer', (c) => c.notNull().defaultTo(0)).execute();
}

// biome-ignore lint/suspicious/noExplicitAny: see up().
export async function down(db: Kysely<any>, schema: string): Promise<void> {
  for (const column of ['resumes', 'retried_by', 'retry_of']) await db.schema.withSchema(schema).alterTable('runs').dropColumn(column).execute();
}
