// Crash safety: a run under way touches its heartbeat every few seconds (the
// writer upserts its row). A process that dies stops touching it; the next
// store to open marks such runs `interrupted`: when their heartbeat is stale,
// or at once when they ran on this host under a process id that is gone.

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
  const result = await s
    .updateTable('runs')
    .set({
      status: 'interrupted',
      ended_at: sql`coalesce(ended_at, heartbeat_at)`,
      duration_ms: sql`extract(epoch from (coalesce(ended_at, heartbeat_at) - started_at)) * 1000`,
      error: sql`jsonb_build_object('type', 'InterruptedError', 'message',
        'the process running it (' || host || ', pid ' || pid || ') stopped before the run ended; last heartbeat at ' || heartbeat_at::text)`,
    })
    .where('id', 'in', dead)
    .where('status', 'in', OPEN_RUN_STATUSES)
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}
