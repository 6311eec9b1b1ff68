// One batch of a stage pipeline: the queues, the workers, every item's fate.
// Tasks run through the same executor as graph steps (retry, timeout,
// cancellation); the per-stage retry asks the same retry policy.

import { Channel } from '../channel.ts';
import { EventBus, type EventListener, now, RunEmitter } from '../emitter.ts';
import { attemptError, CancelledError, errorTypeOf, ItemsFailedError, toErrorInfo, warnUserError } from '../errors.ts';
import type { EventType, ItemCounts, ItemStatus, RunEndStatus, RunMetrics, StepEndStatus, StepLatency } from '../events.ts';
import { AbortLink, type AttemptContext, type AttemptObserver, afterFailedAttempt, backoffDelay, type ExecuteOptions, executeInto, type Outcome, shouldRetry, untilAborted } from '../executor.ts';
import { Meta } from '../meta.ts';
import { attachObserver, checkObserver, type RunObserver } from '../observe.ts';
import { attachRecorder, type PersistOption, type Recording, resolveRecorder } from '../persist.ts';
import { checkSignals, stopOnSignals } from '../shutdown.ts';
import { attachTelemetry, type CountVisitor, type ItemTelemetry, type Telemetry } from '../telemetry/index.ts';
import { nextTurn, turnDue } from '../turn.ts';
import { describeStages } from './describe.ts';
import { Entry } from './entry.ts';
import { checkFeedable, type Feedable, FeedError, Item, type StageDef, type StagePipeline } from './pipeline.ts';
import { StageQueue } from './queue.ts';
import { resolveDashboard } from './registry.ts';
import { Semaphore } from './semaphore.ts';
import { itemStatusEvent, taskEndEvent, taskRetryEvent, taskStartEvent } from './item-events.ts';
import { StageTaskContext } from './task-context.ts';
import { type TaskFeed, type TrackerFeed, statusFeed } from './tracker.ts';
import type {
  BatchResult,
  BatchSummary,
  Dashboard,
  ErrorSummary,
  FailedItem,
  FeedOptions,
  ItemOutcome,
  PipelineSnapshot,
  WorkerSnapshot,
} from './types.ts';

export interface BatchOptions {
  /** Use this run id instead of a random UUID. */
  readonly runId?: string;
  /** Cancels the batch like `shutdown()`. */
  readonly signal?: AbortSignal;
  /** Overrides the pipeline's `collectResults`. */
  readonly collectResults?: boolean;
  /** Called with every event of this batch (in addition to the pipeline's `onEvent`). */
  readonly onEvent?: EventListener;
  /** Items you will feed, if known: dashboards show progress against it from their first frame. */
  readonly expected?: number;
  /** Store this batch as one run: `true` for the default store (`spanflow/postgres`), or a store. Overrides the pipeline's. */
  readonly persist?: PersistOption;
  /** Show this batch live, e.g. over HTTP (`new LiveRuns()` from `spanflow/http`). Overrides the pipeline's. */
  readonly observe?: RunObserver;
  /**
   * Stop gracefully on these process signals (e.g. `['SIGTERM', 'SIGINT']`):
   * the first one shuts the batch down (in-flight items settle), its store
   * writes what is left for up to 10 s (a database that is away does not hold
   * the process past that: what is not written is named in a warning), then
   * the signal is raised again so the process ends as it would have. A second
   * signal ends it at once. Default: no listener.
   */
  readonly shutdownOn?: readonly NodeJS.Signals[];
}

/**
 * A task's attempts: their latency for the run's metrics, and how they ended
 * for telemetry's counters (which read them; nothing is recorded per attempt).
 */
interface Tally {
  attempts: number;
  succeeded: number;
  /** Attempts that did not succeed: timed out, cancelled, or failed (retried ones included). */
  failed: number;
  timedOut: number;
  cancelled: number;
  totalMs: number;
  maxMs: number;
  /** Retried attempts by error type. */
  readonly retried: Map<string, number>;
}

function newTally(): Tally {
  return { attempts: 0, succeeded: 0, failed: 0, timedOut: 0, cancelled: 0, totalMs: 0, maxMs: 0, retried: new Map() };
}

interface Failure {
  readonly task: string;
  readonly error: unknown;
  readonly attempts: number;
}

/** What a worker hands the executor for one of its stage's tasks: made once, reused for every item. */
interface SlotRun {
  readonly name: string;
  /** `stage/task`, as metrics and spans name it. */
  readonly key: string;
  readonly attempt: (context: AttemptContext) => unknown;
  /**
   * The task's function, when its first attempt may take the worker's fast path: it takes
   * no context and has no timeout (see the worker's runTask).
   */
  readonly fast: ((value: unknown) => unknown) | undefined;
  /** No one takes task_start or task_end events: an item without telemetry needs its attempt neither observed nor timed. */
  readonly quiet: boolean;
  readonly options: ExecuteOptions;
  /** The same, for an item with telemetry: its attempts run in its task span's context, and are timed. */
  readonly recorded: ExecuteOptions;
}

interface Slot {
  readonly stage: string;
  readonly worker: number;
  /** Reused for every attempt this worker runs (it runs one at a time). */
  observer: AttemptObserver;
  /** The worker's standing link to the batch's signal (see `AbortLink`). */
  readonly link: AbortLink;
  /** Per task of the stage. */
  runs: SlotRun[];
  entry: Entry | undefined;
  /** The current task's input. */
  input: unknown;
  task: string | undefined;
  /** The current task's `stage/task`, and its position in the stage. */
  taskKey: string;
  taskIndex: number;
  /** The tracker's feed for task events, when it is handed them instead of events. */
  readonly feed: TaskFeed | undefined;
  /**
   * The performance.now() reading the fast path took for an attempt's duration, at its start or end,
   * for the observer told of that moment next (-1: none): a fed task event's time, rather than a second read.
   */
  clock: number;
  /**
   * A reading this worker took in its current synchronous stretch, with no code of the user's run
   * since (-1: none), when the batch shares readings (#sharesReadings): a task's end, the item's
   * next status, the next item's in_progress and its attempt's start then take one reading, not four.
   */
  reading: number;
  tally: Tally;
  taskStatus: string | undefined;
  processed: number;
  failed: number;
  /** Time spent with an item, up to `busySince` (0 while idle). */
  busyMs: number;
  busySince: number;
}

