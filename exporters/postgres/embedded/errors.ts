// The embedded database's errors, back on the store's thread: SQLite's result
// codes as what they mean to the writer (faults.ts), with the SQLSTATE of the
// Postgres error that means the same where there is one, so one set of rules
// (a unique violation, a value refused, a lock held, a missing table) serves
// both engines.

import type { Fault } from '../faults.ts';
import type { ErrorData } from './protocol.ts';

/** By SQLite's primary result code: the SQLSTATE that means the same (if any) and what retrying can do. */
const PRIMARY: Readonly<Record<number, readonly [string | undefined, Fault]>> = {
  3: ['42501', 'permanent'], // PERM
  4: [undefined, 'transient'], // ABORT
  5: ['55P03', 'transient'], // BUSY: another process holds the lock past busy_timeout
  6: ['55P03', 'transient'], // LOCKED
  7: ['53200', 'transient'], // NOMEM
  8: ['25006', 'permanent'], // READONLY
  9: [undefined, 'transient'], // INTERRUPT
  10: ['58030', 'transient'], // IOERR
  11: ['XX001', 'permanent'], // CORRUPT
  13: ['53100', 'transient'], // FULL: the disk
  14: ['58P01', 'permanent'], // CANTOPEN
  17: [undefined, 'transient'], // SCHEMA: changed under a prepared statement
  18: ['54000', 'data'], // TOOBIG: a row too big
  19: ['23000', 'data'], // CONSTRAINT
  20: ['22000', 'data'], // MISMATCH
  23: ['42501', 'permanent'], // AUTH
  25: ['22023', 'data'], // RANGE: a parameter index
  26: ['XX001', 'permanent'], // NOTADB
};

/** Extended result codes told apart. */
const EXTENDED: Readonly<Record<number, string>> = {
  275: '23514', // CONSTRAINT_CHECK
  1299: '23502', // CONSTRAINT_NOTNULL
  1555: '23505', // CONSTRAINT_PRIMARYKEY
  2067: '23505', // CONSTRAINT_UNIQUE
  3091: '22000', // CONSTRAINT_DATATYPE: a value of the wrong type for a STRICT table's column
};

/** SQLite refused a statement (or could not open its file). `code` is the SQLSTATE that means the same on Postgres, if any. */
export class SqliteError extends Error {
  override name = 'SqliteError';
  readonly code: string | undefined;
  /** SQLite's extended result code. */
  readonly errcode: number;
  /** What retrying can do. */
  readonly fault: Fault;
  constructor(message: string, errcode: number) {
    super(message);
    this.errcode = errcode;
    const primary = errcode & 0xff;
    const [state, fault] = PRIMARY[primary] ?? [undefined, 'transient'];
    this.code = EXTENDED[errcode] ?? (primary === 1 ? genericState(message) : state);
    // SQLITE_ERROR: a missing table, a syntax error: no retry fixes it.
    this.fault = primary === 1 ? 'permanent' : fault;
  }
}

/** SQLITE_ERROR (1) is many things; the message tells which. */
function genericState(message: string): string {
  if (/^no such table/.test(message)) return '42P01';
  if (/already exists/.test(message)) return '42P07';
  return '42601';
}

/** The embedded database's worker thread is gone (or this Node has no node:sqlite): nothing reaches the database any more. */
export class EmbeddedWorkerError extends Error {
  override name = 'EmbeddedWorkerError';
}

/** An error the worker sent, as an error of this thread. */
export function fromWorker(data: ErrorData): Error {
  switch (data.kind) {
    case 'sqlite':
      return new SqliteError(data.message, data.errcode ?? 1);
    case 'file':
      return Object.assign(new Error(data.message), { code: data.code });
    case 'unavailable':
      return new EmbeddedWorkerError(data.message);
    default:
      return new Error(data.message);
  }
}
