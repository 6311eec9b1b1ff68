// The writer: takes rows from recorders without ever blocking or failing the
// pipeline, and writes them in batches. Each run keeps to one lane (one
// connection at a time), so its rows are written in the order they came;
// several lanes write at once. The buffer is bounded: past a high-water mark
// it holds back the producers that wait on it (tokens, map items) while the
// database keeps up; when full, further rows are counted as dropped (metric
// and warning), never lost silently.
//
// What a failure costs depends on what it is (faults.ts): a database that is
// away is retried with backoff while the store is open; an error no retry
// fixes (a wrong password, a missing database, missing rights, an unwritable
// folder, a lost embedded thread) is reported once, and from then on every row is counted as dropped
// as it comes, with no further login; a row the database refuses is found by
// halving its batch, dropped and counted alone, and the rows around it are
// written. close() settles by its deadline whatever the database does, and
// counts what it gave up, with one warning.

import { setTimeout as sleep } from 'node:timers/promises';
import type { Kysely } from 'kysely';
import { backoffDelay, type DropReason, messageOf, type PipelineDescription, type RecordingContext, type SpanflowEvent, settleWithin } from '../../sdk/index.ts';
import type { Engine } from './engine.ts';
import { classify, explain } from './faults.ts';
import { type Batch, DONE, EVENTS, Lane, PIPELINES, RUNS, STEPS } from './lane.ts';
import type { RunState, StepState } from './rows.ts';
import type { Database } from './schema.ts';
import { insertEvents, insertPipelines, upsertRuns, upsertSteps } from './statements.ts';

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
  /** A write under way this long without an answer: producers stop waiting for room (the buffer's bound applies). */
  readonly stalledAfterMs: number;
}

/** A run as the writer sees it: its state, its lane, and where to count what it drops. */
export interface RunTrack {
  readonly state: RunState;
  readonly lane: Lane;
  readonly context: RecordingContext;
  /** Its row is given up (the store failed for good, closed, or refused the row): it is not sent again. */
  gone?: boolean;
  /** Counted in `unendedRuns`: the run ended, and its end is not stored. */
  unended?: boolean;
}

/** What the writer has done, for `store.writes`. */
export interface WriteCounts {
  /** Events written. */
  readonly written: number;
  /** Rows (events, step attempts, runs, pipelines) counted as not written. */
  readonly dropped: number;
  /** Of those, events: `written + droppedEvents` is every event recorded, once nothing is buffered. */
  readonly droppedEvents: number;
  /** Rows waiting to be written. */
  readonly buffered: number;
  /** Runs that ended whose end could not be stored: their row reads `running` (then `interrupted`), or is missing. */
  readonly unendedRuns: number;
}

/** A row with this key is there already. */
function isUniqueViolation(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === '23505';
}

const WARN_EVERY_MS = 10_000;

/** Whether a run has ended (its row holds its final status). */
const ended = (track: RunTrack) => track.state.status !== 'pending' && track.state.status !== 'running';

export class Writer {
  readonly #db: Kysely<Database>;
  readonly #schema: string;
  readonly #engine: Engine;
  readonly #location: string;
  readonly #options: WriterOptions;
  readonly #open: () => Promise<void>;
  readonly #lanes: Lane[];
  #nextLane = 0;
  #buffered = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** Consecutive failed tries (any lane): 0 while the database answers. */
  #failures = 0;
  #lastError: unknown;
  /** An error no retry fixes: once set, nothing more is sent and every row is counted as dropped. */
  #failure: unknown;
  #deadline: number | undefined;
  #closed = false;
  #idleWaiters: (() => void)[] = [];
  #roomWaiters: (() => void)[] = [];
  /** Checks, while producers wait for room, that the database still answers (see #stalled). */
  #stallTimer: ReturnType<typeof setTimeout> | undefined;
  /** Aborted to cut short the lanes' backoffs under way (each lane backs off on its own): by close(), and by a failure no retry fixes. */
  #wake = new AbortController();
  #lastWarning = new Map<DropReason | 'closed' | 'stalled', number>();
  #written = 0;
  #dropped = 0;
  #droppedEvents = 0;
  #unendedRuns = 0;

