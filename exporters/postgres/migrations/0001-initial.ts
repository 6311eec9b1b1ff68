// The first schema: pipelines, runs, step attempts and events, with the indexes the queries use.
// The same tables on both engines; on SQLite (STRICT tables: a value of the wrong type is refused,
// as Postgres refuses it) times are epoch ms, ids and JSON text, and a uuid is checked by its shape.

import type { Kysely, RawBuilder } from 'kysely';
import type { Engine } from '../engine.ts';
import { sql } from '../kysely.ts';
import { STORED_RUN_STATUSES } from '../schema.ts';

const list = (values: readonly string[]) => sql.join(values.map((v) => sql.lit(v)));

/** A lower-case uuid, as SQLite's GLOB matches it (Postgres's uuid type checks its own). */
const UUID_GLOB = [8, 4, 4, 4, 12].map((n) => '[0-9a-f]'.repeat(n)).join('-');

// biome-ignore lint/suspicious/noExplicitAny: migrations take Kysely<any> (they see the schema before and after).
export async function up(db: Kysely<any>, schema: string, engine: Engine): Promise<void> {
  const { uuid, time, json, float } = engine.types;
  const onSqlite = engine.kind === 'sqlite';
  // On SQLite the schema is the attached file, there already.
  if (!onSqlite) await db.schema.createSchema(schema).ifNotExists().execute();
  const s = db.schema.withSchema(schema);
  const strict = <T extends { modifyEnd(modifier: RawBuilder<unknown>): T }>(table: T): T => (onSqlite ? table.modifyEnd(sql`strict`) : table);
  const uuidCheck = (column: string) => (onSqlite ? sql`${sql.ref(column)} glob ${sql.lit(UUID_GLOB)}` : undefined);
  /** An index. Postgres names the schema on the table (an index lives with it), SQLite on the index (its table is in the same file). */
  const index = async (name: string, table: string, columns: string, where?: string) => {
    const [indexName, on] = onSqlite ? [sql.table(`${schema}.${name}`), sql.id(table)] : [sql.id(name), sql.table(`${schema}.${table}`)];
    const only = where === undefined ? sql`` : sql` where ${sql.raw(where)}`;
    await sql`create index ${indexName} on ${on} (${sql.raw(columns)})${only}`.execute(db);
  };

  await strict(
    s
      .createTable('pipelines')
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('hash', 'text', (c) => c.notNull())
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('graph', sql.raw(json), (c) => c.notNull())
      .addColumn('mermaid', 'text', (c) => c.notNull())
      .addColumn('first_seen_at', sql.raw(time), (c) => c.notNull().defaultTo(engine.now))
      .addPrimaryKeyConstraint('pipelines_pkey', ['name', 'hash']),
  ).execute();

  let runs = s
    .createTable('runs')
    .addColumn('id', sql.raw(uuid), (c) => c.primaryKey().notNull())
    .addColumn('pipeline', 'text', (c) => c.notNull())
    .addColumn('pipeline_hash', 'text')
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('started_at', sql.raw(time), (c) => c.notNull())
    .addColumn('ended_at', sql.raw(time))
    .addColumn('duration_ms', sql.raw(float))
    .addColumn('error', sql.raw(json))
    .addColumn('failed_node', 'text')
    .addColumn('suspended', sql.raw(json))
    .addColumn('resume_from', 'text')
    .addColumn('run_meta', sql.raw(json))
    .addColumn('pipeline_meta', sql.raw(json))
    .addColumn('metrics', sql.raw(json))
    .addColumn('trace_id', 'text')
    .addColumn('parent_run_id', sql.raw(uuid))
    .addColumn('host', 'text', (c) => c.notNull())
    .addColumn('pid', 'integer', (c) => c.notNull())
    .addColumn('heartbeat_at', sql.raw(time), (c) => c.notNull().defaultTo(engine.now))
    .addColumn('items_fed', 'integer')
    .addColumn('items_completed', 'integer')
    .addColumn('items_failed', 'integer')
    .addColumn('items_skipped', 'integer')
    .addColumn('events_dropped', 'integer', (c) => c.notNull().defaultTo(0))
    .addCheckConstraint('runs_status_check', sql`status in (${list(STORED_RUN_STATUSES)})`)
    .addCheckConstraint('runs_kind_check', sql`kind in ('graph', 'stages')`);
  const runIds = uuidCheck('id');
  const parentIds = uuidCheck('parent_run_id');
  if (runIds && parentIds) runs = runs.addCheckConstraint('runs_id_check', runIds).addCheckConstraint('runs_parent_run_id_check', parentIds);
  await strict(runs).execute();
  // Listing: newest first, by pipeline, by status; the children of a run; the open runs a heartbeat sweep looks at.
  await index('runs_started_idx', 'runs', 'started_at desc');
  await index('runs_pipeline_started_idx', 'runs', 'pipeline, started_at desc');
  await index('runs_status_started_idx', 'runs', 'status, started_at desc');
  await index('runs_parent_idx', 'runs', 'parent_run_id', 'parent_run_id is not null');
  await index('runs_open_idx', 'runs', 'heartbeat_at', "status in ('pending', 'running')");

  let steps = s
    .createTable('step_attempts')
    .addColumn('run_id', sql.raw(uuid), (c) => c.notNull())
    .addColumn('node', 'text', (c) => c.notNull())
    .addColumn('node_kind', 'text', (c) => c.notNull())
    .addColumn('attempt', 'integer', (c) => c.notNull())
    .addColumn('item_index', 'integer')
    .addColumn('item_id', 'text')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('started_at', sql.raw(time))
    .addColumn('ended_at', sql.raw(time))
    .addColumn('duration_ms', sql.raw(float))
    .addColumn('error', sql.raw(json))
    .addColumn('error_type', 'text')
    .addColumn('skip_reason', 'text')
    .addColumn('meta', sql.raw(json))
    .addColumn('span_id', 'text');
  const stepRunIds = uuidCheck('run_id');
  // One row per attempt; a step that is not a map item has no index, and is still one row (Postgres: NULLS NOT
  // DISTINCT; SQLite: a unique index on the index with none made a value).
  steps = stepRunIds
    ? steps.addCheckConstraint('step_attempts_run_id_check', stepRunIds)
    : steps.addUniqueConstraint('step_attempts_key', ['run_id', 'node', 'item_index', 'attempt'], (u) => u.nullsNotDistinct());
  await strict(steps).execute();
  if (onSqlite) {
    await sql`create unique index ${sql.table(`${schema}.step_attempts_key`)} on step_attempts (run_id, node, coalesce(item_index, -1), attempt)`.execute(db);
  }
  await index('step_attempts_errors_idx', 'step_attempts', 'error_type, node', 'error_type is not null');

  let events = s
    .createTable('events')
    .addColumn('run_id', sql.raw(uuid), (c) => c.notNull())
    .addColumn('seq', 'integer', (c) => c.notNull())
    .addColumn('time', sql.raw(time), (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('node', 'text')
    .addColumn('item', 'text')
    .addColumn('attempt', 'integer')
    .addColumn('data', sql.raw(json), (c) => c.notNull())
    .addPrimaryKeyConstraint('events_pkey', ['run_id', 'seq']);
  const eventRunIds = uuidCheck('run_id');
  if (eventRunIds) events = events.addCheckConstraint('events_run_id_check', eventRunIds);
  await strict(events).execute();
}

// biome-ignore lint/suspicious/noExplicitAny: see up().
export async function down(db: Kysely<any>, schema: string): Promise<void> {
  const s = db.schema.withSchema(schema);
  for (const table of ['events', 'step_attempts', 'runs', 'pipelines']) await s.dropTable(table).ifExists().execute();
}
