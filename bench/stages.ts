// Stage pipeline overhead: 3 stages × 10 workers of no-op async tasks over 200,000 items,
// against a tuned hand-written chain of bounded queues doing the same work (synchronous
// fast path, direct hand-off, one await per task) and the earlier async-put chain; the
// same pipeline with a StatusTracker listening (history off, and the default history);
// samples taken in turns, medians with
// their range; and peak RSS for 100,000 and 1,000,000 items
// streamed from a generator with results not collected (each in a fresh child process,
// so what earlier measurements left on the heap does not count).
//
//   node bench/stages.ts                  the whole bench
//   node bench/stages.ts --rss <items>    one RSS measurement (what the bench spawns)

import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { StatusTracker, stages } from '../sdk/index.ts';
import { fmt, fmtSpread, interleaved, printJson, printTable, ratios, round, spread } from './report.ts';

const STAGES = 3;
const WORKERS = 10;
const CAPACITY = 40;
const ITEMS = 200_000;
const RSS_SAMPLE_MS = 50;
const SAMPLES = 7;
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

// ---- the baselines ------------------------------------------------------------------

const CLOSED = Symbol('closed');
const EMPTY = Symbol('empty');

/**
 * The tuned baseline's queue: bounded, with a synchronous fast path (`tryTake`, `tryPut`
 * cost no promise when there is an item or room) and direct hand-off (an item put while
 * a worker waits goes straight to that worker, a waiting putter's item takes the slot a
 * take frees). A worker awaits once per task, as spanflow's do.
 */
class HandOffQueue<T> {
  readonly capacity: number;
  #items: (T | undefined)[] = [];
  #head = 0;
  #closed = false;
  readonly #takers: ((item: T | typeof CLOSED) => void)[] = [];
  readonly #putters: { readonly item: T; readonly resolve: () => void }[] = [];

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  get size(): number {
    return this.#items.length - this.#head;
  }

