// The compose stack's demo service (`node compose/demo/main.ts`): keeps running
// the showcase and the ETL example with telemetry (OTLP to the collector, from
// the OTEL_* variables) and every run stored in Postgres (SPANFLOW_DATABASE_URL,
// SPANFLOW_SCHEMA), so the dashboards have data. With DEMO_REMOTE_RENDER=true
// each round also sends a batch's encoding stage to the `render` queue, which
// the stack's render-worker containers take. Stops cleanly on SIGTERM.

import { writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { startTelemetry } from '../../exporters/otel/index.ts';
import { openStore, type Store } from '../../exporters/postgres/index.ts';
import { createDispatcher } from '../../distributed/index.ts';
import { defaultPool } from '../../worker-threads/index.ts';
import { demoRound } from './round.ts';

const PAUSE_MS = Number(process.env.DEMO_PAUSE_MS ?? 2_000);
const ITEMS = Number(process.env.DEMO_ITEMS ?? 2_000);
/** Touched after every round: the service's health check reads its age. */
const HEARTBEAT = process.env.DEMO_HEARTBEAT_FILE ?? '/tmp/spanflow-demo.alive';

const stop = new AbortController();
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => stop.abort());
const pause = (ms: number) => sleep(ms, undefined, { signal: stop.signal }).catch(() => {});

const telemetry = startTelemetry({ serviceName: 'spanflow-demo' });

/** The database may still be starting: a few tries before giving up. */
async function open(): Promise<Store> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await openStore();
    } catch (error) {
      if (attempt >= 10 || stop.signal.aborted) throw error;
      console.error(`store not reachable yet (${error instanceof Error ? error.message : String(error)}); retrying`);
      await pause(2_000);
    }
  }
}

const store = await open();
// The jobs in pg-boss's schema (DEMO_QUEUE_SCHEMA, default pgboss), where `spanflow worker` looks by default.
const remote =
  process.env.DEMO_REMOTE_RENDER === 'true'
    ? createDispatcher({ connectionString: String(process.env.SPANFLOW_DATABASE_URL), ...(process.env.DEMO_QUEUE_SCHEMA && { schema: process.env.DEMO_QUEUE_SCHEMA }) })
    : undefined;
console.log(`demo: runs stored in ${store.location} (schema ${store.schema}); telemetry to ${process.env.OTEL_EXPORTER_OTLP_ENDPOINT ?? 'the OTLP default endpoint'}`);
for (let round = 1; !stop.signal.aborted; round++) {
  const { scenarios, etl, remote: rendered } = await demoRound({ persist: store, items: ITEMS, signal: stop.signal, ...(remote && { remote }) });
  const showcase = scenarios.map((s) => `${s.scenario.name} ${s.result.status}`).join(', ');
  const remotely = rendered ? `; remote-render ${rendered.status} (${rendered.completed} clips)` : '';
  console.log(`round ${round}: ${showcase}; etl ${etl.status} (${etl.completed} completed, ${etl.failed} failed, ${etl.skipped} skipped)${remotely}`);
  writeFileSync(HEARTBEAT, String(Date.now()));
  await pause(PAUSE_MS);
}
await store.close();
await remote?.close();
await defaultPool().close();
// Gives up on exports after its time limit (the collector may be gone by now), and lets the process end.
await telemetry.shutdown();
