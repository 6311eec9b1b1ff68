import type { RunEmitter } from '../emitter.ts';
import type { AttemptContext } from '../executor.ts';
import type { Entry } from './entry.ts';
import type { ItemInfo, TaskContext } from './types.ts';

/** What a task context needs of its worker. */
export interface WorkerView {
  readonly stage: string;
  readonly worker: number;
  taskStatus: string | undefined;
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

  constructor(emitter: RunEmitter, slot: WorkerView, entry: Entry, task: string, source: AttemptContext) {
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
    if (!this.#emitter.wants('task_status')) return;
    this.#emitter.emit({ type: 'task_status', itemId: item.id, index: item.index, stage: this.stage, task: this.task, attempt: this.attempt, worker: this.worker, text });
  }
}
