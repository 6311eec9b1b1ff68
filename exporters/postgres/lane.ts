// A lane: the rows of the runs that keep to one connection, waiting to be
// written, and the batch being written (kept until it is, so a retry sends
// the same rows and a run's rows stay in order).

import type { PipelineDescription, RecordingContext, SpanflowEvent } from '../../sdk/index.ts';
import type { StepState } from './rows.ts';
import type { RunTrack } from './writer.ts';

/** The parts of a batch, written in this order; a retry resumes at the part that failed. */
export const PIPELINES = 0;
export const RUNS = 1;
export const STEPS = 2;
export const EVENTS = 3;
export const DONE = 4;

export interface Batch {
  readonly pipelines: PipelineDescription[];
  /** Where a pipeline row not written is counted (the run tree that brought it). */
  readonly pipelineOwners: RecordingContext[];
  readonly runs: RunTrack[];
  readonly steps: StepState[];
  readonly stepOwners: RunTrack[];
  readonly events: SpanflowEvent[];
  readonly eventOwners: RunTrack[];
  part: number;
  /**
   * The events at the front of the batch that a failed try may have committed
   * anyway (the connection dropped before the answer came): retries send these
   * rows and no others until a unique violation (they are there), a success or
   * a refusal (they were not) tells.
   */
  uncertain: number;
  /** close() gave up on this batch while a statement of it was under way: its rows are counted as dropped already. */
  abandoned: boolean;
}

export class Lane {
  pipelines: PipelineDescription[] = [];
  pipelineOwners: RecordingContext[] = [];
  readonly runs = new Map<string, RunTrack>();
  readonly steps = new Map<StepState, RunTrack>();
  events: SpanflowEvent[] = [];
  owners: RunTrack[] = [];
  head = 0;
  batch: Batch | undefined;
  busy = false;
  kicked = false;
  /** When the batch being written was sent (performance.now()), while it waits for the database's answer. */
  writingSince: number | undefined;

  get queued(): number {
    return this.events.length - this.head;
  }

  get hasWork(): boolean {
    return this.batch !== undefined || this.pipelines.length > 0 || this.runs.size > 0 || this.steps.size > 0 || this.queued > 0;
  }

  take(size: number): Batch {
    const pipelines = this.pipelines;
    const pipelineOwners = this.pipelineOwners;
    this.pipelines = [];
    this.pipelineOwners = [];
    const runs = [...this.runs.values()];
    this.runs.clear();
    const steps: StepState[] = [];
    const stepOwners: RunTrack[] = [];
    for (const [step, owner] of this.steps) {
      if (steps.length >= size) break;
      steps.push(step);
      stepOwners.push(owner);
      this.steps.delete(step);
    }
    const end = Math.min(this.events.length, this.head + size);
    const events = this.events.slice(this.head, end);
    const eventOwners = this.owners.slice(this.head, end);
    this.head = end;
    if (this.head === this.events.length) {
      this.events = [];
      this.owners = [];
      this.head = 0;
    } else if (this.head > 65_536) {
      this.events = this.events.slice(this.head);
      this.owners = this.owners.slice(this.head);
      this.head = 0;
    }
    return { pipelines, pipelineOwners, runs, steps, stepOwners, events, eventOwners, part: PIPELINES, uncertain: 0, abandoned: false };
  }
}
