// The run store: how fast events go into the local PostgreSQL and into the
// embedded database (SQLite in a worker thread), and what persisting costs a
// stage pipeline.
//
// Events/s: the events of real graph runs (a map of items whose worker streams
// two tokens: queued, start, token, token, end per item) are recorded in memory
// first, then handed to a fresh store's recorder as the engine would, and timed
// until the store has written them all (store.flush()). Several runs at once, as
// a service would have them (each run keeps to one connection, so its rows stay
// in order; the store writes on two at once, the embedded database on its one);
// one run alone is shown too.
//
// Persist ratio: a 10,000-item stage batch (3 stages × 4 workers, async no-op
// tasks, results not collected: the harshest case, all overhead) with
// `persist: store` against the same batch without, median of several runs.
// The store's writes go on in the background; the time to write what is left
// after the batch ends is shown too.
//
// Durable runs: what `durable: true` (checkpoints: the initial state, each
// step's output and the state after it) costs against `persist: store` alone
// and against no persistence, timed until the runs ended and until the store
// had written all their rows (runs wait for a store that falls behind, so the
// second is the sustained cost): 10-step graphs whose steps wait 1 ms as for a
// service, 10 runs at a time, and 50 at a time (more steps a second than the
// store writes); the showcase's three scenarios; and 10-step
// graphs of no-op steps one after another, where what is left is the cost of
// storing a step itself (this process's CPU per step). The three sides in turn,
// each round in another order, median with min–max, ratios per round.
//
// PostgreSQL: SPANFLOW_BENCH_DATABASE_URL names a server; without it the bench
// starts a private local PostgreSQL cluster with the server's default
// durability settings (fsync and synchronous commit on), as the tests do theirs
// (test/pg-cluster.ts: PostgreSQL's server must be installed).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, type Store } from '../exporters/postgres/index.ts';
import { runScenarios } from '../examples/video-render/pipeline.ts';
import { type PipelineDescription, pipeline, type Recording, type RecordingContext, type RunRecorder, type SpanflowEvent, stages } from '../sdk/index.ts';
import { type PgCluster, startCluster } from '../test/pg-cluster.ts';
import { fmt, printJson, printTable, round } from './report.ts';

const cluster = process.env.SPANFLOW_BENCH_DATABASE_URL ? undefined : await startCluster({ durable: true });
const URL = process.env.SPANFLOW_BENCH_DATABASE_URL ?? (cluster as PgCluster).url();
const SCHEMA = 'bench_persist';
const RUNS = 4;
const ITEMS_PER_RUN = 10_000;
const STAGE_ITEMS = 10_000;
const SAMPLES = 5;

// ---- events of real runs, kept in memory ----------------------------------------

interface Captured {
  readonly pipeline: PipelineDescription;
  readonly events: SpanflowEvent[];
}

async function capture(items: number): Promise<Captured> {
  let captured: Captured | undefined;
  const memory: RunRecorder = {
    record(description) {
      const events: SpanflowEvent[] = [];
      captured = { pipeline: description, events };
      return { listener: (event) => events.push(event) };
    },
  };
  const list = Array.from({ length: items }, (_, i) => i);
  await pipeline('bench-stream')
    .map('fan', () => list, { worker: 'frames', concurrency: 16 })
    .step('frames', async function* ({ index }) {
      yield `frame ${index} a`;
      yield `frame ${index} b`;
    })
    .run(undefined, { persist: memory });
  if (!captured) throw new Error('nothing captured');
  return captured;
}

const context: RecordingContext = { traceId: () => undefined, spanId: () => undefined, countDropped: () => {}, items: undefined };

