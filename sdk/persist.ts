// Persistence is a consumer of a run's events. The store lives in exporters/
// (spanflow/postgres), which the engine may not import: the engine declares
// what a store must do (RunRecorder) and keeps a slot that spanflow/postgres
// fills on import, so `persist: true` works with no further wiring.

import { createHash } from 'node:crypto';
import type { EventBus, EventListener } from './emitter.ts';
import type { CheckpointEvent, EventType, ItemCounts } from './events.ts';
import { safeJson } from './serialize.ts';
import type { FailedItem } from './stages/types.ts';
import { ATTR } from './telemetry/attributes.ts';
import type { Telemetry } from './telemetry/index.ts';

/** A pipeline's definition as a store keeps it: JSON-safe, with a hash that changes when the definition does. */
export interface PipelineDescription {
  readonly name: string;
  readonly kind: 'graph' | 'stages';
  /** 16 hex digits of a SHA-256 of `graph`: equal definitions, equal hashes. */
  readonly hash: string;
  /** The nodes (or stages), their edges and options, as plain JSON. */
  readonly graph: Readonly<Record<string, unknown>>;
  /** A Mermaid flowchart of the definition. */
  readonly mermaid: string;
  /** The pipelines this one runs as sub-pipelines, at any depth (their runs share its listener). */
  readonly subPipelines: readonly PipelineDescription[];
}

/** What the engine lends a recorder about one run tree: trace ids and the drop counter. */
export interface RecordingContext {
  /** The trace id (32 hex digits) of a run's span, while the run is open and telemetry is on. */
  traceId(runId: string): string | undefined;
  /** The span id (16 hex digits) of a step attempt's span, while the attempt runs and telemetry is on. */
  spanId(runId: string, node: string, index: number | undefined): string | undefined;
  /** Counts rows the store could not write in `spanflow.persistence.dropped` (a no-op without a meter). */
  countDropped(count: number, reason: DropReason): void;
  /** A stage batch's item counts so far, cheap to read at any time (undefined for graph runs). */
  readonly items: (() => ItemCounts) | undefined;
}

/**
 * Why a store could not write rows: its buffer was full, the database could
 * not be written (unreachable past close, or failing in a way no retry fixes),
 * or it refused those rows (a value it does not take).
 */
export type DropReason = 'buffer_full' | 'write_failed' | 'rejected';

/** One run tree being recorded: the listener that takes its events. */
export interface Recording {
  /** Called synchronously with each event of the run and its sub-pipelines. Must not throw nor block. */
  readonly listener: EventListener;
  /** Only these event types (and the engine does not build the others for it). All when absent. */
  readonly types?: ReadonlySet<EventType>;
  /**
   * Resolves when the recorder has room again; `undefined` when it has room now.
   * Producers that can outpace a reader (tokens, map items) wait on it.
   */
  readonly ready?: () => Promise<void> | undefined;
  /**
   * A stage batch tells this of each item that failed, with the task that
   * failed it, as it fails (`at`: epoch ms): a store keeps failures without
   * listening to every item's status events (which a batch then need not build).
   */
  readonly itemFailed?: (runId: string, failure: FailedItem, at: number) => void;
}

/** A store of runs. `spanflow/postgres` implements it; so can a test double. */
export interface RunRecorder {
  /** Called once as a run (a graph run with its sub-pipelines, or a stage batch) starts. */
  record(pipeline: PipelineDescription, context: RecordingContext): Recording;
  /**
   * Resolves once everything recorded so far is written (or counted as not
   * written); with `timeoutMs`, by then at the latest, whatever is still not
   * written (a store should say what). `shutdownOn` waits for it, with a time
   * limit, before the process ends.
   */
  flush?(options?: { readonly timeoutMs?: number }): Promise<void>;
}

/** One checkpoint of a stored durable run, as the store gives it back: a `checkpoint` event's own fields. */
export type StoredCheckpoint = Pick<CheckpointEvent, 'kind' | 'node' | 'index' | 'attempt' | 'output' | 'state' | 'childRunId' | 'version'>;

/** A stored run as resume and retry read it: its row, its checkpoints in order, and its last attempt of each step. */
export interface StoredRunCheckpoints {
  readonly runId: string;
  readonly pipeline: string;
  readonly pipelineHash: string | undefined;
  readonly status: string;
  /** Epoch ms. */
  readonly startedAt: number;
  readonly host: string;
  /** The run that retried this one, if one did. */
  readonly retriedBy: string | undefined;
  readonly traceId: string | undefined;
  /** A span of the run's trace (its last stored step attempt's), for a span link. */
  readonly spanId: string | undefined;
  /** The seq of its last stored event. */
  readonly lastSeq: number;
  readonly checkpoints: readonly StoredCheckpoint[];
  /** The highest attempt stored per step (and map item). */
  readonly attempts: readonly { readonly node: string; readonly index: number | undefined; readonly attempt: number }[];
}