  constructor(
    db: Kysely<Database>,
    schema: string,
    where: { readonly engine: Engine; readonly location: string; readonly lanes: number },
    options: WriterOptions,
    open: () => Promise<void>,
  ) {
    this.#db = db;
    this.#schema = schema;
    this.#engine = where.engine;
    this.#location = where.location;
    this.#options = options;
    this.#open = open;
    this.#lanes = Array.from({ length: Math.max(1, where.lanes) }, () => new Lane());
  }

  get counts(): WriteCounts {
    return {
      written: this.#written,
      dropped: this.#dropped,
      droppedEvents: this.#droppedEvents,
      buffered: this.#buffered,
      unendedRuns: this.#unendedRuns,
    };
  }

  /** A lane for a new run tree: round robin. */
  lane(): Lane {
    return this.#lanes[this.#nextLane++ % this.#lanes.length] as Lane;
  }

  pipeline(lane: Lane, description: PipelineDescription, context: RecordingContext): void {
    if (this.#refusing) {
      this.#count(undefined, 1, 0, 'write_failed', context);
      return;
    }
    lane.pipelines.push(description);
    lane.pipelineOwners.push(context);
    this.#schedule(lane, false);
  }

  /** The run's row changed (or its heartbeat is due). */
  run(track: RunTrack, urgent = false): void {
    if (track.gone) {
      this.#unended(track);
      return;
    }
    if (this.#refusing) {
      this.#giveUpRun(track, 'write_failed');
      return;
    }
    track.lane.runs.set(track.state.id, track);
    this.#schedule(track.lane, urgent);
  }

