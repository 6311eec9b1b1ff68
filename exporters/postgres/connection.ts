// Where the store keeps its runs: a Postgres server (a postgres:// URL, given
// or from the environment) through `pg`, or else an embedded PGlite database
// in a local folder, so the first run needs no server.

import { accessSync, constants, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { Kysely, PGliteDialect, PostgresDialect } from 'kysely';
import pg from 'pg';
import { lockFolder } from './folder-lock.ts';
import type { Database } from './schema.ts';

/** The subset of a PGlite instance the store uses (Kysely's PGliteDialect takes the same). */
export type PGliteLike = ConstructorParameters<typeof PGliteDialect>[0]['pglite'] & object;

export interface ConnectionOptions {
  /**
   * A `postgres://` URL. Default, unless `dataDir` is given: `SPANFLOW_DATABASE_URL`,
   * then `DATABASE_URL`; with neither, an embedded PGlite database in `dataDir`.
   */
  readonly url?: string;
  /** The embedded database's folder, when there is no URL. Default: `SPANFLOW_DATA_DIR`, else `.spanflow/db` under the working directory. */
  readonly dataDir?: string;
  /** An open PGlite instance to use instead (the store closes it on `close()`). */
  readonly pglite?: PGliteLike;
  /** Connections that write at once (each run keeps to one, so its events stay in order). Default 2 for a server, 1 for PGlite. */
  readonly writers?: number;
  /** How long to wait for another process to let go of the embedded database's folder, in ms. Default 10,000. */
  readonly lockWaitMs?: number;
}

export interface Connection {
  readonly db: Kysely<Database>;
  readonly kind: 'postgres' | 'pglite';
  /** Where the runs are, for people: the URL without its password, or the folder. */
  readonly location: string;
  /** Connections the writer may use at once. */
  readonly writers: number;
  /** Lets go of the embedded database's folder (after the database closed). */
  readonly release: () => void;
  /** Stops an open still under way (waiting for a busy folder, or about to start PGlite): the store is closing. */
  readonly abort: () => void;
  /** What an open under way waits for, in words (another process holding the folder), if anything. */
  readonly waitingFor: () => string | undefined;
}

export const DEFAULT_DATA_DIR = '.spanflow/db';

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

/** bigint columns (counts, sums) come back as numbers, as PGlite gives them. */
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === 20 ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

export function connect(options: ConnectionOptions): Connection {
  // A folder given (and no URL) means the embedded database, whatever the environment names.
  const url = options.pglite ? undefined : (options.url ?? (options.dataDir === undefined ? urlFromEnv() : undefined));
  if (url !== undefined) {
    if (!/^postgres(ql)?:\/\//.test(url)) {
      throw new TypeError(`spanflow/postgres: the database URL must start with postgres:// (got '${redact(url)}'); leave it out for the embedded database`);
    }
    const writers = Math.max(1, options.writers ?? 2);
    const pool = new pg.Pool({ connectionString: url, max: writers + 2, allowExitOnIdle: true, types });
    // A dropped connection (server restart, pg_terminate_backend, a network cut) fails its query, which the writer
    // retries, and is replaced on next use. pg also emits it as an 'error' event, idle or not: without a listener
    // that would be an uncaught exception.
    pool.on('error', () => {});
    pool.on('connect', (client) => client.on('error', () => {}));
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    return { db, kind: 'postgres', location: redact(url), writers, release: () => {}, abort: () => {}, waitingFor: () => undefined };
  }
  if (options.pglite) {
    return {
      db: new Kysely<Database>({ dialect: new PGliteDialect({ pglite: options.pglite }) }),
      kind: 'pglite',
      location: 'PGlite (given)',
      writers: 1,
      release: () => {},
      abort: () => {},
      waitingFor: () => undefined,
    };
  }
  const dir = resolve(options.dataDir ?? process.env.SPANFLOW_DATA_DIR ?? DEFAULT_DATA_DIR);
  let release = () => {};
  let holder: number | undefined;
  const aborted = new AbortController();
  const dialect = new PGliteDialect({
    pglite: async () => {
      mkdirSync(dir, { recursive: true });
      // PGlite says only "failed to initialize properly" (or throws a bare errno object) in a folder it cannot write.
      accessSync(dir, constants.W_OK);
      // Next to the folder, not in it: PGlite's initdb wants an empty folder.
      release = await lockFolder(`${dir}.lock`, dir, options.lockWaitMs ?? 10_000, {
        signal: aborted.signal,
        onWait: (pid) => {
          holder = pid;
        },
      });
      holder = undefined;
      try {
        aborted.signal.throwIfAborted();
        // Loaded only when used: a server-backed store never pays for the WebAssembly build.
        const { PGlite } = await import('@electric-sql/pglite');
        aborted.signal.throwIfAborted();
        return await PGlite.create(dir);
      } catch (error) {
        release();
        throw error;
      }
    },
  });
  return {
    db: new Kysely<Database>({ dialect }),
    kind: 'pglite',
    location: dir,
    writers: 1,
    release: () => release(),
    abort: () => aborted.abort(new Error(`the store at ${dir} was closed while it opened`)),
    waitingFor: () => (holder === undefined ? undefined : `still waiting for the embedded database in ${dir}, which another process (pid ${holder}) holds`),
  };
}
