import type { AttemptContext } from '../executor.ts';
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
 * What a step is given. A class of three fields, so an attempt's arguments are
 * cheap to make: the rest is read through to the run and the step, and its
 * `signal` to the attempt's, which is made only when a step asks for it.
 */
export class GraphStepArgs<S, C, I> implements StepArgs<S, C, I> {
  readonly attempt: number;
  readonly #shared: SharedArgs<S, C>;
  readonly #step: StepRun;
  readonly #source: AttemptContext;

  constructor(shared: SharedArgs<S, C>, step: StepRun, source: AttemptContext) {
    this.#shared = shared;
    this.#step = step;
    this.#source = source;
    this.attempt = source.attempt;
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

  get signal(): AbortSignal {
    return this.#source.signal;
  }
}
