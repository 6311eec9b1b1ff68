// Looking across runs: what went wrong, how two runs differ, how pipelines fare over days.

import type { AliasedRawBuilder, Kysely } from 'kysely';
import type { StepStatus } from '../../../sdk/index.ts';
import type { Engine } from '../engine.ts';
import { sql } from '../kysely.ts';
import type { Database, StoredRunStatus } from '../schema.ts';
import { checkCount, checkDate, checkRunId, checkText, summary } from './runs.ts';
import type {
  ErrorSummary,
  ErrorSummaryOptions,
  PipelineStats,
  RunComparison,
  RunStats,
  StatsOptions,
  StepComparison,
  StepStats,
  StepTotals,
} from './types.ts';

type Db = Kysely<Database>;

/** Attempt statuses that count as errors: the attempt went wrong (cancellations follow from something else). */
const ERROR_STATUSES = ['failed', 'timed_out', 'retrying'] as const satisfies readonly StepStatus[];

/** Runs and every run under them (sub-pipelines at any depth). */
export async function runTree(db: Db, engine: Engine, runIds: readonly string[]): Promise<string[]> {
  if (runIds.length === 0) return [];
  const rows = await db
    .withRecursive('tree(id)', (qb) =>
      qb
        .selectFrom('runs')
        .select('id')
        .where(engine.isIn('id', runIds))
        .union(qb.selectFrom('runs as r').innerJoin('tree as t', 't.id', 'r.parent_run_id').select('r.id')),
    )
    .selectFrom('tree')
    .select('id')
    .execute();
  return rows.map((r) => r.id);
}

export async function errorSummary(db: Db, engine: Engine, options: ErrorSummaryOptions): Promise<ErrorSummary> {
  const since = checkDate('since', options.since);
  const recent = checkCount('recent', options.recent, 20, 1000);
  let query = db
    .selectFrom('step_attempts as s')
    .innerJoin('runs as r', 'r.id', 's.run_id')
    .where('s.error_type', 'is not', null)
    .where('s.status', 'in', ERROR_STATUSES);
  if (options.runId !== undefined) {
    const tree = await runTree(db, engine, [checkRunId(options.runId)]);
    query = query.where(engine.isIn('s.run_id', tree));
  }
  if (options.pipeline !== undefined) query = query.where('r.pipeline', '=', checkText('pipeline', options.pipeline) ?? '');
  if (since) query = query.where('r.started_at', '>=', since);
  const byType = await query.select(['s.error_type as key', (eb) => eb.fn.countAll<number>().as('n')]).groupBy('s.error_type').execute();
  const byNode = await query.select(['s.node as key', (eb) => eb.fn.countAll<number>().as('n')]).groupBy('s.node').execute();
  const rows = await query
    .select(['s.run_id', 'r.pipeline', 's.node', 's.attempt', 's.item_index', 's.item_id', 's.status', 's.error', 's.started_at', 's.ended_at'])
    .orderBy(sql`coalesce(s.ended_at, s.started_at)`, (ob) => ob.desc().nullsLast())
    .orderBy('s.run_id')
    .orderBy('s.node')
    .orderBy('s.item_index', (ob) => ob.asc().nullsLast())
    .orderBy('s.attempt')
    .limit(recent)
    .execute();
  const tally = (list: { key: string | null; n: number }[]) => Object.fromEntries(list.map((r) => [r.key ?? '', Number(r.n)]));
  return {
    total: byType.reduce((sum, r) => sum + Number(r.n), 0),
    byType: tally(byType),
    byNode: tally(byNode),
    recent: rows.flatMap((r) =>
      r.error
        ? [{ runId: r.run_id, pipeline: r.pipeline, node: r.node, attempt: r.attempt, index: r.item_index, itemId: r.item_id, status: r.status, error: r.error, at: r.ended_at ?? r.started_at }]
        : [],
    ),
  };
}

