// The store: one database (a Postgres server, or the embedded SQLite file),
// the writer that records runs into it, the heartbeat of the runs under way,
// and the queries the CLI reads runs with. The same on both engines.

import type { Kysely } from 'kysely';
import {
  type CheckpointStore,
  type PipelineDescription,
  type Recording,
  type RecordingContext,
  type RunResult,
  settleWithin,
  type StoredRunCheckpoints,
} from '../../sdk/index.ts';
import { type Connection, type ConnectionOptions, connect } from './connection.ts';
import { sweepInterrupted } from './crash.ts';
import type { EngineKind } from './engine.ts';
import { classify, openError, StoreError } from './faults.ts';
import { sql } from './kysely.ts';
import { checkSchemaName, type MigrationOutcome, migrateToLatest, pendingMigrations } from './migrate.ts';
import * as analysis from './queries/analysis.ts';
import * as checkpoints from './queries/checkpoints.ts';
import * as cleanup from './queries/cleanup.ts';
import * as runs from './queries/runs.ts';
import type {
  CleanupOptions,
  CleanupResult,
  ErrorSummary,
  ErrorSummaryOptions,
  ListRunsOptions,
  RunComparison,
  RunDetail,
  RunEventsOptions,
  RunPage,
  RunStats,
  ShowRunOptions,
  StatsOptions,
  StepTokens,
  StepTokensOptions,
  StoredEvent,
  StoredPipeline,
} from './queries/types.ts';
import { Recorder } from './recorder.ts';
import type { Database } from './schema.ts';
import { type WriteCounts, Writer } from './writer.ts';

export interface StoreOptions extends ConnectionOptions {
  /**
   * The schema the tables live in. Default: `SPANFLOW_SCHEMA`, else `spanflow`.
   * The embedded database keeps each schema in a file of its own (`runs.sqlite`, `runs-<schema>.sqlite`).
   */
  readonly schema?: string;
  /** Run pending migrations on open. Default true; with false, opening a schema that needs them fails (run `spanflow migrate`). */
  readonly migrate?: boolean;
  /** Events (and step rows) per insert. Default 5000. */
  readonly batchSize?: number;
  /** How long a row may wait for a fuller batch, in ms. Default 100. */
  readonly flushIntervalMs?: number;
  /** Rows waiting to be written, at most; more are counted as dropped. Default 100,000. */
  readonly maxBuffered?: number;
  /**
   * How often runs under way touch their heartbeat, in ms. Default 1000. A run
   * whose process dies is stored as ended at its last sign of life (heartbeat
   * or event): its stored duration falls short of the real one by at most about this.
   */
  readonly heartbeatMs?: number;
  /** A running run whose heartbeat is older than this is `interrupted` on the next open, in ms. Default 30,000. */
  readonly staleAfterMs?: number;
  /** First delay after a database error, in ms (it doubles, up to 2 s). Default 50. */
  readonly retryDelayMs?: number;
  /**
   * A write the database has not answered for this long, in ms, lets pipelines go on without waiting
   * for room (rows past `maxBuffered` are then counted as dropped) until it answers. Default 5000.
   */
  readonly stalledAfterMs?: number;
  /**
   * How long `close()` keeps trying to write what is left, in ms. Default
   * 10,000. `close()` settles within it whatever the database does; what it
   * gives up is counted as dropped, with one warning.
   */
  readonly closeTimeoutMs?: number;
}

/** The options that are counts (a whole number, at least 1) and times in ms (a number, at least 0). */
const COUNTS = ['batchSize', 'maxBuffered'] as const;
const TIMES = ['flushIntervalMs', 'heartbeatMs', 'staleAfterMs', 'retryDelayMs', 'stalledAfterMs', 'closeTimeoutMs'] as const;

/** Refuses a numeric option that is not one, naming it and what it takes. */
function checkNumbers(options: StoreOptions): void {
  for (const name of COUNTS) {
    const value: unknown = options[name];
    if (value !== undefined && !(Number.isInteger(value) && (value as number) >= 1)) {
      throw new RangeError(`spanflow/postgres: ${name} must be a whole number of 1 or more (got ${String(value)}); leave it out for the default`);
    }
  }
  for (const name of TIMES) {
    const value: unknown = options[name];
    if (value !== undefined && !(typeof value === 'number' && Number.isFinite(value) && value >= 0)) {
      throw new RangeError(`spanflow/postgres: ${name} must be a number of ms, 0 or more (got ${String(value)}); leave it out for the default`);
    }
  }
}

