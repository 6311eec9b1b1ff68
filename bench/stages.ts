// Stage pipeline overhead: 3 stages × 10 workers of no-op async tasks over 200,000 items,
// against a hand-written chain of bounded async queues doing the same work; the same
// pipeline with a StatusTracker listening; and peak RSS for 100,000 and 1,000,000 items
// streamed from a generator with results not collected (each in a fresh child process,
// so what earlier measurements left on the heap does not count).
//
//   node bench/stages.ts                  the whole bench
//   node bench/stages.ts --rss <items>    one RSS measurement (what the bench spawns)

import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { StatusTracker, stages } from '../sdk/index.ts';
import { fmt, printJson, printTable, round, time } from './report.ts';

const STAGES = 3;
const WORKERS = 10;
const CAPACITY = 40;
const ITEMS = 200_000;
const RSS_SAMPLE_MS = 50;
const SAMPLES = 5;
const WARMUP = 2;

const noop = async (value: number): Promise<number> => value;

function noopPipeline(options: Parameters<typeof stages>[1] = {}) {
  let p = stages<number>('noop-3x10', { collectResults: false, ...options });
  for (let s = 0; s < STAGES; s++) p = p.stage(`s${s + 1}`, { workers: WORKERS, capacity: CAPACITY, tasks: noop });
  return p;
}

function* numbers(count: number, onEvery1000?: () => void): Generator<number> {
  for (let i = 0; i < count; i++) {
    if (onEvery1000 && i % 1000 === 0) onEvery1000();
    yield i;
  }
}

// ---- child mode: peak RSS for one streamed run --------------------------------

const rssFlag = process.argv.indexOf('--rss');
if (rssFlag >= 0) {
  const count = Number(process.argv[rssFlag + 1]);
  const mb = (bytes: number) => bytes / (1024 * 1024);
  const startMb = mb(process.memoryUsage().rss);
  let peak = process.memoryUsage.rss();
  let timerSamples = 0;
  const sample = () => {
    peak = Math.max(peak, process.memoryUsage.rss());
  };
  const sampler = setInterval(() => {
    timerSamples++;
    sample();
  }, RSS_SAMPLE_MS);
  const started = performance.now();
  // No-op tasks never leave the microtask queue, so the timer may not fire during the run:
  // the feed samples too, every 1,000 items.
  const result = await noopPipeline().run(numbers(count, sample));
  const ms = performance.now() - started;
  clearInterval(sampler);
  sample();
  if (result.completed !== count) throw new Error(`expected ${count} completed, got ${result.completed} (${result.status})`);
  // What is still live once the garbage is gone (the bench starts this process with --expose-gc).
  (globalThis as { gc?: () => void }).gc?.();
  const liveMb = mb(process.memoryUsage().heapUsed);
  console.log(JSON.stringify({ items: count, startMb, peakMb: mb(peak), liveMb, itemsPerSecond: (count * 1000) / ms, timerSamples }));
  process.exit(0);
}

// ---- the baseline: a chain of bounded async queues ------------------------------

const CLOSED = Symbol('closed');

/** A bounded FIFO: an array with a head index; `put` waits while full, `take` while empty. */
class BoundedQueue<T> {
  readonly capacity: number;
  #items: (T | undefined)[] = [];
  #head = 0;
  #closed = false;
  readonly #takers: (() => void)[] = [];
  readonly #putters: (() => void)[] = [];

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  get size(): number {
    return this.#items.length - this.#head;
  }

