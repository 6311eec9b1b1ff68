// The one vocabulary: every status change of a run or a step is one of these
// events. Spans, metrics, persisted rows and dashboards are all derived from
// this union; no second list of states exists anywhere else.

export const RUN_STATUSES = ['pending', 'running', 'succeeded', 'failed', 'timed_out', 'cancelled', 'suspended'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
/** The statuses a finished run can have. */
export type RunEndStatus = Exclude<RunStatus, 'pending' | 'running'>;

export const STEP_STATUSES = ['queued', 'running', 'retrying', 'succeeded', 'failed', 'timed_out', 'skipped', 'cancelled'] as const;
export type StepStatus = (typeof STEP_STATUSES)[number];
/** The statuses a finished step attempt (or a step that never ran) can have. */
export type StepEndStatus = Exclude<StepStatus, 'queued' | 'running' | 'retrying'>;

/** Where an item stands in a stage pipeline. `completed`, `failed` and `skipped` are final. */
export const ITEM_STATUSES = ['queued', 'in_progress', 'retrying', 'completed', 'failed', 'skipped'] as const;
export type ItemStatus = (typeof ITEM_STATUSES)[number];

export const WORKER_STATES = ['idle', 'busy'] as const;
export type WorkerState = (typeof WORKER_STATES)[number];

export const NODE_KINDS = ['step', 'map', 'switch', 'sub', 'barrier'] as const;
export type NodeKind = (typeof NODE_KINDS)[number];

export type BarrierMode = 'all' | 'any';
export type HookPhase = 'startup' | 'shutdown';

/** An error as it travels in events: plain data, safe to serialize. */
export interface ErrorInfo {
  /** The error's class name (e.g. `TypeError`, `StepTimeoutError`). */
  readonly type: string;
  readonly message: string;
  readonly stack?: string | undefined;
  /** The error it wraps (`error.cause`), when it has one: a step's failure keeps the error that caused it. */
  readonly cause?: ErrorInfo | undefined;
}

/** What the meta protocol collected in one scope (a step attempt or a run). */
export interface MetaSnapshot {
  readonly data: Readonly<Record<string, unknown>>;
  readonly tags: readonly string[];
  readonly metrics: Readonly<Record<string, readonly number[]>>;
  readonly counters: Readonly<Record<string, number>>;
}

export interface StepLatency {
  readonly attempts: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly totalMs: number;
  readonly maxMs: number;
}

/** Run metrics, carried by the `run_end` event and the run result. */
export interface RunMetrics {
  /**
   * Per node: attempts and their latency. Map workers count once per item attempt; their latency is
   * measured only in a run with a listener or telemetry (else their totalMs and maxMs are 0).
   */
  readonly steps: Readonly<Record<string, StepLatency>>;
  /** Per barrier: how long it waited from the first arrival to its release. */
  readonly barriers: Readonly<Record<string, { readonly waitedMs: number; readonly arrived: readonly string[] }>>;
  /** Per map: how many items it ran and the most workers busy at once. */
  readonly maps: Readonly<Record<string, { readonly items: number; readonly peakWorkers: number }>>;
  /** The most steps that were queued (ready, not yet started) at once. */
  readonly peakQueueDepth: number;
  /** Tokens yielded per streaming step. */
  readonly tokens: Readonly<Record<string, number>>;
}

interface EventBase {
  readonly runId: string;
  /** The run that started this one as a sub-pipeline, if any. */
  readonly parentRunId: string | undefined;
  readonly pipeline: string;
  /** Position of the event within its run, from 1. */
  readonly seq: number;
  /** Epoch milliseconds, sub-millisecond precision. */
  readonly time: number;
}

interface NodeFields {
  readonly node: string;
  readonly nodeKind: NodeKind;
}

interface AttemptFields extends NodeFields {
  /** 1 for the first attempt. */
  readonly attempt: number;
  /** The item's position, for an attempt of a map worker. */
  readonly index: number | undefined;
}

/** The run was created and waits for its startup hooks. Status: pending. */
export interface RunQueuedEvent extends EventBase {
  readonly type: 'run_queued';
  /** A durable run that carries on from a stored one: resumed (the same run id) or retried (a new run), with the stored run's trace. */
  readonly continues?: RunContinuation | undefined;
}
/** What a resumed or retried run carries on from. */
export interface RunContinuation {
  /** `resume`: the same run, after its process died; `retry`: a new run from a failed one's failed steps. */
  readonly mode: 'resume' | 'retry';
  readonly runId: string;
  /** A span of the stored run's trace (trace id and span id), for a span link; absent when it ran without telemetry. */
  readonly traceId: string | undefined;
  readonly spanId: string | undefined;
}
/** Startup hooks are done; steps begin. Status: running. */
export interface RunStartEvent extends EventBase {
  readonly type: 'run_start';
  readonly resumeFrom: string | undefined;
  readonly pipelineMeta: Readonly<Record<string, unknown>>;
  /** The trace id of the run's span, when telemetry is on. */
  readonly traceId: string | undefined;
}
/** The run ended, after its shutdown hooks. */
export interface RunEndEvent extends EventBase {
  readonly type: 'run_end';
  readonly status: RunEndStatus;
  readonly durationMs: number;
  readonly error: ErrorInfo | undefined;
  /** The node whose failure ended the run, if one did. */
  readonly failedNode: string | undefined;
  readonly suspended: { readonly node: string; readonly reason: string | undefined } | undefined;
  readonly meta: MetaSnapshot;
  readonly metrics: RunMetrics;
  /** A stage pipeline's batch: how its items ended. */
  readonly items: ItemCounts | undefined;
}
export interface ItemCounts {
  readonly fed: number;
  readonly completed: number;
  readonly failed: number;
  readonly skipped: number;
}
export interface HookStartEvent extends EventBase {
  readonly type: 'hook_start';
  readonly hook: string;
  readonly phase: HookPhase;
}
export interface HookEndEvent extends EventBase {
  readonly type: 'hook_end';
  readonly hook: string;
  readonly phase: HookPhase;
  readonly status: 'succeeded' | 'failed';
  readonly durationMs: number;
  readonly error: ErrorInfo | undefined;
}
/** A step became ready to run. Status: queued. */
export interface StepQueuedEvent extends EventBase, NodeFields {
  readonly type: 'step_queued';
  readonly index: number | undefined;
}
/** An attempt began. Status: running. */
export interface StepStartEvent extends EventBase, AttemptFields {
  readonly type: 'step_start';
}
/** An attempt failed and another follows after `delayMs`. Status: retrying. */
export interface StepRetryEvent extends EventBase, AttemptFields {
  readonly type: 'step_retry';
  readonly error: ErrorInfo;
  readonly delayMs: number;
  /** How long the failed attempt ran. */
  readonly durationMs: number;
}
/** A step ended: its last attempt's outcome, or `skipped` when it never ran. */
export interface StepEndEvent extends EventBase, AttemptFields {
  readonly type: 'step_end';
  readonly status: StepEndStatus;
  readonly durationMs: number;
  readonly error: ErrorInfo | undefined;
  /** Why a step was skipped: `not-reached` (its branch was not taken) or `handler`. */
  readonly skipReason: 'not-reached' | 'handler' | undefined;
  readonly meta: MetaSnapshot | undefined;
  /** True when the step did not run: a resumed or retried durable run took its output from a checkpoint (`attempt` is the attempt that made it). */
  readonly restored?: true | undefined;
}
/** A streaming step yielded a token. */
export interface TokenEvent extends EventBase, AttemptFields {
  readonly type: 'token';
  /** Position of the token within its attempt, from 0. */
  readonly tokenIndex: number;
  readonly token: unknown;
}
/**
 * A join began to wait: once per join, when its first parent arrives and
 * others are still to come (an event per arrival, each naming every parent,
 * would cost O(N²) for a join of N parents). `barrier_release` says who came.
 */
export interface BarrierWaitEvent extends EventBase, NodeFields {
  readonly type: 'barrier_wait';
  readonly mode: BarrierMode;
  /** The parents that had arrived when it began to wait (the first one). */
  readonly arrived: readonly string[];
  /** The parents it still waited for then. */
  readonly waitingFor: readonly string[];
}
export interface BarrierReleaseEvent extends EventBase, NodeFields {
  readonly type: 'barrier_release';
  readonly mode: BarrierMode;
  readonly arrived: readonly string[];
  readonly waitedMs: number;
}
/** A map's producer is done; its items start flowing to the worker. */
export interface MapStartEvent extends EventBase, NodeFields {
  readonly type: 'map_start';
  readonly worker: string;
  readonly concurrency: number;
}
export interface MapEndEvent extends EventBase, NodeFields {
  readonly type: 'map_end';
  readonly worker: string;
  readonly items: number;
  readonly peakWorkers: number;
  readonly durationMs: number;
}
/** A switch chose a route. `targets` is empty when the route is `STOP`. */
export interface RouteEvent extends EventBase, NodeFields {
  readonly type: 'route';
  readonly route: string;
  readonly targets: readonly string[];
}

/**
 * A durable run stored what it needs to carry on (`durable: true`): its
 * initial state (`start`), a step's output and the state after it (`step`; a
 * map item's output only, with its `index`), or the child run a sub step
 * started (`child`). Values are JSON text, made by the one serializer.
 */
export interface CheckpointEvent extends EventBase {
  readonly type: 'checkpoint';
  readonly kind: 'start' | 'step' | 'child';
  readonly node: string | undefined;
  readonly nodeKind: NodeKind | undefined;
  readonly index: number | undefined;
  readonly attempt: number | undefined;
  /** The step's output (a switch's: its route) as JSON text. */
  readonly output: string | undefined;
  /** The run's state as JSON text: initially (`start`), or after the step. */
  readonly state: string | undefined;
  readonly childRunId: string | undefined;
  /** `start`: the pipeline's `version` option. */
  readonly version: string | undefined;
}

// ---- stage pipelines ------------------------------------------------------

interface ItemFields {
  /** The item's id: its feed position as a string, or the id given with `item(value, { id })`. */
  readonly itemId: string;
  /** Feed position, from 0. */
  readonly index: number;
  readonly stage: string;
}

interface TaskFields extends ItemFields {
  readonly task: string;
  /** 1 for the first attempt of this task on this item. */
  readonly attempt: number;
  /** The worker's number within its stage, from 0. */
  readonly worker: number;
}

/** An item changed status in a stage: queued, in_progress, retrying, or a final completed / failed / skipped. */
export interface ItemStatusEvent extends EventBase, ItemFields {
  readonly type: 'item_status';
  readonly status: ItemStatus;
  /** Passes through the stage so far (per-stage retry counts them). */
  readonly attempt: number;
  readonly error: ErrorInfo | undefined;
  /** On `failed`: the task that failed (absent when no task did: a skip predicate threw, or the batch stopped). */
  readonly task?: string | undefined;
  /** On `failed`: the attempts the item made (a task's attempts with per-task retry, passes with per-stage retry). */
  readonly attempts?: number;
}
export interface TaskStartEvent extends EventBase, TaskFields {
  readonly type: 'task_start';
}
export interface TaskRetryEvent extends EventBase, TaskFields {
  readonly type: 'task_retry';
  readonly error: ErrorInfo;
  readonly delayMs: number;
  /** How long the failed attempt ran. */
  readonly durationMs: number;
}
export interface TaskEndEvent extends EventBase, TaskFields {
  readonly type: 'task_end';
  readonly status: StepEndStatus;
  readonly durationMs: number;
  readonly error: ErrorInfo | undefined;
}
/** A task said what it is doing (`setTaskStatus`). */
export interface TaskStatusEvent extends EventBase, TaskFields {
  readonly type: 'task_status';
  readonly text: string;
}
export interface WorkerStateEvent extends EventBase {
  readonly type: 'worker_state';
  readonly stage: string;
  readonly worker: number;
  readonly state: WorkerState;
  readonly itemId: string | undefined;
  readonly task: string | undefined;
}

export type SpanflowEvent =
  | RunQueuedEvent
  | RunStartEvent
  | RunEndEvent
  | HookStartEvent
  | HookEndEvent
  | StepQueuedEvent
  | StepStartEvent
  | StepRetryEvent
  | StepEndEvent
  | TokenEvent
  | BarrierWaitEvent
  | BarrierReleaseEvent
  | MapStartEvent
  | MapEndEvent
  | RouteEvent
  | CheckpointEvent
  | ItemStatusEvent
  | TaskStartEvent
  | TaskRetryEvent
  | TaskEndEvent
  | TaskStatusEvent
  | WorkerStateEvent;

export type EventType = SpanflowEvent['type'];

/** Every event type, for listeners that name the ones they take. Checked against the union below. */
export const EVENT_TYPES = [
  'run_queued',
  'run_start',
  'run_end',
  'hook_start',
  'hook_end',
  'step_queued',
  'step_start',
  'step_retry',
  'step_end',
  'token',
  'barrier_wait',
  'barrier_release',
  'map_start',
  'map_end',
  'route',
  'checkpoint',
  'item_status',
  'task_start',
  'task_retry',
  'task_end',
  'task_status',
  'worker_state',
] as const satisfies readonly EventType[];
// A type missing from EVENT_TYPES fails type-checking here.
const everyTypeListed: [Exclude<EventType, (typeof EVENT_TYPES)[number]>] extends [never] ? true : never = true;
void everyTypeListed;
export type EventOf<T extends EventType> = Extract<SpanflowEvent, { type: T }>;
/** An event as an emitter receives it: the run fields are filled in by the bus. */
export type EventInit<T extends EventType = EventType> = T extends EventType
  ? Omit<EventOf<T>, keyof EventBase> & { readonly type: T }
  : never;

/** The run status an event moves its run to, if it is a run status change. */
export function runStatusOf(event: SpanflowEvent): RunStatus | undefined {
  switch (event.type) {
    case 'run_queued':
      return 'pending';
    case 'run_start':
      return 'running';
    case 'run_end':
      return event.status;
    default:
      return undefined;
  }
}

/** The step status an event moves its step to, if it is a step status change. */
export function stepStatusOf(event: SpanflowEvent): StepStatus | undefined {
  switch (event.type) {
    case 'step_queued':
      return 'queued';
    case 'step_start':
      return 'running';
    case 'step_retry':
      return 'retrying';
    case 'step_end':
      return event.status;
    default:
      return undefined;
  }
}

/**
 * The OpenTelemetry CICD semantic convention's result value for a run or
 * step status (`cicd.pipeline.result`, `cicd.pipeline.task.run.result`).
 */
export function cicdResultOf(status: RunEndStatus | StepEndStatus): 'success' | 'failure' | 'timeout' | 'cancellation' | 'skip' {
  switch (status) {
    case 'succeeded':
      return 'success';
    case 'failed':
      return 'failure';
    case 'timed_out':
      return 'timeout';
    case 'cancelled':
      return 'cancellation';
    case 'skipped':
    case 'suspended':
      return 'skip';
  }
}