/** Hands captured runs to the store as the engine would (one listener each, interleaved in slices) and waits until all is written. */
async function replay(store: Store, runs: readonly Captured[]): Promise<number> {
  const recordings = runs.map((run) => store.record(run.pipeline, context));
  const started = performance.now();
  const longest = Math.max(...runs.map((r) => r.events.length));
  for (let at = 0; at < longest; at += 1000) {
    runs.forEach((run, r) => {
      const { listener } = recordings[r] as Recording;
      for (const event of run.events.slice(at, at + 1000)) listener(event);
    });
    // As the engine does: give the loop a turn, and wait while the store says it is behind (map items and tokens would).
    await new Promise((resolve) => setImmediate(resolve));
    for (const recording of recordings) {
      const behind = recording.ready?.();
      if (behind) await behind;
    }
  }
  await store.flush();
  return performance.now() - started;
}

async function eventsPerSecond(open: () => Promise<Store>, runs: readonly Captured[], samples: number): Promise<{ perSecond: number; ms: number }> {
  const events = runs.reduce((n, r) => n + r.events.length, 0);
  const times: number[] = [];
  for (let s = 0; s < samples; s++) {
    const store = await open();
    try {
      times.push(await replay(store, runs));
      if (store.writes.written !== events || store.writes.dropped !== 0) {
        throw new Error(`wrote ${store.writes.written} of ${events} events, dropped ${store.writes.dropped}`);
      }
    } finally {
      await store.close();
    }
  }
  times.sort((a, b) => a - b);
  const ms = times[Math.floor(times.length / 2)] as number;
  return { perSecond: (events * 1000) / ms, ms };
}

const started = performance.now();
const pgRuns: Captured[] = [];
for (let r = 0; r < RUNS; r++) pgRuns.push(await capture(ITEMS_PER_RUN));
const pgEvents = pgRuns.reduce((n, r) => n + r.events.length, 0);

// Each sample into an empty schema: the same work every time.
const freshPg = async () => {
  const store = await openStore({ url: URL, schema: SCHEMA });
  await store.db.withSchema(SCHEMA).deleteFrom('events').execute();
  await store.db.withSchema(SCHEMA).deleteFrom('step_attempts').execute();
  await store.db.withSchema(SCHEMA).deleteFrom('runs').execute();
  return store;
};
const pg = await eventsPerSecond(freshPg, pgRuns, SAMPLES);
const pgOne = await eventsPerSecond(freshPg, pgRuns.slice(0, 1), SAMPLES);

// The embedded database: the same runs, each sample into a new folder.
const folder = mkdtempSync(join(tmpdir(), 'spanflow-bench-'));
let sqliteSample = 0;
const sqlite = await eventsPerSecond(async () => openStore({ dataDir: join(folder, `db-${sqliteSample++}`) }), pgRuns, SAMPLES);
rmSync(folder, { recursive: true, force: true });

// ---- a persisted stage batch against an unpersisted one -----------------------

const noop = async (value: number): Promise<number> => value;
function batchPipeline(persist: Store | undefined) {
  return stages<number>('bench-batch', { collectResults: false, persist })
    .stage('s1', { workers: 4, tasks: noop })
    .stage('s2', { workers: 4, tasks: noop })
    .stage('s3', { workers: 4, tasks: noop });
}
const stageStore = await openStore({ url: URL, schema: SCHEMA });
const items = Array.from({ length: STAGE_ITEMS }, (_, i) => i);
const plain = batchPipeline(undefined);
const persisted = batchPipeline(stageStore);
const check = (completed: number) => {
  if (completed !== STAGE_ITEMS) throw new Error(`${completed} of ${STAGE_ITEMS} items completed`);
};
// Interleaved, in turn and in both orders (ABBA), so both see the same machine and neither always goes first;
// the store writes what is left between turns.
const plainMs: number[] = [];
const persistedMs: number[] = [];
const flushMs: number[] = [];
async function timed(p: typeof plain): Promise<number> {
  const t = performance.now();
  check((await p.run(items)).completed);
  return performance.now() - t;
}
for (let k = 0; k < 3 + SAMPLES * 2 + 1; k++) {
  const plainFirst = k % 2 === 0;
  const a = plainFirst ? await timed(plain) : 0;
  const b = await timed(persisted);
  const t = performance.now();
  await stageStore.flush();
  const f = performance.now() - t;
  const a2 = plainFirst ? a : await timed(plain);
  if (k < 3) continue;
  plainMs.push(a2);
  persistedMs.push(b);
  flushMs.push(f);
}
const stored = await stageStore.listRuns({ pipeline: 'bench-batch', limit: 1 });
await stageStore.close();
const median = (values: number[]) => values.toSorted((x, y) => x - y)[Math.floor(values.length / 2)] ?? 0;
const ratio = median(persistedMs) / median(plainMs);