  step(track: RunTrack, step: StepState): void {
    const lane = track.lane;
    if (lane.steps.has(step)) return;
    if (!this.#admit(track, 0)) return;
    this.#buffered++;
    lane.steps.set(step, track);
    this.#schedule(lane, false);
  }

  event(track: RunTrack, event: SpanflowEvent): void {
    if (!this.#admit(track, 1)) return;
    this.#buffered++;
    const lane = track.lane;
    lane.events.push(event);
    lane.owners.push(track);
    if (lane.queued >= this.#options.batchSize) this.#schedule(lane, true);
    else if (this.#timer === undefined) this.#schedule(lane, false);
  }

  /** Whether a row (an event when `events` is 1) may wait to be written; if not, it is counted as dropped. */
  #admit(track: RunTrack, events: number): boolean {
    if (this.#refusing) {
      this.#count(track, 1, events, 'write_failed');
      if (this.#closed && !this.#failure) this.#warn('closed', `rows recorded after the store was closed are not written: ${this.#dropped} dropped so far (store at ${this.#location})`);
      return false;
    }
    if (this.#buffered >= this.#options.maxBuffered) {
      this.#count(track, 1, events, 'buffer_full');
      this.#warn('buffer_full', `rows dropped because the write buffer is full (${this.#options.maxBuffered} rows); ${this.#dropped} dropped so far (store at ${this.#location})`);
      return false;
    }
    return true;
  }

  /** Nothing more is sent: the store is closed, or failed for good. */
  get #refusing(): boolean {
    return this.#closed || this.#failure !== undefined;
  }

  /**
   * Resolves when there is room again; `undefined` when there is room now, or the database is failing or has
   * not answered a write for `stalledAfterMs` (nothing to wait for: a hung database must not hold pipelines up).
   */
  ready(): Promise<void> | undefined {
    if (!this.#healthy || this.#refusing || this.#buffered < this.#options.maxBuffered / 2 || this.#stalled) return undefined;
    this.#watchStall();
    return new Promise((resolve) => this.#roomWaiters.push(resolve));
  }

  /** A write has been under way for `stalledAfterMs` with no answer (a server that accepted and went silent, a lock held). */
  get #stalled(): boolean {
    const now = performance.now();
    for (const lane of this.#lanes) if (lane.writingSince !== undefined && now - lane.writingSince >= this.#options.stalledAfterMs) return true;
    return false;
  }

  /** While producers wait: lets them go once the database stalls, with one warning (a write that answers later brings the waiting back). */
  #watchStall(): void {
    if (this.#stallTimer !== undefined) return;
    this.#stallTimer = setTimeout(() => {
      this.#stallTimer = undefined;
      if (this.#roomWaiters.length === 0) return;
      if (!this.#stalled) return this.#watchStall();
      this.#releaseRoom();
      this.#warn(
        'stalled',
        `${this.#location} has not answered a write for ${this.#options.stalledAfterMs} ms: pipelines no longer wait for it, and rows past the buffer (${this.#options.maxBuffered}) are counted as dropped until it answers`,
      );
    }, this.#options.stalledAfterMs);
    this.#stallTimer.unref();
  }

  /**
   * Resolves once everything waiting has been written (or counted as dropped);
   * with `timeoutMs`, at that time limit if not before (holding the process
   * open until then), with one warning naming what is still not written: the
   * writer goes on trying to write it.
   */
  async flush(timeoutMs?: number): Promise<void> {
    for (const lane of this.#lanes) if (lane.hasWork) this.#schedule(lane, true);
    if (this.#closed || this.#idle()) return;
    const idle = new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
    if (timeoutMs === undefined) return idle;
    if (await settleWithin(idle, timeoutMs, { hold: true })) return;
    const { buffered } = this.counts;
    const runs = this.#endsWaiting();
    this.#emit(
      `flush() stopped waiting after ${Math.round(timeoutMs)} ms: ${buffered} rows are not written yet to ${this.#location} (${this.#giveUpCause()})` +
        (runs > 0 ? `, nor the end of ${runs} run${runs === 1 ? '' : 's'}` : '') +
        '; the store goes on trying to write them while the process runs (store.writes.buffered)',
    );
  }

  /** Runs that ended whose row, with their end, is still waiting to be written. */
  #endsWaiting(): number {
    const waiting = new Set<RunTrack>();
    for (const lane of this.#lanes) {
      for (const track of lane.runs.values()) if (ended(track)) waiting.add(track);
      if (lane.batch && lane.batch.part <= RUNS) for (const track of lane.batch.runs) if (ended(track)) waiting.add(track);
    }
    return waiting.size;
  }

  /**
   * Writes what is left until `deadline` (a `performance.now()` time), then
   * gives up on the rest: counted as dropped, with one warning naming the
   * count and the cause. Settles by the deadline, whatever the database does.
   * Takes nothing more.
   */
  async close(deadline: number): Promise<void> {
    const started = performance.now();
    this.#deadline = deadline;
    this.#wakeBackoffs();
    // Held: a script's top-level `await store.close()` must not see the event loop empty while rows wait for a
    // database that is away (Node would end it with exit code 13).
    await settleWithin(this.flush(), deadline - started, { hold: true });
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    const dropped = this.#dropped;
    const unended = this.#unendedRuns;
    const cause = this.#giveUpCause();
    for (const lane of this.#lanes) this.#dropLane(lane);
    const given = this.#dropped - dropped;
    if (given > 0 && this.#failure === undefined) {
      const runs = this.#unendedRuns - unended;
      this.#emit(
        `close() gave up after ${Math.round(deadline - started)} ms: ${given} rows not written to ${this.#location} (${cause}); ` +
          `counted as dropped (store.writes, spanflow.persistence.dropped)` +
          (runs > 0 ? `; the end of ${runs} run${runs === 1 ? ' is' : 's are'} not stored (a run whose start was stored reads running, then interrupted)` : ''),
      );
    }
    this.#releaseRoom();
    this.#settleIdle();
  }

  #giveUpCause(): string {
    return this.#lastError === undefined ? 'the database did not answer in time' : messageOf(this.#lastError);
  }

  // ---- counting ------------------------------------------------------------

  /**
   * Counts rows of a run that will not be written: in the store's figures, the
   * run's row (its `events_dropped`, written later while it still can be) and
   * the metric. Warnings are the caller's.
   */
  #count(track: RunTrack | undefined, rows: number, events: number, reason: DropReason, context = track?.context): void {
    if (rows <= 0) return;
    this.#dropped += rows;
    this.#droppedEvents += events;
    context?.countDropped(rows, reason);
    if (!track) return;
    track.state.dropped += rows;
    if (!this.#refusing && !track.gone) {
      track.lane.runs.set(track.state.id, track);
      this.#schedule(track.lane, false);
    }
  }

  /** A run's row will not be written again: counted once, and its end as not stored if it ended. */
  #giveUpRun(track: RunTrack, reason: DropReason): void {
    if (!track.gone) {
      track.gone = true;
      this.#count(track, 1, 0, reason);
    }
    this.#unended(track);
  }

  #unended(track: RunTrack): void {
    if (track.unended || !ended(track)) return;
    track.unended = true;
    this.#unendedRuns++;
  }

  #countOwned(owners: readonly RunTrack[], events: boolean, reason: DropReason): void {
    let i = 0;
    while (i < owners.length) {
      const owner = owners[i];
      let j = i + 1;
      while (j < owners.length && owners[j] === owner) j++;
      this.#count(owner, j - i, events ? j - i : 0, reason);
      i = j;
    }
  }

