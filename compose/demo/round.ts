// One round of the demo: the video-render showcase's three scenarios, then one
// batch of the ETL example, and (given a dispatcher) a batch whose encoding
// stage runs on the distributed `render` queue's workers. The compose stack's demo service runs rounds in a
// loop; the Grafana tests run the same rounds to fill Prometheus and Postgres.

import { runEtl } from '../../examples/etl/pipeline.ts';
import { runScenarios, type ScenarioRun, scenarios } from '../../examples/video-render/pipeline.ts';
import { type Dispatcher, remoteTask } from '../../distributed/index.ts';
import { type BatchResult, type PersistOption, stages } from '../../sdk/index.ts';
import type { Clip, encodeClip } from './render.ts';

/** The queue the demo's render workers take jobs from. */
export const RENDER_QUEUE = 'render';

/**
 * The top-level runs of a round, each a trace of its own: the showcase's
 * scenarios (their sub-pipelines in the same traces), one ETL batch and one
 * remote-render batch (whose items are traces of their own besides).
 */
export const RUNS_PER_ROUND = scenarios.length + 2;

/** Clips through the remote-render batch (the compose stack's demo runs it: it has a dispatcher). */
export const REMOTE_CLIPS = 20;

export interface DemoRoundOptions {
  /** Store each run (a store from spanflow/postgres, or `true` for the default one). */
  readonly persist?: PersistOption;
  /** Orders through the ETL. Default 2,000. */
  readonly items?: number;
  readonly signal?: AbortSignal;
  /** Sends the remote-render batch's encoding to the `render` queue's workers; without one, no such batch runs. */
  readonly remote?: Dispatcher;
}

export interface DemoRound {
  readonly scenarios: readonly ScenarioRun[];
  readonly etl: BatchResult<unknown>;
  readonly remote: BatchResult<unknown> | undefined;
}

/** Clips cut, encoded remotely, published: a 3-stage batch whose middle stage runs on the render workers. */
function remoteRender(dispatcher: Dispatcher, clips: number, options: DemoRoundOptions): Promise<BatchResult<unknown>> {
  const encode = remoteTask<typeof encodeClip>(new URL('./render.ts', import.meta.url), 'encodeClip', { queue: RENDER_QUEUE, dispatcher });
  return stages<number>('remote-render', { ...(options.persist !== undefined && { persist: options.persist }) })
    .stage('cut', { tasks: (id: number): Clip => ({ id, seconds: 1 + (id % 3) }) })
    .stage('encode', { tasks: encode, workers: 4, retry: 2, timeout: 30_000 })
    .stage('publish', { tasks: (encoded: { id: number; digest: string }) => `clip-${encoded.id}.mp4 ${encoded.digest}` })
    .run(Array.from({ length: clips }, (_, i) => i), options.signal ? { signal: options.signal } : undefined);
}

export async function demoRound(options: DemoRoundOptions = {}): Promise<DemoRound> {
  const scenarios = await runScenarios({ persist: options.persist });
  const etl = await runEtl({
    items: options.items ?? 2_000,
    ...(options.persist !== undefined && { persist: options.persist }),
    ...(options.signal && { signal: options.signal }),
  });
  const remote = options.remote ? await remoteRender(options.remote, REMOTE_CLIPS, options) : undefined;
  return { scenarios, etl, remote };
}