/** Stores with rows not yet written: told on process exit, so nothing goes unnoticed. */
const unflushed = new Set<Store>();
let exitHook = false;

export class Store implements CheckpointStore {
  readonly schema: string;
  /** `postgres`: a server; `sqlite`: the embedded database. */
  readonly kind: EngineKind;
  /** Where the runs are: the URL without its password, or the embedded database's file. */
  readonly location: string;
  readonly #connection: Connection;
  readonly #options: StoreOptions;
  readonly #writer: Writer;
  readonly #recorder: Recorder;
  #opening: Promise<void> | undefined;
  /** Why the store cannot be used, for good (an open that failed in a way no retry fixes): every open rejects with it, at once. */
  #failure: Error | undefined;
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  #closing: Promise<void> | undefined;
  #closed = false;
  #interrupted = 0;

  constructor(options: StoreOptions = {}) {
    checkNumbers(options);
    this.schema = checkSchemaName(options.schema ?? process.env.SPANFLOW_SCHEMA ?? 'spanflow');
    this.#options = options;
    this.#connection = connect(options, this.schema);
    this.kind = this.#connection.engine.kind;
    this.location = this.#connection.location;
    this.#writer = new Writer(
      this.#connection.db,
      this.schema,
      { engine: this.#connection.engine, location: this.location, lanes: this.#connection.writers },
      {
        batchSize: options.batchSize ?? 5000,
        flushIntervalMs: options.flushIntervalMs ?? 100,
        maxBuffered: options.maxBuffered ?? 100_000,
        retryDelayMs: options.retryDelayMs ?? 50,
        maxRetryDelayMs: 2000,
        stalledAfterMs: options.stalledAfterMs ?? 5000,
      },
      () => this.open(),
    );
    this.#recorder = new Recorder(this.#writer);
    unflushed.add(this);
    if (!exitHook) {
      exitHook = true;
      process.once('exit', () => {
        for (const store of unflushed) store.#reportUnwritten();
      });
    }
  }

  /** The Kysely instance (tables in `this.schema`: use `db.withSchema(store.schema)`). */
  get db(): Kysely<Database> {
    return this.#connection.db;
  }

