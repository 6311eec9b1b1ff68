import type { RunEmitter } from '../emitter.ts';
import type { AttemptContext } from '../executor.ts';
import type { Entry } from './entry.ts';
import { taskStatusEvent } from './item-events.ts';
import type { TaskFeed } from './tracker.ts';
import type { ItemInfo, TaskContext } from './types.ts';

/** What a task context needs of its worker. */
export interface WorkerView {
  readonly stage: string;
  readonly worker: number;
  taskStatus: string | undefined;
  /** The tracker's feed for task events, when it is handed them instead of events. */
  readonly feed: TaskFeed | undefined;
}

/** What a task is given. A class, so the per-attempt object is cheap to make. */
export class StageTaskContext implements TaskContext {
  readonly item: ItemInfo;
  readonly stage: string;
  readonly task: string;
  readonly attempt: number;
  readonly stageAttempt: number;
  readonly worker: number;
  readonly #source: AttemptContext;
  readonly #emitter: RunEmitter;
  readonly #slot: WorkerView;
  readonly #entry: Entry;
  /** The task's position in its stage. */
  readonly #taskIndex: number;

  constructor(emitter: RunEmitter, slot: WorkerView, entry: Entry, task: string, taskIndex: number, source: AttemptContext) {
    this.item = entry;
    this.stage = slot.stage;
    this.task = task;
    this.attempt = source.attempt;
    this.stageAttempt = entry.pass;
    this.worker = slot.worker;
    this.#source = source;
    this.#emitter = emitter;
    this.#slot = slot;
    this.#entry = entry;
    this.#taskIndex = taskIndex;
  }

  get runId(): string {
    return this.#emitter.runId;
  }

  /** The attempt's signal, made only when a task asks for it. */
  get signal(): AbortSignal {
    return this.#source.signal;
  }

  setTaskStatus(status: string): void {
    // Plain JavaScript may pass a number: dashboards, events and spans all take text.
    const text = typeof status === 'string' ? status : String(status);
    this.#slot.taskStatus = text;
    const item = this.#entry;
    item.telemetry?.taskStatus(text);
    const feed = this.#slot.feed;
    if (feed) {
      feed.status(item, this.#taskIndex, this.attempt, this.worker, text);
      return;
    }
    const emitter = this.#emitter;
    if (!emitter.wants('task_status')) return;
    emitter.emit(taskStatusEvent(emitter, 0, 0, item.id, item.index, this.stage, this.task, this.attempt, this.worker, text));
  }
}
