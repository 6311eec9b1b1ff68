import type { EventListener } from '../emitter.ts';
import type { ErrorInfo, EventType, ItemStatus, RunEndStatus, WorkerState } from '../events.ts';
import type { RetryPolicy } from '../executor.ts';
import type { RunObserver } from '../observe.ts';
import type { PersistOption } from '../persist.ts';
import type { Awaitable } from '../graph/types.ts';


/** What a task knows about the item it works on. */
export interface ItemInfo {
  readonly id: string;
  /** Feed position, from 0. */
  readonly index: number;
  readonly metadata: Readonly<Record<string, unknown>> | undefined;
  readonly priority: number;
}

export interface TaskContext {
  /** The batch's run id. */
  readonly runId: string;
  readonly item: ItemInfo;
  readonly stage: string;
  readonly task: string;
  /** 1 for the first attempt of this task on this item. */
  readonly attempt: number;
  /** Passes of this item through this stage (per-stage retry). */
  readonly stageAttempt: number;
  readonly worker: number;
  /** Fires on this attempt's timeout and on shutdown. Pass it to your I/O. */
  readonly signal: AbortSignal;
  /** Tells dashboards and the tracker what the task is doing right now. */
  setTaskStatus(text: string): void;
}

export type TaskFn<In, Out> = (value: In, context: TaskContext) => Awaitable<Out>;

export interface TaskSpec<In, Out> {
  readonly name: string;
  readonly run: TaskFn<In, Out>;
  /** Overrides the stage's per-task retry. */
  readonly retry?: number | RetryPolicy;
  /** Per attempt, in ms. Overrides the stage's timeout. */
  readonly timeout?: number;
  /** At most this many items in this task at once, across the stage's workers. */
  readonly concurrency?: number;
}

export type Task<In, Out> = TaskFn<In, Out> | TaskSpec<In, Out>;

/**
 * One task, or up to four run in order, each taking the previous one's output.
 * The middle types are `any`: a tuple cannot name them without a generic per task.
 */
// biome-ignore-start lint/suspicious/noExplicitAny: see above
export type Tasks<In, Out> =
  | Task<In, Out>
  | readonly [Task<In, Out>]
  | readonly [Task<In, any>, Task<any, Out>]
  | readonly [Task<In, any>, Task<any, any>, Task<any, Out>]
  | readonly [Task<In, any>, Task<any, any>, Task<any, any>, Task<any, Out>];
// biome-ignore-end lint/suspicious/noExplicitAny: see above

/** `task` (default): each task retries on its own. `stage`: a failed item goes back through the whole stage after a delay. */
export type RetryMode = 'task' | 'stage';

export interface StageRetry extends RetryPolicy {
  readonly mode?: RetryMode;
}

export interface StageOptions<In, Out> {
  /** Items worked on at once in this stage. Default 1. */
  readonly workers?: number;
  readonly tasks: Tasks<In, Out>;
  /** A number is the count of attempts per task. */
  readonly retry?: number | StageRetry;
  /** Per task attempt, in ms: the task's signal fires and the attempt ends `timed_out`. */
  readonly timeout?: number;
  /** Items for which this returns true skip the rest of the pipeline and end `skipped`. */
  readonly skip?: (value: In, item: ItemInfo) => boolean;
  readonly onSuccess?: (value: Out, item: ItemInfo) => void;
  readonly onFailure?: (failure: FailedItem, item: ItemInfo) => void;
  /** Items waiting in this stage's queue before feeding (or the stage before) waits. Default workers × 4. */
  readonly capacity?: number;
}

export interface StagePipelineOptions {
  /** Keep every item's outcome for `run()`'s result. Default true; turn off for unbounded streams. */
  readonly collectResults?: boolean;
  /** Called synchronously with every event of every batch. */
  readonly onEvent?: EventListener;
  /**
   * A StatusTracker fed with the events of every batch (those in its `types`, or every event when it has none).
   * A StatusTracker without callbacks, in a batch where no one else takes its event types, is handed the
   * events' fields instead of events (they are not built): it knows the same, its history included.
   */
  readonly tracker?: { readonly observe: EventListener; readonly types?: ReadonlySet<EventType> };
  /** A live view polled at `updateInterval`: a dashboard object, or a name from `spanflow/console`. */
  readonly dashboard?: Dashboard | DashboardName;
  /** A progress bar (`true`, from `spanflow/console`) or any dashboard object. */
  readonly progress?: boolean | Dashboard;
  /** How often dashboards are updated, in ms. Default 250. */
  readonly updateInterval?: number;
  /** Recent failures kept for snapshots' error summary. Default 50. */
  readonly recentErrors?: number;
  readonly meta?: Readonly<Record<string, unknown>>;
  /** Store every batch as a run: `true` for the default store (`spanflow/postgres`), or a store. */
  readonly persist?: PersistOption;
  /** Show every batch live, e.g. over HTTP: `observe: live` with `live = new LiveRuns()` from `spanflow/http`. */
  readonly observe?: RunObserver;
}

