// CPU-bound tasks on worker threads: a trivial task and a 1 ms CPU task through
// a spanflow stage on a WorkerPool, against raw Piscina running the same tasks
// at the same concurrency on as many threads; and the speed-up of a CPU-bound
// stage on the pool over the same stage on the main thread. Telemetry off.
//
//   node bench/workers.ts

import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import { stages } from '../sdk/index.ts';
import { WorkerPool, workerTask } from '../worker-threads/index.ts';
import { fmt, printJson, printTable, round, time } from './report.ts';
import { hashRounds } from './workers-tasks.ts';
import type * as work from './workers-tasks.ts';

const THREADS = availableParallelism();
/** Tasks in flight at once, on both sides: enough to keep every thread busy while replies travel. */
const CONCURRENCY = THREADS * 4;
const TRIVIAL_TASKS = 20_000;
const SPIN_TASKS = 2_000;
const SPIN_MS = 1;
const HASH_ITEMS = 400;
/** 64 KiB sha-256 rounds per item: a few ms of CPU each. */
const HASH_ROUNDS = 40;
const SAMPLES = 3;

const module = new URL('./workers-tasks.ts', import.meta.url);
const started = performance.now();

/** `count` tasks through raw Piscina, `CONCURRENCY` in flight. */
async function rawRun(piscina: Piscina, name: string, count: number, input: (i: number) => unknown): Promise<void> {
  let next = 0;
  const runner = async () => {
    while (next < count) {
      const i = next++;
      await piscina.run(input(i), { name });
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, runner));
}

const piscina = new Piscina({ filename: module.href, minThreads: THREADS, maxThreads: THREADS, idleTimeout: 10_000 });
const pool = new WorkerPool({ name: 'bench', minThreads: THREADS, maxThreads: THREADS });
const trivial = workerTask<typeof work.trivial>(module, 'trivial', { pool });
const spin = workerTask<typeof work.spin>(module, 'spin', { pool });
const hashOnPool = workerTask<typeof work.hashRounds>(module, 'hashRounds', { pool });

const numbers = (count: number) => Array.from({ length: count }, (_, i) => i);

async function throughput(variant: () => Promise<void>, tasks: number) {
  return time(variant, { iterations: 1, warmup: 1, samples: SAMPLES, units: tasks });
}

const trivialStage = stages<number>('trivial', { collectResults: false }).stage('trivial', { workers: CONCURRENCY, capacity: CONCURRENCY * 4, tasks: trivial });
const spinStage = stages<number>('spin', { collectResults: false }).stage('spin', { workers: CONCURRENCY, capacity: CONCURRENCY * 4, tasks: [() => SPIN_MS, spin] });
const checked = async (run: Promise<{ completed: number; status: string }>, count: number) => {
  const result = await run;
  if (result.completed !== count) throw new Error(`a run ended ${result.status} with ${result.completed} of ${count} completed`);
};

const rawTrivial = await throughput(() => rawRun(piscina, 'trivial', TRIVIAL_TASKS, (i) => i), TRIVIAL_TASKS);
const ourTrivial = await throughput(() => checked(trivialStage.run(numbers(TRIVIAL_TASKS)), TRIVIAL_TASKS), TRIVIAL_TASKS);
const rawSpin = await throughput(() => rawRun(piscina, 'spin', SPIN_TASKS, () => SPIN_MS), SPIN_TASKS);
const ourSpin = await throughput(() => checked(spinStage.run(numbers(SPIN_TASKS)), SPIN_TASKS), SPIN_TASKS);

// The same CPU-bound stage, its task on the main thread and on the pool.
const jobs = numbers(HASH_ITEMS).map((seed) => ({ seed, rounds: HASH_ROUNDS }));
const onMain = stages<{ seed: number; rounds: number }>('hash-main', { collectResults: false }).stage('hash-main', {
  workers: CONCURRENCY,
  capacity: CONCURRENCY * 4,
  tasks: hashRounds,
});
const onPool = stages<{ seed: number; rounds: number }>('hash-pool', { collectResults: false }).stage('hash-pool', {
  workers: CONCURRENCY,
  capacity: CONCURRENCY * 4,
  tasks: hashOnPool,
});
const mainHash = await throughput(() => checked(onMain.run(jobs), HASH_ITEMS), HASH_ITEMS);
const poolHash = await throughput(() => checked(onPool.run(jobs), HASH_ITEMS), HASH_ITEMS);

await Promise.all([piscina.close(), pool.close()]);

const trivialRatio = ourTrivial.unitsPerSecond / rawTrivial.unitsPerSecond;
const ratio = ourSpin.unitsPerSecond / rawSpin.unitsPerSecond;
const speedup = poolHash.unitsPerSecond / mainHash.unitsPerSecond;

printTable(
  `Tasks on ${THREADS} worker threads, ${CONCURRENCY} in flight, telemetry off (median of ${SAMPLES} runs after a warm-up run)`,
  ['task', 'variant', 'tasks/s', 'ms per run', 'spanflow / raw'],
  [
    ['trivial', `raw Piscina, ${fmt(TRIVIAL_TASKS)} tasks`, fmt(rawTrivial.unitsPerSecond, 0), fmt(rawTrivial.totalMs, 1), ''],
    ['trivial', 'spanflow stage + workerTask', fmt(ourTrivial.unitsPerSecond, 0), fmt(ourTrivial.totalMs, 1), fmt(trivialRatio)],
    [`${SPIN_MS} ms CPU`, `raw Piscina, ${fmt(SPIN_TASKS)} tasks`, fmt(rawSpin.unitsPerSecond, 0), fmt(rawSpin.totalMs, 1), ''],
    [`${SPIN_MS} ms CPU`, 'spanflow stage + workerTask', fmt(ourSpin.unitsPerSecond, 0), fmt(ourSpin.totalMs, 1), fmt(ratio)],
  ],
);
console.log(`spanflow / raw Piscina on the ${SPIN_MS} ms task: ${fmt(ratio)} (goal >= 0.9)\n`);
printTable(
  `A CPU-bound stage (${HASH_ROUNDS} sha-256 rounds of 64 KiB per item, ${HASH_ITEMS} items, ${CONCURRENCY} stage workers)`,
  ['where the task runs', 'items/s', 'ms per run', 'speed-up'],
  [
    ['main thread', fmt(mainHash.unitsPerSecond, 0), fmt(mainHash.totalMs, 1), '1'],
    [`worker pool (${THREADS} threads)`, fmt(poolHash.unitsPerSecond, 0), fmt(poolHash.totalMs, 1), fmt(speedup)],
  ],
);
console.log(`bench took ${fmt((performance.now() - started) / 1000, 1)} s\n`);

printJson('workers', { trivial_ratio: round(trivialRatio), ratio: round(ratio), speedup: round(speedup) });
