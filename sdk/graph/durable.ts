// Durable runs: what a resumed or retried run takes from a stored one (the
// outputs of the steps that completed, the last state, the attempt counts, the
// child runs of sub steps), and the checks before it starts. The store is
// reached through the CheckpointStore interface only (sdk/persist.ts).

import { DefinitionError, ResumeError } from '../errors.ts';
import type { RunContinuation } from '../events.ts';
import { type CheckpointStore, isCheckpointStore, type PersistOption, resolveRecorder, type StoredRunCheckpoints } from '../persist.ts';
import { didYouMean } from '../suggest.ts';
import type { Graph } from './pipeline.ts';
import type { GraphNode } from './types.ts';

/** A step (or map item) that completed in the stored run. */
export interface RestoredOutput {
  readonly output: unknown;
  /** The attempt that made it. */
  readonly attempt: number;
}

/** How a durable run records and, when it carries on from a stored run, what it takes from it. */
export interface DurableEnv {
  readonly store: CheckpointStore;
  readonly version: string | undefined;
  readonly restore: Restore | undefined;
}

const itemKey = (node: string, index: number | undefined) => (index === undefined ? node : `${node}\u0000${index}`);

/** What a run carries on from: a stored run's checkpoints, read once. */
export class Restore {
  readonly mode: 'resume' | 'retry';
  readonly from: StoredRunCheckpoints;
  /** The state after the last stored step (or the initial state). */
  readonly state: unknown;
  readonly steps = new Map<string, RestoredOutput>();
  readonly items = new Map<string, Map<number, RestoredOutput>>();
  /** The last child run each sub step started. */
  readonly children = new Map<string, string>();
  readonly version: string | undefined;
  readonly #attempts = new Map<string, number>();

  constructor(mode: 'resume' | 'retry', from: StoredRunCheckpoints) {
    this.mode = mode;
    this.from = from;
    let state: string | undefined;
    let version: string | undefined;
    for (const c of from.checkpoints) {
      if (c.kind === 'start') {
        state = c.state;
        version = c.version;
      } else if (c.kind === 'child' && c.node !== undefined && c.childRunId !== undefined) {
        this.children.set(c.node, c.childRunId);
      } else if (c.kind === 'step' && c.node !== undefined) {
        const restored = { output: c.output === undefined ? undefined : JSON.parse(c.output), attempt: c.attempt ?? 1 };
        if (c.index === undefined) {
          this.steps.set(c.node, restored);
          if (c.state !== undefined) state = c.state;
        } else {
          let items = this.items.get(c.node);
          if (!items) {
            items = new Map();
            this.items.set(c.node, items);
          }
          items.set(c.index, restored);
        }
      }
    }
    this.state = state === undefined ? undefined : JSON.parse(state);
    this.version = version;
    if (mode === 'resume') for (const a of from.attempts) this.#attempts.set(itemKey(a.node, a.index), a.attempt);
  }

  /** Whether the stored run is durable (it stored its initial state). */
  static durable(from: StoredRunCheckpoints): boolean {
    return from.checkpoints.some((c) => c.kind === 'start');
  }

  /** The first attempt of a step in a resumed run: after the stored ones (the interrupted one counts as failed). */
  firstAttempt(node: string, index: number | undefined): number | undefined {
    const last = this.#attempts.get(itemKey(node, index));
    return last === undefined ? undefined : last + 1;
  }

  /** The seq a resumed run's events go on from (a retry is a new run: from 0). */
  get lastSeq(): number {
    return this.mode === 'resume' ? this.from.lastSeq : 0;
  }

  get continues(): RunContinuation {
    return { mode: this.mode, runId: this.from.runId, traceId: this.from.traceId, spanId: this.from.spanId };
  }
}

/** The store a durable run records into and resumes from: the run's or pipeline's `persist`, which must keep checkpoints. */
export function durableStore(pipeline: string, persist: PersistOption | undefined, runId?: string): CheckpointStore {
  const recorder = resolveRecorder(persist ?? true);
  if (!recorder || !isCheckpointStore(recorder)) {
    const message =
      `pipeline '${pipeline}': durable runs need a store that keeps checkpoints (spanflow/postgres): ` +
      "pass persist: await openStore() (or store: in resume()/retry()), or add `import 'spanflow/postgres'` for persist: true";
    throw runId === undefined ? new TypeError(message) : new ResumeError('no-store', runId, message);
  }
  return recorder;
}

