// One run of a graph pipeline: schedules nodes as their parents arrive, runs
// each through the shared executor, joins branches at barriers (with dead-path
// elimination, so an ALL barrier behind a switch waits only for the branch that
// can still arrive), and turns every status change into an event.

import { type EventBus, now, RunEmitter } from '../emitter.ts';
import {
  BarrierTimeoutError,
  CancelledError,
  CheckpointError,
  HookError,
  RouteError,
  RunTimeoutError,
  StepFailedError,
  toErrorInfo,
} from '../errors.ts';
import type { HookPhase, NodeKind, RunEndStatus, RunMetrics, StepEndStatus, StepLatency } from '../events.ts';
import { storableJson } from '../serialize.ts';
import { type AttemptContext, type ErrorAction, executeInto, type Outcome, OwnDependents, untilAborted } from '../executor.ts';
import { Fifo } from '../fifo.ts';
import type { Telemetry } from '../telemetry/index.ts';
import { Meta } from '../meta.ts';
import { didYouMean } from '../suggest.ts';
import { nextTurn, turnDue } from '../turn.ts';
import type { Graph } from './pipeline.ts';
import {
  type Awaitable,
  type ErrorHandler,
  type GraphNode,
  type Hook,
  type MapNode,
  type RunOptions,
  type RunResult,
  STOP,
  type StepArgs,
  type StepFn,
  type SubNode,
  Suspension,
  type SwitchNode,
} from './types.ts';
import { type DurableEnv, Restore, type RestoredOutput } from './durable.ts';
import { fanOut } from './fan-out.ts';
import type { OnCancel } from './handle.ts';
import { type LatencyTally, newTally, type RunScope, StepRun } from './step-observer.ts';
import { GraphStepArgs, type SharedArgs } from './step-args.ts';
import { reachable } from './validate.ts';

export interface RunEnv {
  readonly bus: EventBus;
  /** Cancels the run (the user's signal, or the parent step's for a sub-pipeline). */
  readonly signal: AbortSignal | undefined;
  /** Registers the run's canceller with its handle (`RunHandle.cancel()`); not for a sub-pipeline. */
  readonly onCancel?: OnCancel | undefined;
  readonly runId: string;
  readonly parentRunId: string | undefined;
  /** Spans and metrics, when an OpenTelemetry SDK is registered; shared with sub-pipelines. */
  readonly telemetry: Telemetry | undefined;
  /** A durable run (`durable: true`): where it keeps checkpoints, and what it carries on from. */
  readonly durable?: DurableEnv | undefined;
}

export function startRun<S, C>(graph: Graph<S, C>, state: S, options: RunOptions<C>, env: RunEnv): Promise<RunResult<S>> {
  return new GraphRun(graph, state, options, env).execute();
}

interface Decision {
  readonly route: string;
  readonly targets: ReadonlySet<string>;
}

/** A node with several parents, from the first parent that settles. Each parent's arrival costs O(1), so a join over N parents costs O(N). */
interface JoinState {
  /** Parents not settled yet, in definition order (what a barrier still waits for). */
  readonly pending: Set<string>;
  readonly arrived: string[];
  firstArrival: number;
  timer: ReturnType<typeof setTimeout> | undefined;
  released: boolean;
}

interface Failure {
  readonly node: string | undefined;
  readonly error: Error;
  readonly status: 'failed' | 'timed_out';
}

const ALL = undefined;

/** A node as the scheduler walks it: its successors as plans, so readying a step looks nothing up by name. */
interface Plan<S, C> {
  readonly name: string;
  readonly node: GraphNode<S, C>;
  /** Its place in the definition: a run's per-node state is kept in arrays at this index. */
  readonly index: number;
  readonly successors: readonly Plan<S, C>[];
  readonly parents: readonly string[];
}

const planCache = new WeakMap<object, ReadonlyMap<string, Plan<unknown, unknown>>>();

/** A graph's plans, made at its first run. */
function plansOf<S, C>(graph: Graph<S, C>): ReadonlyMap<string, Plan<S, C>> {
  let plans = planCache.get(graph) as ReadonlyMap<string, Plan<S, C>> | undefined;
  if (!plans) {
    const made = new Map<string, Plan<S, C> & { readonly successors: Plan<S, C>[] }>();
    for (const [name, node] of graph.nodes) made.set(name, { name, node, index: made.size, successors: [], parents: graph.shape.parents.get(name) ?? [] });
    for (const plan of made.values()) {
      for (const target of graph.shape.successors.get(plan.name) ?? []) {
        const next = made.get(target);
        if (!next) throw new Error(`spanflow: no node '${target}' in pipeline '${graph.name}'`);
        plan.successors.push(next);
      }
    }
    plans = made;
    planCache.set(graph, made as ReadonlyMap<string, Plan<unknown, unknown>>);
  }
  return plans;
}

/** `#pace` for a quiet run: its bus has no reader nor store, and none comes later, so only the event loop's turn is owed. */
function quietPace(): Promise<void> | undefined {
  return turnDue() ? nextTurn() : undefined;
}

