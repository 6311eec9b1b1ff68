// Gauges whose source is gone. The SDK keeps exporting the last observation
// of an attribute set it no longer hears of, so a stage batch that ended or a
// pool that closed would go on reading its last queue size or thread count.
// Each set a gauge reported is remembered here and reads 0 once its source is
// gone. One mechanism for the engine's stage gauges and the worker pools'.

/** Sets remembered at most (the SDK keeps its own series anyway; this bounds spanflow's copy of them). */
const LIMIT = 1_000;

export class IdleGauges<T> {
  readonly #known = new Map<string, T>();

  /** The set `key` reported now; `zero` is what it reads once its source is gone. */
  report(key: string, zero: T): void {
    this.#known.delete(key);
    this.#known.set(key, zero);
    // The longest unreported go first (a live set is reported again at each collection).
    if (this.#known.size > LIMIT) this.#known.delete(this.#known.keys().next().value as string);
  }

  /** What reads 0 now: every set reported before whose key `live` does not have. */
  *idle(live: { has(key: string): boolean }): Iterable<T> {
    for (const [key, zero] of this.#known) if (!live.has(key)) yield zero;
  }
}
