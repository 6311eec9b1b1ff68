import { type AttemptContext, UntimedContext } from '../executor.ts';
import type { MetaScopes } from '../meta.ts';
import type { StepRun } from './step-observer.ts';
import type { StepArgs, Suspension } from './types.ts';

/** What every step of a run shares, read through by each attempt's arguments. */
export interface SharedArgs<S, C> {
  readonly state: S;
  readonly context: C;
  readonly runId: string;
  readonly output: <T = unknown>(node: string) => T | undefined;
  readonly suspend: (reason?: string) => Suspension;
}

/**
 * What a step is given, and for an untimed attempt its context too (one object, not two):
 * cheap to make, the rest read through to the run and the step. Its `signal` is the
 * attempt's own, made only when a step asks for it (a timed attempt's: its context's).
 */
export class GraphStepArgs<S, C, I> extends UntimedContext implements StepArgs<S, C, I> {
  readonly #shared: SharedArgs<S, C>;
  readonly #step: StepRun;
  /** A timed attempt's context (the executor's), whose signal the step is given. */
  readonly #source: AttemptContext | undefined;

  constructor(shared: SharedArgs<S, C>, step: StepRun, attempt: number, source: AttemptContext | undefined) {
    super(attempt, step.signal);
    this.#shared = shared;
    this.#step = step;
    this.#source = source;
  }

  get state(): S {
    return this.#shared.state;
  }

  get context(): C {
    return this.#shared.context;
  }

  get runId(): string {
    return this.#shared.runId;
  }

  get output(): <T = unknown>(node: string) => T | undefined {
    return this.#shared.output;
  }

  get suspend(): (reason?: string) => Suspension {
    return this.#shared.suspend;
  }

  get node(): string {
    return this.#step.node;
  }

  get item(): I {
    return this.#step.item as I;
  }

  get index(): number | undefined {
    return this.#step.index;
  }

  get meta(): MetaScopes {
    return this.#step.scopes;
  }

  override get signal(): AbortSignal {
    return this.#source ? this.#source.signal : super.signal;
  }
}
