// One step's attempts (or one map item's): what the executor runs them under
// (the options) and which step it is (for telemetry), in one object per step;
// and what the executor reports them to (the observer: the run's latency
// tally, the attempt's span and metrics, and the step events for whoever
// listens), one for all steps.
// Telemetry is called directly rather than fed events, so a run with no other
// listener builds no per-step events at all.

import { attemptError, toErrorInfo } from '../errors.ts';
import type { RunEmitter } from '../emitter.ts';
import type { NodeKind, StepEndStatus } from '../events.ts';
import type { AttemptObserver, Dependents, ErrorAction, ExecuteOptions, RetryOption, UntimedContext } from '../executor.ts';
import { Meta, type MetaScopes } from '../meta.ts';
import type { Open, StepRef, Telemetry } from '../telemetry/index.ts';
import { GraphStepArgs, type SharedArgs } from './step-args.ts';

/**
 * A node's attempts and their latency: a plain object, which the run's metrics report as it
 * is once the run has ended (no copy per node per run).
 */
export interface LatencyTally {
  attempts: number;
  succeeded: number;
  failed: number;
  totalMs: number;
  maxMs: number;
}

export function newTally(): LatencyTally {
  return { attempts: 0, succeeded: 0, failed: 0, totalMs: 0, maxMs: 0 };
}

function addLatency(tally: LatencyTally, durationMs: number, ok: boolean): void {
  tally.totalMs += durationMs;
  if (durationMs > tally.maxMs) tally.maxMs = durationMs;
  if (ok) tally.succeeded++;
  else tally.failed++;
}

/** What every step of one run shares: its attempts' arguments read the run's part through it. */
export interface RunScope extends SharedArgs<unknown, unknown> {
  readonly emitter: RunEmitter;
  readonly telemetry: Telemetry | undefined;
  readonly runMeta: Meta;
  readonly pipelineMeta: Readonly<Record<string, unknown>>;
}

/** How a step's node is run: its name, kind and execution options (a graph node). */
export interface StepDef {
  readonly name: string;
  readonly kind: NodeKind;
  readonly retry?: RetryOption | undefined;
  readonly timeout?: number | undefined;
}

type OnError = ((error: unknown, attempt: number) => ErrorAction | Promise<ErrorAction>) | undefined;

/**
 * A step's (or map item's) attempts in one object: the options the executor runs them
 * under, the step's identity for telemetry, and its state between attempts (the open
 * span, its meta scope). The observer is one for all steps (`STEP_OBSERVER`): the
 * executor hands it these options. `N` is the node, kept for the run that settles the step.
 */
export class StepRun<N extends StepDef = StepDef> implements ExecuteOptions, StepRef {
  // ExecuteOptions (what the node says is read from it: a map makes one of these per item)
  readonly signal: AbortSignal;
  readonly onError: OnError;
  /** Set as each attempt starts: with its span current, when it has one (a run the sampler left out has none). */
  enter: (<R>(call: () => R) => R) | undefined = undefined;
  readonly firstAttempt: number | undefined;
  /** Whether the attempts' durations are measured (see `ExecuteOptions.timed`). */
  readonly timed: boolean;
  readonly link: Dependents | undefined;
  // StepRef
  readonly index: number | undefined;
  /** The node this runs, and the map item it is given (undefined for a step). */
  readonly def: N;
  readonly item: unknown;
  readonly run: RunScope;
  readonly latency: LatencyTally;
  /** The step's meta scope and the scopes its attempts are given, made when a step first asks. */
  meta: Meta | undefined;
  #scopes: MetaScopes | undefined;
  /** The current attempt's span. */
  open: Open | undefined;
  /** An attempt started and has not ended: a cancellation then ends one that ran (an untimed one's duration is 0 either way). */
  running = false;