  /** A warning of this kind, at most every 10 s. */
  #warn(kind: DropReason | 'closed' | 'stalled', message: string): void {
    const now = Date.now();
    if (now - (this.#lastWarning.get(kind) ?? -Infinity) < WARN_EVERY_MS) return;
    this.#lastWarning.set(kind, now);
    this.#emit(message);
  }

  #emit(message: string): void {
    process.emitWarning(`spanflow/postgres: ${message}`, { type: 'SpanflowPersistenceWarning' });
  }

  // ---- draining ------------------------------------------------------------

  #schedule(lane: Lane, urgent: boolean): void {
    if (this.#closed) return;
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
    if (lane.busy || this.#closed) return;
    lane.busy = true;
    try {
      while (lane.hasWork && !this.#closed) {
        if (this.#failure !== undefined) {
          this.#dropLane(lane);
          break;
        }
        lane.batch ??= lane.take(this.#options.batchSize);
        const batch = lane.batch;
        lane.writingSince = performance.now();
        try {
          await this.#write(batch);
          // close() gave up on it while it was under way: counted as dropped already.
          if (batch.abandoned) break;
          lane.batch = undefined;
          this.#failures = 0;
          this.#lastError = undefined;
        } catch (error) {
          if (batch.abandoned || this.#closed) break;
          this.#lastError = error;
          if (classify(error) === 'permanent') {
            this.#fail(error, lane);
            break;
          }
          // Closing, and the deadline has passed: close() counts what is left.
          if (this.#deadline !== undefined && performance.now() >= this.#deadline) break;
          this.#failing(error);
          await this.#backoff();
        }
      }
    } finally {
      lane.writingSince = undefined;
      lane.busy = false;
      if (this.#idle()) this.#settleIdle();
    }
  }

  #idle(): boolean {
    return this.#lanes.every((lane) => !lane.busy && !lane.hasWork);
  }

  #settleIdle(): void {
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  async #write(batch: Batch): Promise<void> {
    await this.#open();
    const db = this.#db;
    const schema = this.#schema;
    const engine = this.#engine;
    // Each step checks that close() has not given up on the batch meanwhile (it counted the rest as dropped).
    if (batch.part === PIPELINES && !batch.abandoned) {
      await this.#send(batch, batch.pipelines, batch.pipelineOwners, (rows) => insertPipelines(db, schema, rows));
      batch.part = RUNS;
    }
    if (batch.part === RUNS && !batch.abandoned) {
      await this.#send(batch, batch.runs, undefined, (rows) => upsertRuns(db, engine, schema, rows.map((track) => track.state)));
      batch.part = STEPS;
    }
    if (batch.part === STEPS && !batch.abandoned) {
      await this.#send(batch, batch.steps, batch.stepOwners, (rows) => upsertSteps(db, engine, schema, rows));
      batch.part = EVENTS;
    }
    if (batch.part === EVENTS && !batch.abandoned) {
      await this.#send(batch, batch.events, batch.eventOwners, (rows) => insertEvents(db, engine, schema, rows));
      batch.part = DONE;
    }
  }

  /**
   * Sends the rows of the batch's current part, taking each off the front of
   * `rows` (and `owners`) once written. A row the database refuses (a data
   * error) is found by halving: the rows before it are written, it is dropped
   * and counted alone, the rest go on. Any other error is thrown with only the
   * unwritten rows left, so a retry sends no row twice.
   *
   * Events are a plain insert, so a try whose answer was lost (it may have
   * committed) is told apart by sending the very same statement again: its
   * rows (`batch.uncertain`, a prefix) and no others, until its fate is known.
   * A unique violation says it committed; success, that it had not; a data
   * error, that it was refused too (the same rows, the same error); any other
   * error leaves it unknown.
   */
  async #send<T, O>(batch: Batch, rows: T[], owners: O[] | undefined, insert: (rows: readonly T[]) => Promise<void>): Promise<void> {
    let size = batch.part === EVENTS && batch.uncertain > 0 ? batch.uncertain : rows.length;
    while (rows.length > 0) {
      const n = Math.min(size, rows.length);
      try {
        await insert(n === rows.length ? rows : rows.slice(0, n));
      } catch (error) {
        if (batch.abandoned) throw error;
        if (batch.part === EVENTS && batch.uncertain > 0 && isUniqueViolation(error)) {
          // The try before committed after all, and only the answer was lost: those events are there.
          this.#sent(batch, rows, owners, batch.uncertain);
          batch.uncertain = 0;
          size = rows.length;
          continue;
        }
        const fault = classify(error);
        if (fault !== 'data') {
          // This try's answer may be lost too. When one was already in doubt, this try was that same statement.
          if (batch.part === EVENTS) batch.uncertain = n;
          throw error;
        }
        // The statement in doubt, if any, was this one: refused now, it was refused then, and committed nothing.
        batch.uncertain = 0;
        if (n > 1) {
          size = Math.ceil(n / 2);
          continue;
        }
        this.#refused(batch, rows[0], owners?.[0], error);
        rows.shift();
        owners?.shift();
        // The rest may well be fine: try it whole.
        size = rows.length;
        continue;
      }
      if (batch.abandoned) return;
      batch.uncertain = 0;
      this.#sent(batch, rows, owners, n);
    }
  }

  /** The first `n` rows of the batch's current part are written. */
  #sent<T, O>(batch: Batch, rows: T[], owners: O[] | undefined, n: number): void {
    if (batch.part === EVENTS) this.#written += n;
    if (batch.part === EVENTS || batch.part === STEPS) this.#release(n);
    rows.splice(0, n);
    owners?.splice(0, n);
  }

  /** The database refused this row: it alone is dropped and counted; a run whose row is refused is not sent again. */
  #refused(batch: Batch, row: unknown, owner: unknown, error: unknown): void {
    switch (batch.part) {
      case PIPELINES:
        this.#count(undefined, 1, 0, 'rejected', owner as RecordingContext);
        break;
      case RUNS:
        this.#giveUpRun(row as RunTrack, 'rejected');
        break;
      case STEPS:
        this.#count(owner as RunTrack, 1, 0, 'rejected');
        this.#release(1);
        break;
      case EVENTS:
        this.#count(owner as RunTrack, 1, 1, 'rejected');
        this.#release(1);
        break;
    }
    this.#warn('rejected', `the database at ${this.#location} refused a row (${messageOf(error)}): it is dropped, and the rows around it are written; ${this.#dropped} dropped so far`);
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

  /** Gives up on everything of this lane not written (the batch under way included): counted as dropped, as not writable. */
  #dropLane(lane: Lane): void {
    const reason: DropReason = 'write_failed';
    const batches: Batch[] = [];
    if (lane.batch) {
      lane.batch.abandoned = true;
      batches.push(lane.batch);
      lane.batch = undefined;
    }
    while (lane.hasWork) batches.push(lane.take(Number.MAX_SAFE_INTEGER));
    for (const batch of batches) {
      if (batch.part <= PIPELINES) for (const context of batch.pipelineOwners) this.#count(undefined, 1, 0, reason, context);
      if (batch.part <= RUNS) for (const track of batch.runs) this.#giveUpRun(track, reason);
      if (batch.part <= STEPS) {
        this.#countOwned(batch.stepOwners, false, reason);
        this.#release(batch.steps.length);
      }
      if (batch.part <= EVENTS) {
        this.#countOwned(batch.eventOwners, true, reason);
        this.#release(batch.events.length);
      }
      batch.part = DONE;
    }
    // Counting marks runs dirty again (their drop counts) while their rows can still be written: here (the store
    // closed, or failed for good) they cannot.
    lane.runs.clear();
  }

