// The showcase: a cloud video render pipeline that uses every node kind.
//
//   accept -> validate -> [fetch-cdn, fetch-origin] -> normalize (ANY barrier)
//     -> [extract (map: analyze each scene, with retries), mix-audio] -> merge (ALL barrier)
//     -> quality (switch): high -> render-farm-hq / low -> render-farm-fast / rush -> render-farm-rush (sub-pipelines)
//     -> composite (ALL barrier, with a barrier timeout) -> preview (streams frame tokens) -> deliver
//
// A render farm is a child pipeline: allocate-gpu -> render-frames (real CPU work on
// a worker thread, with a step timeout) -> release-gpu. The regular farm serves the
// high and low routes; the rush farm books renders in short slots, and a render that
// outgrows its slot times out. Startup and shutdown hooks warm up and release a GPU
// pool given to the run as its context.

import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { type PersistOption, pipeline, type RunObserver, type RunResult, type SpanflowEvent } from '../../sdk/index.ts';
import { workerTask } from '../../worker-threads/index.ts';
import type { renderFrames } from './render.ts';

// ---- the job: one run's state ---------------------------------------------

export type Quality = 'high' | 'low';

export interface SceneAnalysis {
  readonly scene: number;
  /** 0..1, from the scene's content hash: how much the renderer has to work. */
  readonly complexity: number;
  readonly attempts: number;
}

export interface RenderReport {
  readonly gpu: string;
  readonly frames: number;
  /** Digest chained over every rendered frame. */
  readonly digest: string;
}

export interface RenderJob {
  readonly jobId: string;
  readonly title: string;
  readonly quality: Quality;
  /** A rush job renders on the rush farm, in a slot of RUSH_RENDER_TIMEOUT_MS. */
  readonly rush: boolean;
  readonly scenes: number;
  readonly framesPerScene: number;
  /** False: the CDN misses and goes slow, so the origin fetch wins the ANY barrier. */
  readonly cdnCached: boolean;
  /** Scenes whose first analysis attempt fails with a transient error. */
  readonly flakyScenes: readonly number[];
  // filled in by the steps
  source?: 'cdn' | 'origin';
  assets: string[];
  analysis: SceneAnalysis[];
  audio?: string;
  render?: RenderReport;
  preview?: string;
  deliveredTo?: string;
}

/** Fails once and is worth retrying (an analyzer node was preempted). */
export class TransientError extends Error {
  override name = 'TransientError';
}

// ---- the context: a GPU pool shared by the run's steps ---------------------

export class GpuPool {
  readonly size: number;
  readonly #free: string[] = [];
  readonly #leased = new Map<string, string>();

  constructor(size = 4) {
    this.size = size;
  }

  get leased(): number {
    return this.#leased.size;
  }

  /** Brings the pool's GPUs up; returns how long it took. */
  async warm(signal: AbortSignal): Promise<number> {
    const started = performance.now();
    await sleep(5, undefined, { signal });
    this.#free.length = 0;
    this.#leased.clear();
    for (let i = 0; i < this.size; i++) this.#free.push(`gpu-${i}`);
    return performance.now() - started;
  }

  allocate(owner: string): string {
    const gpu = this.#free.shift();
    if (gpu === undefined) throw new Error(`no free GPU for ${owner}: all ${this.size} are leased`);
    this.#leased.set(gpu, owner);
    return gpu;
  }

