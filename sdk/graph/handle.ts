import { EventBus, type EventStream } from '../emitter.ts';
import type { SpanflowEvent } from '../events.ts';
import { attachTelemetry, type Telemetry } from '../telemetry/index.ts';
import type { RunOptions, RunResult } from './types.ts';

type Start<S> = (bus: EventBus, signal: AbortSignal, runId: string, telemetry: Telemetry | undefined) => Promise<RunResult<S>>;
/** Attaches a store and an observer to the run's bus (after telemetry, whose trace ids they keep). */
type Attach = (bus: EventBus, telemetry: Telemetry | undefined, handle: RunHandle<unknown>) => void;

/**
 * A started run: a promise of its result (`await handle`) and an async
 * iterable of its events (`for await (const event of handle)`), both at once.
 * The result never rejects for a failed run; its `status` says how it ended.
 */
export class RunHandle<S> implements PromiseLike<RunResult<S>>, AsyncIterable<SpanflowEvent> {
  readonly runId: string;
  readonly result: Promise<RunResult<S>>;
  readonly #bus = new EventBus();
  readonly #controller = new AbortController();
  readonly #capacity: number;

  constructor(options: RunOptions<unknown>, start: Start<S>, attach?: Attach) {
    this.runId = options.runId ?? crypto.randomUUID();
    this.#capacity = Math.max(1, options.eventBuffer ?? 1024);
    // Telemetry listens first, so spans exist before user listeners see the events.
    const telemetry = attachTelemetry(this.#bus);
    attach?.(this.#bus, telemetry, this as RunHandle<unknown>);
    if (options.onEvent) this.#bus.listen(options.onEvent);
    const signal = options.signal ? AbortSignal.any([options.signal, this.#controller.signal]) : this.#controller.signal;
    // Start on a later microtask, so an iterator attached right after run() sees the first event.
    this.result = Promise.resolve()
      .then(() => start(this.#bus, signal, this.runId, telemetry))
      .finally(() => this.#bus.close());
  }

  /** Cancels the run, as its AbortSignal would. */
  cancel(reason?: unknown): void {
    this.#controller.abort(reason);
  }

  // biome-ignore lint/suspicious/noThenProperty: a run handle is deliberately awaitable.
  then<A = RunResult<S>, B = never>(
    onFulfilled?: ((value: RunResult<S>) => A | PromiseLike<A>) | null,
    onRejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    return this.result.then(onFulfilled, onRejected);
  }

  [Symbol.asyncIterator](): EventStream {
    if (this.#bus.started) {
      throw new Error(
        `run ${this.runId} already emitted events before this iterator was attached, so it would miss some: iterate the handle right after run(), or pass onEvent to run()`,
      );
    }
    return this.#bus.stream(this.#capacity);
  }
}
