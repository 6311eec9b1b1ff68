// Crash safety: a run under way touches its heartbeat every second (the
// writer upserts its row). A process that dies stops touching it; the next
// store to open marks such runs `interrupted`: when their heartbeat is stale,
// or at once when they ran on this host under a process id that is gone.
// Such a run is stored as ended at its last sign of life, its heartbeat or its
// last stored event, whichever is later: its duration is a lower bound (the
// process lived on for up to a heartbeat, and its last events may not have
// been written).

import { hostname } from 'node:os';
import type { Kysely } from 'kysely';
import { safeJson } from '../../sdk/index.ts';
import type { Engine } from './engine.ts';
import { sql } from './kysely.ts';
import { processAlive } from './process.ts';
import { OPEN_RUN_STATUSES, type Database } from './schema.ts';

/** Marks runs left `pending` or `running` by dead processes `interrupted`; returns how many. */
export async function sweepInterrupted(db: Kysely<Database>, engine: Engine, schema: string, staleAfterMs: number): Promise<number> {
  const s = db.withSchema(schema);
  // Times in ms by the database's clock, which wrote the heartbeats; the last event's by its key's index.
  const open = await s
    .selectFrom('runs')
    .select([
      'id',
      'host',
      'pid',
      engine.epochMs(sql.ref('started_at')).as('started_ms'),
      engine.epochMs(sql.ref('ended_at')).$castTo<number | null>().as('ended_ms'),
      engine.epochMs(sql.ref('heartbeat_at')).as('heartbeat_ms'),
      engine.epochMs(sql`(select e.time from ${sql.table(`${schema}.events`)} e where e.run_id = ${sql.ref('runs.id')} order by e.seq desc limit 1)`)
        .$castTo<number | null>()
        .as('event_ms'),
      engine.epochMs(engine.now).as('now_ms'),
    ])
    .where('status', 'in', OPEN_RUN_STATUSES)
    .execute();
  const here = hostname();
  let marked = 0;
  for (const run of open) {
    const stale = run.heartbeat_ms < run.now_ms - staleAfterMs;
    if (!stale && !(run.host === here && run.pid !== process.pid && !processAlive(run.pid))) continue;
    const lastSeen = run.ended_ms ?? Math.max(run.heartbeat_ms, run.event_ms ?? Number.NEGATIVE_INFINITY);
    const error = {
      type: 'InterruptedError',
      message: `the process running it (${run.host}, pid ${run.pid}) stopped before the run ended; last sign of life at ${new Date(lastSeen).toISOString()}: it ran at least this long`,
    };
    const result = await s
      .updateTable('runs')
      .set({ status: 'interrupted', ended_at: new Date(lastSeen), duration_ms: lastSeen - run.started_ms, error: safeJson(error) })
      .where('id', '=', run.id)
      .where('status', 'in', OPEN_RUN_STATUSES)
      .executeTakeFirst();
    marked += Number(result.numUpdatedRows);
  }
  return marked;
}
