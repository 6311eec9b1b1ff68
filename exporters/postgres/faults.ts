// What a database error means for the writer: try again later (the server may
// come back), give up on this store (no retry fixes a wrong password, a missing
// database, missing rights or a folder that cannot be written), or give up on
// one row (a value the database refuses: the rows around it still go). The
// embedded database's errors come with what they mean (embedded/errors.ts),
// and with the SQLSTATE of their Postgres twin, so the rules below serve both.

import { messageOf } from '../../sdk/index.ts';
import { EmbeddedWorkerError, SqliteError } from './embedded/errors.ts';
import { MigrationError } from './migrate.ts';

export type Fault = 'transient' | 'permanent' | 'data';

/** A row that could not be turned into SQL values: a data error of the writer's own, isolated like the database's. */
export class RowError extends Error {
  override name = 'RowError';
}

/** An error of the store's own saying what is wrong and what to do; carries the database's SQLSTATE (`code`) when there is one. */
export class StoreError extends Error {
  override name = 'StoreError';
  readonly code: string | undefined;
  constructor(message: string, options?: { cause?: unknown; code?: string }) {
    super(message, options);
    this.code = options?.code;
  }
}

/** SQLSTATE classes worth another try: connection, resources, operator intervention (shutdown), system, transaction rollback. */
const TRANSIENT_CLASSES = new Set(['08', '40', '53', '57', '58', 'XX']);
/** SQLSTATE classes of a value refused: cardinality, data exception, integrity constraint, program limit (a row too big). */
const DATA_CLASSES = new Set(['21', '22', '23', '54']);
/** Node's codes for file-system errors that stay until someone changes the folder. */
const FILE_SYSTEM = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOSPC', 'ENOTDIR', 'EISDIR', 'EEXIST', 'EDQUOT']);

function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** The error an error stands for: a migration's, or a store's that wraps one, is its cause's. */
function root(error: unknown): unknown {
  let current = error;
  while ((current instanceof MigrationError || current instanceof StoreError) && current.cause !== undefined) current = current.cause;
  return current;
}

/** What retrying can do about `error`. Unknown errors (no SQLSTATE: network, a closed connection) may pass: transient. */
export function classify(error: unknown): Fault {
  const cause = root(error);
  if (cause instanceof RowError) return 'data';
  if (cause instanceof SqliteError) return cause.fault;
  // The embedded database's thread is gone (or cannot start): nothing brings it back.
  if (cause instanceof EmbeddedWorkerError) return 'permanent';
  const state = sqlState(cause);
  if (state !== undefined) {
    const kind = state.slice(0, 2);
    if (TRANSIENT_CLASSES.has(kind) || state === '55P03' || state === '55006') return 'transient';
    return DATA_CLASSES.has(kind) ? 'data' : 'permanent';
  }
  // Our own errors (a schema that needs migrations, a closed store) say what to do; retrying will not.
  if (cause instanceof StoreError || cause instanceof MigrationError) return 'permanent';
  const code = (cause as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && FILE_SYSTEM.has(code)) return 'permanent';
  return 'transient';
}

/** SQLite's result codes that a folder or file this process cannot write (or open) gives. */
const UNWRITABLE = new Set([3, 8, 14, 23]);

/** What to do about an error no retry fixes, for the user who reads the warning; empty when there is nothing to add. */
function fixFor(error: unknown): string {
  const cause = root(error);
  const state = sqlState(cause);
  const code = (cause as { code?: unknown } | null)?.code;
  if (cause instanceof SqliteError) {
    const primary = cause.errcode & 0xff;
    if (UNWRITABLE.has(primary)) return 'make the folder (and every file in it) writable by this process, or point SPANFLOW_DATA_DIR (dataDir) at one that is';
    if (primary === 11 || primary === 26) return 'the file is damaged or is not a spanflow database: move it away (the store starts a new one) or point SPANFLOW_DATA_DIR (dataDir) at another folder';
  }
  if (state === '28P01' || state === '28000') return 'check the user name and password in the database URL (SPANFLOW_DATABASE_URL)';
  if (state === '3D000') return 'create the database (createdb <name>), or fix its name in the database URL';
  if (state === '42501') return "grant the URL's role the rights it needs (create on the database, usage and create on the schema, insert and update on its tables)";
  if (state === '3F000' || state === '42P01') return 'run `spanflow migrate` (or open the store with migrate: true) to create the tables';
  if (typeof code === 'string' && FILE_SYSTEM.has(code)) {
    return 'make the folder (and every file in it) writable by this process, or point SPANFLOW_DATA_DIR (dataDir) at one that is';
  }
  return '';
}

/** One line about an error no retry fixes: what happened and what to do. */
export function explain(error: unknown): string {
  // Our own errors say what to do already (openError gave a migration's the fix of its cause).
  if (error instanceof StoreError || error instanceof MigrationError || error instanceof EmbeddedWorkerError) return error.message.replace(/^spanflow\/postgres: /, '');
  const fix = fixFor(error);
  return fix ? `${messageOf(error)}: ${fix}` : messageOf(error);
}

/** The error `open()` rejects with: ours as they are; any other wrapped in a StoreError that says what to do, keeping its SQLSTATE. */
export function openError(error: unknown): Error {
  if (error instanceof StoreError || error instanceof EmbeddedWorkerError || error instanceof TypeError) return error;
  if (error instanceof MigrationError) {
    const fix = fixFor(error);
    return fix ? new MigrationError(`${error.message}: ${fix}`, { cause: error.cause }) : error;
  }
  return new StoreError(explain(error), { cause: error, code: sqlState(root(error)) });
}