async function stepTotals(db: Db, engine: Engine, runId: string): Promise<Map<string, StepTotals & { first: number }>> {
  const rows = await db
    .selectFrom('step_attempts')
    .select([
      'node',
      'status',
      (eb) => eb.fn.countAll<number>().as('n'),
      sql<number>`count(*) filter (where attempt > 0)`.as('attempts'),
      sql<number>`coalesce(sum(duration_ms), 0)`.as('total_ms'),
      sql<number>`coalesce(max(duration_ms), 0)`.as('max_ms'),
      engine.epochMs(sql`min(coalesce(started_at, ended_at))`).$castTo<number | null>().as('first'),
    ])
    .where('run_id', '=', runId)
    .groupBy(['node', 'status'])
    .execute();
  const totals = new Map<string, { attempts: number; statuses: Partial<Record<StepStatus, number>>; totalMs: number; maxMs: number; first: number }>();
  for (const row of rows) {
    let t = totals.get(row.node);
    if (!t) {
      t = { attempts: 0, statuses: {}, totalMs: 0, maxMs: 0, first: Number.POSITIVE_INFINITY };
      totals.set(row.node, t);
    }
    t.attempts += Number(row.attempts);
    t.statuses[row.status] = (t.statuses[row.status] ?? 0) + Number(row.n);
    t.totalMs += Number(row.total_ms);
    t.maxMs = Math.max(t.maxMs, Number(row.max_ms));
    if (row.first !== null) t.first = Math.min(t.first, Number(row.first));
  }
  return totals;
}

export async function compareRuns(db: Db, engine: Engine, a: string, b: string): Promise<RunComparison> {
  const ids = [checkRunId(a), checkRunId(b)] as const;
  const rows = await db.selectFrom('runs').selectAll().where('id', 'in', [...ids]).execute();
  const [runA, runB] = ids.map((id) => rows.find((r) => r.id === id));
  if (!runA || !runB) throw new RangeError(`no run with id ${runA ? ids[1] : ids[0]}`);
  const [stepsA, stepsB] = [await stepTotals(db, engine, ids[0]), await stepTotals(db, engine, ids[1])];
  const nodes = [...new Set([...stepsA.keys(), ...stepsB.keys()])].sort(
    (x, y) => Math.min(stepsA.get(x)?.first ?? Infinity, stepsB.get(x)?.first ?? Infinity) - Math.min(stepsA.get(y)?.first ?? Infinity, stepsB.get(y)?.first ?? Infinity),
  );
  const strip = (t: (StepTotals & { first: number }) | undefined): StepTotals | undefined =>
    t && { attempts: t.attempts, statuses: t.statuses, totalMs: t.totalMs, maxMs: t.maxMs };
  const steps: StepComparison[] = nodes.map((node) => {
    const x = strip(stepsA.get(node));
    const y = strip(stepsB.get(node));
    return { node, a: x, b: y, deltaMs: x && y ? y.totalMs - x.totalMs : undefined };
  });
  return {
    a: summary(runA),
    b: summary(runB),
    sameDefinition: runA.pipeline === runB.pipeline && runA.pipeline_hash !== null && runA.pipeline_hash === runB.pipeline_hash,
    durationDeltaMs: runA.duration_ms !== null && runB.duration_ms !== null ? runB.duration_ms - runA.duration_ms : undefined,
    steps,
  };
}

/**
 * A continuous percentile (Postgres's percentile_cont) of `value` in ranked
 * rows (`rank` from 0 in value order, `n` the values in the group), in SQL both
 * engines run: the two values it lies between, found with whole-number
 * arithmetic only; `percentile()` interpolates. `percent` is a whole percent.
 */
function percentileBounds<N extends string>(
  percent: number,
  value: string,
  name: N,
): [AliasedRawBuilder<number | null, `${N}_lo`>, AliasedRawBuilder<number | null, `${N}_hi`>] {
  const pos = sql`${sql.lit(percent)} * (n - 1)`;
  const v = sql.ref(value);
  return [
    sql<number | null>`max(case when rank * 100 <= ${pos} and ${pos} < (rank + 1) * 100 then ${v} end)`.as(`${name}_lo`),
    sql<number | null>`max(case when (rank - 1) * 100 < ${pos} and ${pos} <= rank * 100 then ${v} end)`.as(`${name}_hi`),
  ];
}

/** The percentile between `lo` and `hi`, the values at either side of its position among `n`. */
function percentile(percent: number, n: number, lo: number | null, hi: number | null): number | null {
  if (n === 0 || lo === null || hi === null) return null;
  return lo + (hi - lo) * (((percent * (n - 1)) % 100) / 100);
}

