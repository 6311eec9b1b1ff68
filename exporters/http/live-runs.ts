// The runs of this process, as they run: an observer the user passes to
// pipelines, runs or batches (`observe: live`). Each run keeps its view (folded
// from its events), its last events (for Last-Event-ID), and its SSE clients.
// A graph run's clients get every event; a stage batch's get its run-level
// events and coalesced snapshots, never a message per item.

import type { ServerResponse } from 'node:http';
import {
  type EventType,
  type Observation,
  type ObservedRun,
  type PipelineDescription,
  type PipelineSnapshot,
  type RunObserver,
  type SpanflowEvent,
  safeJson,
} from '../../sdk/index.ts';
import { type LinkTemplates, RunFold, type RunView } from './run-view.ts';
import { eventJson, message, SseClient, type SseClientOptions } from './sse.ts';

export interface LiveRunsOptions {
  /** Finished runs kept (for `GET /runs` and late readers), oldest dropped first. Default 100. */
  readonly keepFinished?: number;
  /** Events kept per run, for readers that resume with Last-Event-ID; one further behind gets a resync. Default 10,000. */
  readonly eventsPerRun?: number;
  /** How often a stage batch's readers get its snapshot, in ms (when it changed). At least 100 (10 a second). Default 100. */
  readonly snapshotInterval?: number;
  /** Links to the trace in Jaeger and the run in Grafana. */
  readonly links?: LinkTemplates;
}

/** What a batch's readers are sent of its events: the run's own; items and tasks come as coalesced snapshots. */
const BATCH_EVENTS: ReadonlySet<EventType> = new Set(['run_queued', 'run_start', 'run_end', 'hook_start', 'hook_end'] as const);

/** A run as `GET /runs` lists it. */
export interface RunListing {
  readonly runId: string;
  readonly pipeline: string;
  readonly kind: 'graph' | 'stages';
  readonly parentRunId: string | undefined;
  readonly source: 'live' | 'stored';
  readonly status: string;
  readonly startedAt: number | undefined;
  readonly endedAt: number | undefined;
  readonly durationMs: number | undefined;
  readonly links: RunView['links'];
}

export function listing(view: RunView): RunListing {
  const { runId, pipeline, kind, parentRunId, source, status, startedAt, endedAt, durationMs, links } = view;
  return { runId, pipeline, kind, parentRunId, source, status, startedAt, endedAt, durationMs, links };
}

/** One SSE reader of a live run, as `clients()` reports it. */
export interface ClientState {
  readonly runId: string;
  /** Characters waiting for its socket to drain (bounded by the handler's `clientBuffer`). */
  readonly queuedChars: number;
  /** Times it fell behind and was sent a resync instead of the events it missed. */
  readonly resyncs: number;
}

class LiveRun {
  readonly fold: RunFold;
  readonly cancel: (reason?: unknown) => void;
  readonly snapshot: (() => PipelineSnapshot) | undefined;
  readonly clients = new Set<SseClient>();
  /** The last events, oldest first. */
  events: SpanflowEvent[] = [];
  /** Events up to this seq were dropped from `events`: a reader behind it gets a resync. */
  evictedUpTo = 0;
  endEvent: SpanflowEvent | undefined;
  ticker: ReturnType<typeof setInterval> | undefined;
  lastSnapshot = '';

  constructor(fold: RunFold, cancel: (reason?: unknown) => void, snapshot: (() => PipelineSnapshot) | undefined) {
    this.fold = fold;
    this.cancel = cancel;
    this.snapshot = snapshot;
  }

  /** The view now (a batch's snapshot taken fresh). */
  view(): RunView {
    const view = this.fold.view;
    if (this.snapshot && !this.endEvent) view.batch = this.snapshot();
    return view;
  }

  /** What brings a reader up to date: where the run stands, and its end when it has ended. */
  resync(): string {
    const view = this.view();
    return message(view.seq, safeJson(view), 'resync') + (this.endEvent ? message(this.endEvent.seq, eventJson(this.endEvent)) : '');
  }
}

/**
 * The runs of this process, live: pass it as `observe` to a pipeline, a run
 * or a batch, and to `createLiveHandler({ live })` to serve them.
 */
export class LiveRuns implements RunObserver {
  readonly #runs = new Map<string, LiveRun>();
  /** Ended runs, oldest first, dropped past `keepFinished`. */
  readonly #finished: string[] = [];
  readonly #keepFinished: number;
  readonly #eventsPerRun: number;
  readonly #snapshotInterval: number;
  readonly #links: LinkTemplates | undefined;

  constructor(options: LiveRunsOptions = {}) {
    this.#keepFinished = wholeOption('LiveRuns', 'keepFinished', options.keepFinished, 100, 0);
    this.#eventsPerRun = wholeOption('LiveRuns', 'eventsPerRun', options.eventsPerRun, 10_000, 1);
    this.#snapshotInterval = wholeOption('LiveRuns', 'snapshotInterval', options.snapshotInterval, 100, 100);
    this.#links = options.links;
  }

