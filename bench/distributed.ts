// Stage tasks on distributed workers (spanflow/distributed, pg-boss on a local
// PostgreSQL): the throughput of a 5 ms CPU task on 1, 2 and 4 local worker
// processes (`spanflow worker`, one job at a time each) against the same stage
// in-process on the thread pool, and the per-task cost of dispatch: a graph run
// of one no-op step sent to a worker against the same run with the step in
// process, one run at a time (the latency a remote step adds). The sides take
// turns, round after round; medians with min–max. Telemetry off.
//
// What a 2-core machine can show: at most about 2× from more workers, and 4
// workers only contend for the same 2 cores (with Postgres beside them); the
// thread pool uses both cores with no database between. Real scale-out is
// across machines; here the figure to keep low is the dispatch overhead.
//
// PostgreSQL: SPANFLOW_BENCH_DATABASE_URL names a server; without it the bench
// starts a private local cluster with the server's default durability
// (test/pg-cluster.ts: PostgreSQL's server must be installed).
//
//   node bench/distributed.ts

import { type ChildProcess, spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { createDispatcher, remoteTask } from '../distributed/index.ts';
import { pipeline, stages } from '../sdk/index.ts';
import { type PgCluster, startCluster } from '../test/pg-cluster.ts';
import { WorkerPool, workerTask } from '../worker-threads/index.ts';
import { fmt, fmtSpread, interleaved, printJson, printTable, ratios, round, spread } from './report.ts';
import type * as work from './workers-tasks.ts';

const cluster = process.env.SPANFLOW_BENCH_DATABASE_URL ? undefined : await startCluster({ durable: true });
const URL_ = process.env.SPANFLOW_BENCH_DATABASE_URL ?? (cluster as PgCluster).url();
const SCHEMA = 'bench_distributed';
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TASKS = new URL('./workers-tasks.ts', import.meta.url);
const SPIN_MS = 5;
const ITEMS = 200;
const OVERHEAD_RUNS = 200;
const ROUNDS = 5;
const WORKER_COUNTS = [1, 2, 4] as const;
const THREADS = availableParallelism();
const started = performance.now();

/** `spanflow worker` processes on `queue`, ready to take jobs. */
async function workers(queue: string, count: number): Promise<ChildProcess[]> {
  const cli = fileURLToPath(new URL('../cli/spanflow.js', import.meta.url));
  return Promise.all(
    Array.from({ length: count }, () => {
      const child = spawn(process.execPath, [cli, 'worker', '--database-url', URL_, '--queue', queue, '--queue-schema', SCHEMA, '--root', ROOT, '--concurrency', '1'], {
        stdio: ['ignore', 'pipe', 'inherit'],
        env: Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('OTEL_'))),
      });
      return new Promise<ChildProcess>((resolve, reject) => {
        let output = '';
        child.stdout?.on('data', (chunk: Buffer) => {
          output += chunk;
          if (output.includes('; ready')) resolve(child);
        });
        child.once('exit', (code) => reject(new Error(`a worker exited (${code}) before it was ready: ${output}`)));
      });
    }),
  );
}

// One worker first, so pg-boss makes its schema once; then the rest.
const processes = [...(await workers('spin-1', 1))];
for (const count of WORKER_COUNTS.slice(1)) processes.push(...(await workers(`spin-${count}`, count)));
processes.push(...(await workers('noop', 1)));

const dispatcher = createDispatcher({ connectionString: URL_, schema: SCHEMA });
const pool = new WorkerPool({ name: 'bench', minThreads: THREADS, maxThreads: THREADS });
const inputs = Array.from({ length: ITEMS }, () => SPIN_MS);

/** A stage of ITEMS spin tasks, enough in flight to keep every worker (or thread) busy; items/s. */
function spinStage(name: string, task: (ms: number, context: never) => unknown): () => Promise<number> {
  const batch = stages<number>(name, { collectResults: false }).stage('spin', { workers: 16, tasks: task as never });
  return async () => {
    const t = performance.now();
    const result = await batch.run(inputs);
    if (result.completed !== ITEMS) throw new Error(`${name}: ${result.completed} of ${ITEMS} completed (${result.status})`);
    return (ITEMS * 1000) / (performance.now() - t);
  };
}

