// StatusTracker: a consumer of the event stream of stage pipelines. It keeps
// each item's status, a bounded history of its events and its failure, and
// calls back on item and task events. Everything it knows comes from events,
// so it works the same on a live pipeline (`onEvent`) and on replayed events.

import {
  type ErrorInfo,
  ITEM_STATUSES,
  type ItemStatus,
  type ItemStatusEvent,
  type SpanflowEvent,
  type TaskEndEvent,
  type TaskRetryEvent,
  type TaskStartEvent,
  type TaskStatusEvent,
} from '../events.ts';
import type { ErrorSummary, FailedItem } from './types.ts';

/** The events a tracker keeps in an item's history. */
export type TrackedEvent = ItemStatusEvent | TaskStartEvent | TaskRetryEvent | TaskEndEvent | TaskStatusEvent;

export interface StatusTrackerOptions {
  /**
   * Events kept per item for `history()`: a number bounds memory (oldest
   * dropped first; `Infinity` keeps all), `false` or 0 keeps none. Default 100.
   */
  history?: number | false;
  /** Called on every `item_status` event, after the tracker's state is updated. */
  onItemStatus?: (event: ItemStatusEvent) => void;
  /** Called when a task attempt starts. */
  onTaskStart?: (event: TaskStartEvent) => void;
  /** Called when a task ends `succeeded` (the event carries `durationMs`). */
  onTaskComplete?: (event: TaskEndEvent) => void;
  /** Called when a task attempt failed and another follows after `delayMs`. */
  onTaskRetry?: (event: TaskRetryEvent) => void;
  /** Called when a task ends with any status other than `succeeded` (failed, timed_out, cancelled, skipped). */
  onTaskFail?: (event: TaskEndEvent) => void;
}

/** What the tracker holds for one item. */
interface ItemRecord {
  status: ItemStatus | undefined;
  /** A ring of up to `limit` events; `head` is the oldest once it is full. */
  readonly events: TrackedEvent[];
  head: number;
  /** The item's last task_end that did not succeed, until a later task succeeds. */
  lastFailedTask: TaskEndEvent | undefined;
}

const DEFAULT_HISTORY = 100;
const UNKNOWN_ERROR: ErrorInfo = { type: 'Error', message: 'item failed' };

/**
 * Follows items through a stage pipeline from its events: pass `observe` to
 * the pipeline's `onEvent` (or call it with each event), then query.
 *
 * Items are keyed by `itemId` alone, across every batch (run) the tracker
 * sees: give items ids that are unique across those batches, or call
 * `clear()` between them. An item's status is the one of its latest
 * `item_status` event; items seen only through task events have a history
 * but no status.
 *
 * Callbacks run after the tracker's state is updated, so a throwing callback
 * (which propagates out of `observe`; the pipeline turns it into a warning)
 * leaves the tracker consistent.
 */
export class StatusTracker {
  readonly #limit: number;
  readonly #options: StatusTrackerOptions;
  #items = new Map<string, ItemRecord>();
  /** Item ids per current status; a Set keeps the order they reached it. */
  #byStatus = StatusTracker.#emptyByStatus();
  /** Items whose current status is failed, in the order they failed. */
  #failed = new Map<string, FailedItem>();

  constructor(options: StatusTrackerOptions = {}) {
    const history = options.history ?? DEFAULT_HISTORY;
    if (history !== false && !(history >= 0)) {
      throw new RangeError(`StatusTracker: history must be a number >= 0 or false, got ${String(history)}`);
    }
    this.#limit = history === false ? 0 : Math.floor(history);
    this.#options = options;
  }