/**
 * A store that keeps checkpoints and gives them back: what `durable: true`,
 * `resume()` and `retry()` need beyond recording. `spanflow/postgres`'s Store is one.
 */
export interface CheckpointStore extends RunRecorder {
  /** The run's row and checkpoints; undefined when no run has this id. */
  loadCheckpoints(runId: string): Promise<StoredRunCheckpoints | undefined>;
  /**
   * Compare-and-set: an `interrupted` run becomes `running` for this process,
   * its attempts left `running` become `failed`. False when it is not
   * `interrupted` any more (another process claimed it first).
   */
  claimRun(runId: string): Promise<boolean>;
  /** Compare-and-set: marks a failed or timed-out run as retried by `retryRunId`. False when another retry marked it first. */
  markRetried(runId: string, retryRunId: string): Promise<boolean>;
  /** Interrupted durable runs of these pipelines that ran on this host, oldest first. */
  interruptedRuns(pipelines: readonly string[]): Promise<string[]>;
}

/** Whether a recorder keeps checkpoints (it can serve durable runs). */
export function isCheckpointStore(recorder: RunRecorder): recorder is CheckpointStore {
  const store = recorder as Partial<CheckpointStore>;
  return typeof store.loadCheckpoints === 'function' && typeof store.claimRun === 'function' && typeof store.markRetried === 'function';
}

/** `persist` on a pipeline or a run: `true` for the default store (from `spanflow/postgres`), or a store. */
export type PersistOption = boolean | RunRecorder;

let defaultRecorder: (() => RunRecorder) | undefined;

/** Called by spanflow/postgres on import: `persist: true` then records through this store. */
export function registerDefaultRecorder(make: () => RunRecorder): void {
  defaultRecorder = make;
}

/** The recorder a `persist` option names, or undefined when persistence is off. */
export function resolveRecorder(option: PersistOption | undefined): RunRecorder | undefined {
  if (option === undefined || option === false) return undefined;
  if (option !== true) {
    if (typeof option !== 'object' || option === null || typeof option.record !== 'function') {
      throw new TypeError(`persist must be true or a store with a record() method (got ${option === null ? 'null' : typeof option})`);
    }
    return option;
  }
  if (!defaultRecorder) {
    throw new Error(
      "persist: true stores runs through spanflow/postgres: add `import 'spanflow/postgres'` once, or pass a store: persist: await openStore({ url })",
    );
  }
  return defaultRecorder();
}

/** Attaches a recorder to a run tree's bus. Telemetry must be attached first (span ids are read as events arrive). */
export function attachRecorder(
  bus: EventBus,
  recorder: RunRecorder,
  pipeline: PipelineDescription,
  telemetry: Telemetry | undefined,
  items?: () => ItemCounts,
): Recording {
  const recording = recorder.record(pipeline, recordingContext(telemetry, items));
  bus.listen(recording.listener, recording.types);
  // A recorder that falls behind holds back what the bus's producers make (runs and steps as they start,
  // tokens, map items) instead of dropping their events.
  if (recording.ready) bus.paceBy(recording.ready);
  return recording;
}

function recordingContext(telemetry: Telemetry | undefined, items: (() => ItemCounts) | undefined): RecordingContext {
  return {
    items,
    traceId: (runId) => telemetry?.traceId(runId),
    spanId: (runId, node, index) => telemetry?.spanId(runId, node, index),
    countDropped: (count, reason) => telemetry?.metering?.persistenceDropped.add(count, { [ATTR.DROP_REASON]: reason }),
  };
}

/**
 * A description with its hash: the SHA-256 of the graph's JSON (the stored
 * serializer's, so meta holding a bigint or a cycle hashes too), so an
 * unchanged definition keeps its hash.
 */
export function describePipeline(
  name: string,
  kind: PipelineDescription['kind'],
  graph: Readonly<Record<string, unknown>>,
  mermaid: string,
  subPipelines: readonly PipelineDescription[],
): PipelineDescription {
  const hash = createHash('sha256').update(safeJson(graph)).digest('hex').slice(0, 16);
  return { name, kind, hash, graph, mermaid, subPipelines };
}
