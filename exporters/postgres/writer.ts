// The writer: takes rows from recorders without ever blocking or failing the
// pipeline, and writes them in batches. Each run keeps to one lane (one
// connection at a time), so its rows are written in the order they came;
// several lanes write at once. The buffer is bounded: past a high-water mark
// it holds back the producers that wait on it (tokens, map items) while the
// database keeps up; when full, further rows are counted as dropped (metric
// and warning), never lost silently. Database errors are retried with backoff
// for as long as the store is open; at close, what is still unwritten after
// the close timeout is counted as dropped.

import type { Kysely } from 'kysely';
import type { PipelineDescription, RecordingContext, SpanflowEvent } from '../../sdk/index.ts';
import type { RunState, StepState } from './rows.ts';
import type { Database } from './schema.ts';
import { insertEvents, insertPipelines, upsertRuns, upsertSteps } from './statements.ts';
import { type Batch, DONE, EVENTS, Lane, PIPELINES, RUNS, STEPS } from './lane.ts';

export interface WriterOptions {
  /** Events (and step rows) per statement. */
  readonly batchSize: number;
  /** How long a row may wait for a fuller batch, in ms. */
  readonly flushIntervalMs: number;
  /** Rows (events and step attempts) waiting to be written, at most. */
  readonly maxBuffered: number;
  /** First delay after a database error, in ms; it doubles up to `maxRetryDelayMs`. */
  readonly retryDelayMs: number;
  readonly maxRetryDelayMs: number;
}

/** A run as the writer sees it: its state, its lane, and where to count what it drops. */
export interface RunTrack {
  readonly state: RunState;
  readonly lane: Lane;
  readonly context: RecordingContext;
}

export type DropReason = 'buffer_full' | 'write_failed';

/** SQLSTATE classes worth another try: connection, resources, operator intervention, system, transaction rollback. */
const RETRYABLE_CLASSES = new Set(['08', '40', '53', '57', '58', 'XX']);

/** A row with this key is there already. */
function isUniqueViolation(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === '23505';
}

/** Network errors and a closed client have no SQLSTATE: the database may come back. A bad row will not get better. */
export function isRetryable(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !/^[0-9A-Z]{5}$/.test(code)) return true;
  return RETRYABLE_CLASSES.has(code.slice(0, 2)) || code === '55P03' || code === '55006';
}

const WARN_EVERY_MS = 10_000;

export class Writer {
  readonly #db: Kysely<Database>;
  readonly #schema: string;
  readonly #location: string;
  readonly #options: WriterOptions;
  readonly #open: () => Promise<void>;
  readonly #lanes: Lane[];
  #nextLane = 0;
  #buffered = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #healthy = true;
  #failures = 0;
  #deadline: number | undefined;
  #closed = false;
  #idleWaiters: (() => void)[] = [];
  #roomWaiters: (() => void)[] = [];
  #wake: (() => void) | undefined;
  #lastWarning = 0;
  /** Events written. */
  written = 0;
  /** Rows (events, step attempts, runs) counted as not written. */
  dropped = 0;

  constructor(db: Kysely<Database>, schema: string, location: string, lanes: number, options: WriterOptions, open: () => Promise<void>) {
    this.#db = db;
    this.#schema = schema;
    this.#location = location;
    this.#options = options;
    this.#open = open;
    this.#lanes = Array.from({ length: Math.max(1, lanes) }, () => new Lane());
  }

  /** Rows waiting to be written. */
  get buffered(): number {
    return this.#buffered;
  }

  /** A lane for a new run tree: round robin. */
  lane(): Lane {
    const lane = this.#lanes[this.#nextLane++ % this.#lanes.length] as Lane;
    return lane;
  }

  pipeline(lane: Lane, description: PipelineDescription): void {
    lane.pipelines.push(description);
    this.#schedule(lane, false);
  }