class GraphRun<S, C> {
  readonly #graph: Graph<S, C>;
  readonly #state: S;
  readonly #context: C;
  readonly #options: RunOptions<C>;
  readonly #env: RunEnv;
  readonly #emitter: RunEmitter;
  readonly #runMeta = new Meta();
  readonly #controller = new AbortController();
  /** The controller's signal, read once (its getter checks its receiver on every read). */
  readonly #signal = this.#controller.signal;
  /**
   * The executor's dependents of the run's signal (steps' attempts in flight): the run aborts its
   * signal itself, so it ends them itself, and no abort listener is added to the signal per run.
   */
  readonly #inFlight = new OwnDependents();
  readonly #outputs: Map<string, unknown>;
  /** Made at the first join (most runs have none), as are the queue and the set of child runs. */
  #joins: Map<string, JoinState> | undefined;
  /** Parents reachable from the start node, by node, for a resumed run (computed once per node). */
  readonly #reachedParents: Map<string, readonly string[]> | undefined;
  readonly #plans: ReadonlyMap<string, Plan<S, C>>;
  /** Nodes started or skipped, by plan index: each is settled at most once per run. */
  readonly #claimed: (true | undefined)[];
  #queue: Fifo<Plan<S, C>> | undefined;
  /** Child runs of sub steps still under way. */
  #children: Set<Promise<RunResult<unknown>>> | undefined;
  readonly #start: string;
  /** What a resumed or retried durable run takes from the stored one. */
  readonly #restore: Restore | undefined;
  /** Nodes reachable from the start node, when it is not the root (a resumed run). */
  readonly #reach: Set<string> | undefined;
  #active = 0;
  #halted = false;
  #failure: Failure | undefined;
  #suspended: { node: string; reason: string | undefined } | undefined;
  #onIdle: (() => void) | undefined;

  // run metrics
  /** Each node's latency, by plan index, and the nodes in the order of their first attempt (the order of the run's metrics). */
  readonly #latency: (LatencyTally | undefined)[];
  readonly #tallied: Plan<S, C>[] = [];
  readonly #barriers: Record<string, { waitedMs: number; arrived: readonly string[] }> = {};
  readonly #maps: Record<string, { items: number; peakWorkers: number }> = {};
  readonly #tokens: Record<string, number> = {};
  #peakQueue = 0;

  constructor(graph: Graph<S, C>, state: S, options: RunOptions<C>, env: RunEnv) {
    this.#graph = graph;
    this.#state = state;
    this.#context = (options as { context?: C }).context as C;
    this.#options = options;
    this.#env = env;
    this.#restore = env.durable?.restore;
    this.#emitter = new RunEmitter(env.bus, env.runId, env.parentRunId, graph.name, this.#restore?.lastSeq);
    this.#plans = plansOf(graph);
    this.#claimed = new Array(graph.nodes.size);
    this.#latency = new Array(graph.nodes.size);
    this.#outputs = options.outputs ? new Map(Object.entries(options.outputs)) : new Map();
    // A forced resume may run a definition without some stored steps: their outputs are left behind.
    if (this.#restore) for (const [name, restored] of this.#restore.steps) if (graph.nodes.has(name)) this.#outputs.set(name, restored.output);
    this.#start = options.resumeFrom ?? graph.shape.root;
    this.#reach = this.#start === graph.shape.root ? undefined : reachable(this.#start, graph.shape.successors, graph.nodes as never);
    this.#reachedParents = this.#reach && new Map();
    this.#scope = {
      state,
      context: this.#context,
      runId: env.runId,
      output: this.#output,
      suspend: this.#suspend,
      emitter: this.#emitter,
      telemetry: env.telemetry,
      runMeta: this.#runMeta,
      pipelineMeta: graph.meta,
    };
  }