  observe(run: ObservedRun): Observation {
    const root = this.#add(run.runId, run.pipeline.name, run.pipeline, undefined, run.cancel, run.snapshot);
    const listener = (event: SpanflowEvent) => {
      // Sub-pipeline runs share their root's listener: each is a run of its own here, cancelled with its root.
      const live = event.runId === run.runId ? root : (this.#runs.get(event.runId) ?? this.#child(run, event));
      this.#event(live, event);
    };
    return run.snapshot ? { listener, types: BATCH_EVENTS } : { listener };
  }

  /** The runs, newest first. */
  list(): RunListing[] {
    return [...this.#runs.values()].map((r) => listing(r.fold.view)).reverse();
  }

  /** Where a run stands, or undefined when this process has no such run (or no longer keeps it). */
  view(runId: string): RunView | undefined {
    return this.#runs.get(runId)?.view();
  }

  /** Cancels a live run: 'cancelled', 'ended' (it had), or 'unknown'. */
  cancel(runId: string, reason: unknown): 'cancelled' | 'ended' | 'unknown' {
    const run = this.#runs.get(runId);
    if (!run) return 'unknown';
    if (run.endEvent) return 'ended';
    run.cancel(reason);
    return 'cancelled';
  }

  /** Every SSE reader now: how far behind each is. */
  clients(): ClientState[] {
    return [...this.#runs.entries()].flatMap(([runId, run]) => [...run.clients].map((c) => ({ runId, queuedChars: c.queuedChars, resyncs: c.resyncs })));
  }

  /**
   * Streams a run to `res` (headers already sent): the events after `afterSeq`
   * from memory (a resync when they are no longer kept), then live ones until
   * the run ends. False when there is no such run.
   */
  stream(runId: string, res: ServerResponse, afterSeq: number, client: Omit<SseClientOptions, 'resync'>): boolean {
    const run = this.#runs.get(runId);
    if (!run) return false;
    return this.#attach(run, new SseClient(res, { ...client, resync: () => run.resync() }), afterSeq);
  }

  #attach(run: LiveRun, client: SseClient, afterSeq: number): boolean {
    if (afterSeq < run.evictedUpTo) {
      client.send(run.resync());
    } else {
      for (const event of run.events) if (event.seq > afterSeq && event !== run.endEvent) client.send(message(event.seq, eventJson(event)));
      if (run.snapshot) client.send(message(run.fold.view.seq, safeJson(run.view()), 'snapshot'));
      if (run.endEvent && run.endEvent.seq > afterSeq) client.send(message(run.endEvent.seq, eventJson(run.endEvent)));
    }
    if (run.endEvent) {
      client.end();
      return true;
    }
    run.clients.add(client);
    client.onClose = () => {
      run.clients.delete(client);
      if (run.clients.size === 0) this.#stopTicker(run);
    };
    if (run.snapshot && !run.ticker) {
      run.ticker = setInterval(() => this.#tick(run), this.#snapshotInterval);
      run.ticker.unref();
    }
    return true;
  }

  #add(
    runId: string,
    name: string,
    description: PipelineDescription | undefined,
    parentRunId: string | undefined,
    cancel: (reason?: unknown) => void,
    snapshot: (() => PipelineSnapshot) | undefined,
  ): LiveRun {
    const kind = description?.kind ?? 'graph';
    const fold = new RunFold({ runId, pipeline: name, kind, parentRunId, source: 'live', description, links: this.#links });
    const run = new LiveRun(fold, cancel, snapshot);
    this.#runs.set(runId, run);
    return run;
  }

  #child(root: ObservedRun, event: SpanflowEvent): LiveRun {
    const description = root.pipeline.subPipelines.find((p) => p.name === event.pipeline);
    this.#runs.get(event.parentRunId ?? '')?.fold.view.children.push({ runId: event.runId, pipeline: event.pipeline });
    return this.#add(event.runId, event.pipeline, description, event.parentRunId, root.cancel, undefined);
  }

  #event(run: LiveRun, event: SpanflowEvent): void {
    run.fold.apply(event);
    run.events.push(event);
    if (run.events.length >= this.#eventsPerRun * 1.5) {
      const dropped = run.events.length - this.#eventsPerRun;
      run.evictedUpTo = run.events[dropped - 1]?.seq ?? run.evictedUpTo;
      run.events = run.events.slice(dropped);
    }
    if (event.type === 'run_end') {
      if (run.snapshot) {
        run.fold.view.batch = run.snapshot();
        this.#tick(run);
      }
      run.endEvent = event;
    }
    if (run.clients.size > 0) {
      const text = message(event.seq, eventJson(event));
      for (const client of run.clients) client.send(text);
    }
    if (event.type === 'run_end') this.#ended(run);
  }

  /** A batch's readers get its snapshot when it changed. */
  #tick(run: LiveRun): void {
    if (run.clients.size === 0) return;
    const view = run.view();
    const text = safeJson(view);
    if (text === run.lastSnapshot) return;
    run.lastSnapshot = text;
    const sent = message(view.seq, text, 'snapshot');
    for (const client of run.clients) client.send(sent);
  }

  #stopTicker(run: LiveRun): void {
    if (run.ticker) clearInterval(run.ticker);
    run.ticker = undefined;
  }

  #ended(run: LiveRun): void {
    this.#stopTicker(run);
    for (const client of run.clients) client.end();
    run.clients.clear();
    this.#finished.push(run.fold.view.runId);
    while (this.#finished.length > this.#keepFinished) this.#runs.delete(this.#finished.shift() as string);
  }
}

/** An option that is a whole number of `min` or more, or `fallback` when left out; else a RangeError naming it and the fix. */
export function wholeOption(owner: string, name: string, value: number | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < min) {
    throw new RangeError(`${owner}: ${name} must be a whole number of ${min} or more (got ${String(value)}); leave it out for ${fallback}`);
  }
  return value;
}
