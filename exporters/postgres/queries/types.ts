// What the query API takes and gives: plain typed options in, plain objects
// out (times as Date, durations in ms), the same whichever database is behind.

import type { ErrorInfo, MetaSnapshot, RunMetrics, StepStatus } from '../../../sdk/index.ts';
import type { StoredNodeKind, StoredRunStatus } from '../schema.ts';

export interface ItemCounters {
  readonly fed: number;
  readonly completed: number;
  readonly failed: number;
  readonly skipped: number;
}

export interface RunSummary {
  readonly id: string;
  readonly pipeline: string;
  readonly pipelineHash: string | null;
  readonly kind: 'graph' | 'stages';
  readonly status: StoredRunStatus;
  readonly startedAt: Date;
  readonly endedAt: Date | null;
  readonly durationMs: number | null;
  readonly error: ErrorInfo | null;
  readonly failedNode: string | null;
  readonly traceId: string | null;
  readonly parentRunId: string | null;
  readonly host: string;
  readonly pid: number;
  readonly heartbeatAt: Date;
  /** A stage pipeline's item counters (live while it runs); null for graph runs. */
  readonly items: ItemCounters | null;
  /** Rows of this run the store could not write. */
  readonly eventsDropped: number;
  /** The failed run this one retries (a durable run's `retry()`). */
  readonly retryOf: string | null;
  /** The run that retried this one. */
  readonly retriedBy: string | null;
  /** How many times it was resumed after its process died. */
  readonly resumes: number;
}

export interface StepAttempt {
  readonly runId: string;
  readonly node: string;
  readonly nodeKind: StoredNodeKind;
  /** 0 for a step that never ran. */
  readonly attempt: number;
  readonly index: number | null;
  readonly itemId: string | null;
  readonly status: StepStatus;
  readonly startedAt: Date | null;
  readonly endedAt: Date | null;
  readonly durationMs: number | null;
  readonly error: ErrorInfo | null;
  readonly skipReason: string | null;
  readonly meta: MetaSnapshot | null;
  readonly spanId: string | null;
}

export interface StoredEvent {
  readonly runId: string;
  readonly seq: number;
  /** Epoch ms (microsecond precision). */
  readonly time: number;
  readonly type: string;
  readonly node: string | null;
  /** A map item's index, or a stage item's id. */
  readonly item: string | null;
  readonly attempt: number | null;
  /** The event's other fields (with `runId`, `seq`, `time`, `type` and the run's `pipeline` and `parentRunId`: the event as it was). */
  readonly data: Readonly<Record<string, unknown>>;
}

export interface RunDetail extends RunSummary {
  readonly runMeta: MetaSnapshot | null;
  readonly pipelineMeta: Readonly<Record<string, unknown>> | null;
  readonly metrics: RunMetrics | null;
  readonly suspended: { readonly node: string; readonly reason: string | null } | null;
  readonly resumeFrom: string | null;
  /** Step attempts in the order they started (steps that never ran last). */
  readonly steps: readonly StepAttempt[];
  /** Its events in order (up to `eventLimit`); empty with `events: false`. */
  readonly events: readonly StoredEvent[];
  /** Runs it started (sub-pipelines), in start order. */
  readonly children: readonly RunSummary[];
}

export interface ListRunsOptions {
  /** Exact pipeline name. */
  readonly pipeline?: string;
  readonly status?: StoredRunStatus | readonly StoredRunStatus[];
  /** Runs started at or after this time. */
  readonly since?: Date;
  /** Runs started before this time. */
  readonly until?: Date;
  /** Include sub-pipeline runs. Default false (top-level runs only). */
  readonly children?: boolean;
  /** Page size, 1 to 1000. Default 50. */
  readonly limit?: number;
  /** Runs to skip (newest first). Default 0. */
  readonly offset?: number;
}

export interface RunPage {
  readonly runs: readonly RunSummary[];
  /** Runs matching the filters, over all pages. */
  readonly total: number;
  readonly limit: number;
  readonly offset: number;
  /** The offset of the next page, when there is one. */
  readonly nextOffset: number | undefined;
}

export interface ShowRunOptions {
  /** Include events. Default true. */
  readonly events?: boolean;
  /** At most this many events (the first ones). Default 10,000. */
  readonly eventLimit?: number;
}

export interface RunEventsOptions {
  readonly types?: readonly string[];
  readonly node?: string;
  /** Only events after this seq. */
  readonly afterSeq?: number;
  /** Default 10,000. */
  readonly limit?: number;
}

