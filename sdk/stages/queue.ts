import { Fifo } from '../fifo.ts';

interface Lane<T> {
  readonly priority: number;
  readonly items: Fifo<T>;
}

interface Putter<T> {
  readonly item: T;
  readonly priority: number;
  readonly resolve: () => void;
}

/**
 * A stage's queue: bounded, lower priority first, first-in first-out within
 * one priority. `put` waits while the queue is full, which is how a slow stage
 * pushes back on feeding and on the stage before it. A waiting putter's item
 * takes the slot a `take` frees, so the bound holds exactly.
 */
export class StageQueue<T> {
  readonly capacity: number;
  /** Lanes sorted by priority; almost always just one. */
  readonly #lanes: Lane<T>[] = [];
  /** The one lane while there is only one: pushes and shifts go straight to it. */
  #only: Lane<T> | undefined;
  readonly #takers = new Fifo<(item: T | undefined) => void>();
  readonly #putters = new Fifo<Putter<T>>();
  #size = 0;
  #closed = false;

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  /** Items waiting (not counting putters still blocked). */
  get size(): number {
    return this.#size;
  }

  /** Items whose `put` is blocked on a full queue. */
  get blocked(): number {
    return this.#putters.length;
  }

  /** Queues `item`; returns a promise only when it must wait for room. */
  put(item: T, priority: number): Promise<void> | undefined {
    if (this.#handOff(item)) return undefined;
    if (this.#size < this.capacity) {
      this.#push(item, priority);
      return undefined;
    }
    return new Promise((resolve) => this.#putters.push({ item, priority, resolve }));
  }

  /** Queues `item` past the bound (an item coming back for a retry must not wait behind new ones forever). */
  force(item: T, priority: number): void {
    if (!this.#handOff(item)) this.#push(item, priority);
  }

  /** The next item, or a promise of it; `undefined` once the queue is closed and empty. */
  take(): T | undefined | Promise<T | undefined> {
    return this.#size > 0 ? this.poll() : this.wait();
  }

  /** The next item if there is one now, else `undefined` (then `wait()`): no promise, no type test for the caller. */
  poll(): T | undefined {
    if (this.#size === 0) return undefined;
    const item = this.#shift();
    const putter = this.#putters.shift();
    if (putter) {
      this.#push(putter.item, putter.priority);
      putter.resolve();
    }
    return item;
  }

  /** When `poll()` found nothing: a promise of the next item, or `undefined` once the queue is closed. */
  wait(): Promise<T | undefined> | undefined {
    if (this.#closed) return undefined;
    return new Promise((resolve) => this.#takers.push(resolve));
  }

  /** No more items: waiting takers get `undefined` once the queue is empty. */
  close(): void {
    this.#closed = true;
    if (this.#size === 0) for (let taker = this.#takers.shift(); taker; taker = this.#takers.shift()) taker(undefined);
  }

  /** Empties the queue and its blocked putters, returning their items (for shutdown). */
  drain(): T[] {
    const items: T[] = [];
    for (let item = this.#size > 0 ? this.#shift() : undefined; item !== undefined; item = this.#size > 0 ? this.#shift() : undefined) {
      items.push(item);
    }
    for (let putter = this.#putters.shift(); putter; putter = this.#putters.shift()) {
      items.push(putter.item);
      putter.resolve();
    }
    return items;
  }

  #handOff(item: T): boolean {
    const taker = this.#takers.shift();
    if (!taker) return false;
    taker(item);
    return true;
  }

  #push(item: T, priority: number): void {
    const only = this.#only;
    if (only !== undefined && only.priority === priority) {
      only.items.push(item);
      this.#size++;
      return;
    }
    // A plain loop: a find() callback would be a closure made per item.
    const lanes = this.#lanes;
    let lane: Lane<T> | undefined;
    for (let i = 0; i < lanes.length; i++) {
      if ((lanes[i] as Lane<T>).priority === priority) {
        lane = lanes[i];
        break;
      }
    }
    if (!lane) {
      lane = { priority, items: new Fifo<T>() };
      this.#lanes.push(lane);
      this.#lanes.sort((a, b) => a.priority - b.priority);
      this.#only = this.#lanes.length === 1 ? lane : undefined;
    }
    lane.items.push(item);
    this.#size++;
  }

  #shift(): T | undefined {
    const only = this.#only;
    if (only !== undefined) {
      if (only.items.length === 0) return undefined;
      this.#size--;
      return only.items.shift();
    }
    const lanes = this.#lanes;
    for (let i = 0; i < lanes.length; i++) {
      const items = (lanes[i] as Lane<T>).items;
      if (items.length > 0) {
        this.#size--;
        return items.shift();
      }
    }
    return undefined;
  }
}
