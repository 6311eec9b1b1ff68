// Runs read from the store (spanflow/postgres), for runs of other processes
// and runs that ended before this one started: listed, folded into the same
// view as live runs (from their stored events), and streamed by reading the
// store after the last event sent, polling while the run is under way.

import { setTimeout as sleep } from 'node:timers/promises';
import type { ListRunsOptions, RunDetail, RunEventsOptions, RunPage, ShowRunOptions, StoredEvent, StoredPipeline } from '../postgres/index.ts';
import { safeJson, type SpanflowEvent } from '../../sdk/index.ts';
import { type RunListing, listing } from './live-runs.ts';
import { type LinkTemplates, linksOf, RunFold, type RunView } from './run-view.ts';
import { eventJson, message, type SseClient } from './sse.ts';

/** What the live view reads from a store: `openStore()` from spanflow/postgres gives one. */
export interface RunSource {
  listRuns(options?: ListRunsOptions): Promise<RunPage>;
  getRun(id: string, options?: ShowRunOptions): Promise<RunDetail | undefined>;
  runEvents(id: string, options?: RunEventsOptions): Promise<StoredEvent[]>;
  /** A stored definition: a stored run's steps are then listed in definition order, not yet run ones included. */
  pipeline?(name: string, hash?: string): Promise<StoredPipeline | undefined>;
}

/** A stored batch's events the stream sends: its run's own (items come as counters, as for live batches). */
const BATCH_TYPES = ['run_queued', 'run_start', 'run_end', 'hook_start', 'hook_end'];
const PAGE = 1000;

type AsEvent = (stored: StoredEvent, run: Pick<RunDetail, 'pipeline' | 'parentRunId'>) => SpanflowEvent;
let asEvent: AsEvent | undefined;
/**
 * The store's own reading of a stored event, loaded with the store's door on first use: spanflow/http needs
 * nothing but node:http until it is given a store (whose peers, kysely among them, are then installed).
 */
async function storedEvents(): Promise<AsEvent> {
  asEvent ??= (await import('../postgres/index.ts')).asEvent;
  return asEvent;
}
const OPEN = new Set(['pending', 'running']);

export async function storedRuns(store: RunSource, limit: number, links: LinkTemplates | undefined): Promise<RunListing[]> {
  const page = await store.listRuns({ limit });
  return page.runs.map((run) => listing(viewOf(run, [], links)));
}

/** A stored run's view, or undefined when the store has no such run. */
export async function storedView(store: RunSource, id: string, links: LinkTemplates | undefined): Promise<RunView | undefined> {
  const detail = await store.getRun(id, { events: false });
  if (!detail) return undefined;
  const events = detail.kind === 'stages' ? await store.runEvents(id, { types: BATCH_TYPES }) : await allEvents(store, id);
  const definition = detail.pipelineHash && store.pipeline ? await store.pipeline(detail.pipeline, detail.pipelineHash) : undefined;
  return viewOf(detail, events, links, definition, await storedEvents());
}

async function allEvents(store: RunSource, id: string): Promise<StoredEvent[]> {
  const events: StoredEvent[] = [];
  for (;;) {
    const page = await store.runEvents(id, { afterSeq: events.at(-1)?.seq ?? 0, limit: PAGE * 10 });
    events.push(...page);
    if (page.length < PAGE * 10) return events;
  }
}

function viewOf(
  run: RunDetail | RunPage['runs'][number],
  events: readonly StoredEvent[],
  links: LinkTemplates | undefined,
  description?: StoredPipeline,
  read?: AsEvent,
): RunView {
  const fold = new RunFold({ runId: run.id, pipeline: run.pipeline, kind: run.kind, parentRunId: run.parentRunId ?? undefined, source: 'stored', description, links });
  for (const stored of events) if (read) fold.apply(read(stored, run));
  const view = fold.view;
  // The run row knows what events may not say yet (or at all): its status (`interrupted`), times and counters.
  view.status = run.status as RunView['status'];
  view.startedAt = run.startedAt.getTime();
  view.endedAt = run.endedAt?.getTime();
  view.durationMs = run.durationMs ?? undefined;
  view.error = run.error ?? view.error;
  view.failedNode = run.failedNode ?? view.failedNode;
  view.traceId = run.traceId ?? view.traceId;
  view.links = linksOf(links, run.id, view.traceId);
  view.items = run.items ?? undefined;
  if ('children' in run) view.children = run.children.map((child) => ({ runId: child.id, pipeline: child.pipeline }));
  return view;
}

/**
 * Streams a stored run to `client`: its events after `afterSeq`, read page by
 * page as the client takes them, then, while the run is under way, what comes
 * every `pollMs` (and a batch's counters as a snapshot when they change) until
 * it ends or the client goes.
 */
export async function streamStored(store: RunSource, id: string, client: SseClient, afterSeq: number, pollMs: number, links: LinkTemplates | undefined): Promise<void> {
  let seq = afterSeq;
  let lastSnapshot = '';
  const read = await storedEvents();
  for (;;) {
    const run = await store.getRun(id, { events: false });
    if (!run || client.closed) break;
    const types = run.kind === 'stages' ? BATCH_TYPES : undefined;
    let ended = false;
    for (;;) {
      const page = await store.runEvents(id, { afterSeq: seq, limit: PAGE, ...(types ? { types } : {}) });
      for (const stored of page) {
        const event = read(stored, run);
        if (event.type === 'run_end' && run.kind === 'stages') sendSnapshot(viewOf(run, [], links));
        client.send(message(event.seq, eventJson(event)));
        seq = stored.seq;
        if (event.type === 'run_end') ended = true;
      }
      // The client's pace sets the reading's: a page is read only once the last one went out.
      await client.room();
      if (page.length < PAGE || client.closed) break;
    }
    if (ended || client.closed) break;
    if (!OPEN.has(run.status)) break; // ended without a stored run_end (interrupted): nothing more will come
    if (run.kind === 'stages') sendSnapshot(viewOf(run, [], links));
    await sleep(pollMs);
  }
  client.end();

  function sendSnapshot(view: RunView): void {
    view.seq = seq;
    const text = safeJson(view);
    if (text === lastSnapshot) return;
    lastSnapshot = text;
    client.send(message(seq, text, 'snapshot'));
  }
}
