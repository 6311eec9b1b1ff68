// The SQL that differs between the two databases the store runs on: a
// PostgreSQL server (through pg) and SQLite, the embedded default (node:sqlite
// in a worker thread, embedded/). Everything else (the Kysely queries, the
// tables, the writer) is the same on both. On SQLite a time is epoch ms (REAL),
// an id and a JSON value are text; the embedded dialect's plugin gives them
// back as Dates and objects, as pg does.

import type { Expression, RawBuilder } from 'kysely';
import { sql } from './kysely.ts';

export type EngineKind = 'postgres' | 'sqlite';

/** What a column of rows sent in bulk holds. */
export type BulkType = 'uuid' | 'text' | 'int' | 'float' | 'json' | 'time';

/** One column of rows sent in bulk: `time` values are epoch ms, `json` values JSON text. */
export interface BulkColumn {
  readonly type: BulkType;
  readonly values: readonly (string | number | null)[];
}

export interface Engine {
  readonly kind: EngineKind;
  /** The database's clock, as a time column holds it. */
  readonly now: RawBuilder<Date>;
  /** A time as epoch ms. */
  epochMs(time: Expression<unknown>): RawBuilder<number>;
  /** Epoch ms as a time (kept to the microsecond: a Date parameter keeps only milliseconds). */
  time(ms: number): RawBuilder<Date>;
  /** Whether `column` is one of `ids`: one parameter, however many ids there are. */
  isIn(column: string, ids: readonly string[]): RawBuilder<boolean>;
  /** `select <one value per column> from <the rows>`: many rows as one parameter per column (Postgres) or one in all (SQLite). */
  rows(columns: readonly BulkColumn[]): RawBuilder<unknown>;
  /** The conflict target of a step attempt: one row per run, node, item index (none is one too) and attempt. */
  readonly stepKey: RawBuilder<unknown>;
  /** Column types in CREATE TABLE. */
  readonly types: { readonly uuid: string; readonly time: string; readonly json: string; readonly float: string };
}

const QUOTED = /["\\]/g;

/**
 * A Postgres array literal (`{"a","b",NULL}`), built here in one pass per
 * element: `pg` would escape each element twice over, and that was a third of
 * the writer's time.
 */
export function arrayLiteral(values: readonly (string | number | null)[]): string {
  let out = '{';
  for (let i = 0; i < values.length; i++) {
    if (i > 0) out += ',';
    const value = values[i];
    if (value === null || value === undefined) out += 'NULL';
    else if (typeof value === 'number') out += String(value);
    else out += `"${value.replace(QUOTED, '\\$&')}"`;
  }
  return `${out}}`;
}

/** JSON texts (or null) as one JSON array, each text as it is: no escaping. */
function jsonArray(values: readonly (string | number | null)[]): string {
  let out = '[';
  for (let i = 0; i < values.length; i++) {
    if (i > 0) out += ',';
    const value = values[i];
    out += value === null || value === undefined ? 'null' : value;
  }
  return `${out}]`;
}

const POSTGRES_ARRAY: Readonly<Record<BulkType, string>> = { uuid: 'uuid', text: 'text', int: 'int4', float: 'float8', json: 'jsonb', time: 'float8' };

export const postgres: Engine = {
  kind: 'postgres',
  now: sql<Date>`now()`,
  epochMs: (time) => sql<number>`(extract(epoch from ${time}) * 1000)::float8`,
  time: (ms) => sql<Date>`to_timestamp(${ms} / 1000.0)`,
  isIn: (column, ids) => sql<boolean>`${sql.ref(column)} = any(${sql.val(ids)}::uuid[])`,
  rows(columns) {
    // One set-returning function per column, zipped by `rows from` (about twice Kysely's multi-row insert:
    // DESIGN.md): an array literal per column, and a JSON column as one JSON array of its texts as they are
    // (an array literal would escape every quote of every document, and that was the writer's largest cost).
    const names = columns.map((_, i) => sql.raw(`c${i}`));
    const values = columns.map((c, i) =>
      c.type === 'time' ? sql`to_timestamp(${names[i]} / 1000.0)` : c.type === 'json' ? sql`nullif(${names[i]}, 'null'::jsonb)` : names[i],
    );
    const sources = columns.map((c) =>
      c.type === 'json'
        ? sql`jsonb_array_elements(${sql.val(jsonArray(c.values))}::jsonb)`
        : sql`unnest(${sql.val(arrayLiteral(c.values))}::${sql.raw(POSTGRES_ARRAY[c.type])}[])`,
    );
    return sql`select ${sql.join(values)} from rows from (${sql.join(sources)}) as u(${sql.join(names)})`;
  },
  stepKey: sql`on constraint step_attempts_key`,
  types: { uuid: 'uuid', time: 'timestamptz', json: 'jsonb', float: 'float8' },
};

export const sqlite: Engine = {
  kind: 'sqlite',
  now: sql<Date>`(unixepoch('subsec') * 1000)`,
  epochMs: (time) => sql<number>`${time}`,
  time: (ms) => sql<Date>`${ms}`,
  isIn: (column, ids) => sql<boolean>`${sql.ref(column)} in (select value from json_each(${JSON.stringify(ids)}))`,
  rows(columns) {
    // One JSON array of rows, read by json_each: one parameter however many rows (SQLite takes at most 32,766).
    const n = columns[0]?.values.length ?? 0;
    const rows = new Array<(string | number | null)[]>(n);
    for (let r = 0; r < n; r++) {
      const row = new Array<string | number | null>(columns.length);
      for (let c = 0; c < columns.length; c++) row[c] = (columns[c] as BulkColumn).values[r] ?? null;
      rows[r] = row;
    }
    // `where true`: without it SQLite would read the upsert's `on conflict` as a join constraint of the select.
    return sql`select ${sql.join(columns.map((_, i) => sql.raw(`value ->> ${i}`)))} from json_each(${JSON.stringify(rows)}) where true`;
  },
  stepKey: sql`(run_id, node, coalesce(item_index, -1), attempt)`,
  types: { uuid: 'text', time: 'real', json: 'text', float: 'real' },
};