export type DashboardName = 'compact' | 'detailed' | 'full';

/** A custom dashboard: called before feeding starts, every `updateInterval`, and once at the end. */
export interface Dashboard {
  onStart?(snapshot: PipelineSnapshot): void;
  onUpdate(snapshot: PipelineSnapshot): void;
  onFinish?(snapshot: PipelineSnapshot, result: BatchSummary): void;
}

export interface FeedOptions {
  /** Feed into this stage instead of the first. */
  readonly stage?: string;
  /** Lower runs first; first-in first-out within one priority. Default 0. */
  readonly priority?: number;
}

export interface FailedItem {
  readonly itemId: string;
  readonly index: number;
  readonly stage: string;
  readonly task: string | undefined;
  readonly error: ErrorInfo;
  /** Attempts of the failing task (or passes through the stage, with per-stage retry). */
  readonly attempts: number;
  readonly metadata: Readonly<Record<string, unknown>> | undefined;
}

export type ItemOutcome<Out> =
  | { readonly status: 'completed'; readonly itemId: string; readonly index: number; readonly value: Out }
  | { readonly status: 'failed'; readonly itemId: string; readonly index: number; readonly failure: FailedItem }
  | { readonly status: 'skipped'; readonly itemId: string; readonly index: number; readonly stage: string };

export interface ErrorSummary {
  readonly total: number;
  readonly byType: Readonly<Record<string, number>>;
  readonly byStage: Readonly<Record<string, number>>;
  /** The most recent failures, newest last. */
  readonly recent: readonly FailedItem[];
}

export interface WorkerSnapshot {
  readonly stage: string;
  readonly worker: number;
  readonly state: WorkerState;
  readonly itemId: string | undefined;
  readonly task: string | undefined;
  readonly taskStatus: string | undefined;
  readonly processed: number;
  readonly failed: number;
  readonly avgMs: number;
}

export interface StageSnapshot {
  readonly name: string;
  readonly workers: number;
  readonly capacity: number;
  /** Waiting for a worker: in the queue, plus items blocked on a full queue. */
  readonly pending: number;
  /** In the queue itself (never more than `capacity`). */
  readonly queued: number;
  readonly inProgress: number;
  readonly completed: number;
  readonly failed: number;
  readonly skipped: number;
}

export interface PipelineSnapshot {
  readonly pipeline: string;
  readonly runId: string;
  /** Epoch ms. */
  readonly timestamp: number;
  readonly elapsedMs: number;
  readonly running: boolean;
  readonly workers: readonly WorkerSnapshot[];
  readonly stats: {
    /** Items known to be coming: the length of arrays given to `feed` / `run`, or `fed` when unknown. */
    readonly expected: number;
    readonly fed: number;
    /** Through every stage. */
    readonly completed: number;
    readonly failed: number;
    readonly skipped: number;
    readonly inFlight: number;
    readonly queueSizes: Readonly<Record<string, number>>;
    readonly stages: readonly StageSnapshot[];
  };
  readonly errors: ErrorSummary;
}

export interface BatchSummary {
  readonly runId: string;
  readonly pipeline: string;
  /** `failed` when any item failed or a feed source threw; `cancelled` after `shutdown()`. */
  readonly status: RunEndStatus;
  /**
   * Why the batch did not succeed, as its `run_end` event names it: a `FeedError` when a feed
   * source threw (its `cause` is the source's error), else an `ItemsFailedError` when items
   * failed, the `CancelledError` after `shutdown()`; undefined on success.
   */
  readonly error: Error | undefined;
  readonly durationMs: number;
  readonly fed: number;
  readonly completed: number;
  readonly failed: number;
  readonly skipped: number;
}

export interface BatchResult<Out> extends BatchSummary {
  /** Values of completed items, in input order (empty with `collectResults: false`). */
  readonly results: Out[];
  /** Every item's outcome, in input order (empty with `collectResults: false`). */
  readonly items: ItemOutcome<Out>[];
  /** Every failed item (empty with `collectResults: false`: use `onFailure`, a tracker or the stream). */
  readonly failures: FailedItem[];
}

export type { ItemStatus };
