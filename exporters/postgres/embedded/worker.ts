// The SQLite worker thread: one node:sqlite connection, which it alone uses,
// so SQLite's synchronous calls (and its waits for another process's lock)
// never hold up the pipeline's event loop. The store's file is attached under
// the store's schema name, so the store's schema-qualified SQL
// ("spanflow"."runs") runs as it does on Postgres. Requests come one at a time
// (port.ts); each gets one reply.

import { accessSync, constants, existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { parentPort } from 'node:worker_threads';
import type { ErrorData, Reply, Request, Result, SqlValue } from './protocol.ts';

/** Prepared statements kept, most recently used last (the writer's few statements, the CLI's queries). */
const STATEMENTS = 100;
/**
 * How long SQLite itself waits for another connection's lock at a time. The
 * worker waits on, up to the store's busy timeout, a slice at a time: a thread
 * told to end (a close that gave up waiting) ends within a slice, where a
 * SQLite call cannot be cut short.
 */
const SLICE_MS = 50;

type Sqlite = typeof import('node:sqlite');

/**
 * node:sqlite, loaded here alone. Node 22 calls it experimental and warns as
 * it loads: that one warning is left out (it says nothing a user can act on),
 * every other passes, and nothing else runs in this thread meanwhile.
 */
async function loadSqlite(): Promise<Sqlite | ErrorData> {
  const emit = process.emitWarning;
  process.emitWarning = function (this: unknown, warning: string | Error, ...rest: unknown[]) {
    const type = typeof rest[0] === 'string' ? rest[0] : (rest[0] as { type?: string } | undefined)?.type;
    const message = typeof warning === 'string' ? warning : warning.message;
    if (type === 'ExperimentalWarning' && /\bSQLite\b/.test(message)) return;
    return Reflect.apply(emit, process, [warning, ...rest]);
  } as typeof process.emitWarning;
  try {
    return await import('node:sqlite');
  } catch (error) {
    return {
      kind: 'unavailable',
      message: `the embedded store needs node:sqlite, which this Node (${process.version}) does not have: use Node 22.18 or later, or keep runs in a Postgres server (SPANFLOW_DATABASE_URL=postgres://…) (${(error as Error).message})`,
    };
  } finally {
    process.emitWarning = emit;
  }
}

const sqlite = await loadSqlite();
let db: DatabaseSync | undefined;
let busyTimeoutMs = 0;
const statements = new Map<string, StatementSync>();
const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * Runs `step` until it is not refused for another connection's lock (SQLITE_BUSY:
 * nothing of it was done), up to the busy timeout; `also` names other result
 * codes worth the same. The last refusal is thrown.
 */
function patiently<T>(step: () => T, also: readonly number[] = []): T {
  const deadline = Date.now() + busyTimeoutMs;
  for (;;) {
    try {
      return step();
    } catch (error) {
      const code = (error as { errcode?: unknown }).errcode;
      // 5: BUSY, 261: BUSY_RECOVERY (not BUSY_SNAPSHOT: a read transaction that must start again).
      const again = code === 5 || code === 261 || (typeof code === 'number' && also.includes(code & 0xff));
      if (!again || Date.now() >= deadline) throw error;
      // This thread has nothing else to do meanwhile.
      Atomics.wait(pause, 0, 0, 5);
    }
  }
}

function open(file: string, schema: string, timeoutMs: number): Result {
  if ('kind' in sqlite) throw sqlite;
  // SQLite says only "unable to open database file" where Node's file system names the cause and the path.
  const folder = dirname(file);
  mkdirSync(folder, { recursive: true });
  accessSync(folder, constants.W_OK);
  if (existsSync(file)) accessSync(file, constants.R_OK | constants.W_OK);
  busyTimeoutMs = Math.max(0, timeoutMs);
  const opened = new sqlite.DatabaseSync(':memory:');
  try {
    opened.exec(`pragma busy_timeout = ${Math.min(SLICE_MS, Math.floor(busyTimeoutMs))}`);
    opened.prepare(`attach database ? as "${schema}"`).run(file);
    // WAL: readers (`spanflow runs`) go on while a pipeline writes. Switching a new file to it takes the file for a
    // moment, and SQLite does not wait for that: two processes opening a new folder at once see BUSY, or an I/O
    // error (10) as the other removes the old journal. Tried again as a lock is.
    patiently(() => opened.exec(`pragma "${schema}".journal_mode = wal`), [10]);
    // NORMAL: in WAL mode every commit outlives a crash of the process (a power cut may lose the last ones).
    opened.exec(`pragma "${schema}".synchronous = normal`);
  } catch (error) {
    opened.close();
    throw error;
  }
  db = opened;
  return { rows: [] };
}

function prepared(text: string): StatementSync {
  if (!db) throw { kind: 'other', message: 'the embedded database is not open' } satisfies ErrorData;
  let statement = statements.get(text);
  if (statement) statements.delete(text);
  else {
    const connection = db;
    // Preparing reads the schema: another connection's exclusive lock refuses that too.
    statement = patiently(() => connection.prepare(text));
  }
  statements.set(text, statement);
  if (statements.size > STATEMENTS) statements.delete(statements.keys().next().value as string);
  return statement;
}

function query(text: string, params: readonly SqlValue[]): Result {
  const statement = prepared(text);
  // A statement with result columns (a select, a pragma, `returning`) gives rows; any other, what it changed.
  if (statement.columns().length > 0) return { rows: patiently(() => statement.all(...params)) as Record<string, SqlValue>[] };
  const { changes, lastInsertRowid } = patiently(() => statement.run(...params));
  return { rows: [], changes: Number(changes), lastInsertRowid: Number(lastInsertRowid) };
}

function close(): Result {
  statements.clear();
  db?.close();
  db = undefined;
  return { rows: [] };
}

function errorData(error: unknown): ErrorData {
  if (typeof error === 'object' && error !== null && 'kind' in error) return error as ErrorData;
  const { message, code, errcode, errstr } = error as { message?: unknown; code?: unknown; errcode?: unknown; errstr?: unknown };
  const text = typeof message === 'string' ? message : String(error);
  if (typeof errcode === 'number') return { kind: 'sqlite', message: text, errcode, ...(typeof errstr === 'string' ? { errstr } : {}) };
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return { kind: 'file', message: text, code };
  return { kind: 'other', message: text, ...(typeof code === 'string' ? { code } : {}) };
}

function handle(request: Request): Reply {
  try {
    const result =
      request.op === 'query' ? query(request.sql, request.params) : request.op === 'open' ? open(request.file, request.schema, request.busyTimeoutMs) : close();
    return { id: request.id, ok: true, ...result };
  } catch (error) {
    return { id: request.id, ok: false, error: errorData(error) };
  }
}

const port = parentPort;
if (!port) throw new Error('spanflow/postgres: embedded/worker.ts runs in a worker thread the store starts');
port.on('message', (request: Request) => port.postMessage(handle(request)));
