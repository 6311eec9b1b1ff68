// Graph engine overhead: a 10-step linear pipeline against the same ten async
// functions awaited in a loop, concurrent runs, and a map over 100,000 items
// against a hand-written bounded-concurrency loop. No event listeners attached.

import { pipeline } from '../sdk/index.ts';
import { fmt, printJson, printTable, round, time } from './report.ts';

const STEPS = 10;
const CONCURRENT_RUNS = 100;
const MAP_ITEMS = 100_000;
const MAP_CONCURRENCY = 64;

// ---- the work: async no-ops ---------------------------------------------

const noops: (() => Promise<void>)[] = Array.from({ length: STEPS }, () => async () => {});

let linear = pipeline(`linear-${STEPS}`);
for (let i = 0; i < STEPS; i++) {
  linear = linear.step(`s${i}`, noops[i] ?? (async () => {}), i + 1 < STEPS ? { to: `s${i + 1}` } : {});
}
linear.validate();

const items = Array.from({ length: MAP_ITEMS }, (_, i) => i);
const mapped = pipeline('map-100k')
  .map('fan', () => items, { worker: 'noop', concurrency: MAP_CONCURRENCY })
  .step('noop', async () => {})
  .validate();

async function runLinear(): Promise<void> {
  const result = await linear.run(undefined);
  if (result.status !== 'succeeded') throw new Error(`linear run ended ${result.status}: ${result.error?.message}`);
}

async function plainLoop(): Promise<void> {
  for (const fn of noops) await fn();
}

async function concurrentRuns(): Promise<void> {
  const runs: Promise<void>[] = [];
  for (let i = 0; i < CONCURRENT_RUNS; i++) runs.push(runLinear());
  await Promise.all(runs);
}

async function runMap(): Promise<void> {
  const result = await mapped.run(undefined);
  if (result.status !== 'succeeded') throw new Error(`map run ended ${result.status}: ${result.error?.message}`);
}

const worker = async (_item: number): Promise<void> => {};

/** The baseline for the map: the same calls, at most `MAP_CONCURRENCY` in flight, results kept in order. */
async function plainMap(): Promise<void> {
  const results: unknown[] = new Array(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await worker(items[index] ?? 0);
    }
  };
  await Promise.all(Array.from({ length: MAP_CONCURRENCY }, lane));
}

// ---- measure ---------------------------------------------------------------

const SAMPLES = 5;
const started = performance.now();
const pipe = await time(runLinear, { iterations: 25_000, warmup: 10_000, samples: SAMPLES });
const loop = await time(plainLoop, { iterations: 500_000, warmup: 100_000, samples: SAMPLES });
const concurrent = await time(concurrentRuns, { iterations: 300, warmup: 50, samples: SAMPLES, units: CONCURRENT_RUNS });
const map = await time(runMap, { iterations: 5, warmup: 2, samples: SAMPLES, units: MAP_ITEMS });
const mapBaseline = await time(plainMap, { iterations: 30, warmup: 5, samples: SAMPLES, units: MAP_ITEMS });
const elapsedS = (performance.now() - started) / 1000;

/** How many times the plain loop's time one pipeline run takes. */
const linearRatio = pipe.usPerIteration / loop.usPerIteration;
/** The map's throughput as a fraction of the plain bounded loop's. */
const mapRatio = map.unitsPerSecond / mapBaseline.unitsPerSecond;

printTable(
  `spanflow graph bench: node ${process.version}, no event listeners, median of ${SAMPLES} samples, ${fmt(elapsedS, 1)} s`,
  ['measurement', 'spanflow', 'plain baseline', 'spanflow vs baseline'],
  [
    [`${STEPS}-step linear run, µs/run`, fmt(pipe.usPerIteration), fmt(loop.usPerIteration, 3), `${fmt(linearRatio, 1)}× the time`],
    ['  the same, µs per step', fmt(pipe.usPerIteration / STEPS), fmt(loop.usPerIteration / STEPS, 3), ''],
    [`${CONCURRENT_RUNS} concurrent runs (Promise.all), runs/s`, fmt(concurrent.unitsPerSecond, 0), '', ''],
    [
      `map of ${fmt(MAP_ITEMS, 0)} no-op items, concurrency ${MAP_CONCURRENCY}, items/s`,
      fmt(map.unitsPerSecond, 0),
      fmt(mapBaseline.unitsPerSecond, 0),
      `${fmt(mapRatio, 3)}× the throughput`,
    ],
    ['  the same, µs per item', fmt(1e6 / map.unitsPerSecond, 3), fmt(1e6 / mapBaseline.unitsPerSecond, 3), ''],
  ],
);

printJson('graph', {
  us_per_run: round(pipe.usPerIteration),
  plain_loop_us_per_run: round(loop.usPerIteration),
  ratio: round(linearRatio),
  concurrent_runs_per_s: round(concurrent.unitsPerSecond, 0),
  map_items_per_s: round(map.unitsPerSecond, 0),
  map_baseline_items_per_s: round(mapBaseline.unitsPerSecond, 0),
  map_ratio: round(mapRatio, 4),
});
