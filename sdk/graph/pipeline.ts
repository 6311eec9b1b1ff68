import { DefinitionError, ResumeError } from '../errors.ts';
import { attachObserver, checkObserver } from '../observe.ts';
import { attachRecorder, type CheckpointStore, type RunRecorder, resolveRecorder } from '../persist.ts';
import { type DurableEnv, durableStore, loadStored, Restore, withTimeouts } from './durable.ts';
import { checkRetry, describe } from '../options.ts';
import { checkSignals, stopOnSignals } from '../shutdown.ts';
import { didYouMean } from '../suggest.ts';
import { describeGraph } from './describe.ts';
import { RunHandle } from './handle.ts';
import { renderMermaid } from './mermaid.ts';
import { firstCycle } from './cycles.ts';
import { startRun } from './run.ts';
import type {
  BarrierOptions,
  DecideFn,
  GraphNode,
  Hook,
  HookFn,
  ItemsFn,
  MapOptions,
  PipelineOptions,
  ResumeOptions,
  RetryOptions,
  RunOptions,
  RunResult,
  StepFn,
  StepOptions,
  SubNode,
  SubOptions,
  SwitchOptions,
  Targets,
} from './types.ts';
import { analyze, type Shape } from './validate.ts';

/** The frozen form of a pipeline that the runner executes. */
export interface Graph<S, C> {
  readonly name: string;
  readonly meta: Readonly<Record<string, unknown>>;
  readonly options: PipelineOptions<S, C>;
  readonly nodes: ReadonlyMap<string, GraphNode<S, C>>;
  readonly startup: readonly Hook<S, C>[];
  readonly shutdown: readonly Hook<S, C>[];
  readonly shape: Shape;
}

function list(pipeline: string, node: string, targets: Targets | undefined): readonly string[] {
  if (targets === undefined) return [];
  const names: unknown[] = typeof targets === 'string' ? [targets] : Array.isArray(targets) ? [...targets] : [targets];
  const bad = names.find((t) => typeof t !== 'string' || t === '');
  if (bad !== undefined) {
    throw new DefinitionError(pipeline, [`step '${node}': to must be a step name or an array of step names (got ${describe(bad)})`]);
  }
  return names as string[];
}

function checkFn(pipeline: string, what: string, fn: unknown, usage: string): void {
  if (typeof fn !== 'function') throw new DefinitionError(pipeline, [`${what} must be a function (got ${describe(fn)}): ${usage}`]);
}

function isAsyncGeneratorFunction(fn: unknown): boolean {
  return typeof fn === 'function' && fn.constructor?.name === 'AsyncGeneratorFunction';
}

/**
 * A graph pipeline: steps joined by `to` edges, with maps, switches,
 * sub-pipelines and barriers. Define it with the builder methods, then `run()`
 * it as often as you like; the first run (or `validate()`) checks and freezes
 * the definition.
 *
 * `S` is the run state every step sees; `C` the context (shared resources)
 * given to `run()`.
 */
export class Pipeline<S = undefined, C = undefined> {
  readonly name: string;
  readonly #options: PipelineOptions<S, C>;
  readonly #nodes = new Map<string, GraphNode<S, C>>();
  readonly #startup: Hook<S, C>[] = [];
  readonly #shutdown: Hook<S, C>[] = [];
  #graph: Graph<S, C> | undefined;

  constructor(name: string, options: PipelineOptions<S, C> = {}) {
    if (!name) throw new DefinitionError('(unnamed)', ['a pipeline needs a name: pipeline("my-pipeline")']);
    this.name = name;
    this.#options = options;
  }

