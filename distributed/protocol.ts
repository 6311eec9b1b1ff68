// What crosses processes through Postgres: a job's data (the caller's side to
// the worker), its output (back), and the NOTIFY channels that make both
// prompt. Plain JSON; user values as text made by the one serializer
// (safeJson in sdk/serialize.ts).

import type { ErrorRecord } from '../worker-threads/index.ts';

/** The data of one job: one attempt of a task. */
export interface JobData {
  /** The user's module, as a file URL. */
  readonly module: string;
  readonly export: string;
  /** The input, as JSON text. */
  readonly input: string;
  /** The dispatch span's context (W3C `traceparent`, `tracestate`, `baggage`); absent when not traced. */
  readonly carrier?: Record<string, string>;
  /** `runId:node:item`: the same for every attempt of the same work. */
  readonly key: string;
  readonly attempt: number;
  /** How often the worker touches the job's heartbeat, in ms (the caller's choice: it judges staleness). */
  readonly heartbeatMs: number;
}

/** A job's output: the task's (as JSON text; absent when it returned undefined), or why there is none. */
export type JobOutput =
  | { readonly ok: true; readonly output?: string }
  | {
      readonly ok: false;
      /**
       * `threw`: the task's function; `module` / `export` / `refused` / `definition`: the worker could
       * not run it (its module failed to load, it has no such export, it is outside the worker's root,
       * its thread pool found it declared wrong);
       * `released`: the worker stopped and gave the job back; `bad-job`: the job's data is not spanflow's.
       */
      readonly kind: 'threw' | 'module' | 'export' | 'refused' | 'definition' | 'released' | 'bad-job';
      readonly error: ErrorRecord;
    };

/** Why a job was cancelled by its caller, sent to the worker running it. */
export interface CancelNotice {
  readonly id: string;
  readonly reason: ErrorRecord;
}

/** NOTIFY channels (per database): a job was sent to queue <payload>; job <payload> ended; a job's caller gave up on it. */
export const CHANNEL = {
  jobs: 'spanflow_remote_jobs',
  done: 'spanflow_remote_done',
  cancel: 'spanflow_remote_cancel',
} as const;
