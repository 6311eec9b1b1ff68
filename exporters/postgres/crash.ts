// Crash safety: a run under way touches its heartbeat every second (the
// writer upserts its row). A process that dies stops touching it; the next
// store to open marks such runs `interrupted`: when their heartbeat is stale,
// or at once when they ran on this host under a process id that is gone.
// Such a run is stored as ended at its last sign of life, its heartbeat or its
// last stored event, whichever is later: its duration is a lower bound (the
// process lived on for up to a heartbeat, and its last events may not have
// been written).

import { hostname } from 'node:os';
import { type Kysely, sql } from 'kysely';
import { OPEN_RUN_STATUSES, type Database } from './schema.ts';
import { processAlive } from './process.ts';

/** Marks runs left `pending` or `running` by dead processes `interrupted`; returns how many. */
export async function sweepInterrupted(db: Kysely<Database>, schema: string, staleAfterMs: number): Promise<number> {
  const s = db.withSchema(schema);
  const open = await s
    .selectFrom('runs')
    .select(['id', 'host', 'pid', sql<boolean>`heartbeat_at < now() - make_interval(secs => ${staleAfterMs / 1000})`.as('stale')])
    .where('status', 'in', OPEN_RUN_STATUSES)
    .execute();
  const here = hostname();
  const dead = open.filter((run) => run.stale || (run.host === here && run.pid !== process.pid && !processAlive(run.pid))).map((run) => run.id);
  if (dead.length === 0) return 0;
  // The last sign of life: the heartbeat, or the newest event stored (its key's index finds it).
  const lastSeen = sql<Date>`coalesce(ended_at, greatest(heartbeat_at,
    (select e.time from ${sql.table(`${schema}.events`)} e where e.run_id = ${sql.ref('runs.id')} order by e.seq desc limit 1)))`;
  const result = await s
    .updateTable('runs')
    .set({
      status: 'interrupted',
      ended_at: lastSeen,
      duration_ms: sql`extract(epoch from (${lastSeen} - started_at)) * 1000`,
      error: sql`jsonb_build_object('type', 'InterruptedError', 'message',
        'the process running it (' || host || ', pid ' || pid || ') stopped before the run ended; last sign of life at ' || (${lastSeen})::text ||
        ': it ran at least this long')`,
    })
    .where('id', 'in', dead)
    .where('status', 'in', OPEN_RUN_STATUSES)
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}