printTable(
  `Events into the store: graph runs' events (map items streaming 2 tokens), replayed into a fresh store and timed until written (median of ${SAMPLES})`,
  ['store', 'runs at once', 'events', 'ms', 'events/s'],
  [
    ['PostgreSQL (local, 2 writer connections)', RUNS, fmt(pgEvents), fmt(pg.ms, 1), fmt(pg.perSecond, 0)],
    ['PostgreSQL, one run', 1, fmt(pgRuns[0]?.events.length ?? 0), fmt(pgOne.ms, 1), fmt(pgOne.perSecond, 0)],
    ['SQLite (embedded folder, a worker thread)', RUNS, fmt(pgEvents), fmt(sqlite.ms, 1), fmt(sqlite.perSecond, 0)],
  ],
);
console.log(`goal: >= 100,000 events/s into PostgreSQL\n`);
printTable(
  `A ${fmt(STAGE_ITEMS)}-item stage batch (3 stages × 4 workers, async no-op tasks, collectResults: false), median of ${SAMPLES * 2 + 1} after 3 warm-up runs`,
  ['variant', 'ms per batch', 'relative'],
  [
    ['not persisted', fmt(median(plainMs), 1), '1'],
    ['persist: store (PostgreSQL)', fmt(median(persistedMs), 1), fmt(ratio)],
    ['  then writing what is left, after the batch', fmt(median(flushMs), 1), ''],
  ],
);
console.log(
  `stored as one run: ${stored.runs[0]?.status}, items ${JSON.stringify(stored.runs[0]?.items)}; persisted / not persisted: ${fmt(ratio)} (goal <= 1.3); bench took ${fmt((performance.now() - started) / 1000, 1)} s\n`,
);

// ---- durable: true, against persist only and no persistence --------------------

type Side = 'none' | 'persist' | 'durable';
const SIDES: readonly Side[] = ['none', 'persist', 'durable'];
const NOOP_RUNS = 2_000;
const ROUNDS = 5;

interface ChainState {
  readonly job: string;
  steps: number;
  notes: string[];
}
/** A 10-step chain whose steps change a small state and return a small output, after `work` (none: no-op steps). */
function chainOf(name: string, work?: () => Promise<unknown>) {
  let chain = pipeline<ChainState>(name);
  for (let i = 0; i < 10; i++) {
    const change = (state: ChainState) => {
      state.steps++;
      state.notes.push(`step ${i} done`);
      return { step: i, at: state.steps };
    };
    const step = work
      ? async ({ state }: { state: ChainState }) => {
          await work();
          return change(state);
        }
      : ({ state }: { state: ChainState }) => change(state);
    chain = chain.step(`step-${i}`, step, i < 9 ? { to: `step-${i + 1}` } : {});
  }
  return chain;
}
const noopChain = chainOf('bench-chain');
// Each step waits 1 ms as for a call to a database or a service: the short end of what a durable step does.
const ioChain = chainOf('bench-io-chain', () => new Promise((resolve) => setTimeout(resolve, 1)));

interface SideTimes {
  /** Wall ms per round until the runs ended. */
  readonly ms: number[];
  /** Wall ms per round until the runs ended and the store had written all their rows. */
  readonly writtenMs: number[];
  /** This process's CPU ms per round until the runs ended. */
  readonly cpuMs: number[];
}

