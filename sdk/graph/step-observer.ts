// One step's attempts (or one map item's), as the executor reports them: the
// run's latency tally, the attempt's span and metrics, and the step events for
// whoever listens. Telemetry is called directly rather than fed events, so a
// run with no other listener builds no per-step events at all.

import { attemptError, toErrorInfo } from '../errors.ts';
import type { RunEmitter } from '../emitter.ts';
import type { NodeKind, StepEndStatus, StepLatency } from '../events.ts';
import type { AttemptObserver } from '../executor.ts';
import type { Meta } from '../meta.ts';
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

export class StepObserver implements AttemptObserver, StepRef {
  readonly runId: string;
  readonly pipeline: string;
  readonly node: string;
  readonly kind: NodeKind;
  readonly index: number | undefined;
  readonly #emitter: RunEmitter;
  readonly #telemetry: Telemetry | undefined;
  readonly #latency: LatencyTally;
  readonly #meta: Meta;
  /** The current attempt's span. */
  #open: Open | undefined;

  constructor(emitter: RunEmitter, telemetry: Telemetry | undefined, latency: LatencyTally, meta: Meta, node: string, kind: NodeKind, index: number | undefined) {
    this.runId = emitter.runId;
    this.pipeline = emitter.pipeline;
    this.node = node;
    this.kind = kind;
    this.index = index;
    this.#emitter = emitter;
    this.#telemetry = telemetry;
    this.#latency = latency;
    this.#meta = meta;
  }

  /** Runs an attempt's code with its span current, so the step's own spans nest under it (with telemetry only: `entering()`). */
  enter<R>(call: () => R): R {
    return this.#open ? (this.#telemetry as Telemetry).inAttempt(this.#open, call) : call();
  }

  /** `enter` as a function for the executor's options: made only when telemetry records the step (a map makes an observer per item). */
  entering(): <R>(call: () => R) => R {
    return (call) => this.enter(call);
  }

  start(attempt: number): void {
    this.#latency.attempts++;
    this.#open = this.#telemetry?.startAttempt(this, attempt);
    if (this.#emitter.wants('step_start')) this.#emitter.emit({ type: 'step_start', node: this.node, nodeKind: this.kind, attempt, index: this.index });
  }

  retry(attempt: number, error: unknown, delayMs: number, durationMs: number): void {
    this.#latency.add(durationMs, false);
    this.#telemetry?.retryAttempt(this, this.#open, attempt, error, delayMs, durationMs);
    this.#open = undefined;
    if (!this.#emitter.wants('step_retry')) return;
    this.#emitter.emit({ type: 'step_retry', node: this.node, nodeKind: this.kind, attempt, index: this.index, error: toErrorInfo(error), delayMs, durationMs });
  }

  end(attempt: number, status: StepEndStatus, durationMs: number, error: unknown): void {
    if (status !== 'cancelled' || durationMs > 0) this.#latency.add(durationMs, status === 'succeeded');
    this.#telemetry?.endAttempt(this, this.#open, attempt, status, durationMs, error);
    this.#open = undefined;
    if (!this.#emitter.wants('step_end')) return;
    this.#emitter.emit({
      type: 'step_end',
      node: this.node,
      nodeKind: this.kind,
      attempt,
      index: this.index,
      status,
      durationMs,
      error: attemptError(status, error),
      skipReason: status === 'skipped' ? 'handler' : undefined,
      meta: this.#meta.snapshot(),
    });
  }
}