  release(gpu: string): void {
    if (this.#leased.delete(gpu)) this.#free.push(gpu);
  }

  /** Takes back every GPU still leased (a render that never reached release-gpu) and cools the pool. */
  drain(): number {
    const reclaimed = this.#leased.size;
    this.#leased.clear();
    this.#free.length = 0;
    return reclaimed;
  }
}

export interface RenderContext {
  readonly pool: GpuPool;
}

/** The context `spanflow resume` and `spanflow retry` give a run of this module's pipeline (a context is never stored). */
export function context(): RenderContext {
  return { pool: new GpuPool(4) };
}

// ---- the render farm: a child pipeline ------------------------------------

export interface FarmJob {
  readonly jobId: string;
  readonly quality: Quality;
  readonly frames: number;
  /** Bytes hashed per frame: the stand-in for rendering it. */
  readonly frameBytes: number;
  gpu?: string;
  rendered: number;
  digest: string;
}

/** How long one render attempt may take on the regular farm, in ms: a hung render is stopped. */
export const RENDER_TIMEOUT_MS = 30_000;
/** The rush farm's slot: how long one render attempt may take there, in ms. */
export const RUSH_RENDER_TIMEOUT_MS = 400;

/** Renders frames on a worker thread of the process's shared pool (spanflow/workers). */
export const renderOnPool = workerTask<typeof renderFrames>(new URL('./render.ts', import.meta.url), 'renderFrames');

/** A render farm: a GPU leased, the frames rendered within `timeoutMs`, the GPU given back. */
function renderFarmOf(name: string, description: string, timeoutMs: number) {
  return pipeline<FarmJob, RenderContext>(name, { description })
    .step(
      'allocate-gpu',
      ({ state, context }) => {
        state.gpu = context.pool.allocate(state.jobId);
      },
      { to: 'render-frames' },
    )
    .step(
      'render-frames',
      async ({ state, signal, meta }) => {
        // The frames are rendered on a worker thread of the shared pool (render.ts): the
        // step's timeout stops the render there, and its span nests under this step's.
        const { frames, digest } = await renderOnPool.run({ jobId: state.jobId, frames: state.frames, frameBytes: state.frameBytes }, { signal });
        state.rendered = frames;
        state.digest = digest;
        meta.step.count('frames', frames);
        return { frames, digest };
      },
      { timeout: timeoutMs, to: 'release-gpu' },
    )
    .step('release-gpu', ({ state, context }) => {
      if (state.gpu !== undefined) context.pool.release(state.gpu);
    });
}

export const renderFarm = renderFarmOf('render-farm', 'renders the frames of one job on a leased GPU', RENDER_TIMEOUT_MS);
export const rushFarm = renderFarmOf('rush-farm', 'renders a rush job in a short slot on a leased GPU', RUSH_RENDER_TIMEOUT_MS);

// ---- the pipeline -----------------------------------------------------------

export const PIPELINE_META = { version: '2.4.0', team: 'media-platform', region: 'eu-west-1' } as const;

const KiB = 1024;

function farmJob(quality: Quality, frameBytes: number) {
  return ({ state }: { state: RenderJob }): FarmJob => ({
    jobId: state.jobId,
    quality,
    frames: state.scenes * state.framesPerScene,
    frameBytes,
    rendered: 0,
    digest: '',
  });
}

function takeRender(result: RunResult<FarmJob>, { state }: { state: RenderJob }): void {
  state.render = { gpu: result.state.gpu ?? '?', frames: result.state.rendered, digest: result.state.digest };
}

interface Fetched {
  readonly from: 'cdn' | 'origin';
  readonly assets: readonly string[];
}

async function fetchAssets(state: RenderJob, from: Fetched['from'], ms: number, signal: AbortSignal): Promise<Fetched> {
  await sleep(ms, undefined, { signal });
  return { from, assets: [`${state.jobId}/edl.xml`, `${state.jobId}/footage.mxf`, `${state.jobId}/audio.wav`] };
}

export const videoRender = pipeline<RenderJob, RenderContext>('video-render', {
  meta: PIPELINE_META,
  description: 'renders a video job on a cloud GPU farm',
})
  .onStartup('warm-gpu-pool', async ({ context, signal, meta }) => {
    // A render thread is started (and its module loaded) here, not within the render step's timeout.
    await renderOnPool.run({ jobId: 'warm-up', frames: 0, frameBytes: 0 }, { signal });
    const warmMs = await context.pool.warm(signal);
    meta.run.set('gpuPool', { region: meta.pipeline.region, gpus: context.pool.size, warmMs: Math.round(warmMs) });
  })
  .onShutdown('release-gpu-pool', ({ context, meta }) => {
    // Runs whatever the run's end: a render that timed out never reached release-gpu.
    const reclaimed = context.pool.drain();
    meta.run.set('gpuPool', { ...meta.run.get<Record<string, unknown>>('gpuPool'), released: true, reclaimed });
  })
  .step(
    'accept',
    ({ state, meta }) => {
      meta.run.set('job', { id: state.jobId, title: state.title, quality: state.quality });
      return { accepted: state.jobId };
    },
    { to: 'validate' },
  )
  .step(
    'validate',
    ({ state }) => {
      if (state.scenes < 1 || state.framesPerScene < 1) throw new Error(`job ${state.jobId}: needs at least one scene and one frame`);
    },
    { to: ['fetch-cdn', 'fetch-origin'] },
  )
  .step('fetch-cdn', ({ state, signal }) => fetchAssets(state, 'cdn', state.cdnCached ? 5 : 60, signal), { to: 'normalize' })
  .step('fetch-origin', ({ state, signal }) => fetchAssets(state, 'origin', 25, signal), { to: 'normalize' })
  .barrier(
    'normalize',
    ({ state, output }) => {
      // ANY: whichever fetch arrived first; the other one's result is ignored.
      const fetched = output<Fetched>('fetch-cdn') ?? output<Fetched>('fetch-origin');
      if (!fetched) throw new Error('no assets arrived');
      state.source = fetched.from;
      state.assets = fetched.assets.map((a) => a.replace(/\.\w+$/, (ext) => `.normalized${ext}`));
    },
    { mode: 'any', to: ['extract', 'mix-audio'] },
  )
  .map('extract', ({ state }) => Array.from({ length: state.scenes }, (_, scene) => scene), {
    worker: 'analyze',
    concurrency: 4,
    maxItems: 1_000,
    to: 'merge',
  })
  .step<number>(
    'analyze',
    async ({ state, item: scene, attempt, signal, meta }) => {
      await sleep(2, undefined, { signal });
      if (attempt === 1 && state.flakyScenes.includes(scene)) {
        throw new TransientError(`scene ${scene}: analyzer node preempted`);
      }
      const hash = createHash('sha256').update(`${state.title}#${scene}`).digest();
      const complexity = (hash[0] ?? 0) / 255;
      meta.step.metric('complexity', complexity);
      return { scene, complexity, attempts: attempt } satisfies SceneAnalysis;
    },
    { retry: { attempts: 3, initialDelayMs: 10, factor: 2, jitter: 0, retryIf: (error) => error instanceof TransientError } },
  )
  .step(
    'mix-audio',
    async ({ state, signal }) => {
      await sleep(3, undefined, { signal });
      state.audio = `${state.jobId}/mix-5.1.aac`;
    },
    { to: 'merge' },
  )
  .barrier(
    'merge',
    ({ state, output }) => {
      state.analysis = output<SceneAnalysis[]>('extract') ?? [];
    },
    { to: 'quality' },
  )
  .switch('quality', ({ state }) => (state.rush ? 'rush' : state.quality), {
    routes: { high: 'render-farm-hq', low: 'render-farm-fast', rush: 'render-farm-rush' },
  })
  .sub('render-farm-hq', renderFarm, { state: farmJob('high', 256 * KiB), onResult: takeRender, to: 'composite' })
  .sub('render-farm-fast', renderFarm, { state: farmJob('low', 32 * KiB), onResult: takeRender, to: 'composite' })
  .sub('render-farm-rush', rushFarm, { state: farmJob('high', 256 * KiB), onResult: takeRender, to: 'composite' })
  .barrier(
    'composite',
    ({ state }) => {
      // ALL: waits only for the render branch the switch took; the others are skipped.
      if (!state.render) throw new Error('no render to composite');
      return { frames: state.render.frames, audio: state.audio, digest: state.render.digest.slice(0, 16) };
    },
    { mode: 'all', barrierTimeout: 2_000, to: 'preview' },
  )
  .step(
    'preview',
    async function* ({ state }) {
      const frames = state.render?.frames ?? 0;
      const keyframes = Math.min(8, frames);
      for (let k = 0; k < keyframes; k++) {
        const frame = Math.floor((k * frames) / keyframes);
        yield `frame ${frame}/${frames} ${createHash('sha1').update(`${state.render?.digest}:${frame}`).digest('hex').slice(0, 8)}`;
      }
      state.preview = `${state.jobId}/preview.gif`;
      return state.preview;
    },
    { to: 'deliver' },
  )
  .step('deliver', ({ state, meta }) => {
    state.deliveredTo = `s3://renders-${String(meta.pipeline.region)}/${state.jobId}/${state.quality}.mp4`;
    meta.run.set('deliveredTo', state.deliveredTo);
    return state.deliveredTo;
  });

// ---- the scenarios -----------------------------------------------------------

export interface Scenario {
  readonly name: string;
  readonly description: string;
  readonly expect: 'succeeded' | 'timed_out';
  readonly job: () => RenderJob;
}

function job(fields: Omit<RenderJob, 'assets' | 'analysis'>): RenderJob {
  return { ...fields, assets: [], analysis: [] };
}

export const scenarios: readonly Scenario[] = [
  {
    name: 'quick-promo',
    description: 'a 30-second promo in low quality, straight through',
    expect: 'succeeded',
    job: () =>
      job({ jobId: 'job-promo-7', title: 'Spring Sale Promo', quality: 'low', rush: false, scenes: 4, framesPerScene: 6, cdnCached: true, flakyScenes: [] }),
  },
  {
    name: 'feature-film',
    description: 'a feature film in high quality; one scene analysis fails once and is retried',
    expect: 'succeeded',
    job: () =>
      job({ jobId: 'job-film-42', title: 'The Long Take', quality: 'high', rush: false, scenes: 8, framesPerScene: 12, cdnCached: false, flakyScenes: [5] }),
  },
  {
    name: 'deadline-crunch',
    description: 'a one-hour cut at 24 fps on the rush farm: the render outgrows its slot and times out',
    expect: 'timed_out',
    job: () =>
      job({ jobId: 'job-crunch-9', title: 'Final Cut (Rush)', quality: 'high', rush: true, scenes: 6, framesPerScene: 14_400, cdnCached: true, flakyScenes: [] }),
  },
];

export interface ScenarioRun {
  readonly scenario: Scenario;
  readonly result: RunResult<RenderJob>;
  /** Attempts that failed and were tried again, in the run and its sub-pipelines. */
  readonly retries: number;
}

export interface RunScenariosOptions {
  /** Every event of every scenario's run tree (sub-pipelines included). */
  readonly onEvent?: (event: SpanflowEvent, scenario: Scenario) => void;
  /** Called as each scenario finishes, before the next starts. */
  readonly onFinish?: (run: ScenarioRun) => void;
  readonly pool?: GpuPool;
  /** Store each run (`true`: the default store of spanflow/postgres; or a store). */
  readonly persist?: PersistOption;
  /** Show each run live (`new LiveRuns()` from spanflow/http). */
  readonly observe?: RunObserver;
  /** Store checkpoints too, so that a run can be resumed or retried (`spanflow retry <run> --module examples/video-render/pipeline.ts`). */
  readonly durable?: boolean;
}

/** Runs the scenarios one after the other and returns how each ended. */
export async function runScenarios(options: RunScenariosOptions = {}): Promise<ScenarioRun[]> {
  const pool = options.pool ?? new GpuPool(4);
  const runs: ScenarioRun[] = [];
  for (const scenario of scenarios) {
    let retries = 0;
    const result = await videoRender.run(scenario.job(), {
      context: { pool },
      persist: options.persist,
      observe: options.observe,
      durable: options.durable,
      onEvent: (event) => {
        if (event.type === 'step_retry') retries++;
        options.onEvent?.(event, scenario);
      },
    });
    const run: ScenarioRun = { scenario, result, retries };
    options.onFinish?.(run);
    runs.push(run);
  }
  return runs;
}