export interface StepTokensOptions {
  /** One step's tokens; all streaming steps when absent. */
  readonly node?: string;
  /** One attempt; each step's last attempt that yielded tokens when absent. */
  readonly attempt?: number;
}

export interface TokenRecord {
  readonly tokenIndex: number;
  readonly token: unknown;
  /** Epoch ms. */
  readonly time: number;
  /** Since the attempt started, in ms: replay waits for this. */
  readonly offsetMs: number;
}

export interface StepTokens {
  readonly node: string;
  readonly attempt: number;
  readonly index: number | null;
  /** When the attempt started (epoch ms). */
  readonly startedAt: number;
  readonly tokens: readonly TokenRecord[];
}

export interface ErrorSummaryOptions {
  /** One run (its sub-pipelines included). */
  readonly runId?: string;
  readonly pipeline?: string;
  readonly since?: Date;
  /** Recent errors listed. Default 20. */
  readonly recent?: number;
}

export interface StepError {
  readonly runId: string;
  readonly pipeline: string;
  readonly node: string;
  readonly attempt: number;
  readonly index: number | null;
  readonly itemId: string | null;
  readonly status: StepStatus;
  readonly error: ErrorInfo;
  readonly at: Date | null;
}

export interface ErrorSummary {
  /** Failed, timed-out and retried attempts. */
  readonly total: number;
  readonly byType: Readonly<Record<string, number>>;
  readonly byNode: Readonly<Record<string, number>>;
  /** Newest first. */
  readonly recent: readonly StepError[];
}

export interface StepTotals {
  readonly attempts: number;
  readonly statuses: Readonly<Partial<Record<StepStatus, number>>>;
  readonly totalMs: number;
  readonly maxMs: number;
}

export interface StepComparison {
  readonly node: string;
  readonly a: StepTotals | undefined;
  readonly b: StepTotals | undefined;
  /** b's total time minus a's, when both ran it. */
  readonly deltaMs: number | undefined;
}

export interface RunComparison {
  readonly a: RunSummary;
  readonly b: RunSummary;
  /** Both ran the same definition (same pipeline and hash). */
  readonly sameDefinition: boolean;
  readonly durationDeltaMs: number | undefined;
  readonly steps: readonly StepComparison[];
}

export interface StatsOptions {
  /** Runs started in the last N days. Default 7. */
  readonly days?: number;
  readonly pipeline?: string;
  /** Include sub-pipeline runs. Default false. */
  readonly children?: boolean;
}

export interface PipelineStats {
  readonly pipeline: string;
  readonly runs: number;
  readonly byStatus: Readonly<Partial<Record<StoredRunStatus, number>>>;
  /** Succeeded over ended runs, 0 to 1 (null when none ended). */
  readonly successRate: number | null;
  readonly avgMs: number | null;
  readonly p50Ms: number | null;
  readonly p95Ms: number | null;
  readonly maxMs: number | null;
  readonly lastStartedAt: Date;
}

export interface StepStats {
  readonly pipeline: string;
  readonly node: string;
  readonly attempts: number;
  readonly failed: number;
  readonly avgMs: number | null;
  readonly p95Ms: number | null;
}

export interface RunStats {
  readonly since: Date;
  readonly days: number;
  readonly runs: number;
  readonly byStatus: Readonly<Partial<Record<StoredRunStatus, number>>>;
  readonly pipelines: readonly PipelineStats[];
  /** The 20 slowest steps by p95. */
  readonly steps: readonly StepStats[];
}

export interface CleanupOptions {
  /** Runs started before this time (a Date) or more than this many ms ago (a number). */
  readonly olderThan?: Date | number;
  /** Only runs with these statuses. Runs under way (pending, running) are kept unless named here. */
  readonly status?: StoredRunStatus | readonly StoredRunStatus[];
  /** Keep the newest N top-level runs of each pipeline, whatever else matches. */
  readonly keep?: number;
  readonly pipeline?: string;
  /** Default true: report what would go, delete nothing. */
  readonly dryRun?: boolean;
}

export interface CleanupResult {
  /** Top-level runs (and runs of any pipeline, with `children`) matched. */
  readonly runs: readonly RunSummary[];
  /** Runs deleted (or that would be), sub-pipeline runs included. */
  readonly count: number;
  readonly deleted: boolean;
}

export interface StoredPipeline {
  readonly name: string;
  readonly hash: string;
  readonly kind: 'graph' | 'stages';
  readonly graph: Readonly<Record<string, unknown>>;
  readonly mermaid: string;
  readonly firstSeenAt: Date;
}
