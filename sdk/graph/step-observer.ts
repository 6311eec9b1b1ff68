// One step's attempts (or one map item's): what the executor runs them under
// (the options), what it reports them to (the observer: the run's latency
// tally, the attempt's span and metrics, and the step events for whoever
// listens), and which step it is (for telemetry), in one object per step.
// Telemetry is called directly rather than fed events, so a run with no other
// listener builds no per-step events at all.

import { attemptError, toErrorInfo } from '../errors.ts';
import type { RunEmitter } from '../emitter.ts';
import type { NodeKind, StepEndStatus, StepLatency } from '../events.ts';
import type { AttemptObserver, ErrorAction, ExecuteOptions, RetryOption } from '../executor.ts';
import { Meta, type MetaScopes } from '../meta.ts';
import type { Open, StepRef, Telemetry } from '../telemetry/index.ts';

/** A node's attempts and their latency, for the run's metrics. */
export class LatencyTally implements StepLatency {
  attempts = 0;
  succeeded = 0;
  failed = 0;
  totalMs = 0;
  maxMs = 0;
  add(durationMs: number, ok: boolean): void {
    this.totalMs += durationMs;
    if (durationMs > this.maxMs) this.maxMs = durationMs;
    if (ok) this.succeeded++;
    else this.failed++;
  }
}

/** What every step of one run shares. */
export interface RunScope {
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

/** The executor's options for a step: its observer is the step's `StepRun`, which the run's callbacks read back. */
export interface StepOptions<N extends StepDef> extends ExecuteOptions {
  readonly observer: StepRun<N>;
}

/**
 * A step's (or map item's) attempts: what the executor reports them to, the step's identity
 * for telemetry, and the options they run under. `N` is the node, kept for the run that
 * settles the step.
 */
export class StepRun<N extends StepDef = StepDef> implements AttemptObserver, StepRef {
  readonly runId: string;
  readonly pipeline: string;
  readonly node: string;
  readonly kind: NodeKind;
  readonly index: number | undefined;
  /** The node this runs, and the map item it is given (undefined for a step). */
  readonly def: N;
  readonly item: unknown;
  readonly options: StepOptions<N>;
  readonly #run: RunScope;
  readonly #latency: LatencyTally;
  /** The step's meta scope and the scopes its attempts are given, made when a step first asks. */
  #meta: Meta | undefined;
  #scopes: MetaScopes | undefined;
  /** The current attempt's span. */
  #open: Open | undefined;

  constructor(run: RunScope, def: N, item: unknown, index: number | undefined, signal: AbortSignal, latency: LatencyTally, onError: OnError, firstAttempt: number | undefined) {
    const emitter = run.emitter;
    this.runId = emitter.runId;
    this.pipeline = emitter.pipeline;
    this.node = def.name;
    this.kind = def.kind;
    this.index = index;
    this.def = def;
    this.item = item;
    this.#run = run;
    this.#latency = latency;
    this.options = {
      name: def.name,
      retry: def.retry,
      timeoutMs: def.timeout,
      signal,
      onError,
      observer: this,
      // The attempt's code runs with its span current (with telemetry only).
      enter: run.telemetry ? (call) => this.#enter(call) : undefined,
      firstAttempt,
      timed: true,
      link: undefined,
    };
  }

  /** The meta scopes an attempt is given: the step's (across its attempts), the run's and the pipeline's. */
  get scopes(): MetaScopes {
    if (!this.#scopes) {
      this.#meta ??= new Meta();
      this.#scopes = { step: this.#meta, run: this.#run.runMeta, pipeline: this.#run.pipelineMeta };
    }
    return this.#scopes;
  }

  #enter<R>(call: () => R): R {
    return this.#open ? (this.#run.telemetry as Telemetry).inAttempt(this.#open, call) : call();
  }

  start(attempt: number): void {
    this.#latency.attempts++;
    const run = this.#run;
    if (run.telemetry) this.#open = run.telemetry.startAttempt(this, attempt);
    if (run.emitter.wants('step_start')) run.emitter.emit({ type: 'step_start', node: this.node, nodeKind: this.kind, attempt, index: this.index });
  }

  retry(attempt: number, error: unknown, delayMs: number, durationMs: number): void {
    this.#latency.add(durationMs, false);
    const run = this.#run;
    run.telemetry?.retryAttempt(this, this.#open, attempt, error, delayMs, durationMs);
    this.#open = undefined;
    if (!run.emitter.wants('step_retry')) return;
    run.emitter.emit({ type: 'step_retry', node: this.node, nodeKind: this.kind, attempt, index: this.index, error: toErrorInfo(error), delayMs, durationMs });
  }

  end(attempt: number, status: StepEndStatus, durationMs: number, error: unknown): void {
    if (status !== 'cancelled' || durationMs > 0) this.#latency.add(durationMs, status === 'succeeded');
    const run = this.#run;
    if (run.telemetry) {
      run.telemetry.endAttempt(this, this.#open, attempt, status, durationMs, error);
      this.#open = undefined;
    }
    if (!run.emitter.wants('step_end')) return;
    run.emitter.emit({
      type: 'step_end',
      node: this.node,
      nodeKind: this.kind,
      attempt,
      index: this.index,
      status,
      durationMs,
      error: attemptError(status, error),
      skipReason: status === 'skipped' ? 'handler' : undefined,
      meta: (this.#meta ?? new Meta()).snapshot(),
    });
  }
}
