// An item pipeline, the same work three ways: 3 stages × 10 workers of async no-op tasks,
// items fed from an array with at most 40 waiting per stage, results not kept (items/s).
// spanflow's stages(); p-queue, one PQueue({ concurrency: 10 }) per stage, waiting with
// onSizeLessThan() before each add (its documented way to bound a queue); fastq, one
// fastq.promise(worker, 10) per stage, the feed waiting for the first queue's `empty` hook
// when 40 wait (it has no bound of its own; the later stages' queues are not bounded).

import fastq from 'fastq';
import PQueue from 'p-queue';
import { stages } from '../../sdk/index.ts';
import { interleaved, ratios, spread } from '../report.ts';
import type { QueueComparison } from './results.ts';

export const STAGES = 3;
export const WORKERS = 10;
export const CAPACITY = 40;

const noop = async (value: number): Promise<number> => value;

// ---- spanflow ----------------------------------------------------------------

let chain = stages<number>('noop-3x10', { collectResults: false });
for (let s = 0; s < STAGES; s++) chain = chain.stage(`s${s + 1}`, { workers: WORKERS, capacity: CAPACITY, tasks: noop });

async function spanflowRun(items: readonly number[]): Promise<number> {
  const result = await chain.run(items);
  return result.completed;
}

// ---- p-queue -----------------------------------------------------------------

async function pQueueRun(items: readonly number[]): Promise<number> {
  const queues = Array.from({ length: STAGES }, () => new PQueue({ concurrency: WORKERS }));
  let completed = 0;
  const { promise: finished, resolve } = Promise.withResolvers<void>();
  const through = async (stage: number, value: number): Promise<void> => {
    const queue = queues[stage] as PQueue;
    await queue.onSizeLessThan(CAPACITY);
    const out = await queue.add(() => noop(value));
    if (stage + 1 < STAGES) return through(stage + 1, out);
    if (++completed === items.length) resolve();
  };
  const first = queues[0] as PQueue;
  for (const item of items) {
    await first.onSizeLessThan(CAPACITY);
    void through(0, item);
  }
  if (items.length > 0) await finished;
  return completed;
}

// ---- fastq -------------------------------------------------------------------

async function fastqRun(items: readonly number[]): Promise<number> {
  const queues = Array.from({ length: STAGES }, () => fastq.promise(noop, WORKERS));
  let completed = 0;
  const { promise: finished, resolve } = Promise.withResolvers<void>();
  const through = async (value: number): Promise<void> => {
    let out = value;
    for (const queue of queues) out = await queue.push(out);
    if (++completed === items.length) resolve();
  };
  const first = queues[0] as (typeof queues)[number];
  for (const item of items) {
    if (first.length() >= CAPACITY) await new Promise<void>((wake) => (first.empty = wake));
    void through(item);
  }
  if (items.length > 0) await finished;
  return completed;
}

// ---- measure -----------------------------------------------------------------

/** A case for `interleaved`: one run over `items`; the figure is items per second. */
function itemsPerSecond(name: string, run: (items: readonly number[]) => Promise<number>, items: readonly number[]): () => Promise<number> {
  return async () => {
    const started = performance.now();
    const completed = await run(items);
    const ms = performance.now() - started;
    if (completed !== items.length) throw new Error(`${name} completed ${completed} of ${items.length} items`);
    return (items.length * 1000) / ms;
  };
}

export async function compareQueues(itemCount: number, rounds: number): Promise<QueueComparison> {
  const items = Array.from({ length: itemCount }, (_, i) => i);
  const cases = {
    spanflow: itemsPerSecond('spanflow', spanflowRun, items),
    pQueue: itemsPerSecond('p-queue', pQueueRun, items),
    fastq: itemsPerSecond('fastq', fastqRun, items),
  };
  for (const measure of Object.values(cases)) await measure(); // warm-up
  const samples = await interleaved(cases, rounds);
  return {
    items: itemCount,
    rounds,
    spanflow: spread(samples.spanflow),
    pQueue: spread(samples.pQueue),
    fastq: spread(samples.fastq),
    pQueueRatio: spread(ratios(samples.spanflow, samples.pQueue)),
    fastqRatio: spread(ratios(samples.spanflow, samples.fastq)),
  };
}
