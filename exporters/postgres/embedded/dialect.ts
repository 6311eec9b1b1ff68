// A Kysely dialect for the embedded database: SQLite's query compiler and
// adapter, a driver whose one connection is the worker thread (port.ts), an
// introspector for the attached file, and a plugin that gives rows back as
// pg does (Dates for times, objects for JSON).

import type {
  CompiledQuery,
  DatabaseConnection,
  DatabaseIntrospector,
  DatabaseMetadataOptions,
  Dialect,
  DialectAdapter,
  Driver,
  Kysely,
  KyselyPlugin,
  QueryCompiler,
  QueryResult,
  SchemaMetadata,
  TableMetadata,
  UnknownRow,
} from 'kysely';
import { kysely, sql } from '../kysely.ts';
import { JSON_COLUMNS } from '../schema.ts';
import type { SqlValue } from './protocol.ts';
import { WorkerPort } from './port.ts';

export interface EmbeddedConfig {
  /** The database file (made, with its folder, on first use). */
  readonly file: string;
  /** The name the file is attached under: the store's schema. */
  readonly schema: string;
  /** How long a statement waits for another process's write lock before it fails (busy: the writer retries), in ms. */
  readonly busyTimeoutMs: number;
  /** The worker thread's module (default: worker.ts; tests give one that dies). */
  readonly worker?: URL;
}

/** SQLite transactions hold DDL too: the Migrator runs each migration in one (`begin immediate`: one process at a time). */
class EmbeddedAdapter extends kysely.SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }
}

/** A parameter as SQLite binds it: a Date as epoch ms (how times are stored), a boolean as 1 or 0. */
function bindable(value: unknown): SqlValue {
  if (value === undefined || value === null) return null;
  if (value instanceof Date) return value.getTime();
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'bigint' || value instanceof Uint8Array) return value;
  throw new TypeError(`spanflow/postgres: the embedded database cannot bind a parameter of type ${Array.isArray(value) ? 'array' : typeof value}`);
}

class EmbeddedConnection implements DatabaseConnection {
  readonly #port: WorkerPort;
  constructor(port: WorkerPort) {
    this.#port = port;
  }

  async executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    const result = await this.#port.request({ op: 'query', sql: compiled.sql, params: compiled.parameters.map(bindable) });
    return {
      rows: result.rows as R[],
      ...(result.changes === undefined ? {} : { numAffectedRows: BigInt(result.changes) }),
      ...(result.lastInsertRowid === undefined ? {} : { insertId: BigInt(result.lastInsertRowid) }),
    };
  }

  // biome-ignore lint/correctness/useYield: the store never streams; Kysely's interface asks for the method.
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('spanflow/postgres: the embedded database does not stream query results');
  }
}

class EmbeddedDriver implements Driver {
  readonly #config: EmbeddedConfig;
  #port: WorkerPort | undefined;
  #connection: EmbeddedConnection | undefined;

  constructor(config: EmbeddedConfig) {
    this.#config = config;
  }

