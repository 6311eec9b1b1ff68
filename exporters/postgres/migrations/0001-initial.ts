// The first schema: pipelines, runs, step attempts and events, with the indexes the queries use.

import { type Kysely, sql } from 'kysely';
import { STORED_RUN_STATUSES } from '../schema.ts';

const list = (values: readonly string[]) => sql.join(values.map((v) => sql.lit(v)));

// biome-ignore lint/suspicious/noExplicitAny: migrations take Kysely<any> (they see the schema before and after).
export async function up(db: Kysely<any>, schema: string): Promise<void> {
  await db.schema.createSchema(schema).ifNotExists().execute();
  const s = db.schema.withSchema(schema);

  await s
    .createTable('pipelines')
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('hash', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('graph', 'jsonb', (c) => c.notNull())
    .addColumn('mermaid', 'text', (c) => c.notNull())
    .addColumn('first_seen_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('pipelines_pkey', ['name', 'hash'])
    .execute();

  await s
    .createTable('runs')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('pipeline', 'text', (c) => c.notNull())
    .addColumn('pipeline_hash', 'text')
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('started_at', 'timestamptz', (c) => c.notNull())
    .addColumn('ended_at', 'timestamptz')
    .addColumn('duration_ms', 'float8')
    .addColumn('error', 'jsonb')
    .addColumn('failed_node', 'text')
    .addColumn('suspended', 'jsonb')
    .addColumn('resume_from', 'text')
    .addColumn('run_meta', 'jsonb')
    .addColumn('pipeline_meta', 'jsonb')
    .addColumn('metrics', 'jsonb')
    .addColumn('trace_id', 'text')
    .addColumn('parent_run_id', 'uuid')
    .addColumn('host', 'text', (c) => c.notNull())
    .addColumn('pid', 'integer', (c) => c.notNull())
    .addColumn('heartbeat_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('items_fed', 'integer')
    .addColumn('items_completed', 'integer')
    .addColumn('items_failed', 'integer')
    .addColumn('items_skipped', 'integer')
    .addColumn('events_dropped', 'integer', (c) => c.notNull().defaultTo(0))
    .addCheckConstraint('runs_status_check', sql`status in (${list(STORED_RUN_STATUSES)})`)
    .addCheckConstraint('runs_kind_check', sql`kind in ('graph', 'stages')`)
    .execute();
  // Listing: newest first, by pipeline, by status; the children of a run; the open runs a heartbeat sweep looks at.
  await s.createIndex('runs_started_idx').on('runs').column('started_at desc').execute();
  await s.createIndex('runs_pipeline_started_idx').on('runs').columns(['pipeline', 'started_at desc']).execute();
  await s.createIndex('runs_status_started_idx').on('runs').columns(['status', 'started_at desc']).execute();
  await s.createIndex('runs_parent_idx').on('runs').column('parent_run_id').where(sql.ref('parent_run_id'), 'is not', null).execute();
  await s
    .createIndex('runs_open_idx')
    .on('runs')
    .column('heartbeat_at')
    .where(sql<boolean>`status in ('pending', 'running')`)
    .execute();

  await s
    .createTable('step_attempts')
    .addColumn('run_id', 'uuid', (c) => c.notNull())
    .addColumn('node', 'text', (c) => c.notNull())
    .addColumn('node_kind', 'text', (c) => c.notNull())
    .addColumn('attempt', 'integer', (c) => c.notNull())
    .addColumn('item_index', 'integer')
    .addColumn('item_id', 'text')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('started_at', 'timestamptz')
    .addColumn('ended_at', 'timestamptz')
    .addColumn('duration_ms', 'float8')
    .addColumn('error', 'jsonb')
    .addColumn('error_type', 'text')
    .addColumn('skip_reason', 'text')
    .addColumn('meta', 'jsonb')
    .addColumn('span_id', 'text')
    // One row per attempt; a step that is not a map item has no index (NULLS NOT DISTINCT: still one row).
    .addUniqueConstraint('step_attempts_key', ['run_id', 'node', 'item_index', 'attempt'], (u) => u.nullsNotDistinct())
    .execute();
  await s.createIndex('step_attempts_errors_idx').on('step_attempts').columns(['error_type', 'node']).where(sql.ref('error_type'), 'is not', null).execute();

  await s
    .createTable('events')
    .addColumn('run_id', 'uuid', (c) => c.notNull())
    .addColumn('seq', 'integer', (c) => c.notNull())
    .addColumn('time', 'timestamptz', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('node', 'text')
    .addColumn('item', 'text')
    .addColumn('attempt', 'integer')
    .addColumn('data', 'jsonb', (c) => c.notNull())
    .addPrimaryKeyConstraint('events_pkey', ['run_id', 'seq'])
    .execute();
}

// biome-ignore lint/suspicious/noExplicitAny: see up().
export async function down(db: Kysely<any>, schema: string): Promise<void> {
  const s = db.schema.withSchema(schema);
  for (const table of ['events', 'step_attempts', 'runs', 'pipelines']) await s.dropTable(table).ifExists().execute();
}
