import type { MetaSnapshot } from './events.ts';

/**
 * One scope of the meta protocol (a step, across its attempts, or a run): free-form data,
 * tags, metric samples and counters. The snapshot travels on the scope's end
 * event (`step_end` for a step, `run_end` for a run).
 */
export class Meta {
  #data: Record<string, unknown> | undefined;
  #tags: Set<string> | undefined;
  #metrics: Record<string, number[]> | undefined;
  #counters: Record<string, number> | undefined;

  set(key: string, value: unknown): this {
    this.#data ??= {};
    this.#data[key] = value;
    return this;
  }

  get<T = unknown>(key: string): T | undefined {
    return this.#data?.[key] as T | undefined;
  }

  tag(...tags: string[]): this {
    this.#tags ??= new Set();
    for (const tag of tags) this.#tags.add(tag);
    return this;
  }

  /** Records one sample of a measurement (all samples are kept, in order). */
  metric(name: string, value: number): this {
    this.#metrics ??= {};
    const samples = this.#metrics[name] ?? [];
    samples.push(value);
    this.#metrics[name] = samples;
    return this;
  }

  /** Adds `by` (default 1) to a counter and returns its new value. */
  count(name: string, by = 1): number {
    this.#counters ??= {};
    const next = (this.#counters[name] ?? 0) + by;
    this.#counters[name] = next;
    return next;
  }

  snapshot(): MetaSnapshot {
    return {
      data: { ...this.#data },
      tags: this.#tags ? [...this.#tags] : [],
      metrics: this.#metrics ? Object.fromEntries(Object.entries(this.#metrics).map(([k, v]) => [k, [...v]])) : {},
      counters: { ...this.#counters },
    };
  }
}

/** The three scopes a step sees. `pipeline` is read-only: it comes from the definition. */
export interface MetaScopes {
  readonly step: Meta;
  readonly run: Meta;
  readonly pipeline: Readonly<Record<string, unknown>>;
}