  /**
   * Connects, migrates (unless `migrate: false`) and marks runs left by dead
   * processes `interrupted`. Done once. After a failure a retry may fix (the
   * server is away), the next call tries again; after one no retry fixes (a
   * wrong password, a missing database, missing rights, an unwritable folder,
   * a lost embedded thread),
   * every call rejects with the same error at once, without connecting.
   */
  open(): Promise<void> {
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#closed) return Promise.reject(new StoreError(`the store at ${this.location} is closed`));
    this.#opening ??= this.#open().catch((error: unknown) => {
      const reported = openError(error);
      if (classify(error) === 'permanent') this.#failure = reported;
      else this.#opening = undefined;
      throw reported;
    });
    return this.#opening;
  }

  async #open(): Promise<void> {
    const { db, engine } = this.#connection;
    // Connect first, so an unreachable server or an unwritable folder fails as itself, not as a migration.
    await sql`select 1`.execute(db);
    if (this.#options.migrate === false) {
      const pending = await pendingMigrations(db, engine, this.schema);
      if (pending.length > 0) {
        throw new StoreError(
          `schema '${this.schema}' at ${this.location} needs migrations (${pending.join(', ')}): run \`spanflow migrate\`, or open the store with migrate: true`,
        );
      }
    } else {
      await migrateToLatest(db, engine, this.schema);
    }
    this.#interrupted = await sweepInterrupted(db, engine, this.schema, this.#options.staleAfterMs ?? 30_000);
  }

  /** Runs the pending migrations now. */
  async migrate(): Promise<MigrationOutcome> {
    return migrateToLatest(this.#connection.db, this.#connection.engine, this.schema);
  }

  /** Runs the last open marked `interrupted`. */
  get interrupted(): number {
    return this.#interrupted;
  }

  /**
   * What the writer has done: events written, rows (and of them, events)
   * counted as dropped, rows waiting, and runs that ended whose end could not
   * be stored. Once nothing waits, `written + droppedEvents` is every event recorded.
   */
  get writes(): WriteCounts {
    return this.#writer.counts;
  }

  // ---- recording -------------------------------------------------------------

  /** The engine calls this as a persisted run starts (`persist: store`). */
  record(pipeline: PipelineDescription, context: RecordingContext): Recording {
    if (this.#closing) throw new StoreError(`the store at ${this.location} is closed: it records no more runs`);
    this.#startHeartbeat();
    return this.#recorder.record(pipeline, context);
  }

  /**
   * Resolves once every row recorded so far is written (or counted as
   * dropped). With `timeoutMs`, it resolves by then whatever the database
   * does (holding the process open until it does), with one warning naming
   * the rows still not written; unlike `close()`, it gives none of them up:
   * the store goes on trying to write them (`writes.buffered` counts them, and
   * if the process exits first, the report it prints on exit names them).
   */
  flush(options: { readonly timeoutMs?: number } = {}): Promise<void> {
    return this.#writer.flush(options.timeoutMs);
  }

  /**
   * Writes what is left and closes the connection (one the store made: a
   * Kysely or pg.Pool given is left open), settling within
   * `timeoutMs` (default `closeTimeoutMs`) whatever the database does: rows
   * still unwritten then are counted as dropped (`writes`, the runs' rows where
   * they can still be written, the `spanflow.persistence.dropped` metric), with
   * one warning naming the count and the cause. Idempotent.
   */
  close(options: { readonly timeoutMs?: number } = {}): Promise<void> {
    this.#closing ??= this.#close(options.timeoutMs ?? this.#options.closeTimeoutMs ?? 10_000);
    return this.#closing;
  }

  async #close(timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    if (this.#heartbeat !== undefined) clearInterval(this.#heartbeat);
    await this.#writer.close(deadline);
    this.#closed = true;
    unflushed.delete(this);
    const closed = this.#connection.close().catch(() => {});
    // A database that never finished opening (or a connection that hangs) may never close: not waited for past the
    // deadline, and the embedded database's thread, still busy, is ended then.
    if (!(await settleWithin(closed, deadline - performance.now(), { hold: true }))) this.#connection.abandon();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #startHeartbeat(): void {
    if (this.#heartbeat !== undefined) return;
    this.#heartbeat = setInterval(() => this.#recorder.beat(), this.#options.heartbeatMs ?? 1000);
    this.#heartbeat.unref();
  }

  #reportUnwritten(): void {
    const { buffered } = this.#writer.counts;
    if (buffered + this.#recorder.open.size === 0) return;
    process.stderr.write(
      `spanflow/postgres: the process exits with ${buffered} rows not written to ${this.location} and ${this.#recorder.open.size} runs not ended: await store.close() before exiting\n`,
    );
  }

  // ---- queries -------------------------------------------------------------

  async #db(): Promise<Kysely<Database>> {
    await this.open();
    return this.#connection.db.withSchema(this.schema);
  }

  get #engine() {
    return this.#connection.engine;
  }

  /** Runs, newest first, by pipeline, status and start time; a page at a time. */
  async listRuns(options: ListRunsOptions = {}): Promise<RunPage> {
    return runs.listRuns(await this.#db(), options);
  }

  /** One run with its step attempts, events and child runs; undefined when there is none with this id. */
  async getRun(id: string, options: ShowRunOptions = {}): Promise<RunDetail | undefined> {
    return runs.getRun(await this.#db(), this.#engine, id, options);
  }

  /** A run's events in order. */
  async runEvents(id: string, options: RunEventsOptions = {}): Promise<StoredEvent[]> {
    return runs.runEvents(await this.#db(), this.#engine, id, options);
  }

  /** The tokens a run's streaming steps yielded, with their timing, for replay. */
  async stepTokens(id: string, options: StepTokensOptions = {}): Promise<StepTokens[]> {
    return runs.stepTokens(await this.#db(), this.#engine, id, options);
  }

  /** The full id of the one run whose id starts with `prefix` (4 characters or more). Throws RunIdError otherwise. */
  async resolveRunId(prefix: string): Promise<string> {
    return runs.resolveRunId(await this.#db(), prefix);
  }

  /** A stored pipeline definition (the newest, unless `hash` is given). */
  async pipeline(name: string, hash?: string): Promise<StoredPipeline | undefined> {
    return runs.pipeline(await this.#db(), name, hash);
  }

  /** Failed, timed-out and retried attempts, by error type and node, with the most recent ones. */
  async errorSummary(options: ErrorSummaryOptions = {}): Promise<ErrorSummary> {
    return analysis.errorSummary(await this.#db(), this.#engine, options);
  }

  /** Two runs side by side: status, duration and each step's attempts and time. */
  async compareRuns(a: string, b: string): Promise<RunComparison> {
    return analysis.compareRuns(await this.#db(), this.#engine, a, b);
  }

  /** Counts, success rates and durations over the last N days, per pipeline and per step. */
  async stats(options: StatsOptions = {}): Promise<RunStats> {
    return analysis.stats(await this.#db(), options);
  }

  // ---- durable runs -----------------------------------------------------------

  /** A run's row, checkpoints and last attempts, as `resume()` and `retry()` read them; undefined when there is no such run. */
  async loadCheckpoints(runId: string): Promise<StoredRunCheckpoints | undefined> {
    await this.flush();
    return checkpoints.loadCheckpoints(await this.#db(), this.#engine, runId);
  }

  /** Compare-and-set: claims an `interrupted` run for this process (false when another claimed it first). */
  async claimRun(runId: string): Promise<boolean> {
    return checkpoints.claimRun(await this.#db(), this.#engine, runId);
  }

  /** Compare-and-set: marks a run as retried by `retryRunId` (false when it was already). */
  async markRetried(runId: string, retryRunId: string): Promise<boolean> {
    return checkpoints.markRetried(await this.#db(), runId, retryRunId);
  }

  /** Interrupted durable runs of these pipelines (by name) that ran on this host, oldest first. */
  async interruptedRuns(pipelines: readonly string[]): Promise<string[]> {
    return checkpoints.interruptedRuns(await this.#db(), pipelines);
  }

  /**
   * Resumes this host's interrupted durable runs of the given pipelines (the
   * open marked runs of dead processes `interrupted`), one after another, each
   * with its context: what a service calls as it starts. A run another process
   * claims first is left to it. Resolves with the results of the runs resumed here.
   */
  async recover<const Contexts extends readonly unknown[]>(pipelines: { readonly [K in keyof Contexts]: Recoverable<Contexts[K]> }): Promise<RunResult<unknown>[]> {
    const byName = new Map((pipelines as readonly Recoverable<unknown>[]).map((entry) => [entry.pipeline.name, entry]));
    const results: RunResult<unknown>[] = [];
    for (const runId of await this.interruptedRuns([...byName.keys()])) {
      const run = await this.loadCheckpoints(runId);
      const entry = run && byName.get(run.pipeline);
      if (!entry) continue;
      try {
        results.push(await entry.pipeline.resume(runId, { context: entry.context, store: this }));
      } catch (error) {
        if ((error as { reason?: unknown }).reason !== 'claimed') throw error;
      }
    }
    return results;
  }

  /** Deletes old runs (with their steps, events and child runs). A dry run unless `dryRun: false`. */
  async cleanup(options: CleanupOptions): Promise<CleanupResult> {
    return cleanup.cleanup(await this.#db(), this.#engine, options);
  }
}

/** A pipeline whose interrupted runs `recover()` resumes, with the context to resume them with (never stored). */
export interface Recoverable<C> {
  readonly pipeline: {
    readonly name: string;
    resume(runId: string, options: { readonly context: C; readonly store: CheckpointStore }): Promise<RunResult<unknown>>;
  };
  readonly context: C;
}

/** A store that connects on first use (the writer and each query wait for it). */
export function createStore(options: StoreOptions = {}): Store {
  return new Store(options);
}

/** A store, connected and migrated: fails here if the database cannot be reached. */
export async function openStore(options: StoreOptions = {}): Promise<Store> {
  const store = new Store(options);
  try {
    await store.open();
  } catch (error) {
    // Nothing was recorded: the close only lets go of the connection (or the embedded thread), within closeTimeoutMs.
    await store.close();
    throw error;
  }
  return store;
}
