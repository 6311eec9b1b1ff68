// From a run's events to rows: the run row (and its sub-pipelines' rows), one
// row per step attempt, and the events themselves. Listeners run inside the
// pipeline's emit calls: they only update state and queue rows; the writer
// does the rest later.
//
// A stage pipeline's batch is ONE run, however many items it has: the run row
// carries the item counters (read from the batch with each heartbeat, final
// from run_end), and only what went wrong is kept per item: each failed item
// is a step-attempt row (node = 'stage/task', or the stage when no task failed
// it, such as a shutdown; node_kind 'stage'; item_index and item_id set;
// attempt = the failing task's attempts; status failed, timed_out or
// cancelled; with the error), told by the batch as the item fails, and each
// retried task attempt is a row too (status 'retrying', from its task_retry
// event). The events table gets the run's own events and the task retries:
// a batch builds no per-item status events for the store, and items that went
// well leave no rows.

import type {
  EventType,
  FailedItem,
  PipelineDescription,
  Recording,
  RecordingContext,
  RunEndEvent,
  RunStartEvent,
  SpanflowEvent,
  StepStatus,
} from '../../sdk/index.ts';
import type { RunState, StepState } from './rows.ts';
import type { Lane } from './lane.ts';
import type { RunTrack, Writer } from './writer.ts';

/** What a stage batch's recording listens to: the engine builds no other events for it. */
const STAGE_TYPES: ReadonlySet<EventType> = new Set(['run_queued', 'run_start', 'run_end', 'task_retry'] as const);

function attemptKey(runId: string, node: string, index: number | undefined): string {
  return index === undefined ? `${runId} ${node}` : `${runId} ${node} ${index}`;
}

function newRun(event: SpanflowEvent, description: PipelineDescription | undefined, kind: 'graph' | 'stages'): RunState {
  return {
    id: event.runId,
    pipeline: event.pipeline,
    pipelineHash: description?.hash,
    kind,
    parentRunId: event.parentRunId,
    startedAt: event.time,
    status: 'pending',
    endedAt: undefined,
    durationMs: undefined,
    error: undefined,
    failedNode: undefined,
    suspended: undefined,
    resumeFrom: undefined,
    runMeta: undefined,
    pipelineMeta: undefined,
    metrics: undefined,
    traceId: undefined,
    items: kind === 'stages' ? { fed: 0, completed: 0, failed: 0, skipped: 0 } : undefined,
    dropped: 0,
    retryOf: event.type === 'run_queued' && event.continues?.mode === 'retry' ? event.continues.runId : undefined,
  };
}

function endRun(state: RunState, event: RunEndEvent): void {
  state.status = event.status;
  state.endedAt = event.time;
  state.durationMs = event.durationMs;
  state.error = event.error;
  state.failedNode = event.failedNode;
  state.suspended = event.suspended;
  state.runMeta = event.meta;
  state.metrics = event.metrics;
  if (event.items) state.items = { ...event.items };
}

/** The status a failed stage item's row gets, from its error. */
function failureStatus(type: string | undefined): StepStatus {
  if (type === 'CancelledError') return 'cancelled';
  if (type === 'StepTimeoutError') return 'timed_out';
  return 'failed';
}

/** Records run trees into a writer; one per store. */
export class Recorder {
  readonly #writer: Writer;
  readonly #known = new Set<string>();
  /** Runs not ended yet, for the heartbeat. */
  readonly open = new Set<RunTrack>();

  constructor(writer: Writer) {
    this.#writer = writer;
  }

  record(description: PipelineDescription, context: RecordingContext): Recording {
    const writer = this.#writer;
    const lane = writer.lane();
    const byName = new Map<string, PipelineDescription>([[description.name, description]]);
    for (const sub of description.subPipelines) byName.set(sub.name, sub);
    for (const d of byName.values()) {
      const key = `${d.name} ${d.hash}`;
      if (this.#known.has(key)) continue;
      this.#known.add(key);
      writer.pipeline(lane, d, context);
    }
    return description.kind === 'graph'
      ? { listener: this.#graphListener(lane, byName, context), ready: () => writer.ready() }
      : this.#stageRecording(lane, description, context);
  }

  #begin(lane: Lane, event: SpanflowEvent, description: PipelineDescription | undefined, kind: 'graph' | 'stages', context: RecordingContext): RunTrack {
    const state = newRun(event, description, kind);
    state.traceId = context.traceId(event.runId);
    const track: RunTrack = { state, lane, context };
    this.open.add(track);
    this.#writer.run(track);
    return track;
  }

  #start(track: RunTrack, event: RunStartEvent): void {
    track.state.status = 'running';
    track.state.resumeFrom = event.resumeFrom;
    track.state.pipelineMeta = event.pipelineMeta;
    track.state.traceId = event.traceId ?? track.state.traceId;
    this.#writer.run(track);
  }