  constructor(
    run: RunScope,
    def: N,
    item: unknown,
    index: number | undefined,
    signal: AbortSignal,
    link: Dependents | undefined,
    latency: LatencyTally,
    onError: OnError,
    firstAttempt: number | undefined,
    timed: boolean,
  ) {
    this.signal = signal;
    this.link = link;
    this.onError = onError;
    this.firstAttempt = firstAttempt;
    this.timed = timed;
    this.index = index;
    this.def = def;
    this.item = item;
    this.run = run;
    this.latency = latency;
  }

  get name(): string {
    return this.def.name;
  }

  get retry(): RetryOption | undefined {
    return this.def.retry;
  }

  get timeoutMs(): number | undefined {
    return this.def.timeout;
  }

  get observer(): AttemptObserver {
    return STEP_OBSERVER;
  }

  get runId(): string {
    return this.run.emitter.runId;
  }

  get pipeline(): string {
    return this.run.emitter.pipeline;
  }

  get node(): string {
    return this.def.name;
  }

  get kind(): NodeKind {
    return this.def.kind;
  }

  /** An untimed attempt's context: its arguments (a method of the options, which the executor calls). */
  attemptContext(attempt: number): UntimedContext {
    return new GraphStepArgs(this.run, this, attempt, undefined);
  }

  /** The meta scopes an attempt is given: the step's (across its attempts), the run's and the pipeline's. */
  get scopes(): MetaScopes {
    if (!this.#scopes) {
      this.meta ??= new Meta();
      this.#scopes = { step: this.meta, run: this.run.runMeta, pipeline: this.run.pipelineMeta };
    }
    return this.#scopes;
  }
}

function enterSpan<R>(this: StepRun, call: () => R): R {
  return this.open ? (this.run.telemetry as Telemetry).inAttempt(this.open, call) : call();
}

/** The observer of every graph step: what it needs of the step is on the options it is handed, a StepRun. */
const STEP_OBSERVER: AttemptObserver = {
  start(attempt: number, options: ExecuteOptions): void {
    const step = options as StepRun;
    step.latency.attempts++;
    step.running = true;
    const run = step.run;
    if (run.telemetry) {
      step.open = run.telemetry.startAttempt(step, attempt);
      // The attempt's code runs with its span current (a method of the options: no closure per step); the
      // executor reads this after start. An attempt with no span (its run not recorded) needs no wrapping.
      step.enter = step.open ? (enterSpan as <R>(call: () => R) => R) : undefined;
    }
    if (!run.emitter.quiet && run.emitter.wants('step_start')) run.emitter.emit({ type: 'step_start', node: step.node, nodeKind: step.kind, attempt, index: step.index });
  },

  retry(attempt: number, error: unknown, delayMs: number, durationMs: number, options: ExecuteOptions): void {
    const step = options as StepRun;
    step.running = false;
    addLatency(step.latency, durationMs, false);
    const run = step.run;
    run.telemetry?.retryAttempt(step, step.open, attempt, error, delayMs, durationMs);
    step.open = undefined;
    if (!run.emitter.wants('step_retry')) return;
    run.emitter.emit({ type: 'step_retry', node: step.node, nodeKind: step.kind, attempt, index: step.index, error: toErrorInfo(error), delayMs, durationMs });
  },

  end(attempt: number, status: StepEndStatus, durationMs: number, error: unknown, options: ExecuteOptions): void {
    const step = options as StepRun;
    // Cancelled before an attempt began (none ran, or the next after a retry's delay): no attempt to count.
    if (status !== 'cancelled' || step.running) addLatency(step.latency, durationMs, status === 'succeeded');
    step.running = false;
    const run = step.run;
    if (run.telemetry) {
      run.telemetry.endAttempt(step, step.open, attempt, status, durationMs, error);
      step.open = undefined;
    }
    if (run.emitter.quiet || !run.emitter.wants('step_end')) return;
    run.emitter.emit({
      type: 'step_end',
      node: step.node,
      nodeKind: step.kind,
      attempt,
      index: step.index,
      status,
      durationMs,
      error: attemptError(status, error),
      skipReason: status === 'skipped' ? 'handler' : undefined,
      meta: (step.meta ?? new Meta()).snapshot(),
    });
  },
};
