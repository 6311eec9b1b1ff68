// One round of the demo: the video-render showcase's three scenarios, then one
// batch of the ETL example. The compose stack's demo service runs rounds in a
// loop; the Grafana tests run the same rounds to fill Prometheus and Postgres.

import { runEtl } from '../../examples/etl/pipeline.ts';
import { runScenarios, type ScenarioRun, scenarios } from '../../examples/video-render/pipeline.ts';
import type { BatchResult, PersistOption } from '../../sdk/index.ts';

/**
 * The top-level runs of a round, each a trace of its own: the showcase's
 * scenarios (their sub-pipelines in the same traces) and one ETL batch (whose
 * items are traces of their own besides).
 */
export const RUNS_PER_ROUND = scenarios.length + 1;

export interface DemoRoundOptions {
  /** Store each run (a store from spanflow/postgres, or `true` for the default one). */
  readonly persist?: PersistOption;
  /** Orders through the ETL. Default 2,000. */
  readonly items?: number;
  readonly signal?: AbortSignal;
}

export interface DemoRound {
  readonly scenarios: readonly ScenarioRun[];
  readonly etl: BatchResult<unknown>;
}

export async function demoRound(options: DemoRoundOptions = {}): Promise<DemoRound> {
  const scenarios = await runScenarios({ persist: options.persist });
  const etl = await runEtl({
    items: options.items ?? 2_000,
    ...(options.persist !== undefined && { persist: options.persist }),
    ...(options.signal && { signal: options.signal }),
  });
  return { scenarios, etl };
}