/** Reads a stored run and checks that this pipeline may carry it on; the store's refusals become ResumeErrors that say what to do. */
export async function loadStored(
  store: CheckpointStore,
  runId: string,
  pipeline: { readonly name: string; readonly hash: string; readonly version: string | undefined },
  mode: 'resume' | 'retry',
  force: boolean,
): Promise<StoredRunCheckpoints> {
  const stored = await store.loadCheckpoints(runId);
  if (!stored) throw new ResumeError('unknown-run', runId, `no stored run has id ${runId}: \`spanflow runs\` lists the runs`);
  if (stored.pipeline !== pipeline.name) {
    throw new ResumeError(
      'wrong-pipeline',
      runId,
      `run ${runId} is a run of pipeline '${stored.pipeline}', not '${pipeline.name}': ${mode} it with that pipeline`,
    );
  }
  if (!Restore.durable(stored)) {
    throw new ResumeError(
      'not-durable',
      runId,
      `run ${runId} of '${stored.pipeline}' was not durable (it stored no checkpoints), so it cannot be ${mode === 'resume' ? 'resumed' : 'retried'}: run it again, with durable: true to make later runs resumable`,
    );
  }
  if (mode === 'resume' && (stored.status === 'running' || stored.status === 'pending')) {
    // Under way: another process resumed it first, or its own process lives (or died so recently that no store has marked it yet).
    throw new ResumeError(
      'claimed',
      runId,
      `run ${runId} is ${stored.status} (host ${stored.host}): another process has it. If that process died, a store opened on this host marks the run interrupted at once (on another host, once its heartbeat is stale); then resume it`,
    );
  }
  const wanted = mode === 'resume' ? ['interrupted'] : ['failed', 'timed_out', 'cancelled', 'interrupted'];
  if (!wanted.includes(stored.status)) {
    const hint =
      mode === 'resume'
        ? stored.status === 'failed' || stored.status === 'timed_out'
            ? `it ended ${stored.status}: retry it instead (spanflow retry)`
            : `it ended ${stored.status}; only an interrupted run resumes`
        : `it ended ${stored.status}; only a failed, timed-out, cancelled or interrupted run is retried`;
    throw new ResumeError('wrong-status', runId, `run ${runId} cannot be ${mode === 'resume' ? 'resumed' : 'retried'}: ${hint}`);
  }
  if (mode === 'retry' && stored.retriedBy !== undefined) {
    throw new ResumeError('already-retried', runId, `run ${runId} was retried already, by run ${stored.retriedBy}: retry that one if it failed too`);
  }
  if (mode === 'resume' && !force) {
    const version = new Restore('retry', stored).version;
    if (version !== pipeline.version) {
      throw new ResumeError(
        'changed',
        runId,
        `run ${runId} ran version ${version ?? '(none)'} of pipeline '${pipeline.name}', and this is version ${pipeline.version ?? '(none)'}: resume it with the code it ran, or pass force (--force) to resume it with this one`,
      );
    }
    if (stored.pipelineHash !== undefined && stored.pipelineHash !== pipeline.hash) {
      throw new ResumeError(
        'changed',
        runId,
        `the definition of pipeline '${pipeline.name}' changed since run ${runId} ran (hash ${stored.pipelineHash}, now ${pipeline.hash}): resume it with the definition it ran, or pass force (--force) to resume it with this one`,
      );
    }
  }
  return stored;
}

/**
 * A copy of a graph (and of its sub-pipelines' graphs) with some steps' per-attempt timeouts replaced,
 * by step name in any pipeline of the tree: a retry after a step outgrew its timeout.
 */
export function withTimeouts<S, C>(graph: Graph<S, C>, timeouts: Readonly<Record<string, number>>): Graph<S, C> {
  const used = new Set<string>();
  const names = new Set<string>();
  const copy = <S2, C2>(g: Graph<S2, C2>): Graph<S2, C2> => {
    const nodes = new Map<string, GraphNode<S2, C2>>();
    for (const [name, node] of g.nodes) {
      names.add(name);
      let changed: GraphNode<S2, C2> = node;
      if (Object.hasOwn(timeouts, name)) {
        const ms = timeouts[name];
        if (!(typeof ms === 'number' && ms > 0)) throw new RangeError(`timeouts['${name}'] must be a positive number of ms (got ${String(ms)})`);
        used.add(name);
        changed = { ...changed, timeout: ms };
      }
      if (changed.kind === 'sub' && !changed.fn) {
        const child = changed.child;
        changed = { ...changed, child: { name: child.name, graph: copy(child.graph as Graph<unknown, unknown>) } };
      }
      nodes.set(name, changed);
    }
    return { ...g, nodes };
  };
  const result = copy(graph);
  const unknown = Object.keys(timeouts).filter((name) => !used.has(name));
  if (unknown.length > 0) {
    throw new DefinitionError(graph.name, unknown.map((name) => `timeouts names unknown step '${name}'.${didYouMean(name, names)}`));
  }
  return result;
}
