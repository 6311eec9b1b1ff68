import type { BarrierMode, MetaSnapshot, NodeKind, RunEndStatus, RunMetrics } from '../events.ts';
import type { ErrorAction, RetryOption } from '../executor.ts';
import type { EventListener } from '../emitter.ts';
import type { Meta, MetaScopes } from '../meta.ts';
import type { RunObserver } from '../observe.ts';
import type { PersistOption } from '../persist.ts';

export type Awaitable<T> = T | Promise<T>;

/** Returned by a switch (or used as a route's target) to end that branch: nothing after the switch runs. */
export const STOP: unique symbol = Symbol.for('spanflow.stop');
export type Stop = typeof STOP;

/** Returned by a step (`return suspend('waiting for approval')`) to suspend the run. */
export class Suspension {
  readonly reason: string | undefined;
  constructor(reason?: string) {
    this.reason = reason;
  }
}

/**
 * What every step, map producer, switch and error handler is given. Read or
 * destructure its fields (`({ state, signal }) => …`); they are getters, made
 * when read, so spreading it (`{ ...args }`) copies none of them.
 */
export interface StepArgs<S, C, I = undefined> {
  /** The run's state: one object per run, shared by its steps. */
  readonly state: S;
  /** The run's context: shared resources given to `run()` (clients, pools). */
  readonly context: C;
  /** Fires when this attempt times out or the run is cancelled. Pass it to your I/O. */
  readonly signal: AbortSignal;
  /** 1 for the first attempt. */
  readonly attempt: number;
  readonly node: string;
  readonly runId: string;
  /** The item, in a map worker. */
  readonly item: I;
  /** The item's position, in a map worker. */
  readonly index: number | undefined;
  /** The meta protocol: `step` and `run` scopes to write, `pipeline` to read. */
  readonly meta: MetaScopes;
  /** The value an earlier step returned (a map: its workers' results in input order). */
  output<T = unknown>(node: string): T | undefined;
  /** Suspends the run after this step: `return suspend('reason')`. Resume with `resumeFrom`. */
  suspend(reason?: string): Suspension;
}

export type StepFn<S, C, I = undefined> = (args: StepArgs<S, C, I>) => Awaitable<unknown> | AsyncIterable<unknown>;
export type ItemsFn<S, C, T> = (args: StepArgs<S, C>) => Awaitable<Iterable<T> | AsyncIterable<T>>;
export type DecideFn<S, C> = (args: StepArgs<S, C>) => Awaitable<string | Stop>;

export interface ErrorArgs<S, C> {
  readonly node: string;
  readonly attempt: number;
  readonly index: number | undefined;
  readonly state: S;
  readonly context: C;
  readonly runId: string;
}
export type ErrorHandler<S, C> = (error: unknown, args: ErrorArgs<S, C>) => Awaitable<ErrorAction>;

export interface HookArgs<S, C> {
  readonly state: S;
  readonly context: C;
  readonly runId: string;
  /** Startup hooks: the run's signal (cancellation, run timeout). Shutdown hooks: one that never fires, since shutdown always runs to the end. */
  readonly signal: AbortSignal;
  readonly meta: { readonly run: Meta; readonly pipeline: Readonly<Record<string, unknown>> };
}
export type HookFn<S, C> = (args: HookArgs<S, C>) => Awaitable<void>;

export interface CommonOptions<S, C> {
  /** Attempts and backoff. A number is the count of attempts. */
  readonly retry?: RetryOption;
  /** Per attempt, in ms: the step's signal fires and the step ends `timed_out`. */
  readonly timeout?: number;
  /** Decides what happens once retries are exhausted. Overrides the pipeline's handler. */
  readonly onError?: ErrorHandler<S, C>;
  readonly description?: string;
}

export type Targets = string | readonly string[];

export interface StepOptions<S, C> extends CommonOptions<S, C> {
  /** The steps that run after this one. Several run concurrently (fan-out). */
  readonly to?: Targets;
}

export interface BarrierOptions<S, C> extends StepOptions<S, C> {
  /** `all` (default) waits for every parent that can still arrive; `any` runs on the first. */
  readonly mode?: BarrierMode;
  /** How long to wait after the first parent arrives, in ms, before failing `timed_out`. */
  readonly barrierTimeout?: number;
}