  async init(): Promise<void> {
    const { file, schema, busyTimeoutMs } = this.#config;
    const port = new WorkerPort(file, this.#config.worker);
    // Known at once, so a close that gives up can end the thread while it still opens the file.
    this.#port = port;
    try {
      await port.request({ op: 'open', file, schema, busyTimeoutMs });
    } catch (error) {
      // Kysely tries init again on the next query: with a new thread.
      port.terminate();
      throw error;
    }
    this.#connection = new EmbeddedConnection(port);
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    // One connection: Kysely's mutex (SQLite's adapter says it has no more) hands it to one query or transaction at a time.
    if (!this.#connection) throw new Error('spanflow/postgres: the embedded database is not open');
    return this.#connection;
  }

  async beginTransaction(connection: DatabaseConnection): Promise<void> {
    // The write lock at once: a transaction that read first could not take it later when another process wrote meanwhile.
    await connection.executeQuery(kysely.CompiledQuery.raw('begin immediate'));
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(kysely.CompiledQuery.raw('commit'));
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(kysely.CompiledQuery.raw('rollback'));
  }

  async releaseConnection(): Promise<void> {}

  async destroy(): Promise<void> {
    await this.#port?.close();
  }

  /** Ends the worker thread now (a close that gave up waiting for it). */
  terminate(): void {
    this.#port?.terminate();
  }
}

/** Tables of the attached file (Kysely's SqliteIntrospector reads the main database only). */
class AttachedIntrospector implements DatabaseIntrospector {
  // biome-ignore lint/suspicious/noExplicitAny: Kysely hands the introspector a Kysely<any>.
  readonly #db: Kysely<any>;
  readonly #schema: string;
  // biome-ignore lint/suspicious/noExplicitAny: see above.
  constructor(db: Kysely<any>, schema: string) {
    this.#db = db;
    this.#schema = schema;
  }

  async getSchemas(): Promise<SchemaMetadata[]> {
    return [{ name: this.#schema }];
  }

  async getTables(options: DatabaseMetadataOptions = { withInternalKyselyTables: false }): Promise<TableMetadata[]> {
    const internal = options.withInternalKyselyTables ? [] : ['kysely_migration', 'kysely_migration_lock'];
    const { rows: tables } = await sql<{ name: string; type: string }>`select name, type from ${sql.table(`${this.#schema}.sqlite_master`)}
      where type in ('table', 'view') and name not like 'sqlite_%' order by name`.execute(this.#db);
    const found: TableMetadata[] = [];
    for (const table of tables.filter((t) => !internal.includes(t.name))) {
      const { rows: columns } = await sql<{ name: string; type: string; notnull: number; dflt_value: unknown; pk: number }>`select name, type, "notnull", dflt_value, pk
        from pragma_table_info(${table.name}, ${this.#schema}) order by cid`.execute(this.#db);
      found.push({
        name: table.name,
        schema: this.#schema,
        isView: table.type === 'view',
        isForeign: false,
        columns: columns.map((c) => ({
          name: c.name,
          dataType: c.type,
          isNullable: c.notnull === 0 && c.pk === 0,
          isAutoIncrementing: false,
          hasDefaultValue: c.dflt_value !== null,
        })),
      });
    }
    return found;
  }
}

export class EmbeddedDialect implements Dialect {
  readonly #config: EmbeddedConfig;
  #driver: EmbeddedDriver | undefined;

  constructor(config: EmbeddedConfig) {
    this.#config = config;
  }

  createAdapter(): DialectAdapter {
    return new EmbeddedAdapter();
  }

  createDriver(): Driver {
    this.#driver = new EmbeddedDriver(this.#config);
    return this.#driver;
  }

  createQueryCompiler(): QueryCompiler {
    return new kysely.SqliteQueryCompiler();
  }

  // biome-ignore lint/suspicious/noExplicitAny: Kysely's Dialect interface.
  createIntrospector(db: Kysely<any>): DatabaseIntrospector {
    return new AttachedIntrospector(db, this.#config.schema);
  }

  /** Ends the worker thread now, whatever it is doing. */
  terminate(): void {
    this.#driver?.terminate();
  }
}

const JSON_COLUMN_NAMES: ReadonlySet<string> = new Set(JSON_COLUMNS);

/**
 * Rows as pg gives them: a column named `time` or `…_at` (every time column,
 * and the aliases the queries give times) holds epoch ms on SQLite and comes
 * back as a Date; a JSON column holds text and comes back parsed.
 */
export const storedValues: KyselyPlugin = {
  transformQuery: ({ node }) => node,
  async transformResult({ result }) {
    for (const row of result.rows as UnknownRow[]) {
      for (const key in row) {
        const value = row[key];
        if (typeof value === 'number' && (key === 'time' || key.endsWith('_at'))) row[key] = new Date(value);
        else if (typeof value === 'string' && JSON_COLUMN_NAMES.has(key)) row[key] = JSON.parse(value);
      }
    }
    return result;
  },
};