  async put(item: T): Promise<void> {
    while (this.size >= this.capacity) await new Promise<void>((resolve) => this.#putters.push(resolve));
    this.#items.push(item);
    this.#takers.shift()?.();
  }

  async take(): Promise<T | typeof CLOSED> {
    while (this.size === 0) {
      if (this.#closed) return CLOSED;
      await new Promise<void>((resolve) => this.#takers.push(resolve));
    }
    const item = this.#items[this.#head] as T;
    this.#items[this.#head++] = undefined;
    if (this.#head >= 1024) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    this.#putters.shift()?.();
    return item;
  }

  close(): void {
    this.#closed = true;
    for (const wake of this.#takers.splice(0)) wake();
  }
}

/** The same work by hand: feed, 3 stages of 10 workers, each stage closing the next queue when it is done. */
async function baselineRun(items: readonly number[]): Promise<number> {
  const queues = Array.from({ length: STAGES }, () => new BoundedQueue<number>(CAPACITY));
  let done = 0;
  const stageDone: Promise<void>[] = queues.map(async (queue, s) => {
    const next = queues[s + 1];
    const worker = async () => {
      for (;;) {
        const value = await queue.take();
        if (value === CLOSED) return;
        const out = await noop(value);
        if (next) await next.put(out);
        else done++;
      }
    };
    await Promise.all(Array.from({ length: WORKERS }, worker));
    next?.close();
  });
  const first = queues[0] as BoundedQueue<number>;
  for (const item of items) await first.put(item);
  first.close();
  await Promise.all(stageDone);
  return done;
}

// ---- measure ---------------------------------------------------------------------

const gc = (globalThis as { gc?: () => void }).gc;
const items = Array.from({ length: ITEMS }, (_, i) => i);
const started = performance.now();

const plain = noopPipeline();
const spanflow = await time(
  async () => {
    const result = await plain.run(items);
    if (result.completed !== ITEMS) throw new Error(`spanflow run ended ${result.status} with ${result.completed} completed`);
  },
  { iterations: 1, warmup: WARMUP, samples: SAMPLES, units: ITEMS },
);
gc?.();

const baseline = await time(
  async () => {
    const done = await baselineRun(items);
    if (done !== ITEMS) throw new Error(`baseline finished ${done} items`);
  },
  { iterations: 1, warmup: WARMUP, samples: SAMPLES, units: ITEMS },
);
gc?.();

const tracker = new StatusTracker({ history: false });
const tracked = noopPipeline({ tracker });
const withTracker = await time(
  async () => {
    tracker.clear();
    const result = await tracked.run(items);
    if (result.completed !== ITEMS) throw new Error(`tracked run ended ${result.status} with ${result.completed} completed`);
    if (tracker.stats().completed !== ITEMS) throw new Error(`the tracker saw ${tracker.stats().completed} items complete`);
  },
  { iterations: 1, warmup: WARMUP, samples: SAMPLES, units: ITEMS },
);
tracker.clear();
gc?.();

interface RssReport {
  items: number;
  startMb: number;
  peakMb: number;
  /** Heap in use after the run and a full GC. */
  liveMb: number;
  itemsPerSecond: number;
  /** How often the 50 ms timer got to run during the batch. */
  timerSamples: number;
}

const run = promisify(execFile);
const self = fileURLToPath(import.meta.url);
/** The bench's own flags (say --expose-gc), without a profiler's. */
const childFlags = [...process.execArgv.filter((flag) => !flag.startsWith('--cpu-prof') && !flag.startsWith('--heap-prof')), '--expose-gc'];
async function peakRss(count: number): Promise<RssReport> {
  const { stdout } = await run(process.execPath, [...childFlags, self, '--rss', String(count)], { timeout: 120_000 });
  const last = stdout.trim().split('\n').at(-1) ?? '';
  return JSON.parse(last) as RssReport;
}
const rss100k = await peakRss(100_000);
const rss1m = await peakRss(1_000_000);
const elapsedS = (performance.now() - started) / 1000;

const ratio = spanflow.unitsPerSecond / baseline.unitsPerSecond;
const trackerShare = withTracker.unitsPerSecond / spanflow.unitsPerSecond;

printTable(
  `Stage pipelines: ${STAGES} stages × ${WORKERS} workers, no-op async tasks, ${fmt(ITEMS)} items, collectResults: false (median of ${SAMPLES} runs after ${WARMUP} warm-up runs)`,
  ['variant', 'items/s', 'ms per run', 'relative'],
  [
    ['spanflow stages()', fmt(spanflow.unitsPerSecond, 0), fmt(spanflow.totalMs, 1), '1'],
    [`hand-written bounded queues (capacity ${CAPACITY})`, fmt(baseline.unitsPerSecond, 0), fmt(baseline.totalMs, 1), fmt(baseline.unitsPerSecond / spanflow.unitsPerSecond)],
    ['spanflow + StatusTracker (history: false)', fmt(withTracker.unitsPerSecond, 0), fmt(withTracker.totalMs, 1), fmt(trackerShare)],
  ],
);
console.log(`spanflow / hand-written: ${fmt(ratio)} (goal >= 0.5)\n`);
printTable(
  `Peak RSS, items streamed from a generator, collectResults: false, sampled every ${RSS_SAMPLE_MS} ms and every 1,000 items fed (fresh process each)`,
  ['items', 'RSS at start (MB)', 'peak RSS (MB)', 'heap live after GC (MB)', 'items/s', `${RSS_SAMPLE_MS} ms timer ticks in the run`],
  [rss100k, rss1m].map((r) => [fmt(r.items), fmt(r.startMb, 1), fmt(r.peakMb, 1), fmt(r.liveMb, 1), fmt(r.itemsPerSecond, 0), r.timerSamples]),
);
console.log(`${gc ? 'GC between variants' : 'no GC between variants (run with --expose-gc for it)'}; bench took ${fmt(elapsedS, 1)} s\n`);

printJson('stages', {
  items_per_s: round(spanflow.unitsPerSecond, 0),
  baseline_items_per_s: round(baseline.unitsPerSecond, 0),
  ratio: round(ratio),
  tracker_items_per_s: round(withTracker.unitsPerSecond, 0),
  rss_mb_1m: round(rss1m.peakMb, 1),
  rss_mb_100k: round(rss100k.peakMb, 1),
});
