// What the comparisons give back: kept apart from graphs.ts and queues.ts, which import the
// compared libraries, so bench/alternatives.ts can name these types before they are installed.
import type { Spread } from '../report.ts';

export interface GraphComparison {
  readonly rounds: number;
  /** µs per run, per engine. */
  readonly spanflow: Spread;
  readonly langgraph: Spread;
  readonly mastra: Spread;
  readonly mastraDefaults: Spread;
  /** Per round, the other engine's time over spanflow's: how many times slower it is. */
  readonly langgraphRatio: Spread;
  readonly mastraRatio: Spread;
  readonly mastraDefaultsRatio: Spread;
}

export interface QueueComparison {
  readonly items: number;
  readonly rounds: number;
  /** Items per second, per engine. */
  readonly spanflow: Spread;
  readonly pQueue: Spread;
  readonly fastq: Spread;
  /** Per round, spanflow's throughput over the other's: how many times as many items it moves. */
  readonly pQueueRatio: Spread;
  readonly fastqRatio: Spread;
}

/** graphs.ts, as bench/alternatives.ts loads it. */
export interface GraphsModule {
  readonly STEPS: number;
  compareGraphs(rounds: number, sampleMs: number): Promise<GraphComparison>;
}

/** queues.ts, as bench/alternatives.ts loads it. */
export interface QueuesModule {
  readonly STAGES: number;
  readonly WORKERS: number;
  readonly CAPACITY: number;
  compareQueues(items: number, rounds: number): Promise<QueueComparison>;
}