  execute(): Promise<RunResult<S>> {
    // A resumed run's duration (and its run timeout) counts from the stored run's start.
    const started = this.#restore?.mode === 'resume' ? performance.now() - (now() - this.#restore.from.startedAt) : performance.now();
    if (this.#emitter.heard()) this.#emitter.emit({ type: 'run_queued', continues: this.#restore?.continues });
    // The rest runs with the run's span current: hooks' own spans nest under it, and steps of a
    // run the sampler left out need no context switch of their own.
    const telemetry = this.#env.telemetry;
    return telemetry ? telemetry.inRun(this.#env.runId, () => this.#execute(started)) : this.#execute(started);
  }

  async #execute(started: number): Promise<RunResult<S>> {
    const emitter = this.#emitter;

    const cancel = (reason: unknown) => this.#abort(new CancelledError(`run ${this.#env.runId}`, reason));
    const signal = this.#env.signal;
    const onAbort = signal && (() => cancel(signal.reason));
    if (signal?.aborted) cancel(signal.reason);
    else if (onAbort) signal?.addEventListener('abort', onAbort, { once: true });
    this.#env.onCancel?.(cancel);
    const timeout = this.#options.timeout;
    const runTimer =
      timeout === undefined
        ? undefined
        : setTimeout(() => this.#abort(new RunTimeoutError(this.#graph.name, timeout)), Math.max(0, timeout - (performance.now() - started)));

    try {
      // A durable run stores its initial state first, before its hooks (a resumed one has it stored already).
      const unstorable = this.#env.durable && this.#restore?.mode !== 'resume' ? this.#checkpointStart() : undefined;
      if (unstorable) this.#fail(undefined, unstorable, 'failed');
      const startup = this.#graph.startup;
      for (let i = 0; i < startup.length; i++) {
        const hook = startup[i] as Hook<S, C>;
        // Cancelled (or timed out) before or between hooks: the rest do not start.
        if (this.#signal.aborted) break;
        const error = await this.#hook(hook, 'startup', this.#signal);
        if (error) {
          // A hook interrupted by cancellation or the run timeout ends the run as that, not as a failure.
          if (!this.#signal.aborted) this.#failure ??= { node: undefined, error, status: 'failed' };
          break;
        }
      }
      if (!this.#failure && !this.#signal.aborted) {
        if (emitter.heard()) {
          emitter.emit({ type: 'run_start', resumeFrom: this.#options.resumeFrom, pipelineMeta: this.#graph.meta, traceId: this.#env.telemetry?.traceId(this.#env.runId) });
        }
        const idle = new Promise<void>((resolve) => {
          this.#onIdle = resolve;
        });
        this.#ready(this.#plan(this.#start));
        this.#checkIdle();
        await idle;
      }
    } finally {
      if (runTimer !== undefined) clearTimeout(runTimer);
      if (onAbort) signal?.removeEventListener('abort', onAbort);
      if (this.#joins) for (const join of this.#joins.values()) if (join.timer !== undefined) clearTimeout(join.timer);
    }

    // Child runs abandoned by a cancelled or timed-out sub step end (and run their shutdown hooks) first.
    while (this.#children && this.#children.size > 0) await Promise.allSettled([...this.#children]);

    // Shutdown hooks always run, with a signal of their own that never fires.
    const shutdown = this.#graph.shutdown;
    const shutdownSignal = shutdown.length > 0 ? new AbortController().signal : undefined;
    for (let i = 0; i < shutdown.length; i++) {
      const error = await this.#hook(shutdown[i] as Hook<S, C>, 'shutdown', shutdownSignal as AbortSignal);
      // A shutdown failure fails a run that would have succeeded; it does not hide a cancellation or timeout.
      if (error && !this.#signal.aborted) this.#failure ??= { node: undefined, error, status: 'failed' };
    }

    const { status, error } = this.#outcome();
    const durationMs = performance.now() - started;
    const meta = this.#runMeta.snapshot();
    const metrics = this.#metrics();
    if (emitter.heard()) emitter.emit({
      type: 'run_end',
      status,
      durationMs,
      error: error && toErrorInfo(error),
      failedNode: this.#failure?.node,
      suspended: this.#suspended,
      meta,
      metrics,
      items: undefined,
    });
    // forEach, not Object.fromEntries, whose generic path costs three times as much, nor for-of,
    // which makes an entry and an iterator result per output until the JIT has compiled it.
    const outputs: Record<string, unknown> = {};
    this.#outputs.forEach((value, name) => {
      outputs[name] = value;
    });
    return {
      runId: this.#env.runId,
      pipeline: this.#graph.name,
      status,
      state: this.#state,
      outputs,
      error,
      failedNode: this.#failure?.node,
      suspended: status === 'suspended' ? this.#suspended : undefined,
      durationMs,
      meta,
      metrics,
    };
  }

  #outcome(): { status: RunEndStatus; error: Error | undefined } {
    if (this.#failure) return { status: this.#failure.status, error: this.#failure.error };
    if (this.#signal.aborted) {
      const reason: unknown = this.#signal.reason;
      const error = reason instanceof Error ? reason : new CancelledError(`run ${this.#env.runId}`, reason);
      return { status: reason instanceof RunTimeoutError ? 'timed_out' : 'cancelled', error };
    }
    if (this.#suspended) return { status: 'suspended', error: undefined };
    return { status: 'succeeded', error: undefined };
  }

  async #hook(hook: Hook<S, C>, phase: HookPhase, signal: AbortSignal): Promise<HookError | undefined> {
    const emitter = this.#emitter;
    emitter.emit({ type: 'hook_start', hook: hook.name, phase });
    const started = performance.now();
    let failure: HookError | undefined;
    const call = () =>
      hook.fn({
        state: this.#state,
        context: this.#context,
        runId: this.#env.runId,
        signal,
        meta: { run: this.#runMeta, pipeline: this.#graph.meta },
      });
    const telemetry = this.#env.telemetry;
    try {
      // The hook's own spans (a pool warming up, a connection opening) nest under its span.
      await untilAborted(telemetry ? telemetry.inHook(this.#env.runId, phase, hook.name, call) : call(), signal);
    } catch (error) {
      failure = new HookError(hook.name, phase, error);
    }
    emitter.emit({
      type: 'hook_end',
      hook: hook.name,
      phase,
      status: failure ? 'failed' : 'succeeded',
      durationMs: performance.now() - started,
      error: failure && toErrorInfo(failure),
    });
    return failure;
  }

  // ---- scheduling ------------------------------------------------------

  #ready(plan: Plan<S, C>): void {
    if (this.#halted || this.#claimed[plan.index]) return;
    const { node, name } = plan;
    this.#claimed[plan.index] = true;
    const restored = this.#restore?.steps.get(name);
    if (restored) {
      this.#restored(node, restored);
      return;
    }
    this.#env.telemetry?.stepQueued(this.#env.runId, name);
    if (!this.#emitter.quiet && this.#emitter.wants('step_queued')) this.#emitter.emit({ type: 'step_queued', node: name, nodeKind: node.kind, index: undefined });
    const limit = this.#graph.options.maxConcurrency;
    if (limit !== undefined && this.#active >= limit) {
      this.#queue ??= new Fifo<Plan<S, C>>();
      const queue = this.#queue;
      queue.push(plan);
      if (queue.length > this.#peakQueue) this.#peakQueue = queue.length;
      return;
    }
    this.#launch(plan);
  }

  #launch(plan: Plan<S, C>): void {
    this.#active++;
    // A store behind on its writes (or a slow reader of the run's events) holds the step back rather than lose its events:
    // the one place a graph run waits for room, so runs started back to back wait at their first step.
    const room = this.#env.bus.ready();
    if (room) void room.then(() => this.#attempt(plan));
    else this.#attempt(plan);
  }

  #attempt(plan: Plan<S, C>): void {
    const node = plan.node;
    // The outcome comes by callback: a step costs its own promise and one reaction on it.
    const now = executeInto(this.#attemptFn, this.#step(node, undefined, undefined, this.#signal, this.#inFlight, this.#tally(plan), true), this.#stepLanded);
    // Settling always waits a microtask, as successors expect.
    if (now) queueMicrotask(() => this.#landed(node, now, undefined));
  }

  /** The executor's callback for every step of the run: which step it was, its options say. */
  readonly #stepLanded = (outcome: Outcome<unknown>, step: StepRun<GraphNode<S, C>>): void => this.#landed(step.def, outcome, undefined);

  /** A step's attempts are over: its slot is free before successors are readied, so they can take it. */
  #landed(node: GraphNode<S, C>, outcome: Outcome<unknown> | undefined, error: unknown): void {
    this.#active--;
    try {
      if (outcome) this.#settle(node, outcome);
      else this.#fail(node.name, error instanceof Error ? error : new Error(String(error)), 'failed');
    } catch (thrown) {
      // A bug in settling must end the run as failed, not leave it hanging.
      this.#fail(node.name, thrown instanceof Error ? thrown : new Error(String(thrown)), 'failed');
    }
    this.#drain();
    this.#checkIdle();
  }

  /** Starts queued steps while slots are free; once the run has halted, they end cancelled instead. */
  #drain(): void {
    if (this.#halted) {
      const queue = this.#queue;
      if (queue) for (let plan = queue.shift(); plan; plan = queue.shift()) this.#endWithoutRunning(plan.name, 'cancelled', undefined, undefined);
      return;
    }
    const limit = this.#graph.options.maxConcurrency ?? Number.POSITIVE_INFINITY;
    const queue = this.#queue;
    if (!queue) return;
    for (let plan = this.#active < limit ? queue.shift() : undefined; plan; plan = this.#active < limit ? queue.shift() : undefined) {
      this.#launch(plan);
    }
  }

  #checkIdle(): void {
    if (this.#active === 0 && (this.#queue === undefined || this.#queue.length === 0) && this.#onIdle) {
      const resolve = this.#onIdle;
      this.#onIdle = undefined;
      resolve();
    }
  }


  /** One node's (or one map item's) attempts, as the shared executor runs them: their options, observer and identity. */
  #step(
    node: GraphNode<S, C>,
    item: unknown,
    index: number | undefined,
    signal: AbortSignal,
    link: OwnDependents | undefined,
    latency: LatencyTally,
    timed: boolean,
  ): StepRun<GraphNode<S, C>> {
    const handler = node.onError ?? this.#graph.options.onError;
    const firstAttempt = this.#restore?.firstAttempt(node.name, index);
    return new StepRun(this.#scope, node, item, index, signal, link, latency, handler && this.#onError(handler, node.name, index), firstAttempt, timed);
  }

  #onError(handler: ErrorHandler<S, C>, node: string, index: number | undefined): (error: unknown, attempt: number) => Awaitable<ErrorAction> {
    return (error, attempt) => handler(error, { node, attempt, index, state: this.#state, context: this.#context, runId: this.#env.runId });
  }

  /** A node's latency tally in this run, made at its first attempt. */
  #tally(plan: Plan<S, C>): LatencyTally {
    let tally = this.#latency[plan.index];
    if (!tally) {
      tally = newTally();
      this.#latency[plan.index] = tally;
      this.#tallied.push(plan);
    }
    return tally;
  }

  /** Every attempt's code, for every step of the run: which step it is, its options say. */
  readonly #attemptFn = (context: AttemptContext, step: StepRun<GraphNode<S, C>>): unknown => {
    // An untimed attempt's context is its arguments already (`StepRun.attemptContext`); a timed one's is the executor's.
    const args = (context instanceof GraphStepArgs ? context : new GraphStepArgs(this.#scope, step as StepRun, context.attempt, context)) as StepArgs<S, C, unknown>;
    const node = step.def;
    // A plain step's call, at once (most steps are): one call fewer on every step while the JIT warms up.
    if (node.kind === 'step' && !this.#env.durable) {
      const out = node.fn(args);
      return out instanceof Promise ? out : this.#result(node.name, node.kind, out, args);
    }
    return this.#body(node, args);
  };

  #body(node: GraphNode<S, C>, args: StepArgs<S, C, unknown>): unknown {
    const value = this.#run(node, args);
    if (!this.#env.durable) return value;
    return value instanceof Promise ? value.then((v) => this.#checkpoint(node, args, v)) : this.#checkpoint(node, args, value);
  }

  #run(node: GraphNode<S, C>, args: StepArgs<S, C, unknown>): unknown {
    switch (node.kind) {
      case 'step':
      case 'barrier':
        return this.#call(node.name, node.kind, node.fn, args);
      case 'map':
        return this.#map(node, args as StepArgs<S, C>);
      case 'switch':
        return this.#decide(node, args as StepArgs<S, C>);
      case 'sub':
        return node.fn ? this.#call(node.name, node.kind, node.fn, args) : this.#child(node, args as StepArgs<S, C>);
    }
  }

  #call(name: string, kind: NodeKind, fn: StepFn<S, C, unknown>, args: StepArgs<S, C, unknown>): unknown {
    return this.#result(name, kind, fn(args), args);
  }

  /** What a step's function gave, as its attempt's value: a stream's tokens pulled, a thenable awaited. */
  #result(name: string, kind: NodeKind, out: unknown, args: StepArgs<S, C, unknown>): unknown {
    if (out !== null && typeof out === 'object' && !(out instanceof Promise) && Symbol.asyncIterator in out) {
      return this.#stream(name, kind, out as AsyncIterable<unknown>, args);
    }
    // A thenable that is not a Promise (a query builder, say) is awaited like one.
    if (out !== null && typeof out === 'object' && !(out instanceof Promise) && typeof (out as PromiseLike<unknown>).then === 'function') {
      return Promise.resolve(out);
    }
    return out;
  }

  /** Pulls a streaming step's tokens, one event each; a slow event reader slows the producer. */
  async #stream(name: string, kind: NodeKind, tokens: AsyncIterable<unknown>, args: StepArgs<S, C, unknown>): Promise<unknown> {
    const iterator = tokens[Symbol.asyncIterator]();
    let tokenIndex = 0;
    let finished = false;
    try {
      for (;;) {
        if (args.signal.aborted) throw args.signal.reason;
        const next = await iterator.next();
        if (next.done) {
          finished = true;
          return next.value;
        }
        this.#tokens[name] = (this.#tokens[name] ?? 0) + 1;
        this.#emitter.emit({ type: 'token', node: name, nodeKind: kind, attempt: args.attempt, index: args.index, tokenIndex: tokenIndex++, token: next.value });
        const paused = this.#pace();
        if (paused) await paused;
      }
    } finally {
      if (!finished) void iterator.return?.()?.catch(() => {});
    }
  }

  /**
   * What a producer (a streaming step per token, a map per item) waits for before it goes on: room in the
   * event streams (a slow reader pushes back), and a turn of the event loop once it has held it for a
   * slice, so timers (step and run timeouts, heartbeats, dashboards), I/O and cancellation keep their
   * time while a producer that never waits runs. `undefined`: go on at once.
   */
  #pace(): Promise<void> | undefined {
    if (this.#emitter.quiet) return quietPace();
    const room = this.#env.bus.ready();
    if (!turnDue()) return room;
    return room ? room.then(nextTurn) : nextTurn();
  }

  async #decide(node: SwitchNode<S, C>, args: StepArgs<S, C>): Promise<Decision> {
    const route = await node.fn(args);
    if (route === STOP) {
      this.#emitter.emit({ type: 'route', node: node.name, nodeKind: 'switch', route: 'STOP', targets: [] });
      return { route: 'STOP', targets: new Set() };
    }
    const targets = this.#targetsOf(node, route);
    this.#emitter.emit({ type: 'route', node: node.name, nodeKind: 'switch', route: String(route), targets: [...targets] });
    return { route: String(route), targets };
  }

  /** Where a switch's route leads. */
  #targetsOf(node: SwitchNode<S, C>, route: string): ReadonlySet<string> {
    let target: string | typeof STOP | undefined;
    if (node.routes) {
      target = Object.hasOwn(node.routes, route) ? node.routes[route] : node.default;
      if (target === undefined) {
        const known = Object.keys(node.routes);
        throw new RouteError(
          `switch '${node.name}' returned route '${route}', which is not one of its routes (${known.join(', ')}).${didYouMean(route, known)} Add it to routes or give the switch a default.`,
        );
      }
    } else {
      target = node.to.includes(route) ? route : node.default;
      if (target === undefined) {
        throw new RouteError(
          `switch '${node.name}' returned '${route}', which is not one of its targets (${node.to.join(', ')}).${didYouMean(route, node.to)}`,
        );
      }
    }
    return new Set<string>(target === STOP ? [] : [target]);
  }

  async #child(node: SubNode<S, C>, args: StepArgs<S, C>): Promise<unknown> {
    const child = node.child.graph as Graph<unknown, unknown>;
    const durable = this.#env.durable;
    const previous = durable && (await this.#previousChild(durable, node.name));
    const childState = previous ? previous.state : await node.state(args);
    const context = node.context ? node.context(args) : this.#context;
    // A resumed child is the same run; a retried one a new run linked to the one that failed.
    const runId = previous?.mode === 'resume' ? previous.from.runId : crypto.randomUUID();
    if (previous?.mode === 'retry') await durable?.store.markRetried(previous.from.runId, runId);
    if (durable) this.#checkpointChild(node, args, runId);
    const running = startRun(child, childState, { context } as RunOptions<unknown>, {
      bus: this.#env.bus,
      signal: args.signal,
      runId,
      parentRunId: this.#env.runId,
      telemetry: this.#env.telemetry,
      durable: durable && { store: durable.store, version: undefined, restore: previous },
    });
    // A cancelled sub step is abandoned at once, but its child still ends (shutdown hooks): the parent waits for it.
    this.#children ??= new Set();
    const children = this.#children;
    children.add(running);
    const done = () => children.delete(running);
    running.then(done, done);
    const result = await running;
    if (result.status === 'suspended') return new Suspension(`sub-pipeline '${child.name}' suspended at '${result.suspended?.node}'`);
    if (result.status !== 'succeeded') throw result.error ?? new Error(`sub-pipeline '${child.name}' ended ${result.status}`);
    if (node.onResult) await node.onResult(result, args);
    return result;
  }

  /** Runs the producer, then the worker once per item with bounded concurrency. Results keep input order. */
  async #map(node: MapNode<S, C>, args: StepArgs<S, C>): Promise<unknown[]> {
    const source = await node.fn(args);
    if (source === null || typeof source !== 'object' || !(Symbol.iterator in source || Symbol.asyncIterator in source)) {
      throw new TypeError(`map '${node.name}': its producer returned ${source === null ? 'null' : typeof source}, not an array or (async) iterable of items`);
    }
    const worker = this.#node(node.worker);
    const workerPlan = this.#plan(node.worker);
    const emitter = this.#emitter;
    emitter.emit({ type: 'map_start', node: node.name, nodeKind: 'map', worker: worker.name, concurrency: node.concurrency });
    const started = performance.now();
    // An item's two clock reads were a fifth of a no-op item's cost: its duration is measured only for someone
    // who can read it (a listener, telemetry). A quiet run's result then counts the worker's attempts with no
    // latency (totalMs and maxMs 0); its plain steps are still timed.
    const timed = this.#env.telemetry !== undefined || !emitter.quiet;
    const { results, items, peakWorkers, failure } = await fanOut(source, {
      map: node.name,
      worker: worker.name,
      concurrency: node.concurrency,
      maxItems: node.maxItems,
      signal: args.signal,
      run: (item, index, signal, link, settle) => {
        const restored = this.#restore?.items.get(worker.name)?.get(index);
        if (restored) return this.#restoredItem(worker, index, restored);
        if (!emitter.quiet && emitter.wants('step_queued')) emitter.emit({ type: 'step_queued', node: worker.name, nodeKind: worker.kind, index });
        return executeInto(this.#attemptFn, this.#step(worker, item, index, signal, link, this.#tally(workerPlan), timed), settle);
      },
      ready: emitter.quiet ? quietPace : () => this.#pace(),
    });
    this.#maps[node.name] = { items, peakWorkers };
    if (failure) throw failure;
    if (args.signal.aborted) throw args.signal.reason;
    emitter.emit({ type: 'map_end', node: node.name, nodeKind: 'map', worker: worker.name, items, peakWorkers, durationMs: performance.now() - started });
    return results;
  }

  // ---- outcomes and joins ----------------------------------------------

  #settle(node: GraphNode<S, C>, outcome: Outcome<unknown>): void {
    switch (outcome.status) {
      case 'succeeded': {
        const value = outcome.value;
        if (node.kind === 'switch') {
          const decision = value as Decision;
          this.#outputs.set(node.name, decision.route);
          this.#propagate(node.name, decision.targets);
        } else if (value instanceof Suspension) {
          this.#outputs.set(node.name, undefined);
          this.#suspended ??= { node: node.name, reason: value.reason };
          this.#halted = true;
        } else {
          this.#outputs.set(node.name, value);
          this.#propagate(node.name, ALL);
        }
        return;
      }
      case 'skipped':
        this.#outputs.set(node.name, undefined);
        this.#propagate(node.name, outcome.action === 'stop' || node.kind === 'switch' ? new Set() : ALL);
        return;
      case 'cancelled':
        // Cancelled because the run is ending (cancel, run timeout, another step's failure).
        this.#halted = true;
        if (!this.#signal.aborted) this.#fail(node.name, new CancelledError(`step '${node.name}'`, outcome.error), 'failed');
        return;
      case 'failed': {
        // A map's failure is its worker's: keep the worker's name and item in the error.
        const error =
          node.kind === 'map' && outcome.error instanceof StepFailedError
            ? outcome.error
            : new StepFailedError(node.name, outcome.attempts, outcome.error);
        this.#fail(node.name, error, 'failed');
        return;
      }
      case 'timed_out':
        this.#fail(node.name, outcome.error instanceof Error ? outcome.error : new Error(String(outcome.error)), 'timed_out');
        return;
    }
  }

  #fail(node: string | undefined, error: Error, status: 'failed' | 'timed_out'): void {
    this.#failure ??= { node, error, status };
    this.#halted = true;
    this.#abort(error);
  }

  /** Aborts the run's signal, then ends the attempts in flight under it (the executor's dependents: see `#inFlight`). */
  #abort(reason: unknown): void {
    if (this.#signal.aborted) return;
    this.#controller.abort(reason);
    this.#inFlight.abort();
  }

  #propagate(name: string, chosen: ReadonlySet<string> | undefined): void {
    if (this.#halted) return;
    const successors = this.#plan(name).successors;
    for (let i = 0; i < successors.length; i++) {
      const target = successors[i] as Plan<S, C>;
      if (chosen === ALL || chosen.has(target.name)) this.#resolve(target, name, true);
      else if (this.#resolve(target, name, false)) this.#skip(target);
    }
  }

  #parents(plan: Plan<S, C>): readonly string[] {
    const { name, parents } = plan;
    const reach = this.#reach;
    const cache = this.#reachedParents;
    if (!reach || !cache || parents.length === 0) return parents;
    let reached = cache.get(name);
    if (!reached) {
      reached = parents.filter((p) => reach.has(p));
      cache.set(name, reached);
    }
    return reached;
  }

  /**
   * A parent of `target` is done: it arrived (ran) or never will (skipped). A target that can now
   * run is readied here; one that never will is left to the caller to skip (returns true), so a long
   * branch not taken is skipped by a loop, not by recursion.
   */
  #resolve(plan: Plan<S, C>, from: string, arrived: boolean): boolean {
    if (this.#halted) return false;
    const target = plan.name;
    const parents = this.#parents(plan);
    if (parents.length <= 1) {
      if (arrived) this.#ready(plan);
      return !arrived;
    }
    this.#joins ??= new Map();
    const joins = this.#joins;
    let join = joins.get(target);
    if (!join) {
      join = { pending: new Set(parents), arrived: [], firstArrival: 0, timer: undefined, released: false };
      joins.set(target, join);
    }
    // ANY: later arrivals are ignored; a parent is counted once.
    if (join.released || !join.pending.delete(from)) return false;
    if (arrived) join.arrived.push(from);

    const node = plan.node;
    const mode = node.kind === 'barrier' ? node.mode : 'all';
    if (join.arrived.length > 0 && (mode === 'any' || join.pending.size === 0)) {
      join.released = true;
      if (join.timer !== undefined) clearTimeout(join.timer);
      const waitedMs = join.firstArrival === 0 ? 0 : performance.now() - join.firstArrival;
      this.#barriers[target] = { waitedMs, arrived: [...join.arrived] };
      this.#emitter.emit({ type: 'barrier_release', node: target, nodeKind: node.kind, mode, arrived: [...join.arrived], waitedMs });
      this.#ready(plan);
    } else if (join.pending.size === 0) {
      join.released = true;
      return true;
    } else if (arrived && join.firstArrival === 0) {
      // Once per join, when it starts waiting: an event per arrival, each naming every parent, would be O(N²).
      join.firstArrival = performance.now();
      if (this.#emitter.wants('barrier_wait')) {
        this.#emitter.emit({ type: 'barrier_wait', node: target, nodeKind: node.kind, mode, arrived: [...join.arrived], waitingFor: [...join.pending] });
      }
      const limit = node.kind === 'barrier' ? node.barrierTimeout : undefined;
      if (limit !== undefined) join.timer = setTimeout(() => this.#barrierTimedOut(target, limit), limit);
    }
    return false;
  }

  #barrierTimedOut(name: string, limit: number): void {
    const join = this.#joins?.get(name);
    if (!join || join.released || this.#halted) return;
    join.released = true;
    this.#claimed[this.#plan(name).index] = true;
    const error = new BarrierTimeoutError(name, limit, join.arrived, [...join.pending]);
    this.#endWithoutRunning(name, 'timed_out', error, undefined);
    this.#fail(name, error, 'timed_out');
  }

  /**
   * A node that will never run (its branch was not taken): skipped, and so are the successors that
   * this leaves with no way to run, depth first, on a stack of its own (a branch may be 100,000 long).
   */
  #skip(plan: Plan<S, C>): void {
    if (this.#claimed[plan.index]) return;
    const stack: { readonly from: string; readonly targets: readonly Plan<S, C>[]; at: number }[] = [];
    const skipOne = (node: Plan<S, C>) => {
      this.#claimed[node.index] = true;
      this.#endWithoutRunning(node.name, 'skipped', undefined, 'not-reached');
      stack.push({ from: node.name, targets: node.successors, at: 0 });
    };
    skipOne(plan);
    while (stack.length > 0) {
      const top = stack[stack.length - 1] as (typeof stack)[number];
      if (top.at === top.targets.length) {
        stack.pop();
        continue;
      }
      const target = top.targets[top.at++] as Plan<S, C>;
      if (this.#resolve(target, top.from, false) && !this.#claimed[target.index]) skipOne(target);
    }
  }

  #endWithoutRunning(name: string, status: StepEndStatus, error: Error | undefined, skipReason: 'not-reached' | undefined): void {
    const telemetry = this.#env.telemetry;
    if (telemetry) {
      const step = { runId: this.#env.runId, pipeline: this.#graph.name, node: name, kind: this.#node(name).kind, index: undefined };
      telemetry.endAttempt(step, undefined, 0, status, 0, error);
    }
    if (!this.#emitter.wants('step_end')) return;
    this.#emitter.emit({
      type: 'step_end',
      node: name,
      nodeKind: this.#node(name).kind,
      attempt: 0,
      index: undefined,
      status,
      durationMs: 0,
      error: error && toErrorInfo(error),
      skipReason,
      meta: undefined,
    });
  }

  // ---- durable runs ----------------------------------------------------

  /** Stores the run's initial state (and the pipeline's version): the start of its checkpoints. */
  #checkpointStart(): CheckpointError | undefined {
    let state: string;
    try {
      state = storableJson(this.#state);
    } catch (error) {
      return new CheckpointError('(start)', 'initial state', error);
    }
    this.#emitter.emit({
      type: 'checkpoint',
      kind: 'start',
      node: undefined,
      nodeKind: undefined,
      index: undefined,
      attempt: undefined,
      output: undefined,
      state,
      childRunId: undefined,
      version: this.#env.durable?.version,
    });
    return undefined;
  }

  /**
   * A step's attempt gave its value: stored with the state after it (a map item: its output only) before the
   * step ends, so a value that cannot be stored fails the step here. An attempt that was abandoned (timed out,
   * cancelled) stores nothing.
   */
  #checkpoint(node: GraphNode<S, C>, args: StepArgs<S, C, unknown>, value: unknown): unknown {
    // An untimed attempt's signal is made on first read: ask it only of a timed one (the run's covers the rest).
    const abandoned = node.timeout === undefined ? this.#signal.aborted : args.signal.aborted;
    if (value instanceof Suspension || abandoned) return value;
    const index = args.index;
    let output: string;
    let state: string | undefined;
    try {
      output = storableJson(node.kind === 'switch' ? (value as Decision).route : value);
    } catch (error) {
      throw new CheckpointError(index === undefined ? node.name : `${node.name}' (item ${index})`, 'output', error);
    }
    if (index === undefined) {
      try {
        state = storableJson(this.#state);
      } catch (error) {
        throw new CheckpointError(node.name, 'state after it', error);
      }
    }
    const { name, kind } = node;
    this.#emitter.emit({ type: 'checkpoint', kind: 'step', node: name, nodeKind: kind, index, attempt: args.attempt, output, state, childRunId: undefined, version: undefined });
    return value;
  }

  #checkpointChild(node: SubNode<S, C>, args: StepArgs<S, C>, childRunId: string): void {
    this.#emitter.emit({
      type: 'checkpoint',
      kind: 'child',
      node: node.name,
      nodeKind: 'sub',
      index: undefined,
      attempt: args.attempt,
      output: undefined,
      state: undefined,
      childRunId,
      version: undefined,
    });
  }

  /** The child run a sub step of the stored run started, to carry on: resumed (claimed first) or retried. */
  async #previousChild(durable: DurableEnv, node: string): Promise<Restore | undefined> {
    const restore = this.#restore;
    const childRunId = restore?.children.get(node);
    if (!restore || childRunId === undefined) return undefined;
    const stored = await durable.store.loadCheckpoints(childRunId);
    if (!stored || !Restore.durable(stored)) return undefined;
    if (restore.mode === 'resume') {
      // A child that ended (or that another process took) is not carried on: the sub step starts a new one.
      return stored.status === 'interrupted' && (await durable.store.claimRun(childRunId)) ? new Restore('resume', stored) : undefined;
    }
    return stored.status === 'succeeded' ? undefined : new Restore('retry', stored);
  }

