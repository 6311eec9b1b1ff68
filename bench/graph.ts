// Graph engine overhead: a 10-step linear pipeline against the same ten async
// functions awaited in a loop, concurrent runs, and a map over 100,000 items
// against a hand-written bounded-concurrency loop. Then how a join scales: the
// cost per node of an ALL join 1,000 and 8,000 parents wide, whose ratio should
// be about 1 (linear in its parents); and the cost of the first 300 runs of a fresh
// process (JIT warm-up; bench/cold.ts), importing the built package as users do, and the
// TypeScript sources. Each figure and its baseline are sampled in turns; medians with
// their range. No event listeners attached.

import { pipeline } from '../sdk/index.ts';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { fmt, fmtSpread, interleaved, printJson, printTable, ratios, round, spread, time } from './report.ts';

const STEPS = 10;
const CONCURRENT_RUNS = 100;
const MAP_ITEMS = 100_000;
const MAP_CONCURRENCY = 64;
const JOIN_WIDTHS = [1_000, 8_000] as const;

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

/** A start step, `width` parallel steps, and one ALL barrier that joins them: `width + 2` nodes. */
function wideJoin(width: number) {
  const branches = Array.from({ length: width }, (_, i) => `b${i}`);
  let p = pipeline(`join-${width}`).step('start', () => 0, { to: branches });
  for (const name of branches) p = p.step(name, () => 1, { to: 'join' });
  return p.barrier('join', () => 2).validate();
}

async function runJoin(join: ReturnType<typeof wideJoin>): Promise<void> {
  const result = await join.run(undefined);
  if (result.status !== 'succeeded') throw new Error(`join run ended ${result.status}: ${result.error?.message}`);
}

interface Case {
  readonly run: () => Promise<void>;
  /** Nodes one run has. */
  readonly units: number;
  /** Runs per sample. */
  readonly calls: number;
}

/**
 * µs per node of a narrow and a wide case, each the median of `samples` samples taken in turns (one of
 * each, then again), so a busy machine's drift weighs on both alike; both are warmed up first.
 */
async function perNode(cases: readonly [Case, Case], samples: number): Promise<[number, number]> {
  for (const c of cases) await time(c.run, { iterations: c.calls, warmup: 0, samples: 1 });
  const taken: [number[], number[]] = [[], []];
  for (let s = 0; s < samples; s++) {
    for (const [i, c] of cases.entries()) {
      const timing = await time(c.run, { iterations: c.calls, warmup: 0, samples: 1, units: c.units });
      taken[i]?.push(1e6 / timing.unitsPerSecond);
    }
  }
  return [spread(taken[0]).median, spread(taken[1]).median];
}

// ---- measure ---------------------------------------------------------------

const SAMPLES = 7;
const COLD_RUNS = 300;
const COLD_PROCESSES = 5;

/** A sample: `calls` calls of `fn` one after another; its figure is µs per call. */
function usPerCall(fn: () => Promise<void>, calls: number): () => Promise<number> {
  return async () => {
    const timing = await time(fn, { iterations: calls, warmup: 0, samples: 1 });
    return timing.usPerIteration;
  };
}

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));
/** µs per run over the first COLD_RUNS runs of a fresh process importing spanflow from `entry` (the definition built, nothing warmed). */
function coldRun(entry: string): () => Promise<number> {
  return async () => {
    const { stdout } = await run(process.execPath, [join(root, 'bench', 'cold.ts'), join(root, entry), String(COLD_RUNS)], { timeout: 120_000 });
    return (JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as { usPerRun: number }).usPerRun;
  };
}