export interface MapOptions<S, C> extends StepOptions<S, C> {
  /** The step that runs once per item. It has no `to` of its own. */
  readonly worker: string;
  /** Items in flight at once. Default 8. */
  readonly concurrency?: number;
  /** More items than this fails the map with a clear error, rather than running without end. */
  readonly maxItems?: number;
}

export interface SwitchOptions<S, C> extends CommonOptions<S, C> {
  /** Route name -> target step (or `STOP`). Without it, the switch returns a target's name. */
  readonly routes?: Readonly<Record<string, string | Stop>>;
  /** Where a route missing from `routes` goes. Without it, such a route fails the switch. */
  readonly default?: string | Stop;
  /** Without `routes`: the steps the switch may return. */
  readonly to?: Targets;
}

export interface SubOptions<S, C, S2, C2> extends StepOptions<S, C> {
  /** The child run's state, made from the parent's. */
  readonly state: (args: StepArgs<S, C>) => Awaitable<S2>;
  /** The child run's context. Default: the parent's. */
  readonly context?: (args: StepArgs<S, C>) => C2;
  /** Takes the child's result back into the parent (it is also this step's output). */
  readonly onResult?: (result: RunResult<S2>, args: StepArgs<S, C>) => Awaitable<void>;
}

export interface PipelineOptions<S, C> {
  /** Pipeline-scope meta: read-only, visible to every step (version, team, region...). */
  readonly meta?: Readonly<Record<string, unknown>>;
  /** Handles errors of steps that have no handler of their own. */
  readonly onError?: ErrorHandler<S, C>;
  /** Most steps of one run in flight at once (map items have their own `concurrency`). Default: no limit. */
  readonly maxConcurrency?: number;
  readonly description?: string;
  /** Store every run (with its sub-pipelines' runs): `true` for the default store (`spanflow/postgres`), or a store. */
  readonly persist?: PersistOption;
  /** Show every run live, e.g. over HTTP: `observe: live` with `live = new LiveRuns()` from `spanflow/http`. */
  readonly observe?: RunObserver;
  /** Make every run durable (see `RunOptions.durable`). */
  readonly durable?: boolean;
  /**
   * The pipeline's version, for changes its definition hash cannot see (the
   * code inside a step): `resume()` refuses a run stored under another version.
   */
  readonly version?: string;
}

interface RunOptionsBase {
  /** Cancels the run: every step's signal fires, the run ends `cancelled`, shutdown hooks still run. */
  readonly signal?: AbortSignal;
  /** The whole run, in ms: it ends `timed_out`. */
  readonly timeout?: number;
  /** Start at this step instead of the root (after a suspension). Steps before it do not run. */
  readonly resumeFrom?: string;
  /** Outputs of steps that ran before (a suspended run's `result.outputs`), readable through `output()` when resuming. */
  readonly outputs?: Readonly<Record<string, unknown>>;
  /** Use this id instead of a random UUID. */
  readonly runId?: string;
  /** Called synchronously with every event, this run's and its sub-pipelines'. */
  readonly onEvent?: EventListener;
  /** Events an iterating reader may fall behind by before token and map producers wait. Default 1024. */
  readonly eventBuffer?: number;
  /** Store this run: `true` for the default store (`spanflow/postgres`), a store, or `false`. Overrides the pipeline's. */
  readonly persist?: PersistOption;
  /** Show this run live, e.g. over HTTP (`new LiveRuns()` from `spanflow/http`). Overrides the pipeline's. */
  readonly observe?: RunObserver;
  /**
   * Store checkpoints (the initial state, each completed step's output and the
   * state after it, switch routes, child runs), so that `resume()` carries the
   * run on after its process died and `retry()` reruns only its failed steps.
   * Implies `persist` (a store that keeps checkpoints: spanflow/postgres).
   * Outputs and state must be JSON values: one that is not fails its step.
   */
  readonly durable?: boolean;
  /**
   * Stop gracefully on these process signals (e.g. `['SIGTERM', 'SIGINT']`):
   * the first one cancels the run (shutdown hooks run), its store writes what
   * is left for up to 10 s (a database that is away does not hold the process
   * past that: what is not written is named in a warning), then the signal is
   * raised again so the process ends as it would have. A second signal ends it
   * at once. Default: no listener (a signal ends the process at once, and a
   * persisted run is left `running`).
   */
  readonly shutdownOn?: readonly NodeJS.Signals[];
}

