// Reading runs: the list, one run in full, its events, its tokens, and run ids
// from their prefixes. Every filter value travels as a query parameter.

import type { Kysely, Selectable } from 'kysely';
import { type SpanflowEvent, safeText } from '../../../sdk/index.ts';
import type { Engine } from '../engine.ts';
import { sql } from '../kysely.ts';
import { type Database, type RunsTable, STORED_RUN_STATUSES, type StepAttemptsTable, type StoredRunStatus } from '../schema.ts';
import type {
  ListRunsOptions,
  RunDetail,
  RunEventsOptions,
  RunPage,
  RunSummary,
  ShowRunOptions,
  StepAttempt,
  StepTokens,
  StepTokensOptions,
  StoredEvent,
  StoredPipeline,
} from './types.ts';

type Db = Kysely<Database>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A run id prefix that matches no run, or more than one, or is not one. */
export class RunIdError extends Error {
  override name = 'RunIdError';
  readonly reason: 'invalid' | 'unknown' | 'ambiguous';
  /** Some of the runs it matches, when ambiguous. */
  readonly matches: readonly RunSummary[];
  constructor(message: string, reason: RunIdError['reason'], matches: readonly RunSummary[] = []) {
    super(message);
    this.reason = reason;
    this.matches = matches;
  }
}

export function checkRunId(id: string): string {
  if (typeof id !== 'string' || !UUID.test(id)) {
    throw new RunIdError(`'${String(id)}' is not a run id (a UUID); resolve a prefix with resolveRunId() first`, 'invalid');
  }
  return id.toLowerCase();
}

export function checkStatuses(status: StoredRunStatus | readonly StoredRunStatus[] | undefined): readonly StoredRunStatus[] | undefined {
  if (status === undefined) return undefined;
  const list = (typeof status === 'string' ? [status] : status) as readonly string[];
  const bad = list.filter((s) => !(STORED_RUN_STATUSES as readonly string[]).includes(s));
  if (bad.length > 0) throw new TypeError(`unknown run status ${bad.map((s) => JSON.stringify(s)).join(', ')}: use ${STORED_RUN_STATUSES.join(', ')}`);
  return list as readonly StoredRunStatus[];
}

export function checkDate(what: string, value: Date | undefined): Date | undefined {
  if (value === undefined) return undefined;
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) throw new TypeError(`${what} must be a valid Date (got ${String(value)})`);
  return value;
}

export function checkCount(what: string, value: number | undefined, fallback: number, max = Number.MAX_SAFE_INTEGER, min = 0): number {
  const n = value ?? fallback;
  if (!Number.isInteger(n) || n < min || n > max) throw new RangeError(`${what} must be a whole number from ${min} to ${max} (got ${String(value)})`);
  return n;
}

/** A text filter: a string, made storable as stored text is (a NUL can match nothing stored, and Postgres refuses it). */
export function checkText(what: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new TypeError(`${what} must be a string (got ${typeof value})`);
  return safeText(value);
}

export function summary(row: Selectable<RunsTable>): RunSummary {
  return {
    id: row.id,
    pipeline: row.pipeline,
    pipelineHash: row.pipeline_hash,
    kind: row.kind,
    status: row.status,
    startedAt: row.started_at,
    endedAt: row.ended_at,
    durationMs: row.duration_ms,
    error: row.error,
    failedNode: row.failed_node,
    traceId: row.trace_id,
    parentRunId: row.parent_run_id,
    host: row.host,
    pid: row.pid,
    heartbeatAt: row.heartbeat_at,
    items:
      row.kind === 'stages'
        ? { fed: row.items_fed ?? 0, completed: row.items_completed ?? 0, failed: row.items_failed ?? 0, skipped: row.items_skipped ?? 0 }
        : null,
    eventsDropped: row.events_dropped,
    retryOf: row.retry_of,
    retriedBy: row.retried_by,
    resumes: row.resumes,
  };
}

function attempt(row: Selectable<StepAttemptsTable>): StepAttempt {
  return {
    runId: row.run_id,
    node: row.node,
    nodeKind: row.node_kind,
    attempt: row.attempt,
    index: row.item_index,
    itemId: row.item_id,
    status: row.status,
    startedAt: row.started_at,
    endedAt: row.ended_at,
    durationMs: row.duration_ms,
    error: row.error,
    skipReason: row.skip_reason,
    meta: row.meta,
    spanId: row.span_id,
  };
}

