import type { ItemTelemetry } from '../telemetry/index.ts';
import type { ItemInfo } from './types.ts';

/** An item on its way through the stages. */
export class Entry implements ItemInfo {
  readonly index: number;
  readonly metadata: Readonly<Record<string, unknown>> | undefined;
  readonly priority: number;
  value: unknown;
  stage: number;
  /** Passes through the current stage (per-stage retry). */
  pass = 1;
  /** Its spans and durations, when telemetry records anything for it. */
  telemetry: ItemTelemetry | undefined = undefined;
  /** Its slot in the batch's tracker, when a tracker is fed its status changes (see `FedItem`). */
  trackerSlot = -1;
  #id: string | undefined;

  constructor(index: number, id: string | undefined, metadata: ItemInfo['metadata'], priority: number, value: unknown, stage: number) {
    this.index = index;
    this.#id = id;
    this.metadata = metadata;
    this.priority = priority;
    this.value = value;
    this.stage = stage;
  }

  /** The given id, or the feed position as a number when it has none yet (the same key of a record as its string). */
  get key(): string | number {
    return this.#id ?? this.index;
  }

  /** The given id, or the feed position: made on demand, as most items are never asked, then kept (one string, hashed once). */
  get id(): string {
    this.#id ??= String(this.index);
    return this.#id;
  }
}