  /** Pass to a pipeline's `onEvent`, or call with each event. Ignores events that are not item or task events. */
  readonly observe = (event: SpanflowEvent): void => {
    switch (event.type) {
      case 'item_status': {
        const record = this.#record(event);
        const previous = record.status;
        if (previous !== event.status) {
          if (previous !== undefined) {
            this.#byStatus.get(previous)?.delete(event.itemId);
            if (previous === 'failed') this.#failed.delete(event.itemId);
          }
          this.#byStatus.get(event.status)?.add(event.itemId);
          record.status = event.status;
        }
        if (event.status === 'failed') this.#fail(event, record);
        this.#options.onItemStatus?.(event);
        return;
      }
      case 'task_start':
        this.#record(event);
        this.#options.onTaskStart?.(event);
        return;
      case 'task_retry':
        this.#record(event);
        this.#options.onTaskRetry?.(event);
        return;
      case 'task_end': {
        const record = this.#record(event);
        if (event.status === 'succeeded') {
          record.lastFailedTask = undefined;
          this.#options.onTaskComplete?.(event);
        } else {
          record.lastFailedTask = event;
          this.#options.onTaskFail?.(event);
        }
        return;
      }
      case 'task_status':
        this.#record(event);
        return;
      default:
        return;
    }
  };

  /** The item's current status, or `undefined` if no `item_status` event was seen for it. */
  status(itemId: string): ItemStatus | undefined {
    return this.#items.get(itemId)?.status;
  }

  /** Ids of the items now in `status`, in the order they reached it. */
  byStatus(status: ItemStatus): string[] {
    return Array.from(this.#byStatus.get(status) ?? []);
  }

  /** How many items are in each status now; every status is present, with 0 when none. */
  stats(): Record<ItemStatus, number> {
    const stats = {} as Record<ItemStatus, number>;
    for (const status of ITEM_STATUSES) stats[status] = this.#byStatus.get(status)?.size ?? 0;
    return stats;
  }

  /** The item's item_status and task events, oldest first: at most `history` of them (the newest). */
  history(itemId: string): readonly TrackedEvent[] {
    const record = this.#items.get(itemId);
    if (!record) return [];
    const { events, head } = record;
    return head === 0 ? events.slice() : events.slice(head).concat(events.slice(0, head));
  }

  /**
   * Items whose current status is failed, in the order they failed. `task` and
   * the error come from the item's last failed task in that stage when the
   * `item_status` event does not carry them; `metadata` is not in events, so
   * it is `undefined`.
   */
  failed(): FailedItem[] {
    return Array.from(this.#failed.values());
  }

  /** Failed items counted by error type and by stage; `recent` is every failed item, newest last. */
  errorSummary(): ErrorSummary {
    const byType: Record<string, number> = {};
    const byStage: Record<string, number> = {};
    const recent = this.failed();
    for (const failure of recent) {
      byType[failure.error.type] = (byType[failure.error.type] ?? 0) + 1;
      byStage[failure.stage] = (byStage[failure.stage] ?? 0) + 1;
    }
    return { total: recent.length, byType, byStage, recent };
  }

  /** Forgets every item; options and callbacks stay. */
  clear(): void {
    this.#items = new Map();
    this.#byStatus = StatusTracker.#emptyByStatus();
    this.#failed = new Map();
  }

  /** The item's record, created on its first event, with `event` added to its history. */
  #record(event: TrackedEvent): ItemRecord {
    let record = this.#items.get(event.itemId);
    if (!record) {
      record = { status: undefined, events: [], head: 0, lastFailedTask: undefined };
      this.#items.set(event.itemId, record);
    }
    const limit = this.#limit;
    if (limit > 0) {
      const { events } = record;
      if (events.length < limit) {
        events.push(event);
      } else {
        events[record.head] = event;
        record.head = record.head + 1 === limit ? 0 : record.head + 1;
      }
    }
    return record;
  }

  #fail(event: ItemStatusEvent, record: ItemRecord): void {
    const task = record.lastFailedTask?.stage === event.stage ? record.lastFailedTask : undefined;
    // A repeated failed event updates the entry in place, as byStatus keeps the item's place.
    this.#failed.set(event.itemId, {
      itemId: event.itemId,
      index: event.index,
      stage: event.stage,
      task: task?.task,
      error: event.error ?? task?.error ?? UNKNOWN_ERROR,
      // Task attempts with per-task retry, passes through the stage with per-stage retry.
      attempts: Math.max(event.attempt, task?.attempt ?? 0),
      metadata: undefined,
    });
  }

  static #emptyByStatus(): Map<ItemStatus, Set<string>> {
    return new Map(ITEM_STATUSES.map((status) => [status, new Set<string>()]));
  }
}
