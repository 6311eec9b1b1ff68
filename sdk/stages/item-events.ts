// The one builder of each stage item event: the batch builds its events with these (the
// emitter then stamps them in place), and a StatusTracker rebuilds, from its packed
// history, the very events the batch would have emitted.

import type { ErrorInfo, ItemStatus, ItemStatusEvent, StepEndStatus, TaskEndEvent, TaskRetryEvent, TaskStartEvent, TaskStatusEvent } from '../events.ts';

/** The run fields of an event (a RunEmitter has them; the emitter stamps seq and time over what is given). */
export interface RunFields {
  readonly runId: string;
  readonly parentRunId: string | undefined;
  readonly pipeline: string;
}

/** A failed item's task and attempts, which its `failed` event carries. */
export interface NamedFailure {
  readonly task: string | undefined;
  readonly attempts: number;
  readonly error: ErrorInfo;
}

// Each event is made at its full size at once, every field in one literal, in the order the
// emitter's stamping expects: stamping then adds no property (no map change, no growth).

export function itemStatusEvent(
  run: RunFields,
  seq: number,
  time: number,
  itemId: string,
  index: number,
  stage: string,
  status: ItemStatus,
  attempt: number,
  error: ErrorInfo | undefined,
  failure: NamedFailure | undefined,
): ItemStatusEvent {
  const { runId, parentRunId, pipeline } = run;
  return failure
    ? // A failure's task and attempts ride on its event, so a listener needs no task events to name them.
      { type: 'item_status', itemId, index, stage, status, attempt, error: failure.error, task: failure.task, attempts: failure.attempts, runId, parentRunId, pipeline, seq, time }
    : { type: 'item_status', itemId, index, stage, status, attempt, error, runId, parentRunId, pipeline, seq, time };
}

export function taskStartEvent(run: RunFields, seq: number, time: number, itemId: string, index: number, stage: string, task: string, attempt: number, worker: number): TaskStartEvent {
  const { runId, parentRunId, pipeline } = run;
  return { type: 'task_start', itemId, index, stage, task, worker, attempt, runId, parentRunId, pipeline, seq, time };
}

export function taskRetryEvent(
  run: RunFields,
  seq: number,
  time: number,
  itemId: string,
  index: number,
  stage: string,
  task: string,
  attempt: number,
  worker: number,
  error: ErrorInfo,
  delayMs: number,
  durationMs: number,
): TaskRetryEvent {
  const { runId, parentRunId, pipeline } = run;
  return { type: 'task_retry', itemId, index, stage, task, worker, attempt, error, delayMs, durationMs, runId, parentRunId, pipeline, seq, time };
}

export function taskEndEvent(
  run: RunFields,
  seq: number,
  time: number,
  itemId: string,
  index: number,
  stage: string,
  task: string,
  attempt: number,
  worker: number,
  status: StepEndStatus,
  durationMs: number,
  error: ErrorInfo | undefined,
): TaskEndEvent {
  const { runId, parentRunId, pipeline } = run;
  return { type: 'task_end', itemId, index, stage, task, worker, attempt, status, durationMs, error, runId, parentRunId, pipeline, seq, time };
}

export function taskStatusEvent(run: RunFields, seq: number, time: number, itemId: string, index: number, stage: string, task: string, attempt: number, worker: number, text: string): TaskStatusEvent {
  const { runId, parentRunId, pipeline } = run;
  return { type: 'task_status', itemId, index, stage, task, worker, attempt, text, runId, parentRunId, pipeline, seq, time };
}