/** A `context` is required when the pipeline's context type is not `undefined`. */
export type RunOptions<C> = RunOptionsBase & (undefined extends C ? { readonly context?: C } : { readonly context: C });

export interface RunResult<S> {
  readonly runId: string;
  readonly pipeline: string;
  readonly status: RunEndStatus;
  readonly state: S;
  /** What each step returned, by step name. */
  readonly outputs: Readonly<Record<string, unknown>>;
  /** Why the run did not succeed. */
  readonly error: Error | undefined;
  /** The step whose failure or timeout ended the run. */
  readonly failedNode: string | undefined;
  readonly suspended: { readonly node: string; readonly reason: string | undefined } | undefined;
  readonly durationMs: number;
  readonly meta: MetaSnapshot;
  readonly metrics: RunMetrics;
}

// ---- the stored definition ---------------------------------------------

interface NodeBase<S, C> {
  readonly name: string;
  readonly kind: NodeKind;
  readonly to: readonly string[];
  readonly retry: RetryOption | undefined;
  readonly timeout: number | undefined;
  readonly onError: ErrorHandler<S, C> | undefined;
  readonly description: string | undefined;
}

export interface StepNode<S, C> extends NodeBase<S, C> {
  readonly kind: 'step';
  readonly fn: StepFn<S, C, unknown>;
  readonly streaming: boolean;
}
export interface BarrierNode<S, C> extends NodeBase<S, C> {
  readonly kind: 'barrier';
  readonly fn: StepFn<S, C, unknown>;
  readonly streaming: boolean;
  readonly mode: BarrierMode;
  readonly barrierTimeout: number | undefined;
}
export interface MapNode<S, C> extends NodeBase<S, C> {
  readonly kind: 'map';
  readonly fn: ItemsFn<S, C, unknown>;
  readonly worker: string;
  readonly concurrency: number;
  readonly maxItems: number | undefined;
}
export interface SwitchNode<S, C> extends NodeBase<S, C> {
  readonly kind: 'switch';
  readonly fn: DecideFn<S, C>;
  readonly routes: Readonly<Record<string, string | Stop>> | undefined;
  readonly default: string | Stop | undefined;
}
export interface SubNode<S, C> extends NodeBase<S, C> {
  readonly kind: 'sub';
  /** The child pipeline (a `Pipeline`, typed loosely here to keep the graph one type). */
  readonly child: ChildPipeline;
  readonly state: (args: StepArgs<S, C>) => Awaitable<unknown>;
  readonly context: ((args: StepArgs<S, C>) => unknown) | undefined;
  readonly onResult: ((result: RunResult<unknown>, args: StepArgs<S, C>) => Awaitable<void>) | undefined;
  /** Set by `withSteps` in tests: replaces the child run. */
  readonly fn: StepFn<S, C, unknown> | undefined;
}

export type GraphNode<S, C> = StepNode<S, C> | BarrierNode<S, C> | MapNode<S, C> | SwitchNode<S, C> | SubNode<S, C>;

/** What a sub-pipeline node needs of its child; `Pipeline` implements it. */
export interface ChildPipeline {
  readonly name: string;
  /** @internal */
  readonly graph: unknown;
}

export interface Hook<S, C> {
  readonly name: string;
  readonly fn: HookFn<S, C>;
}

/** Options of `resume()` and `retry()`: the context again (it is never stored), and where the run is stored. */
interface CarryOnOptionsBase {
  /** The store the run is in. Default: the pipeline's `persist` (else the default store). */
  readonly store?: PersistOption;
  readonly signal?: AbortSignal;
  /** The whole run, in ms. A resumed run's counts from its first start. */
  readonly timeout?: number;
  readonly onEvent?: EventListener;
  readonly shutdownOn?: readonly NodeJS.Signals[];
}

export interface ResumeOptionsBase extends CarryOnOptionsBase {
  /** Resume even though the pipeline's definition hash or `version` differs from the stored run's. */
  readonly force?: boolean;
}

export interface RetryOptionsBase extends CarryOnOptionsBase {
  /** Per-attempt timeouts to use instead of the definition's, by step name (in this pipeline or its sub-pipelines). */
  readonly timeouts?: Readonly<Record<string, number>>;
}

type WithContext<C> = undefined extends C ? { readonly context?: C } : { readonly context: C };
export type ResumeOptions<C> = ResumeOptionsBase & WithContext<C>;
export type RetryOptions<C> = RetryOptionsBase & WithContext<C>;
