// One round of the demo: the video-render showcase's three scenarios, then one
// batch of the ETL example. The compose stack's demo service runs rounds in a
// loop; the Grafana tests run the same rounds to fill Prometheus and Postgres.

import { etlPipeline } from '../../examples/etl/pipeline.ts';
import { runScenarios, type ScenarioRun } from '../../examples/video-render/pipeline.ts';
import { type BatchResult, item, type PersistOption } from '../../sdk/index.ts';

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

/** The ETL example's meta (as `runEtl` gives it). */
export const ETL_META = { source: 'orders-api', target: 'warehouse.orders' } as const;

/** `count` orders as the ETL example feeds them. */
export function orders(count: number) {
  return Array.from({ length: count }, (_, i) => item(i + 1, { id: `order-${String(i + 1).padStart(6, '0')}` }));
}

export async function demoRound(options: DemoRoundOptions = {}): Promise<DemoRound> {
  const scenarios = await runScenarios({ persist: options.persist });
  // The ETL example's pipeline, run as `runEtl` runs it, plus `persist` (which runEtl does not pass on).
  const etl = await etlPipeline(new Map(), { meta: ETL_META, persist: options.persist }).run(orders(options.items ?? 2_000), {
    ...(options.signal && { signal: options.signal }),
  });
  return { scenarios, etl };
}