  tryTake(): T | typeof EMPTY {
    if (this.#items.length === this.#head) return EMPTY;
    const item = this.#items[this.#head] as T;
    this.#items[this.#head++] = undefined;
    if (this.#head >= 1024) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    const putter = this.#putters.shift();
    if (putter) {
      this.#items.push(putter.item);
      putter.resolve();
    }
    return item;
  }

  /** Only when `tryTake` found nothing. */
  take(): Promise<T | typeof CLOSED> {
    if (this.#closed) return Promise.resolve(CLOSED);
    return new Promise((resolve) => this.#takers.push(resolve));
  }

  tryPut(item: T): boolean {
    const taker = this.#takers.shift();
    if (taker) {
      taker(item);
      return true;
    }
    if (this.size >= this.capacity) return false;
    this.#items.push(item);
    return true;
  }

  /** Only when `tryPut` found no room. */
  put(item: T): Promise<void> {
    return new Promise((resolve) => this.#putters.push({ item, resolve }));
  }

  close(): void {
    this.#closed = true;
    for (const wake of this.#takers.splice(0)) wake(CLOSED);
  }
}

/** The tuned chain: feed, 3 stages of 10 workers, each stage closing the next queue when it is done. */
async function tunedRun(items: readonly number[]): Promise<number> {
  const queues = Array.from({ length: STAGES }, () => new HandOffQueue<number>(CAPACITY));
  let done = 0;
  const stageDone: Promise<void>[] = queues.map(async (queue, s) => {
    const next = queues[s + 1];
    const worker = async () => {
      for (;;) {
        let value = queue.tryTake();
        if (value === EMPTY) {
          const taken = await queue.take();
          if (taken === CLOSED) return;
          value = taken;
        }
        const out = await noop(value);
        if (!next) done++;
        else if (!next.tryPut(out)) await next.put(out);
      }
    };
    await Promise.all(Array.from({ length: WORKERS }, worker));
    next?.close();
  });
  const first = queues[0] as HandOffQueue<number>;
  for (const item of items) if (!first.tryPut(item)) await first.put(item);
  first.close();
  await Promise.all(stageDone);
  return done;
}

/**
 * The earlier baseline, kept for its row (the JSON's `baseline_items_per_s` and `ratio`):
 * the same chain with async `put`/`take`, so every hand-off pays a promise and a tick even
 * when nobody waits. Slower than it needs to be; the tuned chain is the one to beat.
 */
class AsyncQueue<T> {
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

async function asyncChainRun(items: readonly number[]): Promise<number> {
  const queues = Array.from({ length: STAGES }, () => new AsyncQueue<number>(CAPACITY));
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
  const first = queues[0] as AsyncQueue<number>;
  for (const item of items) await first.put(item);
  first.close();
  await Promise.all(stageDone);
  return done;
}

// ---- measure ---------------------------------------------------------------------

const items = Array.from({ length: ITEMS }, (_, i) => i);
const started = performance.now();

/** One sample: a whole batch of ITEMS, its throughput in items/s (no collection forced before it: see time() in report.ts). */
function sample(run: () => Promise<number>): () => Promise<number> {
  return async () => {
    const begun = performance.now();
    const done = await run();
    const ms = performance.now() - begun;
    if (done !== ITEMS) throw new Error(`a sample finished ${done} of ${ITEMS} items`);
    return (ITEMS * 1000) / ms;
  };
}

const plain = noopPipeline();
const tracker = new StatusTracker({ history: false });
const tracked = noopPipeline({ tracker });
// The default tracker keeps each item's events (up to 100): the batch must build its task events for it, and it holds them.
const historyTracker = new StatusTracker();
const historyTracked = noopPipeline({ tracker: historyTracker });
const cases = {
  spanflow: sample(async () => (await plain.run(items)).completed),
  tuned: sample(() => tunedRun(items)),
  asyncChain: sample(() => asyncChainRun(items)),
  tracked: sample(async () => {
    tracker.clear();
    const result = await tracked.run(items);
    if (tracker.stats().completed !== ITEMS) throw new Error(`the tracker saw ${tracker.stats().completed} items complete`);
    return result.completed;
  }),
  history: sample(async () => {
    historyTracker.clear();
    const result = await historyTracked.run(items);
    if (historyTracker.stats().completed !== ITEMS) throw new Error(`the tracker saw ${historyTracker.stats().completed} items complete`);
    return result.completed;
  }),
};
await interleaved(cases, WARMUP);
const samples = await interleaved(cases, SAMPLES);
tracker.clear();
/**
 * Memory a tracked item holds after its batch: the default tracker's (with history) and history: false's, per item.
 * The heap and external memory both: the tracker keeps its columns and history records in typed arrays
 * (external; a resizable buffer's is counted there, not in `arrayBuffers`).
 */
async function heapPerItem(t: StatusTracker, p: typeof plain): Promise<number> {
  // A full collection on demand, with or without --expose-gc (only here: the samples above run as the bench was started).
  setFlagsFromString('--expose-gc');
  const collect = runInNewContext('gc') as () => void;
  const used = () => {
    const { heapUsed, external } = process.memoryUsage();
    return heapUsed + external;
  };
  // Array buffers a collection frees are released by a sweeper afterwards: a turn later, then collect again.
  const settle = async () => {
    collect();
    await new Promise((resolve) => setTimeout(resolve, 100));
    collect();
  };
  t.clear();
  await settle();
  const before = used();
  await p.run(items);
  await settle();
  const held = used() - before;
  t.clear();
  return held / ITEMS;
}
const historyBytes = await heapPerItem(historyTracker, historyTracked);
const noHistoryBytes = await heapPerItem(tracker, tracked);
const throughput = {
  spanflow: spread(samples.spanflow),
  tuned: spread(samples.tuned),
  asyncChain: spread(samples.asyncChain),
  tracked: spread(samples.tracked),
  history: spread(samples.history),
};
const tunedRatio = spread(ratios(samples.spanflow, samples.tuned));
const asyncRatio = spread(ratios(samples.spanflow, samples.asyncChain));
const trackerRatio = spread(ratios(samples.tracked, samples.spanflow));
const historyRatio = spread(ratios(samples.history, samples.spanflow));
const kb = (bytes: number) => `${fmt(bytes / 1024, 2)} KB an item held`;

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

printTable(
  `Stage pipelines: ${STAGES} stages × ${WORKERS} workers, no-op async tasks, ${fmt(ITEMS)} items a batch, collectResults: false; median (min–max) of ${SAMPLES} samples taken in turns after ${WARMUP} warm-up rounds`,
  ['variant', 'items/s', 'spanflow / it'],
  [
    ['spanflow stages()', fmtSpread(throughput.spanflow, 0), '1'],
    [`tuned chain: sync fast path, direct hand-off (capacity ${CAPACITY})`, fmtSpread(throughput.tuned, 0), fmtSpread(tunedRatio)],
    ['async-put chain (the earlier baseline)', fmtSpread(throughput.asyncChain, 0), fmtSpread(asyncRatio)],
    ['spanflow + StatusTracker (history: false)', fmtSpread(throughput.tracked, 0), `tracker on / off: ${fmtSpread(trackerRatio)}; ${kb(noHistoryBytes)}`],
    ['spanflow + StatusTracker (default: history of 100 events)', fmtSpread(throughput.history, 0), `tracker on / off: ${fmtSpread(historyRatio)}; ${kb(historyBytes)}`],
  ],
);
console.log(`spanflow / tuned chain: ${fmt(tunedRatio.median)} (goal >= 0.5); tracker on / off: ${fmt(trackerRatio.median)} (goal >= 0.5)\n`);
printTable(
  `Peak RSS, items streamed from a generator, collectResults: false, sampled every ${RSS_SAMPLE_MS} ms and every 1,000 items fed (fresh process each)`,
  ['items', 'RSS at start (MB)', 'peak RSS (MB)', 'heap live after GC (MB)', 'items/s', `${RSS_SAMPLE_MS} ms timer ticks in the run`],
  [rss100k, rss1m].map((r) => [fmt(r.items), fmt(r.startMb, 1), fmt(r.peakMb, 1), fmt(r.liveMb, 1), fmt(r.itemsPerSecond, 0), r.timerSamples]),
);
console.log(`bench took ${fmt(elapsedS, 1)} s\n`);

printJson('stages', {
  items_per_s: round(throughput.spanflow.median, 0),
  baseline_items_per_s: round(throughput.asyncChain.median, 0),
  ratio: round(asyncRatio.median),
  tuned_baseline_items_per_s: round(throughput.tuned.median, 0),
  tuned_ratio: round(tunedRatio.median),
  tracker_items_per_s: round(throughput.tracked.median, 0),
  tracker_ratio: round(trackerRatio.median),
  tracker_history_ratio: round(historyRatio.median),
  tracker_history_kb_per_item: round(historyBytes / 1024, 2),
  tracker_kb_per_item: round(noHistoryBytes / 1024, 3),
  rss_mb_1m: round(rss1m.peakMb, 1),
  rss_mb_100k: round(rss100k.peakMb, 1),
});
