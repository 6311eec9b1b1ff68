import { Fifo } from '../fifo.ts';
import type { ItemOutcome } from './types.ts';

/** Outcomes a slow stream reader may fall behind by before the last stage waits. */
const OUTCOME_BUFFER = 1024;

/** The outcomes of a streamed batch, in completion order, with a bounded buffer. */
export class OutcomeStream<Out> implements AsyncIterableIterator<ItemOutcome<Out>> {
  readonly #buffer = new Fifo<ItemOutcome<Out>>();
  #roomWaiters: (() => void)[] = [];
  #reader: ((result: IteratorResult<ItemOutcome<Out>>) => void) | undefined;
  #closed = false;

  push(outcome: ItemOutcome<Out>): void {
    if (this.#reader) {
      const reader = this.#reader;
      this.#reader = undefined;
      reader({ value: outcome, done: false });
    } else if (!this.#closed) {
      this.#buffer.push(outcome);
    }
  }

  /** Resolves when the reader has caught up; `undefined` when it has. */
  room(): Promise<void> | undefined {
    if (this.#buffer.length < OUTCOME_BUFFER || this.#closed) return undefined;
    return new Promise((resolve) => this.#roomWaiters.push(resolve));
  }

  close(): void {
    this.#closed = true;
    this.#release();
    if (this.#reader && this.#buffer.length === 0) {
      this.#reader({ value: undefined, done: true });
      this.#reader = undefined;
    }
  }

  next(): Promise<IteratorResult<ItemOutcome<Out>>> {
    const outcome = this.#buffer.shift();
    if (this.#buffer.length < OUTCOME_BUFFER / 2) this.#release();
    if (outcome) return Promise.resolve({ value: outcome, done: false });
    if (this.#closed) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => {
      this.#reader = resolve;
    });
  }

  #release(): void {
    const waiters = this.#roomWaiters;
    this.#roomWaiters = [];
    for (const resolve of waiters) resolve();
  }

  return(): Promise<IteratorResult<ItemOutcome<Out>>> {
    this.#closed = true;
    this.#buffer.clear();
    this.#release();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