  /** The run's row changed (or its heartbeat is due). */
  run(track: RunTrack, urgent = false): void {
    if (this.#closed) return;
    track.lane.runs.set(track.state.id, track);
    this.#schedule(track.lane, urgent);
  }

  step(track: RunTrack, step: StepState): void {
    const lane = track.lane;
    if (lane.steps.has(step)) return;
    if (this.#closed || this.#buffered >= this.#options.maxBuffered) {
      this.drop(track, 1, this.#closed ? 'write_failed' : 'buffer_full', undefined);
      return;
    }
    this.#buffered++;
    lane.steps.set(step, track);
    this.#schedule(lane, false);
  }

  event(track: RunTrack, event: SpanflowEvent): void {
    if (this.#closed || this.#buffered >= this.#options.maxBuffered) {
      this.drop(track, 1, this.#closed ? 'write_failed' : 'buffer_full', undefined);
      return;
    }
    this.#buffered++;
    const lane = track.lane;
    lane.events.push(event);
    lane.owners.push(track);
    if (lane.queued >= this.#options.batchSize) this.#schedule(lane, true);
    else if (this.#timer === undefined) this.#schedule(lane, false);
  }

  /** Resolves when there is room again; `undefined` when there is room now, or the database is failing (nothing to wait for). */
  ready(): Promise<void> | undefined {
    if (!this.#healthy || this.#closed || this.#buffered < this.#options.maxBuffered / 2) return undefined;
    return new Promise((resolve) => this.#roomWaiters.push(resolve));
  }

  /** Resolves once everything waiting has been written (or counted as dropped). */
  flush(): Promise<void> {
    for (const lane of this.#lanes) if (lane.hasWork) this.#schedule(lane, true);
    if (this.#idle()) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Writes what is left, giving up after `timeoutMs`: the rest is counted as dropped. Takes nothing more. */
  async close(timeoutMs: number): Promise<void> {
    this.#deadline = performance.now() + timeoutMs;
    this.#wake?.();
    await this.flush();
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#releaseRoom();
  }

  /** Counts rows of a run that will not be written, in the store, the run's row and the metric; warns (at most every 10 s). */
  drop(track: RunTrack | undefined, count: number, reason: DropReason, error: unknown): void {
    if (count <= 0) return;
    this.dropped += count;
    if (track) {
      track.state.dropped += count;
      track.context.countDropped(count, reason);
      if (!this.#closed) track.lane.runs.set(track.state.id, track);
    }
    const now = Date.now();
    if (now - this.#lastWarning < WARN_EVERY_MS) return;
    this.#lastWarning = now;
    const why =
      reason === 'buffer_full'
        ? `the write buffer is full (${this.#options.maxBuffered} rows)`
        : `they could not be written${error === undefined ? '' : `: ${error instanceof Error ? error.message : String(error)}`}`;
    process.emitWarning(`spanflow/postgres: rows dropped because ${why}; ${this.dropped} dropped so far (store at ${this.#location})`, {
      type: 'SpanflowPersistenceWarning',
    });
  }

  // ---- draining ------------------------------------------------------------

  #schedule(lane: Lane, urgent: boolean): void {
    if (urgent) {
      if (lane.busy || lane.kicked) return;
      lane.kicked = true;
      setImmediate(() => {
        lane.kicked = false;
        void this.#drain(lane);
      });
      return;
    }
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      for (const l of this.#lanes) if (l.hasWork) void this.#drain(l);
    }, this.#options.flushIntervalMs);
    this.#timer.unref();
  }

  async #drain(lane: Lane): Promise<void> {
    if (lane.busy) return;
    lane.busy = true;
    try {
      while (lane.hasWork) {
        lane.batch ??= lane.take(this.#options.batchSize);
        const batch = lane.batch;
        try {
          await this.#write(batch);
          lane.batch = undefined;
          this.#done(batch);
          if (!this.#healthy) this.#recovered();
        } catch (error) {
          if (batch.part === EVENTS && batch.uncertain && isUniqueViolation(error)) {
            // The try before committed after all, and only the answer was lost: the events are there.
            batch.part = DONE;
            continue;
          }
          if (!isRetryable(error)) {
            this.#dropPart(batch, error);
            continue;
          }
          if (batch.part === EVENTS) batch.uncertain = true;
          if (this.#deadline !== undefined && performance.now() >= this.#deadline) {
            this.#dropAll(lane, error);
            break;
          }
          this.#failing(error);
          await this.#backoff();
        }
      }
    } finally {
      lane.busy = false;
      if (this.#idle()) {
        const waiters = this.#idleWaiters;
        this.#idleWaiters = [];
        for (const resolve of waiters) resolve();
      }
    }
  }

  #idle(): boolean {
    return this.#lanes.every((lane) => !lane.busy && !lane.hasWork);
  }

  async #write(batch: Batch): Promise<void> {
    await this.#open();
    const db = this.#db;
    const schema = this.#schema;
    if (batch.part === PIPELINES) {
      if (batch.pipelines.length > 0) await insertPipelines(db, schema, batch.pipelines);
      batch.part = RUNS;
    }
    if (batch.part === RUNS) {
      if (batch.runs.length > 0) await upsertRuns(db, schema, batch.runs.map((track) => track.state));
      batch.part = STEPS;
    }
    if (batch.part === STEPS) {
      if (batch.steps.length > 0) await upsertSteps(db, schema, batch.steps);
      batch.part = EVENTS;
    }
    if (batch.part === EVENTS) {
      if (batch.events.length > 0) await insertEvents(db, schema, batch.events);
      batch.part = DONE;
    }
  }

  #done(batch: Batch): void {
    this.written += batch.events.length;
    this.#release(batch.events.length + batch.steps.length);
  }

  #release(rows: number): void {
    this.#buffered -= rows;
    if (this.#buffered < this.#options.maxBuffered / 4) this.#releaseRoom();
  }

  #releaseRoom(): void {
    const waiters = this.#roomWaiters;
    this.#roomWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /** A statement failed for a reason a retry will not fix: its rows are counted as dropped, the rest of the batch goes on. */
  #dropPart(batch: Batch, error: unknown): void {
    switch (batch.part) {
      case PIPELINES:
        this.drop(undefined, batch.pipelines.length, 'write_failed', error);
        break;
      case RUNS:
        for (const track of batch.runs) this.drop(track, 1, 'write_failed', error);
        break;
      case STEPS:
        this.#dropOwned(batch.stepOwners, 'write_failed', error);
        this.#release(batch.steps.length);
        batch.steps.length = 0;
        break;
      case EVENTS:
        this.#dropOwned(batch.eventOwners, 'write_failed', error);
        this.#release(batch.events.length);
        batch.events.length = 0;
        break;
    }
    batch.part++;
  }

  /** Closing, and the database is still failing: everything of this lane not written is counted as dropped. */
  #dropAll(lane: Lane, error: unknown): void {
    const batches: Batch[] = [];
    if (lane.batch) batches.push(lane.batch);
    lane.batch = undefined;
    while (lane.hasWork) batches.push(lane.take(Number.MAX_SAFE_INTEGER));
    for (const batch of batches) {
      if (batch.part <= RUNS) for (const track of batch.runs) this.drop(track, 1, 'write_failed', error);
      if (batch.part <= STEPS) this.#dropOwned(batch.stepOwners, 'write_failed', error);
      if (batch.part <= EVENTS) this.#dropOwned(batch.eventOwners, 'write_failed', error);
      this.#release((batch.part <= STEPS ? batch.steps.length : 0) + (batch.part <= EVENTS ? batch.events.length : 0));
    }
    // Dropping marks the runs dirty again (their drop counts): nothing can write them now.
    lane.runs.clear();
  }

  #dropOwned(owners: readonly RunTrack[], reason: DropReason, error: unknown): void {
    let i = 0;
    while (i < owners.length) {
      const owner = owners[i];
      let j = i + 1;
      while (j < owners.length && owners[j] === owner) j++;
      this.drop(owner, j - i, reason, error);
      i = j;
    }
  }

  #failing(error: unknown): void {
    this.#failures++;
    if (this.#healthy) {
      this.#healthy = false;
      // Nothing to wait for while the database is away: producers go on, and the buffer's bound applies.
      this.#releaseRoom();
      process.emitWarning(
        `spanflow/postgres: cannot write to ${this.#location} (${error instanceof Error ? error.message : String(error)}); retrying with backoff, holding up to ${this.#options.maxBuffered} rows`,
        { type: 'SpanflowPersistenceWarning' },
      );
    }
  }

  #recovered(): void {
    this.#healthy = true;
    this.#failures = 0;
  }

  /** Waits before the next try: doubling delays with jitter, cut short by close(). */
  #backoff(): Promise<void> {
    const { retryDelayMs, maxRetryDelayMs } = this.#options;
    let delay = Math.min(maxRetryDelayMs, retryDelayMs * 2 ** Math.min(this.#failures - 1, 20));
    delay = delay / 2 + Math.random() * (delay / 2);
    if (this.#deadline !== undefined) delay = Math.max(0, Math.min(delay, this.#deadline - performance.now()));
    return new Promise((resolve) => {
      const timer = setTimeout(done, delay);
      timer.unref();
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = () => {
        this.#wake = undefined;
        done();
      };
    });
  }
}