/** Each side's times per round; the sides in turn, each round starting with another. */
async function sides(run: (side: Side, store: Store) => Promise<void>): Promise<Record<Side, SideTimes>> {
  const store = await openStore({ url: URL, schema: SCHEMA });
  const times = Object.fromEntries(SIDES.map((side) => [side, { ms: [], writtenMs: [], cpuMs: [] }])) as unknown as Record<Side, SideTimes>;
  try {
    for (let round = -1; round < ROUNDS; round++) {
      // Round -1 warms up.
      const order = SIDES.map((_, i) => SIDES[(i + Math.max(0, round)) % SIDES.length] as Side);
      for (const side of order) {
        const cpu = process.cpuUsage();
        const t = performance.now();
        await run(side, store);
        const ms = performance.now() - t;
        const used = process.cpuUsage(cpu);
        await store.flush();
        if (round >= 0) {
          times[side].ms.push(ms);
          times[side].writtenMs.push(performance.now() - t);
          times[side].cpuMs.push((used.user + used.system) / 1000);
        }
      }
    }
  } finally {
    await store.close();
  }
  return times;
}

const options = (side: Side, store: Store) => ({ persist: side === 'none' ? false : store, durable: side === 'durable' });
const succeeded = (status: string, name: string) => {
  if (status !== 'succeeded') throw new Error(`${name} ended ${status}`);
};
const noopTimes = await sides(async (side, store) => {
  for (let r = 0; r < NOOP_RUNS; r++) succeeded((await noopChain.run({ job: `job ${r}`, steps: 0, notes: [] }, options(side, store))).status, 'bench-chain');
});
/** `runs` runs of the chain whose steps wait 1 ms, `atOnce` at a time (a service with that many runs under way). */
const ioRuns = (runs: number, atOnce: number) =>
  sides(async (side, store) => {
    let next = 0;
    const lane = async () => {
      for (let r = next++; r < runs; r = next++) succeeded((await ioChain.run({ job: `job ${r}`, steps: 0, notes: [] }, options(side, store))).status, 'bench-io-chain');
    };
    await Promise.all(Array.from({ length: atOnce }, lane));
  });
const IO = { runs: 500, atOnce: 10 };
const IO_BUSY = { runs: 1_000, atOnce: 50 };
const ioTimes = await ioRuns(IO.runs, IO.atOnce);
const ioBusyTimes = await ioRuns(IO_BUSY.runs, IO_BUSY.atOnce);
const showcaseTimes = await sides(async (side, store) => {
  const runs = await runScenarios({ persist: side === 'none' ? undefined : store, durable: side === 'durable' });
  const unexpected = runs.filter((r) => r.result.status !== r.scenario.expect);
  if (unexpected.length > 0) throw new Error(`showcase: ${unexpected.map((r) => `${r.scenario.name} ended ${r.result.status}`).join(', ')}`);
});

const spread = (values: number[]) => `${fmt(median(values), 1)} (${fmt(Math.min(...values), 1)}–${fmt(Math.max(...values), 1)})`;
/** Median over rounds of a per-round ratio of two sides. */
const ratioOf = (times: Record<Side, SideTimes>, side: Side, key: keyof SideTimes, against: Side = 'none') =>
  median(times[side][key].map((v, i) => v / (times[against][key][i] as number)));
const durableRows = (label: string, times: Record<Side, SideTimes>) =>
  SIDES.map((side) => [
    `${label}: ${side === 'none' ? 'not persisted' : side === 'persist' ? 'persist: store' : 'durable: true'}`,
    spread(times[side].ms),
    spread(times[side].writtenMs),
    spread(times[side].cpuMs),
    `${fmt(ratioOf(times, side, 'writtenMs'))} (${fmt(ratioOf(times, side, 'ms'))})`,
  ]);