  /** An error no retry fixes: reported once; what waits, and everything recorded from now on, is counted as dropped. */
  #fail(error: unknown, lane: Lane): void {
    this.#failure = error;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#releaseRoom();
    this.#dropLane(lane);
    for (const other of this.#lanes) if (!other.busy) this.#dropLane(other);
    // The busy ones drop theirs as they wake: at once, not at the end of their backoff.
    this.#wakeBackoffs();
    this.#emit(
      `cannot write to ${this.#location}: ${explain(error)}. Not retrying: ${this.#dropped} rows recorded so far are counted as dropped ` +
        '(store.writes, spanflow.persistence.dropped), and so is every row recorded into this store from now on',
    );
  }

  /** Whether the database answered the last try (producers then wait for room rather than fill the buffer). */
  get #healthy(): boolean {
    return this.#failures === 0;
  }

  #failing(error: unknown): void {
    if (this.#failures++ > 0) return;
    // Nothing to wait for while the database is away: producers go on, and the buffer's bound applies.
    this.#releaseRoom();
    this.#emit(`cannot write to ${this.#location} (${messageOf(error)}); retrying with backoff, holding up to ${this.#options.maxBuffered} rows`);
  }

  /** Waits before the next try: doubling delays with jitter (the engine's retry backoff), cut short by #wakeBackoffs(). */
  async #backoff(): Promise<void> {
    const { retryDelayMs, maxRetryDelayMs } = this.#options;
    let delay = backoffDelay({ initialDelayMs: retryDelayMs, maxDelayMs: maxRetryDelayMs, factor: 2, jitter: 0.5 }, this.#failures);
    if (this.#deadline !== undefined) delay = Math.max(0, Math.min(delay, this.#deadline - performance.now()));
    try {
      // Unref'd: while the store is open, a database that is away does not keep the process alive (close() holds it while it waits).
      await sleep(delay, undefined, { signal: this.#wake.signal, ref: false });
    } catch {
      // Woken: the next try (or the drop of what is left) comes now.
    }
  }

  /** Ends the backoffs under way at once; later ones wait again. */
  #wakeBackoffs(): void {
    this.#wake.abort();
    this.#wake = new AbortController();
  }
}
