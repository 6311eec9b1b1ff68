import { Fifo } from '../fifo.ts';

/** At most `size` holders at once; waiters are served in order. */
export class Semaphore {
  #free: number;
  readonly #waiting = new Fifo<() => void>();
  constructor(size: number) {
    this.#free = size;
  }
  acquire(): Promise<void> | undefined {
    if (this.#free > 0) {
      this.#free--;
      return undefined;
    }
    return new Promise((resolve) => this.#waiting.push(resolve));
  }
  release(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#free++;
  }
}