const spinCases = {
  pool: spinStage('pool', workerTask<typeof work.spin>(TASKS, 'spin', { pool })),
  ...Object.fromEntries(WORKER_COUNTS.map((count) => [`workers${count}`, spinStage(`workers-${count}`, remoteTask(TASKS, 'spin', { queue: `spin-${count}`, dispatcher }))])),
} as Record<'pool' | `workers${(typeof WORKER_COUNTS)[number]}`, () => Promise<number>>;

/** Median ms of one run of a one-step graph, run OVERHEAD_RUNS times one after another. */
function latency(step: (args: never) => unknown): () => Promise<number> {
  const graph = pipeline<number>('overhead').step('noop', step as never);
  return async () => {
    const times: number[] = [];
    for (let i = 0; i < OVERHEAD_RUNS; i++) {
      const t = performance.now();
      const run = await graph.run(i);
      if (run.status !== 'succeeded') throw new Error(`overhead run ${run.status}`);
      times.push(performance.now() - t);
    }
    return spread(times).median;
  };
}
const overheadCases = {
  local: latency(({ state }: { state: number }) => state),
  remote: latency(remoteTask<typeof work.trivial>(TASKS, 'trivial', { queue: 'noop', dispatcher }) as never),
};

// Warm-up: modules loaded in every worker, JIT settled, the queues made.
for (const run of [...Object.values(spinCases), ...Object.values(overheadCases)]) await run();
const spin = await interleaved(spinCases, ROUNDS);
const overhead = await interleaved(overheadCases, ROUNDS);

await dispatcher.close();
await pool.close();
await Promise.all(
  processes.map((child) => {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    return exited;
  }),
);
cluster?.destroy();

const perTask = spread(ratios(overhead.remote, overhead.local).map((_, i) => (overhead.remote[i] ?? 0) - (overhead.local[i] ?? 0)));
const speedup = (count: 2 | 4) => spread(ratios(spin[`workers${count}`], spin.workers1));
const againstPool = (key: keyof typeof spin) => spread(ratios(spin[key], spin.pool));

printTable(
  `A stage of ${ITEMS} ${SPIN_MS} ms CPU tasks, 16 in flight (median (min–max) of ${ROUNDS} rounds, sides in turns; ${THREADS} cores)`,
  ['where the task runs', 'items/s', 'vs 1 worker', 'vs thread pool'],
  [
    [`in process, thread pool (${THREADS} threads)`, fmtSpread(spread(spin.pool), 0), '', '1'],
    ...WORKER_COUNTS.map((count) => [
      `${count} worker process${count > 1 ? 'es' : ''} (pg-boss)`,
      fmtSpread(spread(spin[`workers${count}`]), 0),
      count === 1 ? '1' : fmtSpread(speedup(count)),
      fmtSpread(againstPool(`workers${count}`)),
    ]),
  ],
);
printTable(
  `One run of a one-step graph, ${OVERHEAD_RUNS} runs one after another (median per round; median (min–max) of ${ROUNDS} rounds)`,
  ['the step', 'ms per run'],
  [
    ['in process (no-op)', fmtSpread(spread(overhead.local), 3)],
    ['on a worker process (no-op, pg-boss)', fmtSpread(spread(overhead.remote), 3)],
    ['dispatch overhead per task (p50)', fmtSpread(perTask, 3)],
  ],
);
console.log(
  `On ${THREADS} cores more worker processes cannot go past about ${THREADS}× one worker, and 4 workers share the ${THREADS} cores with Postgres;` +
    ` the thread pool needs no database round trips. Scale-out is for more machines. Dispatch overhead goal: <= 5 ms per task at p50 on loopback.`,
);
console.log(`bench took ${fmt((performance.now() - started) / 1000, 1)} s\n`);

printJson('distributed', {
  per_task_overhead_ms: round(perTask.median),
  workers_2_speedup: round(speedup(2).median),
  workers_4_speedup: round(speedup(4).median),
});
