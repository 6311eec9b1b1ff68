import type { AttemptContext } from '../executor.ts';
import type { MetaScopes } from '../meta.ts';
import type { StepArgs, Suspension } from './types.ts';

/**
 * What a step is given. A class, so an attempt's arguments are cheap to make,
 * and its `signal` is read through to the attempt's, which is made only when a
 * step asks for it.
 */
export class GraphStepArgs<S, C, I> implements StepArgs<S, C, I> {
  readonly state: S;
  readonly context: C;
  readonly attempt: number;
  readonly node: string;
  readonly runId: string;
  readonly item: I;
  readonly index: number | undefined;
  readonly meta: MetaScopes;
  readonly output: <T = unknown>(node: string) => T | undefined;
  readonly suspend: (reason?: string) => Suspension;
  readonly #source: AttemptContext;

  constructor(
    run: { state: S; context: C; runId: string; output: <T = unknown>(node: string) => T | undefined; suspend: (reason?: string) => Suspension },
    node: string,
    item: I,
    index: number | undefined,
    meta: MetaScopes,
    source: AttemptContext,
  ) {
    this.state = run.state;
    this.context = run.context;
    this.runId = run.runId;
    this.output = run.output;
    this.suspend = run.suspend;
    this.node = node;
    this.item = item;
    this.index = index;
    this.meta = meta;
    this.attempt = source.attempt;
    this.#source = source;
  }

  get signal(): AbortSignal {
    return this.#source.signal;
  }
}