printTable(
  `durable: true against persist: store and no persistence (PostgreSQL), median (min–max) of ${ROUNDS} rounds after a warm-up, the sides in turn`,
  ['variant', 'ms until the runs ended', 'ms until all was written', 'CPU ms (this process)', 'relative: written (ended)'],
  [
    ...durableRows(`${fmt(IO.runs)} runs, ${IO.atOnce} at a time, of 10 steps that each wait 1 ms`, ioTimes),
    ...durableRows(`${fmt(IO_BUSY.runs)} runs, ${IO_BUSY.atOnce} at a time, of the same`, ioBusyTimes),
    ...durableRows("the showcase's 3 scenarios", showcaseTimes),
    ...durableRows(`${fmt(NOOP_RUNS)} runs, one after another, of 10 no-op steps`, noopTimes),
  ],
);
// What a step costs this process to store: the CPU per step over not persisting, on no-op steps.
const perStepUs = (side: Side) => ((median(noopTimes[side].cpuMs) - median(noopTimes.none.cpuMs)) * 1000) / (NOOP_RUNS * 10);
const ioDurableRatio = ratioOf(ioTimes, 'durable', 'writtenMs');
const showcaseDurableRatio = ratioOf(showcaseTimes, 'durable', 'writtenMs');
/** Durable steps per second the store took, until all was written. */
const stepsPerS = (times: Record<Side, SideTimes>, runs: number) => (runs * 10 * 1000) / median(times.durable.writtenMs);
console.log(
  `durable / not persisted, until all was written: ${IO.atOnce} runs at a time of steps that wait 1 ms ${fmt(ioDurableRatio)}, the showcase ${fmt(showcaseDurableRatio)} (goal <= 1.5);\n` +
    `${IO_BUSY.atOnce} at a time ${fmt(ratioOf(ioBusyTimes, 'durable', 'writtenMs'))}: more steps a second than the store writes (${fmt(stepsPerS(ioBusyTimes, IO_BUSY.runs), 0)} durable steps/s were written), so runs wait for it;\n` +
    `no-op steps ${fmt(ratioOf(noopTimes, 'durable', 'writtenMs'))} (${fmt(stepsPerS(noopTimes, NOOP_RUNS), 0)} durable steps/s written): storing a step costs this process ` +
    `${fmt(perStepUs('persist'), 1)} µs of CPU with persist: store, ${fmt(perStepUs('durable'), 1)} µs with durable: true, more than a no-op step itself\n`,
);

printJson('persist', {
  pg_events_per_s: round(pg.perSecond, 0),
  pg_one_run_events_per_s: round(pgOne.perSecond, 0),
  sqlite_events_per_s: round(sqlite.perSecond, 0),
  persist_ratio: round(ratio),
  io_graph_persist_ratio: round(ratioOf(ioTimes, 'persist', 'writtenMs')),
  io_graph_durable_ratio: round(ioDurableRatio),
  io_graph_50_durable_ratio: round(ratioOf(ioBusyTimes, 'durable', 'writtenMs')),
  durable_steps_per_s: round(stepsPerS(noopTimes, NOOP_RUNS), 0),
  showcase_persist_ratio: round(ratioOf(showcaseTimes, 'persist', 'writtenMs')),
  showcase_durable_ratio: round(showcaseDurableRatio),
  showcase_durable_vs_persist_ratio: round(ratioOf(showcaseTimes, 'durable', 'writtenMs', 'persist')),
  graph_persist_ratio: round(ratioOf(noopTimes, 'persist', 'writtenMs')),
  graph_durable_ratio: round(ratioOf(noopTimes, 'durable', 'writtenMs')),
  graph_durable_vs_persist_ratio: round(ratioOf(noopTimes, 'durable', 'writtenMs', 'persist')),
  graph_durable_ended_ratio: round(ratioOf(noopTimes, 'durable', 'ms')),
  persist_step_cpu_us: round(perStepUs('persist'), 1),
  durable_step_cpu_us: round(perStepUs('durable'), 1),
});
cluster?.destroy();
