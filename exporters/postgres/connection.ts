// Where the store keeps its runs: a Postgres server (a postgres:// URL, given
// or from the environment, through `pg`; or the user's own Kysely or pg.Pool),
// or else an embedded SQLite database in a local folder (node:sqlite in a
// worker thread), so the first run needs no server and no set-up.

import { join, resolve } from 'node:path';
import type { Kysely, PostgresPool } from 'kysely';
import { loadPeer } from '../../sdk/index.ts';
import { EmbeddedDialect, storedValues } from './embedded/dialect.ts';
import { type Engine, postgres, sqlite } from './engine.ts';
import { kysely } from './kysely.ts';
import type { Database } from './schema.ts';

export interface ConnectionOptions {
  /**
   * A `postgres://` URL. Default, unless `dataDir`, `db` or `pool` is given:
   * `SPANFLOW_DATABASE_URL`, then `DATABASE_URL`; with neither, the embedded
   * database in `dataDir`.
   */
  readonly url?: string;
  /** The embedded database's folder, when there is no URL. Default: `SPANFLOW_DATA_DIR`, else `.spanflow/db` under the working directory. */
  readonly dataDir?: string;
  /**
   * Your own Kysely on Postgres (`PostgresDialect`), to keep runs in its
   * database. The store does not destroy it on `close()`: it is yours. Its
   * plugins are left out of the store's queries; pg's default parsers (times
   * as Dates, JSON as objects) are assumed.
   */
  // biome-ignore lint/suspicious/noExplicitAny: any database type: the store uses its own tables only.
  readonly db?: Kysely<any>;
  /** Your own `pg.Pool` (or one shaped like it), to keep runs in its database. The store does not end it on `close()`: it is yours. */
  readonly pool?: PostgresPool;
  /** Connections that write at once (each run keeps to one, so its events stay in order). Default 2 on Postgres; the embedded database has one. */
  readonly writers?: number;
  /**
   * The embedded database: how long a write waits for another process's
   * write (SQLite lets one write at a time; readers never wait) before it
   * fails as busy, in ms; the writer then tries again with backoff. Default 5,000.
   */
  readonly busyTimeoutMs?: number;
}

export interface Connection {
  readonly db: Kysely<Database>;
  readonly engine: Engine;
  /** Where the runs are, for people: the URL without its password, or the embedded database's file. */
  readonly location: string;
  /** Connections the writer may use at once. */
  readonly writers: number;
  /** Closes what the store made (its pool, its worker thread); what the user gave stays open. */
  close(): Promise<void>;
  /** Lets go at once, for a close that gave up waiting: the embedded database's thread ends whatever it is doing. */
  abandon(): void;
}

export const DEFAULT_DATA_DIR = '.spanflow/db';

/** The embedded database's file in `dataDir` for `schema`: `runs.sqlite` for the default schema, `runs-<schema>.sqlite` for another. */
export function embeddedFile(dataDir: string, schema: string): string {
  return join(resolve(dataDir), schema === 'spanflow' ? 'runs.sqlite' : `runs-${schema}.sqlite`);
}

/** The URL the environment names, if any. */
export function urlFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env.SPANFLOW_DATABASE_URL || env.DATABASE_URL || undefined;
}

/** A URL with its password hidden. */
export function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return url.replace(/\/\/([^:/@]*):[^@]*@/, '//$1:***@');
  }
}

/** Whether a Kysely speaks Postgres: its compiler numbers parameters `$1`, as only Postgres's does. */
// biome-ignore lint/suspicious/noExplicitAny: any database type.
function speaksPostgres(db: Kysely<any>): boolean {
  try {
    return /\$1\b/.test(db.selectFrom('t').select('c').where('c', '=', 1).compile().sql);
  } catch {
    return false;
  }
}

function given(db: Kysely<Database>, location: string, writers: number): Connection {
  return { db, engine: postgres, location, writers, close: async () => {}, abandon: () => {} };
}

function server(url: string, writers: number): Connection {
  if (!/^postgres(ql)?:\/\//.test(url)) {
    throw new TypeError(`spanflow/postgres: the database URL must start with postgres:// (got '${redact(url)}'); leave it out for the embedded database`);
  }
  // pg is loaded only for a server: the embedded database does without it.
  const pg = loadPeer<{ default: typeof import('pg') }>('pg', 'spanflow/postgres').default;
  /** bigint columns (counts, sums) come back as numbers. */
  const types = {
    getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
      oid === 20 ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
  };
  const pool = new pg.Pool({ connectionString: url, max: writers + 2, allowExitOnIdle: true, types });
  // A dropped connection (server restart, pg_terminate_backend, a network cut) fails its query, which the writer
  // retries, and is replaced on next use. pg also emits it as an 'error' event, idle or not: without a listener
  // that would be an uncaught exception.
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  const db = new kysely.Kysely<Database>({ dialect: new kysely.PostgresDialect({ pool }) });
  return { ...given(db, redact(url), writers), close: () => db.destroy() };
}

function embedded(dataDir: string | undefined, schema: string, busyTimeoutMs: number): Connection {
  const file = embeddedFile(dataDir ?? process.env.SPANFLOW_DATA_DIR ?? DEFAULT_DATA_DIR, schema);
  const dialect = new EmbeddedDialect({ file, schema, busyTimeoutMs });
  const db = new kysely.Kysely<Database>({ dialect, plugins: [storedValues] });
  return { db, engine: sqlite, location: file, writers: 1, close: () => db.destroy(), abandon: () => dialect.terminate() };
}

export function connect(options: ConnectionOptions, schema: string): Connection {
  const writers = Math.max(1, options.writers ?? 2);
  const chosen = (['db', 'pool', 'url', 'dataDir'] as const).filter((key) => options[key] !== undefined);
  if (chosen.length > 1 && (options.db !== undefined || options.pool !== undefined)) {
    throw new TypeError(`spanflow/postgres: give one of db, pool, url and dataDir (got ${chosen.join(' and ')})`);
  }
  if (options.db !== undefined) {
    if (!speaksPostgres(options.db)) {
      throw new TypeError(
        'spanflow/postgres: db must be a Kysely on Postgres (PostgresDialect); for the embedded database leave db out (dataDir), or pass a pg.Pool as pool',
      );
    }
    // Its plugins (CamelCasePlugin, say) would rename the store's columns: the store's queries go without them.
    return given(options.db.withoutPlugins() as unknown as Kysely<Database>, 'Postgres (a Kysely given)', writers);
  }
  if (options.pool !== undefined) {
    if (typeof (options.pool as { connect?: unknown }).connect !== 'function') {
      throw new TypeError('spanflow/postgres: pool must be a pg.Pool (an object with connect())');
    }
    return given(new kysely.Kysely<Database>({ dialect: new kysely.PostgresDialect({ pool: options.pool }) }), 'Postgres (a pg.Pool given)', writers);
  }
  // A folder given (and no URL) means the embedded database, whatever the environment names.
  const url = options.url ?? (options.dataDir === undefined ? urlFromEnv() : undefined);
  if (url !== undefined) return server(url, writers);
  const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
  if (!(Number.isFinite(busyTimeoutMs) && busyTimeoutMs >= 0)) throw new RangeError(`spanflow/postgres: busyTimeoutMs must be a number of ms, 0 or more (got ${String(busyTimeoutMs)})`);
  return embedded(options.dataDir, schema, busyTimeoutMs);
}