  #end(track: RunTrack, event: RunEndEvent): void {
    endRun(track.state, event);
    this.open.delete(track);
    // The run is over: write it now, not at the next interval.
    this.#writer.run(track, true);
  }

  #graphListener(lane: Lane, pipelines: ReadonlyMap<string, PipelineDescription>, context: RecordingContext) {
    const writer = this.#writer;
    const runs = new Map<string, RunTrack>();
    /** Attempts under way, by run, node and item. */
    const attempts = new Map<string, StepState>();
    let last: RunTrack | undefined;
    return (event: SpanflowEvent): void => {
      let track = last !== undefined && last.state.id === event.runId ? last : runs.get(event.runId);
      switch (event.type) {
        case 'run_queued':
          track = this.#begin(lane, event, pipelines.get(event.pipeline), 'graph', context);
          runs.set(event.runId, track);
          break;
        case 'run_start':
          if (track) this.#start(track, event);
          break;
        case 'run_end':
          if (!track) break;
          this.#end(track, event);
          runs.delete(event.runId);
          break;
        case 'step_start': {
          if (!track) break;
          const step: StepState = {
            runId: event.runId,
            node: event.node,
            nodeKind: event.nodeKind,
            attempt: event.attempt,
            index: event.index,
            itemId: undefined,
            status: 'running',
            startedAt: event.time,
            endedAt: undefined,
            durationMs: undefined,
            error: undefined,
            skipReason: undefined,
            meta: undefined,
            spanId: context.spanId(event.runId, event.node, event.index),
          };
          attempts.set(attemptKey(event.runId, event.node, event.index), step);
          writer.step(track, step);
          break;
        }
        case 'step_retry':
        case 'step_end': {
          // A step restored from a checkpoint made no attempt here: its attempt row is the stored run's (its event is kept).
          if (!track || (event.type === 'step_end' && event.restored)) break;
          const key = attemptKey(event.runId, event.node, event.index);
          let step = event.attempt === 0 ? undefined : attempts.get(key);
          if (step) attempts.delete(key);
          else {
            // A step that never ran (attempt 0: skipped, cancelled before it began, a barrier that timed out).
            step = {
              runId: event.runId,
              node: event.node,
              nodeKind: event.nodeKind,
              attempt: event.attempt,
              index: event.index,
              itemId: undefined,
              status: 'queued',
              startedAt: undefined,
              endedAt: undefined,
              durationMs: undefined,
              error: undefined,
              skipReason: undefined,
              meta: undefined,
              spanId: undefined,
            };
          }
          step.endedAt = event.time;
          step.durationMs = event.durationMs;
          if (event.type === 'step_retry') {
            step.status = 'retrying';
            step.error = event.error;
          } else {
            step.status = event.status;
            step.error = event.error;
            step.skipReason = event.skipReason;
            step.meta = event.meta;
          }
          writer.step(track, step);
          break;
        }
        default:
          break;
      }
      if (track) {
        last = track;
        writer.event(track, event);
      }
    };
  }

  /** Updates what the heartbeat writes: runs under way, with a stage batch's counters as they are now. */
  beat(): void {
    for (const track of this.open) {
      const items = track.context.items?.();
      if (items && track.state.items) track.state.items = { ...items };
      this.#writer.run(track);
    }
  }

  #stageRecording(lane: Lane, description: PipelineDescription, context: RecordingContext): Recording {
    const writer = this.#writer;
    let track: RunTrack | undefined;
    const listener = (event: SpanflowEvent): void => {
      switch (event.type) {
        case 'run_queued':
          track = this.#begin(lane, event, description, 'stages', context);
          break;
        case 'run_start':
          if (track) this.#start(track, event);
          break;
        case 'run_end':
          if (!track) return;
          this.#end(track, event);
          break;
        case 'task_retry':
          if (!track) return;
          writer.step(track, {
            runId: event.runId,
            node: `${event.stage}/${event.task}`,
            nodeKind: 'stage',
            attempt: event.attempt,
            index: event.index,
            itemId: event.itemId,
            status: 'retrying',
            startedAt: event.time - event.durationMs,
            endedAt: event.time,
            durationMs: event.durationMs,
            error: event.error,
            skipReason: undefined,
            meta: undefined,
            spanId: undefined,
          });
          break;
        default:
          return;
      }
      if (track) writer.event(track, event);
    };
    const itemFailed = (runId: string, failure: FailedItem, at: number): void => {
      if (!track || track.state.id !== runId) return;
      writer.step(track, {
        runId,
        node: failure.task === undefined ? failure.stage : `${failure.stage}/${failure.task}`,
        nodeKind: 'stage',
        attempt: failure.attempts,
        index: failure.index,
        itemId: failure.itemId,
        status: failureStatus(failure.error.type),
        startedAt: undefined,
        endedAt: at,
        durationMs: undefined,
        error: failure.error,
        skipReason: undefined,
        meta: undefined,
        spanId: undefined,
      });
    };
    return { listener, types: STAGE_TYPES, itemFailed };
  }
}