interface StageState {
  readonly def: StageDef;
  readonly index: number;
  readonly queue: StageQueue<Entry>;
  /** The stage after this one, if any. */
  next: StageState | undefined;
  readonly slots: Slot[];
  readonly limits: (Semaphore | undefined)[];
  /** Attempt latency per task, for the run's metrics. */
  readonly tallies: Tally[];
  /** Items that reached a final status in this stage. */
  readonly ended: { completed: number; failed: number; skipped: number };
  inProgress: number;
  // Items completed are not counted here as well: the workers' processed counts are summed when asked (completedIn()).
  failed: number;
  skipped: number;
}

/** The built-in array iteration, to tell an array whose iteration is untouched. */
const ARRAY_VALUES = Array.prototype[Symbol.iterator];
const ARRAY_ITERATOR = Object.getPrototypeOf([][Symbol.iterator]()) as { next: unknown };
const ARRAY_NEXT = ARRAY_ITERATOR.next;

/** The types a tracker fed by its batch listens for on the bus: none. */
const NO_EVENTS: ReadonlySet<EventType> = new Set();

/** Outcomes a slow stream reader may fall behind by before the last stage waits. */
const OUTCOME_BUFFER = 1024;

/**
 * Calls a user callback (onSuccess, onFailure, a dashboard). Its bug must not
 * kill a worker (the item would be lost and the batch never end) nor vanish.
 */
function guarded(call: () => void, where: string): void {
  try {
    call();
  } catch (error) {
    warnUserError(error, 'SpanflowCallbackWarning', where);
  }
}

/**
 * A running batch: `feed()` items (as often as needed), then `join()` for the
 * result, or `shutdown()` to stop early. Every item fed ends as a completed
 * value, a failure or a skip — including on shutdown.
 */