  /** A step: runs `fn` (an async function, or an async generator whose yields are tokens). */
  step<I = undefined>(name: string, fn: StepFn<S, C, I>, options: StepOptions<S, C> = {}): this {
    checkFn(this.name, `step '${name}'`, fn, `.step('${name}', async (args) => { ... })`);
    return this.#add({
      ...this.#common(name, options),
      kind: 'step',
      to: list(this.name, name, options.to),
      fn: fn as StepFn<S, C, unknown>,
      streaming: isAsyncGeneratorFunction(fn),
    });
  }

  /** A step that joins several branches: `all` of them (default), or the first to arrive (`any`). */
  barrier(name: string, fn: StepFn<S, C>, options: BarrierOptions<S, C> = {}): this {
    checkFn(this.name, `barrier '${name}'`, fn, `.barrier('${name}', async (args) => { ... })`);
    if (options.mode !== undefined && options.mode !== 'all' && options.mode !== 'any') {
      throw new DefinitionError(this.name, [`barrier '${name}': mode must be 'all' or 'any' (got ${describe(options.mode)})`]);
    }
    if (options.barrierTimeout !== undefined && !(options.barrierTimeout > 0)) {
      throw new DefinitionError(this.name, [`barrier '${name}': barrierTimeout must be a positive number of ms (got ${describe(options.barrierTimeout)})`]);
    }
    return this.#add({
      ...this.#common(name, options),
      kind: 'barrier',
      to: list(this.name, name, options.to),
      fn: fn as StepFn<S, C, unknown>,
      streaming: isAsyncGeneratorFunction(fn),
      mode: options.mode ?? 'all',
      barrierTimeout: options.barrierTimeout,
    });
  }

  /** A map: `fn` produces items (an array or an async iterable) and `worker` runs once per item. */
  map<T>(name: string, fn: ItemsFn<S, C, T>, options: MapOptions<S, C>): this {
    checkFn(this.name, `map '${name}'`, fn, `.map('${name}', ({ state }) => items, { worker: 'step-name' })`);
    if (typeof options?.worker !== 'string' || options.worker === '') {
      throw new DefinitionError(this.name, [
        `map '${name}': worker must name the step that runs once per item (got ${describe(options?.worker)}): .map('${name}', fn, { worker: 'step-name' })`,
      ]);
    }
    const concurrency = options.concurrency ?? 8;
    if (!(concurrency >= 1)) throw new DefinitionError(this.name, [`map '${name}': concurrency must be 1 or more (got ${concurrency})`]);
    return this.#add({
      ...this.#common(name, options),
      kind: 'map',
      to: list(this.name, name, options.to),
      fn: fn as ItemsFn<S, C, unknown>,
      worker: options.worker,
      concurrency,
      maxItems: options.maxItems,
    });
  }

  /** A switch: `fn` returns a route; the route's target runs and the other targets are skipped. */
  switch(name: string, fn: DecideFn<S, C>, options: SwitchOptions<S, C>): this {
    checkFn(this.name, `switch '${name}'`, fn, `.switch('${name}', ({ state }) => 'route', { routes: { route: 'step-name' } })`);
    return this.#add({
      ...this.#common(name, options),
      kind: 'switch',
      to: list(this.name, name, options?.to),
      fn,
      routes: options.routes,
      default: options.default,
    });
  }

  /** A sub-pipeline used as a step: its run nests under this step and its result comes back here. */
  sub<S2, C2>(name: string, child: Pipeline<S2, C2>, options: SubOptions<S, C, S2, C2>): this {
    return this.#add({
      ...this.#common(name, options),
      kind: 'sub',
      to: list(this.name, name, options?.to),
      child,
      state: options.state,
      context: options.context,
      onResult: options.onResult as SubNode<S, C>['onResult'],
      fn: undefined,
    });
  }

  /** Runs before the first step of every run, in the order added. */
  onStartup(name: string, fn: HookFn<S, C>): this {
    this.#assertOpen(`add startup hook '${name}'`);
    this.#startup.push({ name, fn });
    return this;
  }

  /** Runs after every run, whatever its end (failure, timeout, cancellation), in reverse order of adding. */
  onShutdown(name: string, fn: HookFn<S, C>): this {
    this.#assertOpen(`add shutdown hook '${name}'`);
    this.#shutdown.push({ name, fn });
    return this;
  }

  /** Checks the definition and freezes it. Throws a `DefinitionError` listing every problem. */
  validate(): this {
    void this.graph;
    return this;
  }

  /**
   * Starts a run. The handle is a promise of the result (`await`) and an async
   * iterable of its events (`for await`); iterate it right away, in the same
   * tick, to see every event.
   */
  run(state: S, ...options: undefined extends C ? [options?: RunOptions<C>] : [options: RunOptions<C>]): RunHandle<S> {
    const graph = this.graph;
    const opts = (options[0] ?? {}) as RunOptions<C> & { context?: C };
    if (opts.timeout !== undefined && !(opts.timeout > 0)) {
      throw new RangeError(`pipeline '${this.name}': run timeout must be a positive number of ms (got ${describe(opts.timeout)}); leave it out for no limit`);
    }
    if (opts.eventBuffer !== undefined && !(Number.isInteger(opts.eventBuffer) && opts.eventBuffer >= 1)) {
      throw new RangeError(`pipeline '${this.name}': eventBuffer must be a whole number of 1 or more (got ${describe(opts.eventBuffer)}); default 1024`);
    }
    if (opts.resumeFrom !== undefined && !graph.nodes.has(opts.resumeFrom)) {
      throw new DefinitionError(this.name, [`resumeFrom names unknown step '${opts.resumeFrom}'.${didYouMean(opts.resumeFrom, graph.nodes.keys())}`]);
    }
    const map = opts.resumeFrom === undefined ? undefined : graph.shape.workerOf.get(opts.resumeFrom);
    if (map !== undefined) {
      throw new DefinitionError(this.name, [`resumeFrom names map worker '${opts.resumeFrom}': resume from its map '${map}' instead`]);
    }
    const persist = opts.persist ?? this.#options.persist;
    if (!(opts.durable ?? this.#options.durable)) return this.#start(graph, state, opts, resolveRecorder(persist), undefined);
    if (persist === false) throw new TypeError(`pipeline '${this.name}': durable: true stores checkpoints, so it cannot go with persist: false`);
    const store = durableStore(this.name, persist);
    return this.#start(graph, state, opts, store, { store, version: this.#options.version, restore: undefined });
  }

  /**
   * Carries on a durable run whose process died (stored `interrupted`): claims
   * it (of two resumers, one wins; the other gets a ResumeError 'claimed'),
   * restores the state after its last stored step, and runs only the steps
   * (and map items) that did not complete. The same run id; attempt counts go
   * on. Refuses a run stored under another definition hash or `version`
   * unless `force`. The step that was running when the process died runs again.
   */
  async resume(runId: string, ...options: undefined extends C ? [options?: ResumeOptions<C>] : [options: ResumeOptions<C>]): Promise<RunResult<S>> {
    const opts = (options[0] ?? {}) as ResumeOptions<C> & { context?: C };
    const graph = this.graph;
    const store = durableStore(this.name, opts.store ?? this.#options.persist, runId);
    const stored = await loadStored(store, runId, this.#identity(graph), 'resume', opts.force === true);
    if (!(await store.claimRun(runId))) {
      throw new ResumeError('claimed', runId, `run ${runId} was claimed by another process first: it is being resumed there (\`spanflow show ${runId}\`)`);
    }
    const restore = new Restore('resume', stored);
    const run = { ...opts, runId } as RunOptions<C>;
    return this.#start(graph, restore.state as S, run, store, { store, version: this.#options.version, restore }).result;
  }

  /**
   * Runs a failed (or timed-out, cancelled, interrupted) durable run again as
   * a new run linked to it (both rows say so), reusing the outputs of the
   * steps and map items that succeeded: only the failed steps, and what comes
   * after them, run. A sub step that failed retries its child run the same way.
   */
  async retry(runId: string, ...options: undefined extends C ? [options?: RetryOptions<C>] : [options: RetryOptions<C>]): Promise<RunResult<S>> {
    const opts = (options[0] ?? {}) as RetryOptions<C> & { context?: C };
    const graph = opts.timeouts ? withTimeouts(this.graph, opts.timeouts) : this.graph;
    const store = durableStore(this.name, opts.store ?? this.#options.persist, runId);
    const stored = await loadStored(store, runId, this.#identity(graph), 'retry', true);
    const retryRunId = crypto.randomUUID();
    if (!(await store.markRetried(runId, retryRunId))) {
      throw new ResumeError('already-retried', runId, `run ${runId} was retried by another process first: \`spanflow show ${runId}\` names the retry`);
    }
    const restore = new Restore('retry', stored);
    const run = { ...opts, runId: retryRunId } as RunOptions<C>;
    return this.#start(graph, restore.state as S, run, store, { store, version: this.#options.version, restore }).result;
  }

  #identity(graph: Graph<S, C>) {
    return { name: this.name, hash: describeGraph(graph as Graph<unknown, unknown>).hash, version: this.#options.version };
  }

  #start(graph: Graph<S, C>, state: S, opts: RunOptions<C>, recorder: RunRecorder | CheckpointStore | undefined, durable: DurableEnv | undefined): RunHandle<S> {
    const observer = checkObserver(this.name, opts.observe ?? this.#options.observe);
    const signals = checkSignals(this.name, opts.shutdownOn);
    const handle = new RunHandle<S>(
      opts,
      (bus, signal, runId, telemetry, onCancel) => startRun(graph, state, opts, { bus, signal, onCancel, runId, parentRunId: undefined, telemetry, durable }),
      (recorder || observer) &&
        ((bus, telemetry, started) => {
          const description = describeGraph(graph as Graph<unknown, unknown>);
          if (recorder) attachRecorder(bus, recorder, description, telemetry);
          if (observer) attachObserver(bus, observer, { runId: started.runId, pipeline: description, snapshot: undefined, cancel: (reason) => started.cancel(reason) });
        }),
    );
    if (signals) stopOnSignals(signals, { cancel: (reason) => handle.cancel(reason), ended: handle.result, recorder });
    return handle;
  }

  /** A Mermaid flowchart of the pipeline: one shape per node kind, sub-pipelines expanded, hooks shown. */
  toMermaid(): string {
    return renderMermaid(this.graph as Graph<unknown, unknown>);
  }

  /**
   * A copy of this pipeline with some steps' functions replaced (for tests).
   * A map's replacement produces its items; a switch's returns a route; a
   * sub-pipeline's replaces the child run and returns its output.
   */
  withSteps(replacements: Readonly<Record<string, StepFn<S, C, unknown>>>): Pipeline<S, C> {
    const copy = new Pipeline<S, C>(this.name, this.#options);
    for (const [name, node] of this.#nodes) copy.#nodes.set(name, node);
    copy.#startup.push(...this.#startup);
    copy.#shutdown.push(...this.#shutdown);
    for (const [name, fn] of Object.entries(replacements)) {
      const node = this.#nodes.get(name);
      if (!node) throw new DefinitionError(this.name, [`withSteps: no step named '${name}'.${didYouMean(name, this.#nodes.keys())}`]);
      copy.#nodes.set(name, { ...node, fn } as GraphNode<S, C>);
    }
    return copy;
  }

  /** @internal The frozen, checked definition. The first access freezes the pipeline. */
  get graph(): Graph<S, C> {
    if (!this.#graph) {
      const recursion = this.#recursion();
      let shape: Shape;
      try {
        shape = analyze(this.name, this.#nodes as ReadonlyMap<string, GraphNode<unknown, unknown>>);
      } catch (error) {
        if (recursion && error instanceof DefinitionError) throw new DefinitionError(this.name, [...error.problems, recursion]);
        throw error;
      }
      if (recursion) throw new DefinitionError(this.name, [recursion]);
      this.#graph = {
        name: this.name,
        meta: Object.freeze({ ...this.#options.meta }),
        options: this.#options,
        nodes: this.#nodes,
        startup: [...this.#startup],
        shutdown: [...this.#shutdown].reverse(),
        shape,
      };
    }
    return this.#graph;
  }

  /** A sub-pipeline chain that leads back into itself (this pipeline, or one it contains), described; it would nest without end. */
  #recursion(): string | undefined {
    const cycle = firstCycle([this as Pipeline<unknown, unknown>], (p) => {
      const edges: (readonly [string, Pipeline<unknown, unknown>])[] = [];
      for (const node of p.#nodes.values()) {
        if (node.kind === 'sub' && !node.fn && node.child instanceof Pipeline) edges.push([node.name, node.child as Pipeline<unknown, unknown>]);
      }
      return edges;
    });
    if (!cycle) return undefined;
    const chain = cycle.via.map((step, i) => `'${cycle.nodes[i]?.name}' (step '${step}')`);
    return `sub-pipeline recursion: ${chain.join(' -> ')} -> '${cycle.nodes.at(-1)?.name}'; a pipeline cannot contain itself, directly or through another pipeline`;
  }

  #common(name: string, options: StepOptions<S, C> | SwitchOptions<S, C>) {
    if (typeof options !== 'object' || options === null) {
      throw new DefinitionError(this.name, [`step '${name}': options must be an object (got ${describe(options)})`]);
    }
    checkRetry(this.name, `step '${name}'`, options.retry);
    if (options.timeout !== undefined && !(options.timeout > 0)) {
      throw new DefinitionError(this.name, [`step '${name}': timeout must be a positive number of ms (got ${describe(options.timeout)})`]);
    }
    return {
      name,
      retry: options.retry,
      timeout: options.timeout,
      onError: options.onError,
      description: options.description,
    };
  }

  #add(node: GraphNode<S, C>): this {
    this.#assertOpen(`add step '${node.name}'`);
    if (!node.name) throw new DefinitionError(this.name, ['a step needs a non-empty name']);
    if (this.#nodes.has(node.name)) {
      throw new DefinitionError(this.name, [`step '${node.name}' is defined twice: step names must be unique`]);
    }
    this.#nodes.set(node.name, node);
    return this;
  }

  #assertOpen(what: string): void {
    if (this.#graph) {
      throw new DefinitionError(this.name, [`cannot ${what}: the definition is frozen after its first run or validate(); define every step first`]);
    }
  }
}

/** Starts a pipeline definition. `S` is the run state, `C` the run context. */
export function pipeline<S = undefined, C = undefined>(name: string, options?: PipelineOptions<S, C>): Pipeline<S, C> {
  return new Pipeline<S, C>(name, options);
}
