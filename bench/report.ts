// Shared helpers for bench scripts: time a function after a warm-up, print a
// readable table, and print the one JSON line every bench script ends with.

import Table from 'cli-table3';

export interface TimeOptions {
  /** Calls of `fn` per sample. */
  readonly iterations: number;
  /** Calls before measuring, to let the JIT settle. Default: a tenth of `iterations` (at least 1). */
  readonly warmup?: number;
  /** Samples of `iterations` calls each; the median sample is reported. Default 3. */
  readonly samples?: number;
  /** Units of work one call does (items, runs...), for `unitsPerSecond`. Default 1. */
  readonly units?: number;
}

export interface Timing {
  readonly iterations: number;
  /** Wall time of the median sample, in ms. */
  readonly totalMs: number;
  readonly usPerIteration: number;
  readonly iterationsPerSecond: number;
  /** `iterationsPerSecond` times `units`. */
  readonly unitsPerSecond: number;
}

/**
 * Calls `fn` (sync or async, awaited one call at a time) `warmup` times, then
 * measures `samples` batches of `iterations` calls and reports the median
 * batch. No collection is forced before a batch: a forced full collection
 * (`gc()`) makes what runs next several times slower for a while (a 10-step
 * graph run, 500 runs at a time after one: 58, 49, 27, 12 µs a run, against
 * 9–12 steady), so a batch that starts with one measures that, not the work.
 */
export async function time(fn: () => unknown, options: TimeOptions): Promise<Timing> {
  const { iterations } = options;
  const warmup = options.warmup ?? Math.max(1, Math.floor(iterations / 10));
  const samples = Math.max(1, options.samples ?? 3);
  const units = options.units ?? 1;
  for (let i = 0; i < warmup; i++) await fn();
  const totals: number[] = [];
  for (let s = 0; s < samples; s++) {
    const started = performance.now();
    for (let i = 0; i < iterations; i++) await fn();
    totals.push(performance.now() - started);
  }
  totals.sort((a, b) => a - b);
  const totalMs = totals[Math.floor(totals.length / 2)] ?? 0;
  const iterationsPerSecond = (iterations * 1000) / totalMs;
  return {
    iterations,
    totalMs,
    usPerIteration: (totalMs * 1000) / iterations,
    iterationsPerSecond,
    unitsPerSecond: iterationsPerSecond * units,
  };
}

/** A number for people: thousands separators, at most `digits` decimals. */
export function fmt(value: number, digits = 2): string {
  return value.toLocaleString('en-US', { maximumFractionDigits: digits });
}

/** Rounds to `digits` decimals, for the JSON line. */
export function round(value: number, digits = 3): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

/** A bordered table with a header row; cells are printed as given. */
export function table(head: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const t = new Table({ head: [...head], style: { head: [], border: [] } });
  for (const row of rows) t.push(row.map(String));
  return t.toString();
}

/** Prints an optional title and a table. */
export function printTable(title: string, head: readonly string[], rows: readonly (readonly (string | number)[])[]): void {
  if (title) console.log(title);
  console.log(table(head, rows));
}

/** Prints the bench's figures as one JSON object: it must be the script's last line of output. */
export function printJson(bench: string, figures: Readonly<Record<string, number | string | boolean>>): void {
  console.log(JSON.stringify({ bench, ...figures }));
}

/** The median and the range of a set of samples. */
export interface Spread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

export function spread(values: readonly number[]): Spread {
  if (values.length === 0) throw new Error('spread() of no samples');
  const sorted = [...values].sort((a, b) => a - b);
  return { median: sorted[Math.floor(sorted.length / 2)] ?? 0, min: sorted[0] ?? 0, max: sorted.at(-1) ?? 0 };
}

/** `12.3 (11.9–13.0)`: a spread for people. */
export function fmtSpread(s: Spread, digits = 2): string {
  return `${fmt(s.median, digits)} (${fmt(s.min, digits)}–${fmt(s.max, digits)})`;
}

/**
 * Takes `rounds` samples of each case in turns — one of each per round, the order reversed
 * every other round — so a machine that speeds up or slows down weighs on every case alike.
 * A case is a function that takes one sample and returns its figure. Returns each case's
 * samples, in round order (sample i of every case comes from round i).
 */
export async function interleaved<K extends string>(cases: Readonly<Record<K, () => Promise<number>>>, rounds: number): Promise<Record<K, number[]>> {
  const names = Object.keys(cases) as K[];
  const samples = Object.fromEntries(names.map((name) => [name, [] as number[]])) as Record<K, number[]>;
  for (let round = 0; round < rounds; round++) {
    for (const name of round % 2 === 0 ? names : [...names].reverse()) samples[name].push(await cases[name]());
  }
  return samples;
}

/** Per round, `a[i] / b[i]`: ratios of samples taken side by side. */
export function ratios(a: readonly number[], b: readonly number[]): number[] {
  return a.map((value, i) => value / (b[i] ?? Number.NaN));
}