const started = performance.now();
// Users run the built package (a package's TypeScript is not type-stripped under node_modules): built now, so it is this tree's.
await run('npm', ['run', '-s', 'build'], { cwd: root, timeout: 300_000 });
const coldSamples = await interleaved({ built: coldRun('dist/sdk/index.js'), sources: coldRun('sdk/index.ts') }, COLD_PROCESSES);
const cold = spread(coldSamples.built);
const coldSources = spread(coldSamples.sources);
// The linear run against its loop; concurrent runs on their own afterwards (taken in the same rounds, their
// garbage and megamorphic call sites slowed the linear samples by half).
const linearCases = { spanflow: usPerCall(runLinear, 10_000), loop: usPerCall(plainLoop, 100_000) };
const concurrentCases = { concurrent: usPerCall(concurrentRuns, 50) };
const mapCases = { spanflow: usPerCall(runMap, 1), loop: usPerCall(plainMap, 5) };
await interleaved(linearCases, 3);
await interleaved(mapCases, 2);
const linearSamples = await interleaved(linearCases, SAMPLES);
await interleaved(concurrentCases, 2);
const concurrentSamples = await interleaved(concurrentCases, SAMPLES);
const mapSamples = await interleaved(mapCases, SAMPLES);
const pipe = spread(linearSamples.spanflow);
const loop = spread(linearSamples.loop);
const concurrent = spread(concurrentSamples.concurrent.map((us) => (CONCURRENT_RUNS * 1e6) / us));
const map = spread(mapSamples.spanflow.map((us) => (MAP_ITEMS * 1e6) / us));
const mapBaseline = spread(mapSamples.loop.map((us) => (MAP_ITEMS * 1e6) / us));
const joinCase = (width: number): Case => {
  const join = wideJoin(width);
  return { run: () => runJoin(join), units: width + 2, calls: Math.ceil(40_000 / width) };
};
const [narrowJoin, wideJoinCost] = await perNode([joinCase(JOIN_WIDTHS[0]), joinCase(JOIN_WIDTHS[1])], SAMPLES);
const elapsedS = (performance.now() - started) / 1000;

/** How many times the plain loop's time one pipeline run takes (per round, then the median). */
const linearRatio = spread(ratios(linearSamples.spanflow, linearSamples.loop));
/** The map's throughput as a fraction of the plain bounded loop's: the loop's time over the map's, per round. */
const mapRatio = spread(ratios(mapSamples.loop, mapSamples.spanflow));
/** Cost per node of the wide join over the narrow one's: about 1 when a join is linear in its parents. */
const joinRatio = wideJoinCost / narrowJoin;

printTable(
  `spanflow graph bench: node ${process.version}, no event listeners, median (min–max) of ${SAMPLES} samples taken in turns with their baseline, ${fmt(elapsedS, 1)} s`,
  ['measurement', 'spanflow', 'plain baseline', 'spanflow vs baseline'],
  [
    [`${STEPS}-step linear run, µs/run (warm)`, fmtSpread(pipe), fmtSpread(loop, 3), `${fmtSpread(linearRatio, 1)}× the time`],
    ['  the same, µs per step', fmt(pipe.median / STEPS), fmt(loop.median / STEPS, 3), ''],
    [`  the first ${COLD_RUNS} runs of a fresh process, the built package, µs/run (${COLD_PROCESSES} processes)`, fmtSpread(cold, 0), '', ''],
    [`  the same, importing the TypeScript sources (type stripping)`, fmtSpread(coldSources, 0), '', ''],
    [`${CONCURRENT_RUNS} concurrent runs (Promise.all), runs/s`, fmtSpread(concurrent, 0), '', ''],
    [
      `map of ${fmt(MAP_ITEMS, 0)} no-op items, concurrency ${MAP_CONCURRENCY}, items/s`,
      fmtSpread(map, 0),
      fmtSpread(mapBaseline, 0),
      `${fmtSpread(mapRatio, 3)}× the throughput`,
    ],
    ['  the same, µs per item', fmt(1e6 / map.median, 3), fmt(1e6 / mapBaseline.median, 3), ''],
  ],
);
console.log(`goals: warm run <= 8 µs (${fmt(pipe.median)}), the first ${COLD_RUNS} runs <= 60 µs (${fmt(cold.median, 0)}), map_ratio >= 0.3 (${fmt(mapRatio.median, 3)})\n`);
printTable(
  `An ALL join over N parents, µs per node (start, N parents, join), median of ${SAMPLES} samples taken in turns`,
  ['measurement', `N = ${fmt(JOIN_WIDTHS[0], 0)}`, `N = ${fmt(JOIN_WIDTHS[1], 0)}`, `ratio (about 1: linear)`],
  [['ALL join, µs per node', fmt(narrowJoin), fmt(wideJoinCost), fmt(joinRatio)]],
);

printJson('graph', {
  us_per_run: round(pipe.median),
  plain_loop_us_per_run: round(loop.median),
  ratio: round(linearRatio.median),
  cold_us_per_run: round(cold.median, 1),
  cold_sources_us_per_run: round(coldSources.median, 1),
  concurrent_runs_per_s: round(concurrent.median, 0),
  map_items_per_s: round(map.median, 0),
  map_baseline_items_per_s: round(mapBaseline.median, 0),
  map_ratio: round(mapRatio.median, 4),
  join_us_per_node_1k: round(narrowJoin),
  join_us_per_node_8k: round(wideJoinCost),
  join_ratio: round(joinRatio),
});
