import { Fifo } from './fifo.ts';

/**
 * An async iterator fed by `push`, with a bounded buffer. A producer that can
 * outpace the reader asks `room()` and waits while the buffer is full; that is
 * how a slow reader pushes back. A reader that stops early (`break`) releases
 * every producer. Serves a run's event stream and a batch's outcome stream.
 */
export class Channel<T> implements AsyncIterableIterator<T> {
  readonly #buffer = new Fifo<T>();
  readonly #capacity: number;
  readonly #onRoom: (() => void) | undefined;
  readonly #onDetach: (() => void) | undefined;
  #roomWaiters: (() => void)[] = [];
  #reader: ((result: IteratorResult<T>) => void) | undefined;
  #closed = false;

  constructor(capacity: number, hooks: { readonly onRoom?: () => void; readonly onDetach?: () => void } = {}) {
    this.#capacity = capacity;
    this.#onRoom = hooks.onRoom;
    this.#onDetach = hooks.onDetach;
  }

  get full(): boolean {
    return this.#buffer.length >= this.#capacity;
  }

  push(value: T): void {
    if (this.#reader) {
      const reader = this.#reader;
      this.#reader = undefined;
      reader({ value, done: false });
    } else if (!this.#closed) {
      this.#buffer.push(value);
    }
  }

  /** Resolves when the reader has made room; `undefined` (no await needed) when there is room. */
  room(): Promise<void> | undefined {
    if (!this.full || this.#closed) return undefined;
    return new Promise((resolve) => this.#roomWaiters.push(resolve));
  }

  /** No more values: the reader gets what is buffered, then the end. */
  close(): void {
    this.#closed = true;
    this.#release();
    if (this.#reader && this.#buffer.length === 0) {
      this.#reader({ value: undefined, done: true });
      this.#reader = undefined;
    }
  }

  next(): Promise<IteratorResult<T>> {
    if (this.#buffer.length > 0) {
      const value = this.#buffer.shift() as T;
      if (this.#buffer.length === this.#capacity - 1) {
        this.#release();
        this.#onRoom?.();
      }
      return Promise.resolve({ value, done: false });
    }
    if (this.#closed) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => {
      this.#reader = resolve;
    });
  }

  /** The reader stopped early: stop buffering and release blocked producers. */
  return(): Promise<IteratorResult<T>> {
    this.#closed = true;
    this.#buffer.clear();
    this.#release();
    this.#onDetach?.();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  #release(): void {
    const waiters = this.#roomWaiters;
    this.#roomWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
