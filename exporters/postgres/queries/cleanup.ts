// Deleting old runs: by age, status and pipeline, keeping the newest N of each
// pipeline; a run goes with its steps, events and sub-pipeline runs. Reports
// what it would delete unless told otherwise.

import type { Kysely } from 'kysely';
import type { Engine } from '../engine.ts';
import { sql } from '../kysely.ts';
import { type Database, STORED_RUN_STATUSES, type StoredRunStatus } from '../schema.ts';
import { runTree } from './analysis.ts';
import { checkCount, checkStatuses, checkText, summary } from './runs.ts';
import type { CleanupOptions, CleanupResult } from './types.ts';

/** Runs that have ended: the only ones cleanup touches unless a status names the others. */
const ENDED: readonly StoredRunStatus[] = STORED_RUN_STATUSES.filter((s) => s !== 'pending' && s !== 'running');
const CHUNK = 1000;

export async function cleanup(db: Kysely<Database>, engine: Engine, options: CleanupOptions): Promise<CleanupResult> {
  const { olderThan, keep } = options;
  if (olderThan === undefined && options.status === undefined && keep === undefined) {
    throw new TypeError('cleanup needs olderThan, status or keep: with none of them it would delete every run');
  }
  let before: Date | undefined;
  if (olderThan instanceof Date && !Number.isNaN(olderThan.getTime())) before = olderThan;
  else if (typeof olderThan === 'number' && Number.isFinite(olderThan) && olderThan >= 0) before = new Date(Date.now() - olderThan);
  else if (olderThan !== undefined) throw new TypeError(`olderThan must be a Date or an age in ms (got ${String(olderThan)})`);
  const statuses = checkStatuses(options.status) ?? ENDED;
  const kept = keep === undefined ? undefined : checkCount('keep', keep, 0);

  let query = db.selectFrom('runs').selectAll().where('parent_run_id', 'is', null);
  query = statuses.length === 0 ? query.where(sql<boolean>`false`) : query.where('status', 'in', statuses);
  if (before) query = query.where('started_at', '<', before);
  if (options.pipeline !== undefined) query = query.where('pipeline', '=', checkText('pipeline', options.pipeline) ?? '');
  if (kept !== undefined && kept > 0) {
    query = query.where(({ eb, selectFrom }) =>
      eb(
        'id',
        'not in',
        selectFrom(
          db
            .selectFrom('runs')
            .select(['id', sql<number>`row_number() over (partition by pipeline order by started_at desc, id)`.as('rank')])
            .where('parent_run_id', 'is', null)
            .as('ranked'),
        )
          .select('ranked.id')
          .where('ranked.rank', '<=', kept),
      ),
    );
  }
  const rows = await query.orderBy('started_at').orderBy('id').execute();
  const ids = await runTree(
    db,
    engine,
    rows.map((r) => r.id),
  );
  if (options.dryRun !== false || ids.length === 0) return { runs: rows.map(summary), count: ids.length, deleted: false };
  await db.transaction().execute(async (trx) => {
    for (let i = 0; i < ids.length; i += CHUNK) {
      const chunk = ids.slice(i, i + CHUNK);
      await trx.deleteFrom('events').where(engine.isIn('run_id', chunk)).execute();
      await trx.deleteFrom('step_attempts').where(engine.isIn('run_id', chunk)).execute();
      await trx.deleteFrom('runs').where(engine.isIn('id', chunk)).execute();
    }
  });
  return { runs: rows.map(summary), count: ids.length, deleted: true };
}