export async function listRuns(db: Db, options: ListRunsOptions): Promise<RunPage> {
  const pipeline = checkText('pipeline', options.pipeline);
  const statuses = checkStatuses(options.status);
  const since = checkDate('since', options.since);
  const until = checkDate('until', options.until);
  const limit = checkCount('limit', options.limit, 50, 1000, 1);
  const offset = checkCount('offset', options.offset, 0);
  let query = db.selectFrom('runs');
  if (pipeline !== undefined) query = query.where('pipeline', '=', pipeline);
  if (statuses) query = statuses.length === 0 ? query.where(sql<boolean>`false`) : query.where('status', 'in', statuses);
  if (since) query = query.where('started_at', '>=', since);
  if (until) query = query.where('started_at', '<', until);
  if (!options.children) query = query.where('parent_run_id', 'is', null);
  const rows = await query.selectAll().orderBy('started_at', 'desc').orderBy('id').limit(limit).offset(offset).execute();
  const { total } = await query.select((eb) => eb.fn.countAll<number>().as('total')).executeTakeFirstOrThrow();
  const count = Number(total);
  return { runs: rows.map(summary), total: count, limit, offset, nextOffset: offset + rows.length < count ? offset + rows.length : undefined };
}

export async function getRun(db: Db, engine: Engine, id: string, options: ShowRunOptions): Promise<RunDetail | undefined> {
  const runId = checkRunId(id);
  const row = await db.selectFrom('runs').selectAll().where('id', '=', runId).executeTakeFirst();
  if (!row) return undefined;
  const steps = await db
    .selectFrom('step_attempts')
    .selectAll()
    .where('run_id', '=', runId)
    .orderBy(sql`coalesce(started_at, ended_at)`, (ob) => ob.asc().nullsLast())
    .orderBy('node')
    .orderBy('item_index', (ob) => ob.asc().nullsLast())
    .orderBy('attempt')
    .execute();
  const children = await db.selectFrom('runs').selectAll().where('parent_run_id', '=', runId).orderBy('started_at').orderBy('id').execute();
  const events = options.events === false ? [] : await runEvents(db, engine, runId, { limit: checkCount('eventLimit', options.eventLimit, 10_000, 10_000_000, 1) });
  return {
    ...summary(row),
    runMeta: row.run_meta,
    pipelineMeta: row.pipeline_meta,
    metrics: row.metrics,
    suspended: row.suspended,
    resumeFrom: row.resume_from,
    steps: steps.map(attempt),
    events,
    children: children.map(summary),
  };
}

export async function runEvents(db: Db, engine: Engine, id: string, options: RunEventsOptions): Promise<StoredEvent[]> {
  const runId = checkRunId(id);
  let query = db
    .selectFrom('events')
    .select(['run_id', 'seq', engine.epochMs(sql.ref('time')).as('time_ms'), 'type', 'node', 'item', 'attempt', 'data'])
    .where('run_id', '=', runId);
  if (options.types) query = options.types.length === 0 ? query.where(sql<boolean>`false`) : query.where('type', 'in', [...options.types]);
  const node = checkText('node', options.node);
  if (node !== undefined) query = query.where('node', '=', node);
  if (options.afterSeq !== undefined) query = query.where('seq', '>', checkCount('afterSeq', options.afterSeq, 0));
  const rows = await query.orderBy('seq').limit(checkCount('limit', options.limit, 10_000, 10_000_000, 1)).execute();
  return rows.map((r) => ({ runId: r.run_id, seq: r.seq, time: r.time_ms, type: r.type, node: r.node, item: r.item, attempt: r.attempt, data: r.data }));
}

/** A stored event as the engine emitted it (the run's pipeline and parent come from its run). */
export function asEvent(stored: StoredEvent, run: Pick<RunSummary, 'pipeline' | 'parentRunId'>): SpanflowEvent {
  // Stage events keep their own fields in data; graph events' node, attempt and item index are in columns.
  const stage = 'itemId' in stored.data;
  return {
    ...(stored.node !== null && !stage ? { node: stored.node } : {}),
    ...(stored.attempt !== null ? { attempt: stored.attempt } : {}),
    ...(stored.item !== null && !stage ? { index: Number(stored.item) } : {}),
    ...stored.data,
    type: stored.type,
    runId: stored.runId,
    parentRunId: run.parentRunId ?? undefined,
    pipeline: run.pipeline,
    seq: stored.seq,
    time: stored.time,
  } as unknown as SpanflowEvent;
}