export async function stats(db: Db, options: StatsOptions): Promise<RunStats> {
  const days = options.days ?? 7;
  if (!(typeof days === 'number' && days > 0 && days <= 36_500)) throw new RangeError(`days must be a positive number (got ${String(options.days)})`);
  const since = new Date(Date.now() - days * 86_400_000);
  let runs = db.selectFrom('runs').where('started_at', '>=', since);
  if (options.pipeline !== undefined) runs = runs.where('pipeline', '=', checkText('pipeline', options.pipeline) ?? '');
  if (!options.children) runs = runs.where('parent_run_id', 'is', null);

  const counts = await runs.select(['pipeline', 'status', (eb) => eb.fn.countAll<number>().as('n')]).groupBy(['pipeline', 'status']).execute();
  // Each run ranked by duration within its pipeline (runs under way, with none, last), for the percentiles.
  const rankedRuns = runs
    .select([
      'pipeline',
      'duration_ms',
      'started_at',
      sql<number>`row_number() over (partition by pipeline order by duration_ms asc nulls last) - 1`.as('rank'),
      sql<number>`count(duration_ms) over (partition by pipeline)`.as('n'),
    ])
    .as('ranked');
  const durations = await db
    .selectFrom(rankedRuns)
    .select([
      'pipeline',
      sql<number | null>`avg(duration_ms)`.as('avg'),
      sql<number | null>`max(duration_ms)`.as('max'),
      sql<Date>`max(started_at)`.as('last_started_at'),
      sql<number>`max(n)`.as('n'),
      ...percentileBounds(50, 'duration_ms', 'p50'),
      ...percentileBounds(95, 'duration_ms', 'p95'),
    ])
    .groupBy('pipeline')
    .orderBy('pipeline')
    .execute();
  const byStatus: Partial<Record<StoredRunStatus, number>> = {};
  const pipelines: PipelineStats[] = durations.map((d) => {
    const n = Number(d.n);
    const mine: Partial<Record<StoredRunStatus, number>> = {};
    for (const c of counts) if (c.pipeline === d.pipeline) mine[c.status] = Number(c.n);
    const total = Object.values(mine).reduce((s, n) => s + n, 0);
    const ended = total - (mine.pending ?? 0) - (mine.running ?? 0);
    return {
      pipeline: d.pipeline,
      runs: total,
      byStatus: mine,
      successRate: ended > 0 ? (mine.succeeded ?? 0) / ended : null,
      avgMs: d.avg,
      p50Ms: percentile(50, n, d.p50_lo, d.p50_hi),
      p95Ms: percentile(95, n, d.p95_lo, d.p95_hi),
      maxMs: d.max,
      lastStartedAt: d.last_started_at,
    };
  });
  for (const c of counts) byStatus[c.status] = (byStatus[c.status] ?? 0) + Number(c.n);

  let steps = db
    .selectFrom('step_attempts as s')
    .innerJoin('runs as r', 'r.id', 's.run_id')
    .where('r.started_at', '>=', since)
    .where('s.attempt', '>', 0);
  if (options.pipeline !== undefined) steps = steps.where('r.pipeline', '=', checkText('pipeline', options.pipeline) ?? '');
  const rankedSteps = steps
    .select([
      'r.pipeline',
      's.node',
      's.status',
      's.duration_ms',
      sql<number>`row_number() over (partition by r.pipeline, s.node order by s.duration_ms asc nulls last) - 1`.as('rank'),
      sql<number>`count(s.duration_ms) over (partition by r.pipeline, s.node)`.as('n'),
    ])
    .as('ranked');
  const stepRows = await db
    .selectFrom(rankedSteps)
    .select([
      'pipeline',
      'node',
      (eb) => eb.fn.countAll<number>().as('attempts'),
      sql<number>`count(*) filter (where status in ('failed', 'timed_out', 'retrying'))`.as('failed'),
      sql<number | null>`avg(duration_ms)`.as('avg'),
      sql<number>`max(n)`.as('n'),
      ...percentileBounds(95, 'duration_ms', 'p95'),
    ])
    .groupBy(['pipeline', 'node'])
    .execute();
  // The 20 slowest by p95 (ties by name, so both engines list the same ones).
  const stepStats: StepStats[] = stepRows
    .map((r) => ({
      pipeline: r.pipeline,
      node: r.node,
      attempts: Number(r.attempts),
      failed: Number(r.failed),
      avgMs: r.avg,
      p95Ms: percentile(95, Number(r.n), r.p95_lo, r.p95_hi),
    }))
    .sort((x, y) => (y.p95Ms ?? -1) - (x.p95Ms ?? -1) || x.pipeline.localeCompare(y.pipeline) || x.node.localeCompare(y.node))
    .slice(0, 20);
  return { since, days, runs: Object.values(byStatus).reduce((s, n) => s + n, 0), byStatus, pipelines, steps: stepStats };
}
