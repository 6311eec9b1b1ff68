// The Postgres a dispatcher or a worker uses: a pg pool (the user's, or one
// made from a URL), pg-boss on it, and one dedicated connection that LISTENs
// for spanflow's notifications. pg-boss keeps the jobs; spanflow adds only the
// NOTIFY channels (protocol.ts) for what pg-boss does not carry: results and
// cancellations.

import type pg from 'pg';
import type { PgBoss } from 'pg-boss';
import { checkPeers, loadPeer } from '../sdk/index.ts';
import { WorkerDefinitionError } from '../worker-threads/index.ts';

export interface ConnectionOptions {
  /** A `postgres://` URL: spanflow opens a pool of its own on it, and closes it. */
  readonly connectionString?: string;
  /** A `pg` Pool of yours (you close it, after this). Give this or `connectionString`. */
  readonly pool?: pg.Pool;
  /** The schema pg-boss keeps its tables in. Default `pgboss`. Callers and workers of a queue must agree. */
  readonly schema?: string;
}

const SCHEMA = /^[a-z_][a-z0-9_]{0,49}$/;

/** The options checked, or a WorkerDefinitionError naming the fix. */
export function checkConnection(options: ConnectionOptions, subject: string): { schema: string } {
  if (typeof options !== 'object' || options === null) throw new WorkerDefinitionError(subject, 'options must be an object, { connectionString } or { pool }');
  const { connectionString, pool } = options;
  if ((connectionString === undefined) === (pool === undefined)) {
    throw new WorkerDefinitionError(subject, "give exactly one of connectionString (a postgres:// URL) and pool (a pg Pool): the Postgres the queue's jobs are kept in");
  }
  if (connectionString !== undefined && (typeof connectionString !== 'string' || !/^postgres(ql)?:\/\//.test(connectionString))) {
    throw new WorkerDefinitionError(subject, `connectionString must be a postgres:// URL (got ${typeof connectionString === 'string' ? 'another kind of text' : typeof connectionString})`);
  }
  if (pool !== undefined && (typeof pool !== 'object' || pool === null || typeof (pool as { query?: unknown }).query !== 'function' || typeof (pool as { connect?: unknown }).connect !== 'function')) {
    throw new WorkerDefinitionError(subject, "pool must be a pg Pool: new pg.Pool({ connectionString })");
  }
  const schema = options.schema ?? 'pgboss';
  if (typeof schema !== 'string' || !SCHEMA.test(schema)) {
    throw new WorkerDefinitionError(subject, `schema must be a lower-case SQL name of letters, digits and underscores (got ${typeof schema === 'string' ? `'${schema}'` : typeof schema})`);
  }
  return { schema };
}

type Listener = (channel: string, payload: string) => void;

/** What a dropped connection's client says is also said by the query it fails, or by the pool when it is idle. */
function ignoreDropped(): void {}

export class Connection {
  readonly schema: string;
  readonly pool: pg.Pool;
  readonly boss: PgBoss;
  /** The job table, quoted. */
  readonly jobTable: string;
  readonly #owned: boolean;
  readonly #queues = new Map<string, Promise<void>>();
  #listening: Promise<pg.PoolClient> | undefined;
  #channels: readonly string[] = [];
  #onNotify: Listener | undefined;
  #closed = false;

  constructor(options: ConnectionOptions, subject: string) {
    const { schema } = checkConnection(options, subject);
    checkPeers('spanflow/distributed');
    this.schema = schema;
    this.jobTable = `"${schema}".job`;
    if (options.pool) {
      this.pool = options.pool;
      this.#owned = false;
    } else {
      const { default: pgModule } = loadPeer<{ default: typeof import('pg') }>('pg', 'spanflow/distributed');
      this.pool = new pgModule.Pool({ connectionString: options.connectionString, max: 10 });
      // An idle connection the server dropped (a restart): the pool makes a new one when next asked; without a listener the error would end the process.
      this.pool.on('error', (error) => {
        process.emitWarning(`spanflow/distributed: an idle connection failed: ${error.message}`, { type: 'SpanflowRemoteWarning' });
      });
      // A connection the server drops while it is checked out (between two queries of a transaction, or as the
      // pool ends) emits 'error' on its client, not the pool: with no listener that would end the process. The
      // query in flight, if any, fails on its own; the listener only keeps the event from going uncaught.
      this.pool.on('connect', (client) => client.on('error', ignoreDropped));
      this.#owned = true;
    }
    const { PgBoss: Boss } = loadPeer<typeof import('pg-boss')>('pg-boss', 'spanflow/distributed');
    const pool = this.pool;
    this.boss = new Boss({
      db: { executeSql: (text: string, values?: unknown[]) => pool.query(text, values as unknown[]) },
      schema,
      // Cron schedules are not spanflow's; its own spans stand for the jobs (tracing.ts).
      schedule: false,
      openTelemetry: { enabled: false },
    });
    this.boss.on('error', (error) => {
      process.emitWarning(`spanflow/distributed: pg-boss: ${error.message}`, { type: 'SpanflowRemoteWarning', detail: error.stack });
    });
  }

  /** pg-boss started (its schema made or migrated on first use), and spanflow listening on `channels`. */
  async start(channels: readonly string[], onNotify: Listener): Promise<void> {
    this.#channels = channels;
    this.#onNotify = onNotify;
    await this.boss.start();
    await this.listen();
  }

  /**
   * The dedicated LISTEN connection, (re)made when it is not there: a lost one
   * is made again at the next call (the caller's and the worker's backstop
   * timers call this), and what was missed meanwhile the backstops find.
   */
  listen(): Promise<pg.PoolClient> {
    if (this.#listening) return this.#listening;
    const listening = (async () => {
      const client = await this.pool.connect();
      client.on('notification', (message) => {
        if (message.payload !== undefined) this.#onNotify?.(message.channel, message.payload);
      });
      let released = false;
      client.on('error', () => {
        if (this.#listening === listening) this.#listening = undefined;
        // A dropped connection may say so more than once; a client is released once.
        if (released) return;
        released = true;
        client.release(true);
      });
      for (const channel of this.#channels) await client.query(`LISTEN ${channel}`);
      return client;
    })();
    this.#listening = listening;
    listening.catch(() => {
      if (this.#listening === listening) this.#listening = undefined;
    });
    return listening;
  }

  /** The queue, made on first use with pg-boss's retries off: each attempt is one job, spanflow's policy decides the next. */
  queue(name: string): Promise<void> {
    let made = this.#queues.get(name);
    if (!made) {
      made = this.boss.createQueue(name, { retryLimit: 0 });
      this.#queues.set(name, made);
      made.catch(() => this.#queues.delete(name));
    }
    return made;
  }

  notify(channel: string, payload: string): Promise<unknown> {
    return this.pool.query('SELECT pg_notify($1, $2)', [channel, payload]);
  }

  /**
   * Runs `work` in one transaction, given as pg-boss's `db` option: a job's
   * write and the NOTIFY that announces it commit together (the notification
   * goes out only if the write lands). It commits without waiting for the WAL
   * flush (synchronous_commit off, for this transaction only): a server crash
   * may lose the last moments of job writes, which the protocol already
   * survives (a job gone or a claim lost is a retryable attempt, and execution
   * is at least once), and each job no longer waits for three disk flushes.
   */
  async transaction<T>(work: (db: { executeSql(text: string, values?: unknown[]): Promise<{ rows: unknown[] }> }) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let broken = false;
    // The server may drop the connection between two of these queries (a user's pool has no listener of ours).
    const dropped = () => {
      broken = true;
    };
    client.on('error', dropped);
    try {
      await client.query('BEGIN; SET LOCAL synchronous_commit = off');
      const result = await work({ executeSql: (text, values) => client.query(text, values as unknown[]) });
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {
        broken = true;
      });
      throw error;
    } finally {
      client.off('error', dropped);
      client.release(broken);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const listening = this.#listening;
    this.#listening = undefined;
    if (listening) {
      try {
        (await listening).release(true);
      } catch {
        // Never connected: nothing to release.
      }
    }
    await this.boss.stop({ graceful: false, close: false, timeout: 1000 });
    if (this.#owned) await this.pool.end();
  }
}
