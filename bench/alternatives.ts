// spanflow against the libraries people would otherwise pick, on this machine, the same
// work each: a 10-step graph run against LangGraph.js and Mastra's workflows
// (bench/alternatives/graphs.ts), and a 3-stage × 10-worker item pipeline against p-queue
// and fastq (bench/alternatives/queues.ts). Samples are taken in turns and reported as
// medians with their range; ratios are taken round by round.
//
// Those libraries are not spanflow's dependencies: they live in bench/alternatives/, with a
// package.json and lock file of their own, installed there on the first run
// (`npm ci --prefix bench/alternatives`), so spanflow's own dependency tree never holds them.
//
//   node bench/alternatives.ts              the whole comparison
//   node bench/alternatives.ts --quick      fewer, shorter samples (a smoke run)

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { GraphsModule, QueuesModule } from './alternatives/results.ts';
import { fmt, fmtSpread, printJson, printTable, round, type Spread } from './report.ts';

const folder = fileURLToPath(new URL('./alternatives/', import.meta.url));
if (!existsSync(`${folder}node_modules`)) {
  console.log('installing the libraries compared against into bench/alternatives/node_modules (npm ci --prefix bench/alternatives) …');
  const npm = spawnSync('npm', ['ci', '--prefix', folder, '--no-audit', '--no-fund'], { stdio: 'inherit', shell: process.platform === 'win32' });
  if (npm.status !== 0) {
    console.error('npm ci in bench/alternatives failed: install them by hand with `npm install --prefix bench/alternatives`');
    process.exit(1);
  }
}

// Loaded by a computed path: these modules import the compared libraries, which type-checking
// the repository must not require (bench/alternatives/tsconfig.json checks them once installed).
const load = (name: string): Promise<unknown> => import(new URL(`./alternatives/${name}`, import.meta.url).href);
const { compareGraphs, STEPS } = (await load('graphs.ts')) as GraphsModule;
const { compareQueues, STAGES, WORKERS, CAPACITY } = (await load('queues.ts')) as QueuesModule;

const quick = process.argv.includes('--quick');
const ROUNDS = quick ? 3 : 9;
const SAMPLE_MS = quick ? 100 : 300;
const ITEMS = quick ? 20_000 : 100_000;
const started = performance.now();

const graphs = await compareGraphs(ROUNDS, SAMPLE_MS);
const queues = await compareQueues(ITEMS, ROUNDS);
const elapsedS = (performance.now() - started) / 1000;

const x = (s: Spread, digits = 1) => `${fmtSpread(s, digits)}×`;
printTable(
  `A ${STEPS}-step graph run (async no-op steps, run one after another), µs per run: median (min–max) of ${ROUNDS} samples of about ${SAMPLE_MS} ms each, taken in turns; node ${process.version}`,
  ['engine', 'µs per run', 'time vs spanflow'],
  [
    ['spanflow pipeline()', fmtSpread(graphs.spanflow), '1'],
    ['LangGraph.js StateGraph, no checkpointer', fmtSpread(graphs.langgraph, 0), x(graphs.langgraphRatio)],
    ['Mastra workflow, validation/step events/snapshots off', fmtSpread(graphs.mastra, 0), x(graphs.mastraRatio)],
    ['Mastra workflow, defaults', fmtSpread(graphs.mastraDefaults, 0), x(graphs.mastraDefaultsRatio)],
  ],
);
printTable(
  `An item pipeline: ${STAGES} stages × ${WORKERS} workers, async no-op tasks, ${fmt(ITEMS, 0)} items, at most ${CAPACITY} waiting per stage, results not kept; items/s: median (min–max) of ${ROUNDS} runs taken in turns`,
  ['engine', 'items/s', 'spanflow throughput vs it'],
  [
    ['spanflow stages()', fmtSpread(queues.spanflow, 0), '1'],
    ['p-queue, a PQueue per stage, onSizeLessThan()', fmtSpread(queues.pQueue, 0), x(queues.pQueueRatio, 2)],
    ['fastq, a fastq.promise per stage', fmtSpread(queues.fastq, 0), x(queues.fastqRatio, 2)],
  ],
);
console.log(`bench took ${fmt(elapsedS, 1)} s\n`);

printJson('alternatives', {
  rounds: ROUNDS,
  graph_us_per_run: round(graphs.spanflow.median),
  langgraph_us_per_run: round(graphs.langgraph.median, 1),
  mastra_us_per_run: round(graphs.mastra.median, 1),
  mastra_defaults_us_per_run: round(graphs.mastraDefaults.median, 1),
  langgraph_ratio: round(graphs.langgraphRatio.median, 1),
  langgraph_ratio_min: round(graphs.langgraphRatio.min, 1),
  langgraph_ratio_max: round(graphs.langgraphRatio.max, 1),
  mastra_ratio: round(graphs.mastraRatio.median, 1),
  mastra_ratio_min: round(graphs.mastraRatio.min, 1),
  mastra_ratio_max: round(graphs.mastraRatio.max, 1),
  mastra_defaults_ratio: round(graphs.mastraDefaultsRatio.median, 1),
  stages_items_per_s: round(queues.spanflow.median, 0),
  p_queue_items_per_s: round(queues.pQueue.median, 0),
  fastq_items_per_s: round(queues.fastq.median, 0),
  p_queue_ratio: round(queues.pQueueRatio.median, 2),
  p_queue_ratio_min: round(queues.pQueueRatio.min, 2),
  p_queue_ratio_max: round(queues.pQueueRatio.max, 2),
  fastq_ratio: round(queues.fastqRatio.median, 2),
  fastq_ratio_min: round(queues.fastqRatio.min, 2),
  fastq_ratio_max: round(queues.fastqRatio.max, 2),
});
