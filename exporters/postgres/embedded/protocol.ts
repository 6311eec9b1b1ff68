// What the store's thread and the SQLite worker thread say to each other (by
// structured clone): one request at a time per id, one reply each.

/** A value SQLite binds or gives back. */
export type SqlValue = string | number | bigint | null | Uint8Array;

export type Request =
  | { readonly id: number; readonly op: 'open'; readonly file: string; readonly schema: string; readonly busyTimeoutMs: number }
  | { readonly id: number; readonly op: 'query'; readonly sql: string; readonly params: readonly SqlValue[] }
  | { readonly id: number; readonly op: 'close' };

/** What a request gave: rows (a statement that returns them), or the rows it changed. */
export interface Result {
  readonly rows: Record<string, SqlValue>[];
  readonly changes?: number;
  readonly lastInsertRowid?: number;
}

/**
 * An error of the worker, as data. `sqlite`: SQLite refused (its result code
 * in `errcode`); `file`: the file system did (Node's `code`, EACCES…);
 * `unavailable`: this Node has no node:sqlite; `other`: anything else.
 */
export interface ErrorData {
  readonly kind: 'sqlite' | 'file' | 'unavailable' | 'other';
  readonly message: string;
  readonly code?: string;
  readonly errcode?: number;
  readonly errstr?: string;
}

export type Reply = ({ readonly ok: true } & Result & { readonly id: number }) | { readonly id: number; readonly ok: false; readonly error: ErrorData };