export async function stepTokens(db: Db, engine: Engine, id: string, options: StepTokensOptions): Promise<StepTokens[]> {
  const runId = checkRunId(id);
  let query = db
    .selectFrom('events')
    // A token event's data is its token and index; a step_start's, little more.
    .select(['type', 'node', 'attempt', 'item', engine.epochMs(sql.ref('time')).as('time_ms'), 'data'])
    .where('run_id', '=', runId)
    .where('type', 'in', ['step_start', 'token']);
  const node = checkText('node', options.node);
  if (node !== undefined) query = query.where('node', '=', node);
  if (options.attempt !== undefined) query = query.where('attempt', '=', checkCount('attempt', options.attempt, 1));
  const rows = await query.orderBy('seq').execute();
  const groups = new Map<string, { node: string; attempt: number; index: number | null; startedAt: number | undefined; tokens: StepTokens['tokens'][number][] }>();
  for (const row of rows) {
    const key = `${row.node} ${row.item ?? ''} ${row.attempt}`;
    let group = groups.get(key);
    if (!group) {
      group = { node: row.node ?? '', attempt: row.attempt ?? 1, index: row.item === null ? null : Number(row.item), startedAt: undefined, tokens: [] };
      groups.set(key, group);
    }
    if (row.type === 'step_start') group.startedAt = row.time_ms;
    else {
      const started = group.startedAt ?? group.tokens[0]?.time ?? row.time_ms;
      const { token, tokenIndex } = row.data as { token?: unknown; tokenIndex?: unknown };
      group.tokens.push({ tokenIndex: typeof tokenIndex === 'number' ? tokenIndex : group.tokens.length, token, time: row.time_ms, offsetMs: row.time_ms - started });
    }
  }
  const withTokens = [...groups.values()].filter((g) => g.tokens.length > 0);
  // Unless an attempt was asked for: each step's (and item's) last attempt that streamed.
  const chosen =
    options.attempt !== undefined
      ? withTokens
      : withTokens.filter((g) => !withTokens.some((o) => o.node === g.node && o.index === g.index && o.attempt > g.attempt));
  return chosen.map((g) => ({ node: g.node, attempt: g.attempt, index: g.index, startedAt: g.startedAt ?? (g.tokens[0]?.time as number), tokens: g.tokens }));
}

/** The id range a prefix covers: `abcd` → abcd0000-0000-… to abcdffff-ffff-…, which the primary key can scan. */
function prefixRange(hex: string): [string, string] {
  const format = (h: string) => `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  return [format(hex.padEnd(32, '0')), format(hex.padEnd(32, 'f'))];
}

export async function resolveRunId(db: Db, prefix: string): Promise<string> {
  const given = typeof prefix === 'string' ? prefix.trim().toLowerCase() : '';
  const hex = given.replaceAll('-', '');
  if (!/^[0-9a-f-]+$/.test(given) || hex.length < 4 || hex.length > 32) {
    throw new RunIdError(
      `'${String(prefix)}' is not a run id or a prefix of one: give at least 4 of its first characters (hex digits, as \`spanflow runs\` shows them)`,
      'invalid',
    );
  }
  const [low, high] = prefixRange(hex);
  const rows = await db.selectFrom('runs').selectAll().where('id', '>=', low).where('id', '<=', high).orderBy('started_at', 'desc').orderBy('id').limit(6).execute();
  const [first] = rows;
  if (!first) throw new RunIdError(`no run id starts with '${given}'`, 'unknown');
  if (rows.length === 1) return first.id;
  const matches = rows.map(summary);
  const listed = matches.slice(0, 5).map((r) => `${r.id} (${r.pipeline}, ${r.startedAt.toISOString()})`);
  throw new RunIdError(
    `'${given}' is ambiguous: it starts ${rows.length > 5 ? 'more than 5' : rows.length} run ids (${listed.join(', ')}${rows.length > 5 ? ', …' : ''}): give more characters`,
    'ambiguous',
    matches,
  );
}

export async function pipeline(db: Db, name: string, hash: string | undefined): Promise<StoredPipeline | undefined> {
  let query = db.selectFrom('pipelines').selectAll().where('name', '=', checkText('name', name) ?? '');
  if (hash !== undefined) query = query.where('hash', '=', checkText('hash', hash) ?? '');
  const row = await query.orderBy('first_seen_at', 'desc').orderBy('hash').limit(1).executeTakeFirst();
  return row && { name: row.name, hash: row.hash, kind: row.kind, graph: row.graph, mermaid: row.mermaid, firstSeenAt: row.first_seen_at };
}