  /** A step that completed in the stored run: its step_end says so (no attempt, no span, no metrics), then it settles with its output. */
  #restored(node: GraphNode<S, C>, restored: RestoredOutput): void {
    this.#active++;
    this.#emitRestored(node, undefined, restored);
    const route = String(restored.output);
    const value = node.kind === 'switch' ? ({ route, targets: route === 'STOP' ? new Set<string>() : this.#targetsOf(node, route) } satisfies Decision) : restored.output;
    // Settled a microtask later, as a step that ran would be (successors expect it; a long restored chain needs no deep stack).
    void Promise.resolve().then(() => this.#landed(node, { status: 'succeeded', value, attempts: restored.attempt }, undefined));
  }

  #restoredItem(worker: GraphNode<S, C>, index: number, restored: RestoredOutput): Outcome<unknown> {
    this.#emitRestored(worker, index, restored);
    return { status: 'succeeded', value: restored.output, attempts: restored.attempt };
  }

  #emitRestored(node: GraphNode<S, C>, index: number | undefined, restored: RestoredOutput): void {
    if (!this.#emitter.wants('step_end')) return;
    this.#emitter.emit({
      type: 'step_end',
      node: node.name,
      nodeKind: node.kind,
      attempt: restored.attempt,
      index,
      status: 'succeeded',
      durationMs: 0,
      error: undefined,
      skipReason: undefined,
      meta: undefined,
      restored: true,
    });
  }

  // ---- per-attempt plumbing --------------------------------------------

  #plan(name: string): Plan<S, C> {
    const plan = this.#plans.get(name);
    if (!plan) throw new Error(`spanflow: no node '${name}' in pipeline '${this.#graph.name}'`);
    return plan;
  }

  #node(name: string): GraphNode<S, C> {
    const node = this.#graph.nodes.get(name);
    if (!node) throw new Error(`spanflow: no node '${name}' in pipeline '${this.#graph.name}'`);
    return node;
  }

  readonly #output = <T>(name: string): T | undefined => {
    if (!this.#graph.nodes.has(name)) {
      throw new Error(`output('${name}'): pipeline '${this.#graph.name}' has no such step.${didYouMean(name, this.#graph.nodes.keys())}`);
    }
    return this.#outputs.get(name) as T | undefined;
  };

  readonly #suspend = (reason?: string): Suspension => new Suspension(reason);

  /** What every step of this run shares: read through by each attempt's arguments, and by its observer. */
  readonly #scope: SharedArgs<S, C> & RunScope;

  #metrics(): RunMetrics {
    const steps: Record<string, StepLatency> = {};
    const tallied = this.#tallied;
    for (let i = 0; i < tallied.length; i++) {
      const plan = tallied[i] as Plan<S, C>;
      // The tally itself: every attempt has ended by now, so it changes no more.
      steps[plan.name] = this.#latency[plan.index] as LatencyTally;
    }
    return { steps, barriers: this.#barriers, maps: this.#maps, peakQueueDepth: this.#peakQueue, tokens: this.#tokens };
  }
}