export class Batch<In, Out> {
  readonly runId: string;
  readonly #pipeline: StagePipeline<In, Out>;
  readonly #bus = new EventBus();
  readonly #emitter: RunEmitter;
  /** Whether someone takes each per-item event (listeners attach only when the batch is made). */
  readonly #hears: {
    readonly item_status: boolean;
    readonly task_start: boolean;
    readonly task_retry: boolean;
    readonly task_end: boolean;
    readonly worker_state: boolean;
  };
  /** The tracker's feed, when it is handed its events' fields instead of events. */
  readonly #trackerFeed: TrackerFeed | undefined;
  /** Someone takes item status changes: the tracker's feed or an item_status listener (telemetry is per item). */
  readonly #statusHeard: boolean;
  /**
   * The fed tracker is the only one told of items and tasks (no listener, no telemetry): events a worker
   * gives it between two calls of the user's code are one moment, and share a clock reading (see Slot.reading).
   */
  readonly #sharesReadings: boolean;
  readonly #controller = new AbortController();
  readonly #stages: StageState[];
  readonly #collect: boolean;
  readonly #started = performance.now();
  readonly #workers: Promise<void>[] = [];
  readonly #outcomes: ItemOutcome<Out>[] = [];
  readonly #failures: FailedItem[] = [];
  /** The first failure, kept even when `collectResults` is off (run_end's error names it). */
  #firstFailure: FailedItem | undefined;
  readonly #recent: FailedItem[] = [];
  readonly #byType: Record<string, number> = {};
  readonly #byStage: Record<string, number> = {};
  readonly #retryTimers = new Map<ReturnType<typeof setTimeout>, Entry>();
  readonly #dashboards: Dashboard[];
  #dashboardTimer: ReturnType<typeof setInterval> | undefined;
  #fed = 0;
  readonly #telemetry: Telemetry | undefined;
  /** The store recording this batch (`persist`), told of each failed item. */
  readonly #recording: Recording | undefined;
  #unwatch: (() => void) | undefined;
  /** The first feed source that threw: the batch ends failed with it. */
  #feedError: FeedError | undefined;
  /** Items announced (the `expected` option, or arrays given to feed()), counted before they are queued. */
  #expected = 0;
  /** `expected` was given: arrays fed do not add to it. */
  readonly #expectedGiven: boolean;
  #completed = 0;
  #failed = 0;
  #skipped = 0;
  #inFlight = 0;
  #feeding = 0;
  #closed = false;
  #cancelled = false;
  #onDrained: (() => void) | undefined;
  #result: Promise<BatchResult<Out>> | undefined;
  #stream: Channel<ItemOutcome<Out>> | undefined;

  constructor(pipeline: StagePipeline<In, Out>, options: BatchOptions) {
    this.#pipeline = pipeline;
    // Every check that can throw comes first: a batch that is refused has started nothing (no workers, no events, no listeners).
    const signals = checkSignals(pipeline.name, options.shutdownOn);
    const dashboards = this.#resolveDashboards();
    const recorder = resolveRecorder(options.persist ?? pipeline.options.persist);
    const observer = checkObserver(pipeline.name, options.observe ?? pipeline.options.observe);
    this.runId = options.runId ?? crypto.randomUUID();
    this.#collect = options.collectResults ?? pipeline.options.collectResults ?? true;
    this.#expected = options.expected ?? 0;
    this.#expectedGiven = options.expected !== undefined;
    if (pipeline.options.onEvent) this.#bus.listen(pipeline.options.onEvent);
    // Telemetry listens first, so spans exist before user listeners see the events.
    this.#telemetry = attachTelemetry(this.#bus);
    // One stored run per batch (after telemetry, which makes the trace id it keeps).
    const description = recorder || observer ? describeStages(pipeline) : undefined;
    this.#recording = recorder && description && attachRecorder(this.#bus, recorder, description, this.#telemetry, () => this.#counts());
    if (observer && description) {
      attachObserver(this.#bus, observer, { runId: this.runId, pipeline: description, snapshot: () => this.snapshot(), cancel: (reason) => void this.shutdown(reason) });
    }
    const tracker = pipeline.options.tracker;
    // A tracker that needs nothing of its events but their fields, in a batch where no one else takes
    // them, is handed their fields directly: the events are not built (see statusFeed).
    const bus = this.#bus;
    const types = tracker?.types;
    const feeding = tracker && types && !options.onEvent && ![...types].some((type) => bus.wants(type)) ? statusFeed(tracker) : undefined;
    // A fed tracker is still on the bus, taking no event: the batch's events are built and numbered as with it listening.
    if (tracker) bus.listen(tracker.observe, feeding ? NO_EVENTS : types);
    if (options.onEvent) bus.listen(options.onEvent);
    this.#emitter = new RunEmitter(bus, this.runId, undefined, pipeline.name);
    this.#trackerFeed = feeding?.(this.#emitter, pipeline.stages);
    const tasksFed = this.#trackerFeed?.tasks !== undefined;
    this.#hears = {
      item_status: bus.wants('item_status'),
      task_start: tasksFed || bus.wants('task_start'),
      task_retry: tasksFed || bus.wants('task_retry'),
      task_end: tasksFed || bus.wants('task_end'),
      worker_state: bus.wants('worker_state'),
    };
    this.#statusHeard = this.#trackerFeed !== undefined || this.#hears.item_status;
    this.#sharesReadings = tasksFed && !this.#telemetry && !this.#hears.item_status && !this.#hears.worker_state;
    this.#stages = pipeline.stages.map((def, index) => ({
      def,
      index,
      queue: new StageQueue<Entry>(def.capacity),
      next: undefined,
      slots: Array.from({ length: def.workers }, (_, worker) => this.#slot(def, worker)),
      limits: def.tasks.map((t) => (t.concurrency === undefined ? undefined : new Semaphore(t.concurrency))),
      tallies: def.tasks.map(newTally),
      ended: { completed: 0, failed: 0, skipped: 0 },
      inProgress: 0,
      failed: 0,
      skipped: 0,
    }));
    for (const stage of this.#stages) stage.next = this.#stages[stage.index + 1];
    if (options.signal) {
      const signal = options.signal;
      // The signal's reason reaches the items' CancelledError, as in graph runs.
      if (signal.aborted) queueMicrotask(() => void this.shutdown(signal.reason));
      else signal.addEventListener('abort', () => void this.shutdown(signal.reason), { once: true });
    }

    if (this.#telemetry?.metering) {
      const stages = this.#stages;
      this.#unwatch = this.#telemetry.metering.watch({
        pipeline: pipeline.name,
        stages: () => stages.map((s) => ({ name: s.def.name, queued: s.queue.size + s.queue.blocked, inProgress: s.inProgress, workers: s.def.workers })),
        count: (visitor) => countStages(stages, visitor),
      });
    }
    this.#emitter.emit({ type: 'run_queued' });
    this.#emitter.emit({ type: 'run_start', resumeFrom: undefined, pipelineMeta: pipeline.options.meta ?? {}, traceId: this.#telemetry?.traceId(this.runId) });
    const telemetry = this.#telemetry;
    for (const stage of this.#stages) {
      for (const slot of stage.slots) this.#workers.push(telemetry ? telemetry.inWorkers(this.runId, () => this.#work(stage, slot)) : this.#work(stage, slot));
    }

    if (signals) {
      const ended = new Promise((resolve) => this.#bus.listen(resolve, new Set(['run_end'])));
      stopOnSignals(signals, { cancel: (reason) => void this.shutdown(reason), ended, recorder });
    }

    // Dashboards start now, before any feeding can block.
    this.#dashboards = dashboards;
    if (this.#dashboards.length > 0) {
      const first = this.snapshot();
      for (const d of this.#dashboards) guarded(() => d.onStart?.(first), 'a dashboard\'s onStart');
      this.#dashboardTimer = setInterval(() => {
        const snap = this.snapshot();
        for (const d of this.#dashboards) guarded(() => d.onUpdate(snap), 'a dashboard\'s onUpdate');
      }, pipeline.options.updateInterval ?? 250);
      this.#dashboardTimer.unref(); // a batch never joined must not keep the process alive
    }
  }

  /**
   * Queues items (an array, an iterable or an async iterable), waiting while the
   * target stage's queue is full. Resolves once every item is queued. When the
   * source throws (or its `next()` rejects), rejects with the source's error; the
   * batch then ends `failed` with a `FeedError` naming it (`feedError`, and
   * `join()`'s result), and the items the source gave before still finish.
   */
  async feed(items: Feedable<In>, options: FeedOptions = {}): Promise<void> {
    if (this.#closed) throw new Error(`batch ${this.runId} of '${this.#pipeline.name}' no longer takes items: feed before join() or shutdown()`);
    const stage = options.stage === undefined ? this.#stages[0] : this.#stages[this.#pipeline.stageIndex(options.stage)];
    if (!stage) throw new Error('unreachable: a pipeline has at least one stage');
    checkFeedable(this.#pipeline.name, items);
    this.#feeding++;
    if (Array.isArray(items) && !this.#expectedGiven) this.#expected = Math.max(this.#expected, this.#fed) + items.length;
    let taken = 0;
    try {
      if (Symbol.iterator in items) {
        const iterate = (items as Iterable<In | Item<In>>)[Symbol.iterator];
        if (Array.isArray(items) && iterate === ARRAY_VALUES && ARRAY_ITERATOR.next === ARRAY_NEXT) {
          // An array iterated the built-in way is read as its iterator would read it (length, then the
          // element, at each step), without the iterator's result object per item.
          const array = items as readonly (In | Item<In>)[];
          const due = turnDue; // read once: an import is read through its module cell at each use
          for (let i = 0; i < array.length; i++) {
            let value: In | Item<In>;
            try {
              value = array[i] as In | Item<In>;
            } catch (error) {
              throw this.#sourceFailed(taken, error); // an element's getter threw
            }
            taken++;
            const waiting = this.#enqueue(stage, value, options.priority);
            if (waiting) await waiting;
            if (due()) await nextTurn();
            if (this.#cancelled) return; // (an array's iterator has no return() to call)
          }
          return;
        }
        const iterator = iterate.call(items);
        for (;;) {
          let next: IteratorResult<In | Item<In>>;
          try {
            next = iterator.next();
          } catch (error) {
            throw this.#sourceFailed(taken, error);
          }
          if (next.done) return;
          taken++;
          const waiting = this.#enqueue(stage, next.value, options.priority);
          if (waiting) await waiting;
          // Synchronous work can go on without a pause; timers and signals must still get their turn.
          if (turnDue()) await nextTurn();
          // Stopped while this feed waited: the queues are drained for good, so nothing more may go in.
          if (this.#cancelled) {
            try {
              iterator.return?.(); // lets a generator run its finally blocks
            } catch {
              // The batch is stopped and reports its items; a source that fails to close loses nothing.
            }
            return;
          }
        }
      }
      const source = (items as AsyncIterable<In | Item<In>>)[Symbol.asyncIterator]();
      try {
        for (;;) {
          let next: IteratorResult<In | Item<In>>;
          try {
            // A source that stalls must not hold back shutdown: its next() races the batch's cancellation.
            next = await untilAborted(source.next(), this.#controller.signal);
          } catch (error) {
            if (this.#cancelled) return;
            throw this.#sourceFailed(taken, error);
          }
          if (next.done || this.#cancelled) return;
          taken++;
          const waiting = this.#enqueue(stage, next.value, options.priority);
          if (waiting) await waiting;
          if (turnDue()) await nextTurn();
          if (this.#cancelled) return;
        }
      } finally {
        if (this.#cancelled) void Promise.resolve(source.return?.()).catch(() => {});
      }
    } finally {
      this.#feeding--;
      this.#checkDrained();
    }
  }

  /** The first feed source that threw, if any: the batch ends `failed` with it (its `cause` is the source's error). */
  get feedError(): FeedError | undefined {
    return this.#feedError;
  }

  /** A feed source threw after giving `taken` items: the batch will end failed with it. Returns the source's error, for feed() to reject with. */
  #sourceFailed(taken: number, error: unknown): unknown {
    this.#feedError ??= new FeedError(this.#pipeline.name, taken, error);
    return error;
  }

  /** No more items: waits for every item to finish, then ends the batch. */
  join(): Promise<BatchResult<Out>> {
    this.#closed = true;
    this.#result ??= this.#finish();
    return this.#result;
  }

  /**
   * Stops the batch: running tasks are cancelled, and items not yet done end
   * failed with a `CancelledError`. Resolves with the result, as `join()` does.
   */
  shutdown(reason?: unknown): Promise<BatchResult<Out>> {
    if (!this.#cancelled) {
      this.#cancelled = true;
      this.#closed = true;
      this.#controller.abort(new CancelledError(`batch ${this.runId} of '${this.#pipeline.name}'`, reason ?? 'shut down'));
      for (const [timer, entry] of this.#retryTimers) {
        clearTimeout(timer);
        this.#fail(entry, undefined, this.#controller.signal.reason, entry.pass);
      }
      this.#retryTimers.clear();
      for (const stage of this.#stages) {
        for (const entry of stage.queue.drain()) this.#fail(entry, undefined, this.#controller.signal.reason, entry.pass);
      }
      this.#checkDrained();
    }
    return this.join();
  }

  /** Every item's outcome as it finishes, in completion order. Must be taken before the first item finishes. */
  outcomes(): AsyncIterableIterator<ItemOutcome<Out>> {
    this.#stream ??= new Channel<ItemOutcome<Out>>(OUTCOME_BUFFER);
    return this.#stream;
  }

  /** Where everything stands now. Cheap: counters the batch keeps anyway. */
  snapshot(): PipelineSnapshot {
    const now = performance.now();
    const workers: WorkerSnapshot[] = [];
    const queueSizes: Record<string, number> = {};
    for (const stage of this.#stages) {
      queueSizes[stage.def.name] = stage.queue.size;
      for (const slot of stage.slots) {
        const done = slot.processed + slot.failed;
        const busyMs = slot.busyMs + (slot.busySince === 0 ? 0 : now - slot.busySince);
        workers.push({
          stage: slot.stage,
          worker: slot.worker,
          state: slot.entry ? 'busy' : 'idle',
          itemId: slot.entry?.id,
          task: slot.task,
          taskStatus: slot.taskStatus,
          processed: slot.processed,
          failed: slot.failed,
          avgMs: done === 0 ? 0 : busyMs / done,
        });
      }
    }
    return {
      pipeline: this.#pipeline.name,
      runId: this.runId,
      timestamp: Date.now(),
      elapsedMs: now - this.#started,
      running: this.#result === undefined || this.#inFlight > 0,
      workers,
      stats: {
        expected: Math.max(this.#expected, this.#fed),
        fed: this.#fed,
        completed: this.#completed,
        failed: this.#failed,
        skipped: this.#skipped,
        inFlight: this.#inFlight,
        queueSizes,
        stages: this.#stages.map((s) => ({
          name: s.def.name,
          workers: s.def.workers,
          capacity: s.def.capacity,
          pending: s.queue.size + s.queue.blocked,
          queued: s.queue.size,
          inProgress: s.inProgress,
          completed: completedIn(s),
          failed: s.failed,
          skipped: s.skipped,
        })),
      },
      errors: this.errorSummary(),
    };
  }

  errorSummary(): ErrorSummary {
    return { total: this.#failed, byType: { ...this.#byType }, byStage: { ...this.#byStage }, recent: [...this.#recent] };
  }

  // ---- feeding and finishing ---------------------------------------------

  #enqueue(stage: StageState, raw: In | Item<In>, priority: number | undefined): Promise<void> | undefined {
    const index = this.#fed++;
    const wrapped = raw instanceof Item ? raw : undefined;
    const entry = new Entry(index, wrapped?.id, wrapped?.metadata, wrapped?.priority ?? priority ?? 0, wrapped ? wrapped.value : raw, stage.index);
    this.#inFlight++;
    if (this.#telemetry) entry.telemetry = this.#telemetry.startItem(this.runId, entry, this.#pipeline.name);
    if (entry.telemetry || this.#statusHeard) this.#itemStatus(entry, stage.def.name, 'queued', undefined);
    return stage.queue.put(entry, entry.priority);
  }

  #checkDrained(): void {
    // After shutdown, a feed() still waiting on a slow async source does not hold the end back (it queues nothing more).
    if (this.#closed && (this.#feeding === 0 || this.#cancelled) && this.#inFlight === 0 && this.#onDrained) {
      const resolve = this.#onDrained;
      this.#onDrained = undefined;
      resolve();
    }
  }

  async #finish(): Promise<BatchResult<Out>> {
    await new Promise<void>((resolve) => {
      this.#onDrained = resolve;
      this.#checkDrained();
    });
    for (const stage of this.#stages) stage.queue.close();
    await Promise.all(this.#workers);
    if (this.#dashboardTimer !== undefined) clearInterval(this.#dashboardTimer);
    this.#unwatch?.();

    const status: RunEndStatus = this.#cancelled ? 'cancelled' : this.#feedError || this.#failed > 0 ? 'failed' : 'succeeded';
    const durationMs = performance.now() - this.#started;
    const items: ItemCounts = { fed: this.#fed, completed: this.#completed, failed: this.#failed, skipped: this.#skipped };
    // A source that broke says more than the items' own failures (each of those is in `failures`).
    const error: Error | undefined =
      status === 'cancelled'
        ? (this.#controller.signal.reason as Error)
        : (this.#feedError ?? (this.#firstFailure && new ItemsFailedError(this.#failed, this.#fed, this.#firstFailure.error.message)));
    this.#emitter.emit({
      type: 'run_end',
      status,
      durationMs,
      error: error ? toErrorInfo(error) : undefined,
      failedNode: this.#firstFailure?.stage,
      suspended: undefined,
      meta: new Meta().snapshot(),
      metrics: this.#metrics(),
      items,
    });
    this.#bus.close();
    this.#stream?.close();
    const summary: BatchSummary = { runId: this.runId, pipeline: this.#pipeline.name, status, error, durationMs, ...items };
    if (this.#dashboards.length > 0) {
      const last = this.snapshot();
      for (const d of this.#dashboards) {
        guarded(() => d.onUpdate(last), 'a dashboard\'s onUpdate');
        guarded(() => d.onFinish?.(last, summary), 'a dashboard\'s onFinish');
      }
    }
    const outcomes = this.#outcomes;
    return {
      ...summary,
      results: outcomes.flatMap((o) => (o.status === 'completed' ? [o.value] : [])),
      items: outcomes,
      failures: this.#failures,
    };
  }

  #resolveDashboards(): Dashboard[] {
    const { dashboard, progress } = this.#pipeline.options;
    const list: Dashboard[] = [];
    if (progress === true) list.push(resolveDashboard('progress'));
    else if (progress) list.push(progress);
    if (typeof dashboard === 'string') list.push(resolveDashboard(dashboard));
    else if (dashboard) list.push(dashboard);
    return list;
  }

  /** How the items fed so far stand (a store reads it with each heartbeat). */
  #counts(): ItemCounts {
    return { fed: this.#fed, completed: this.#completed, failed: this.#failed, skipped: this.#skipped };
  }

  #metrics(): RunMetrics {
    const steps: Record<string, StepLatency> = {};
    for (const stage of this.#stages) {
      stage.def.tasks.forEach((task, t) => {
        const { attempts, succeeded, failed, totalMs, maxMs } = stage.tallies[t] as Tally;
        steps[`${stage.def.name}/${task.name}`] = { attempts, succeeded, failed, totalMs, maxMs };
      });
    }
    return { steps, barriers: {}, maps: {}, peakQueueDepth: 0, tokens: {} };
  }

  // ---- workers -------------------------------------------------------------

  /**
   * A worker: takes items from its stage's queue until the queue closes. It runs by
   * callback rather than as an async function: an item whose tasks settle at once goes
   * straight on to the next, and an item that waits (on its task's promise, a
   * concurrency limit, a full next stage, a turn of the event loop) is taken up where it
   * waited by the callback that wait calls. Per task that costs the task's own promise
   * and one reaction on it: no promise of the engine's, no await.
   */
  #work(stage: StageState, slot: Slot): Promise<void> {
    return new Promise<void>((finished, broke) => {
      const def = stage.def;
      const tasks = def.tasks.length;
      const { link } = slot;
      // An imported binding is read through its module cell, with a check that it is initialized, at each use:
      // the loop's one import is read once here.
      const due = turnDue;
      /** Some task of the stage has a concurrency limit. */
      const limited = stage.limits.some((limit) => limit !== undefined);
      // The item in hand is slot.entry (set by #begin, cleared by #end): kept once, not also here, as each
      // store of a new item into a long-lived object costs a write barrier's slow path.
      let value: unknown;
      let t = 0;
      let failure: Failure | undefined;
      /** When the fast path's current observed attempt started (-1: untimed), and its options (the observer is told them). */
      let started = -1;
      let observed: ExecuteOptions | undefined;

      /**
       * Runs the task at `t`: true when it ended at once (its result taken), false when a
       * callback will take it. A task that can take the fast path (see `SlotRun.fast`) runs
       * its first attempt here, as `executeInto` would, without the executor's per-attempt
       * objects: one `.then` with this worker's own handlers. A failure goes on in the
       * executor (`afterFailedAttempt`), as does every task that cannot take it.
       */
      const runTask = (): boolean => {
        const run = slot.runs[t] as SlotRun;
        const tally = stage.tallies[t] as Tally;
        slot.task = run.name;
        slot.taskIndex = t;
        slot.tally = tally;
        // (The batch's signal aborts only in shutdown(), right after #cancelled is set: the flag is the cheaper read.)
        const { telemetry } = slot.entry as Entry;
        if (run.fast !== undefined && !this.#cancelled) {
          if (telemetry !== undefined || !run.quiet) return observedAttempt(run, telemetry);
          // What the worker's observer does at the start of attempt 1 for an item without telemetry when no one takes task_start.
          tally.attempts++;
          let work: unknown;
          try {
            work = run.fast(value);
          } catch (error) {
            failed(error);
            return false;
          }
          if (!(work instanceof Promise)) {
            // What the observer does at a success no one times, for an item without telemetry when no one takes task_end.
            tally.succeeded++;
            succeeded(work);
            return true;
          }
          return pending(work, fastValue);
        }
        slot.taskKey = run.key;
        slot.input = value;
        const outcome = executeInto(run.attempt, telemetry ? run.recorded : run.options, settled);
        if (outcome === undefined) return false;
        taskEnded(outcome);
        return true;
      };
      /**
       * The fast path for an attempt someone observes (an item with telemetry, or task_start/task_end
       * listeners): as executeInto runs it, told to the observer, timed when the options say so, and
       * run within the item's task span for an item with telemetry.
       */
      const observedAttempt = (run: SlotRun, telemetry: ItemTelemetry | undefined): boolean => {
        slot.taskKey = run.key;
        const options = telemetry ? run.recorded : run.options;
        observed = options;
        if (slot.feed !== undefined && options.timed !== false) {
          // One clock reading for the attempt's start: its duration's, and its fed task_start's time
          // (the stretch's, when the batch shares them: the task's code runs next).
          started = slot.reading >= 0 ? slot.reading : performance.now();
          slot.reading = -1;
          slot.clock = started;
          slot.observer.start(1, options);
        } else {
          slot.observer.start(1, options);
          started = options.timed === false ? -1 : performance.now();
        }
        let work: unknown;
        try {
          work = telemetry ? telemetry.within(callFast) : (run.fast as (value: unknown) => unknown)(value);
        } catch (error) {
          failed(error);
          return false;
        }
        if (!(work instanceof Promise)) {
          slot.observer.end(1, 'succeeded', duration(), undefined, options);
          succeeded(work);
          return true;
        }
        return pending(work, observedValue);
      };
      /** The fast path's attempt is under way: `onValue` takes its result (false: a callback will), unless the batch was cancelled meanwhile. */
      const pending = (work: Promise<unknown>, onValue: (result: unknown) => void): false => {
        if (this.#cancelled) {
          work.catch(() => {});
          failed(undefined);
          return false;
        }
        link.add(aborted);
        work.then(onValue, fastError);
        return false;
      };
      /** The task at `t` succeeded with `result`. */
      const succeeded = (result: unknown): void => {
        if (limited) stage.limits[t]?.release();
        slot.taskStatus = undefined;
        value = result;
        t++;
      };
      const taskEnded = (outcome: Outcome<unknown>): void => {
        if (outcome.status === 'succeeded') {
          succeeded(outcome.value);
          return;
        }
        stage.limits[t]?.release();
        slot.taskStatus = undefined;
        failure = { task: (slot.runs[t] as SlotRun).name, error: outcome.error, attempts: outcome.attempts };
        t++;
      };
      /** Runs the item's tasks from `t` on, then ends it. True when it ended without waiting. */
      const tasksFrom = (): boolean => {
        while (t < tasks && !failure) {
          const limit = limited ? stage.limits[t] : undefined;
          if (limit) {
            const waiting = limit.acquire();
            if (waiting) {
              waiting.then(admitted);
              return false;
            }
          }
          if (!runTask()) return false;
        }
        const waiting = this.#end(stage, slot, slot.entry as Entry, value, failure);
        if (!waiting) return true;
        waiting.then(loop); // backpressure: the worker waits while the next stage (or the stream) is full
        return false;
      };
      /** A worker took an item: true when it ended (or was skipped) without waiting. */
      const item = (taken: Entry): boolean => {
        if (this.#begin(stage, slot, taken)) return true; // skipped
        value = taken.value;
        failure = undefined;
        t = 0;
        return tasksFrom();
      };
      /** Takes items and runs them while nothing waits; returns once something does (its callback goes on). */
      const run = (): void => {
        for (;;) {
          // Tasks that return at once never make a worker wait: timers, I/O and signals must still get their turn.
          if (due()) {
            nextTurn().then(loop);
            return;
          }
          const taken = stage.queue.poll();
          if (taken === undefined) {
            const later = stage.queue.wait();
            if (later === undefined) {
              finished();
              return;
            }
            // Busy time is read only when a worker goes idle or wakes, not per item.
            slot.busyMs += performance.now() - slot.busySince;
            slot.busySince = 0;
            later.then(woken);
            return;
          }
          if (!item(taken)) return;
        }
      };
      // The callbacks a worker goes on from. The engine's own bug must fail the batch's join(),
      // as an async worker's would, not escape as an unhandled rejection: each catches and says so.
      const loop = (): void => {
        slot.reading = -1; // a new stretch (as at each callback a worker goes on from)
        try {
          run();
        } catch (error) {
          broke(error);
        }
      };
      const woken = (taken: Entry | undefined): void => {
        slot.reading = -1;
        try {
          slot.busySince = performance.now();
          if (taken === undefined) finished();
          else if (item(taken)) run();
        } catch (error) {
          broke(error);
        }
      };
      const admitted = (): void => {
        slot.reading = -1;
        try {
          if (runTask() && tasksFrom()) run();
        } catch (error) {
          broke(error);
        }
      };
      /** `end(x)` takes the task's result (its outcome, or a success's value); then the item goes on with its next task. */
      const after = <T>(end: (x: T) => void, x: T): void => {
        try {
          end(x);
          if (tasksFrom()) run();
        } catch (error) {
          broke(error);
        }
      };
      const settled = (outcome: Outcome<unknown>): void => {
        slot.reading = -1; // (the executor's attempts read the clock themselves)
        after(taskEnded, outcome);
      };
      // The fast path's handlers, made once per worker. It runs one attempt at a time and arms
      // `link` with `aborted` while one is pending: whichever of the task's promise and the
      // batch's abort comes first disarms it and settles the attempt, the other finds it disarmed.
      const fastValue = (result: unknown): void => {
        if (!link.delete(aborted)) return;
        slot.tally.succeeded++; // as in runTask
        after(succeeded, result);
      };
      const observedValue = (result: unknown): void => {
        if (!link.delete(aborted)) return;
        try {
          slot.observer.end(1, 'succeeded', duration(), undefined, observed as ExecuteOptions);
        } catch (error) {
          broke(error);
          return;
        }
        after(succeeded, result);
      };
      const fastError = (error: unknown): void => {
        if (link.delete(aborted)) failed(error);
      };
      const aborted = (): void => {
        if (!link.delete(aborted)) return;
        // As in the executor: the attempt ends now, within whoever aborted; the worker goes on from a microtask of its own.
        const ended = goOn(undefined);
        queueMicrotask(() => ended.then(settled));
      };
      /** The fast path's attempt 1 failed (or the batch stopped while it ran): the executor goes on from there. */
      const failed = (error: unknown): void => {
        goOn(error).then(settled);
      };
      const goOn = (error: unknown): Promise<Outcome<unknown>> => {
        const run = slot.runs[t] as SlotRun;
        // What the executor's path sets for every task (its further attempts read them).
        slot.taskKey = run.key;
        slot.input = value;
        const recorded = (slot.entry as Entry).telemetry !== undefined;
        return afterFailedAttempt(run.attempt, recorded ? run.recorded : run.options, 1, error, duration());
      };
      /** The fast path's attempt's duration, as the executor measures it (0 when untimed: not observed, or not timed). */
      const duration = (): number => {
        const observed = (slot.entry as Entry).telemetry !== undefined || !(slot.runs[t] as SlotRun).quiet;
        if (!observed || started < 0) return 0;
        const at = performance.now();
        slot.clock = at; // the attempt's end, for the task event the observer is told of next
        if (this.#sharesReadings) slot.reading = at; // and for what this stretch tells the tracker after it
        return at - started;
      };
      /** The fast path's call of a task, for an item's telemetry to run within its task span. */
      const callFast = (): unknown => ((slot.runs[t] as SlotRun).fast as (value: unknown) => unknown)(value);
      loop();
    });
  }

  /** A worker took an item. Returns true when the stage's skip predicate skipped it. */
  #begin(stage: StageState, slot: Slot, entry: Entry): boolean {
    const def = stage.def;
    slot.entry = entry;
    stage.inProgress++;
    if (this.#hears.worker_state) this.#workerState(slot, 'busy');
    if (entry.telemetry || this.#statusHeard) this.#itemStatus(entry, def.name, 'in_progress', undefined, undefined, this.#reading(slot));
    const predicate = def.skip;
    if (predicate === undefined) return false;
    slot.reading = -1; // the user's predicate runs
    let skip: boolean;
    try {
      skip = Boolean(predicate(entry.value, entry));
    } catch (error) {
      // A throwing skip predicate fails the item here, like a failing task.
      stage.inProgress--;
      stage.failed++;
      slot.failed++;
      slot.entry = undefined;
      this.#fail(entry, undefined, error, entry.pass);
      this.#workerState(slot, 'idle');
      return true;
    }
    if (!skip) return false;
    stage.inProgress--;
    stage.skipped++;
    this.#settle(entry, 'skipped', { status: 'skipped', itemId: entry.id, index: entry.index, stage: def.name }, def.name, undefined);
    slot.entry = undefined;
    this.#workerState(slot, 'idle');
    return true;
  }

  /** The item's tasks are done: on to the next stage, back for a per-stage retry, or to its end. */
  #end(stage: StageState, slot: Slot, entry: Entry, value: unknown, failure: Failure | undefined): Promise<void> | undefined {
    const def = stage.def;
    stage.inProgress--;
    slot.task = undefined;
    slot.entry = undefined;
    let waiting: Promise<void> | undefined;
    if (!failure) {
      slot.processed++;
      if (def.onSuccess) {
        slot.reading = -1; // the user's callback runs
        this.#onSuccess(def, value, entry);
      }
      const next = stage.next;
      if (next && !this.#cancelled) {
        entry.value = value;
        entry.stage = next.index;
        entry.pass = 1;
        if (entry.telemetry || this.#statusHeard) this.#itemStatus(entry, next.def.name, 'queued', undefined, undefined, this.#reading(slot));
        waiting = next.queue.put(entry, entry.priority); // backpressure: the worker waits while the next stage is full
      } else if (next) {
        this.#fail(entry, undefined, this.#controller.signal.reason, 1);
      } else {
        // The outcome is made only for whoever keeps or streams it (its item id is a string made on demand).
        const outcome = this.#collect || this.#stream ? { status: 'completed' as const, itemId: entry.id, index: entry.index, value: value as Out } : undefined;
        this.#settle(entry, 'completed', outcome, def.name, undefined, undefined, this.#reading(slot));
        waiting = this.#stream?.room(); // a slow stream reader holds back the last stage, so memory stays bounded
      }
    } else if (def.retry.mode === 'stage' && !this.#cancelled && shouldRetry(def.retry, failure.error, entry.pass)) {
      // Per-stage retry: the item goes back through the whole stage after a delay.
      slot.failed++;
      const delayMs = backoffDelay(def.retry, entry.pass);
      this.#itemStatus(entry, def.name, 'retrying', failure.error); // on the pass that failed, as with per-task retry
      entry.pass++;
      this.#retryLater(stage, entry, delayMs);
    } else {
      stage.failed++;
      slot.failed++;
      this.#fail(entry, failure.task, failure.error, def.retry.mode === 'stage' ? entry.pass : failure.attempts);
    }
    if (this.#hears.worker_state) this.#workerState(slot, 'idle');
    return waiting;
  }

  // #end's callbacks are made here, not in #end: a closure there would make every call of it allocate a context.
  #onSuccess(def: StageDef, value: unknown, entry: Entry): void {
    const { onSuccess } = def;
    if (onSuccess) guarded(() => onSuccess(value, entry), `stage '${def.name}' onSuccess`);
  }

  /** Per-stage retry: the item goes back into its stage's queue after `delayMs`. */
  #retryLater(stage: StageState, entry: Entry, delayMs: number): void {
    const timer = setTimeout(() => {
      this.#retryTimers.delete(timer);
      this.#itemStatus(entry, stage.def.name, 'queued', undefined);
      stage.queue.force(entry, entry.priority);
    }, delayMs);
    this.#retryTimers.set(timer, entry);
  }

  #fail(entry: Entry, task: string | undefined, error: unknown, attempts: number): void {
    const stage = this.#stages[entry.stage]?.def;
    const failure: FailedItem = {
      itemId: entry.id,
      index: entry.index,
      stage: stage?.name ?? '',
      task,
      error: toErrorInfo(error),
      attempts,
      metadata: entry.metadata,
    };
    const type = errorTypeOf(error);
    this.#byType[type] = (this.#byType[type] ?? 0) + 1;
    this.#byStage[failure.stage] = (this.#byStage[failure.stage] ?? 0) + 1;
    this.#firstFailure ??= failure;
    this.#recording?.itemFailed?.(this.runId, failure, now());
    if (this.#collect) this.#failures.push(failure);
    this.#recent.push(failure);
    if (this.#recent.length > (this.#pipeline.options.recentErrors ?? 50)) this.#recent.shift();
    const onFailure = stage?.onFailure;
    if (onFailure) guarded(() => onFailure(failure, entry), `stage '${failure.stage}' onFailure`);
    this.#settle(entry, 'failed', { status: 'failed', itemId: entry.id, index: entry.index, failure }, failure.stage, error, failure);
  }

  /**
   * An item reached its end: count it, keep it, tell the stream and the event listeners.
   * `outcome` is undefined only for a completed item when results are not collected and no
   * stream is taken (nobody would read it).
   */
  #settle(
    entry: Entry,
    status: 'completed' | 'failed' | 'skipped',
    outcome: ItemOutcome<Out> | undefined,
    stage: string,
    error: unknown,
    failure?: FailedItem,
    at = -1,
  ): void {
    const ended = this.#stages[entry.stage]?.ended;
    if (status === 'completed') {
      this.#completed++;
      if (ended) ended.completed++;
    } else if (status === 'failed') {
      this.#failed++;
      if (ended) ended.failed++;
    } else {
      this.#skipped++;
      if (ended) ended.skipped++;
    }
    this.#inFlight--;
    if (outcome && this.#collect) this.#outcomes[entry.index] = outcome;
    this.#itemStatus(entry, stage, status, error, failure, at);
    if (outcome) this.#stream?.push(outcome);
    this.#checkDrained();
  }

  // ---- per-attempt plumbing ------------------------------------------------

  #slot(def: StageDef, worker: number): Slot {
    const slot: Slot = {
      stage: def.name,
      worker,
      observer: undefined as unknown as AttemptObserver,
      link: new AbortLink(this.#controller.signal),
      runs: [],
      entry: undefined,
      input: undefined,
      task: undefined,
      taskKey: '',
      taskIndex: 0,
      feed: this.#trackerFeed?.tasks,
      clock: -1,
      reading: -1,
      tally: newTally(),
      taskStatus: undefined,
      processed: 0,
      failed: 0,
      busyMs: 0,
      busySince: performance.now(),
    };
    slot.observer = this.#observer(slot);
    const emitter = this.#emitter;
    const link = slot.link;
    // A recorded item's task runs with its task span current, so the task's own spans nest under it.
    const enter = <R>(call: () => R): R => ((slot.entry as Entry).telemetry as ItemTelemetry).within(call);
    // Attempt durations feed task events (and run_end's run metrics): measured only for someone who takes
    // task events (telemetry does not; it reads no run metrics) or a recorded item's telemetry.
    const timed = this.#hears.task_end;
    slot.runs = def.tasks.map((task, t) => {
      const options: ExecuteOptions = {
        name: `${def.name}/${task.name}`,
        retry: def.retry.mode === 'stage' ? undefined : (task.retry ?? def.retry),
        timeoutMs: task.timeout ?? def.timeout,
        signal: this.#controller.signal,
        link,
        observer: slot.observer,
        enter: undefined,
        timed,
      };
      return {
        name: task.name,
        key: `${def.name}/${task.name}`,
        // A task declared with one parameter never sees its context: don't make one.
        attempt:
          task.run.length < 2
            ? () => (task.run as (value: unknown) => unknown)(slot.input)
            : (context: AttemptContext) => task.run(slot.input, new StageTaskContext(emitter, slot, slot.entry as Entry, task.name, t, context)),
        fast: options.timeoutMs === undefined && task.run.length < 2 ? (task.run as (value: unknown) => unknown) : undefined,
        quiet: !timed && !this.#hears.task_start,
        options,
        recorded: { ...options, enter, timed: true },
      };
    });
    return slot;
  }

  /** One observer per worker: it reads the worker's current item and task. */
  #observer(slot: Slot): AttemptObserver {
    const emitter = this.#emitter;
    const record = (durationMs: number, status: StepEndStatus) => {
      const tally = slot.tally;
      tally.totalMs += durationMs;
      if (durationMs > tally.maxMs) tally.maxMs = durationMs;
      if (status === 'succeeded') {
        tally.succeeded++;
        return;
      }
      tally.failed++;
      if (status === 'timed_out') tally.timedOut++;
      else if (status === 'cancelled') tally.cancelled++;
    };
    // Each task event goes to the tracker's feed when it takes them, else it is built and emitted.
    const feed = slot.feed;
    return {
      start: (attempt) => {
        const at = slot.clock;
        slot.clock = -1;
        slot.tally.attempts++;
        const entry = slot.entry as Entry;
        if (attempt > 1) this.#itemStatus(entry, slot.stage, 'in_progress', undefined);
        entry.telemetry?.taskStart(slot.taskKey, slot.stage, slot.worker, attempt);
        if (!this.#hears.task_start) return;
        if (feed) feed.start(entry, slot.taskIndex, attempt, slot.worker, at);
        else emitter.emit(taskStartEvent(emitter, 0, 0, entry.id, entry.index, slot.stage, slot.task ?? '', attempt, slot.worker));
      },
      retry: (attempt, error, delayMs, durationMs) => {
        const at = slot.clock;
        slot.clock = -1;
        record(durationMs, 'failed');
        const type = errorTypeOf(error);
        const retried = slot.tally.retried;
        retried.set(type, (retried.get(type) ?? 0) + 1);
        const entry = slot.entry as Entry;
        entry.telemetry?.taskRetry(slot.taskKey, attempt, error, delayMs, durationMs);
        if (feed) feed.retry(entry, slot.taskIndex, attempt, slot.worker, toErrorInfo(error), delayMs, durationMs, at);
        else if (this.#hears.task_retry) emitter.emit(taskRetryEvent(emitter, 0, 0, entry.id, entry.index, slot.stage, slot.task ?? '', attempt, slot.worker, toErrorInfo(error), delayMs, durationMs));
        this.#itemStatus(entry, slot.stage, 'retrying', error);
      },
      end: (attempt, status: StepEndStatus, durationMs, error) => {
        const at = slot.clock;
        slot.clock = -1;
        record(durationMs, status);
        const entry = slot.entry as Entry;
        entry.telemetry?.taskEnd(slot.taskKey, status, durationMs, error);
        if (!this.#hears.task_end) return;
        if (feed) feed.end(entry, slot.taskIndex, attempt, slot.worker, status, durationMs, attemptError(status, error), at);
        else emitter.emit(taskEndEvent(emitter, 0, 0, entry.id, entry.index, slot.stage, slot.task ?? '', attempt, slot.worker, status, durationMs, attemptError(status, error)));
      },
    };
  }

  /** The stretch's clock reading for a worker's event (taken now if it has none), or -1 when the batch does not share them. */
  #reading(slot: Slot): number {
    if (!this.#sharesReadings) return -1;
    if (slot.reading < 0) slot.reading = performance.now();
    return slot.reading;
  }

  /** An item's status changed: its telemetry and the event listeners hear of it (`at`: a reading of this moment, or -1). */
  #itemStatus(entry: Entry, stage: string, status: ItemStatus, error: unknown, failure?: FailedItem, at = -1): void {
    const telemetry = entry.telemetry;
    if (telemetry) {
      if (status === 'completed' || status === 'failed' || status === 'skipped') telemetry.end(status, stage, error);
      else telemetry.status(stage, status, entry.pass);
    }
    if (this.#trackerFeed) this.#trackerFeed.status(entry, stage, status, entry.pass, error, failure, at);
    if (!this.#hears.item_status) return;
    const info = failure === undefined && error !== undefined ? toErrorInfo(error) : undefined;
    this.#emitter.emit(itemStatusEvent(this.#emitter, 0, 0, entry.id, entry.index, stage, status, entry.pass, info, failure));
  }

  #workerState(slot: Slot, state: 'idle' | 'busy'): void {
    if (!this.#hears.worker_state) return;
    this.#emitter.emit({ type: 'worker_state', stage: slot.stage, worker: slot.worker, state, itemId: slot.entry?.id, task: slot.task });
  }
}


/** Items that completed the stage: what its workers processed. */
function completedIn(stage: StageState): number {
  let count = 0;
  for (const slot of stage.slots) count += slot.processed;
  return count;
}

/** Hands a batch's counts to telemetry's counters, by stage and task. */
function countStages(stages: readonly StageState[], visitor: CountVisitor): void {
  for (const stage of stages) {
    const { ended } = stage;
    if (ended.completed > 0) visitor.item(stage.def.name, 'completed', ended.completed);
    if (ended.failed > 0) visitor.item(stage.def.name, 'failed', ended.failed);
    if (ended.skipped > 0) visitor.item(stage.def.name, 'skipped', ended.skipped);
    stage.def.tasks.forEach((task, t) => {
      const tally = stage.tallies[t] as Tally;
      const key = `${stage.def.name}/${task.name}`;
      const failures = tally.failed - tally.timedOut - tally.cancelled;
      if (tally.succeeded > 0) visitor.attempt(key, 'success', tally.succeeded);
      if (failures > 0) visitor.attempt(key, 'failure', failures);
      if (tally.timedOut > 0) visitor.attempt(key, 'timeout', tally.timedOut);
      if (tally.cancelled > 0) visitor.attempt(key, 'cancellation', tally.cancelled);
      for (const [type, count] of tally.retried) visitor.retry(key, type, count);
    });
  }
}
