import { EventBus, type EventStream } from '../emitter.ts';
import type { SpanflowEvent } from '../events.ts';
import { attachTelemetry, type Telemetry } from '../telemetry/index.ts';
import type { RunOptions, RunResult } from './types.ts';

/**
 * Starts the run: `signal` is the caller's (`RunOptions.signal`), and `onCancel` registers what
 * `cancel()` calls (at once when it was called before the run started; once at most).
 */
type Start<S> = (bus: EventBus, signal: AbortSignal | undefined, runId: string, telemetry: Telemetry | undefined, onCancel: OnCancel) => Promise<RunResult<S>>;
/** Registers a run's canceller with its handle. */
export type OnCancel = (cancel: (reason: unknown) => void) => void;
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
  readonly #capacity: number;
  /** The reason of the first cancel(), and the run's canceller once it registered (until it ends). */
  #cancelled: { readonly reason: unknown } | undefined;
  #canceller: ((reason: unknown) => void) | undefined;

  constructor(options: RunOptions<unknown>, start: Start<S>, attach?: Attach) {
    this.runId = options.runId ?? crypto.randomUUID();
    this.#capacity = Math.max(1, options.eventBuffer ?? 1024);
    // Telemetry listens first, so spans exist before user listeners see the events.
    const telemetry = attachTelemetry(this.#bus);
    attach?.(this.#bus, telemetry, this as RunHandle<unknown>);
    if (options.onEvent) this.#bus.listen(options.onEvent);
    const signal = options.signal;
    // Start on a later microtask, so an iterator attached right after run() sees the first event.
    this.result = Promise.resolve()
      .then(() => start(this.#bus, signal, this.runId, telemetry, this.#onCancel))
      .then(this.#ended, this.#broke);
  }

  /** Cancels the run, as its AbortSignal would (a reason left out is an AbortError, as `AbortController.abort()` gives). */
  cancel(reason?: unknown): void {
    if (this.#cancelled) return;
    const given = reason === undefined ? new DOMException('This operation was aborted', 'AbortError') : reason;
    this.#cancelled = { reason: given };
    this.#canceller?.(given);
  }

  /** The run's canceller: a cancel() that came first cancels it at once. */
  readonly #onCancel: OnCancel = (cancel) => {
    if (this.#cancelled) cancel(this.#cancelled.reason);
    else this.#canceller = cancel;
  };

  readonly #ended = (result: RunResult<S>): RunResult<S> => {
    this.#canceller = undefined;
    this.#bus.close();
    return result;
  };

  readonly #broke = (error: unknown): never => {
    this.#canceller = undefined;
    this.#bus.close();
    throw error;
  };

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
