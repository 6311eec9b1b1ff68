// The compose stack's demo service, run as the container runs it (`node
// compose/demo/main.ts`) against a stand-in collector and the test Postgres:
// it sends traces and metrics over OTLP/HTTP, stores its runs, keeps its
// heartbeat fresh for the health check, and stops cleanly on SIGTERM.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { METRICS } from '../sdk/index.ts';
import { adminQuery, NEEDS_POSTGRES, TEST_DATABASE_URL, tempFolder } from './store-support.ts';
import { loopbackServer } from './support.ts';

const SCHEMA = 'compose_demo';
const MAIN = fileURLToPath(new URL('../compose/demo/main.ts', import.meta.url));

describe('the demo service', { skip: NEEDS_POSTGRES }, () => {
  const received: { path: string; body: string }[] = [];
  let collector: Awaited<ReturnType<typeof loopbackServer>> | undefined;
  const folder = tempFolder('demo');
  const heartbeat = join(folder.path, 'alive');
  let exit: Promise<number | null> | undefined;
  let output = '';

  before(async () => {
    await adminQuery(`drop schema if exists "${SCHEMA}" cascade`);
    collector = await loopbackServer((req, body, res) => {
      received.push({ path: req.url ?? '', body: body.toString() });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
    const child = spawn(process.execPath, [MAIN], {
      env: {
        ...process.env,
        OTEL_SERVICE_NAME: 'spanflow-demo',
        OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_METRIC_EXPORT_INTERVAL: '300',
        OTEL_BSP_SCHEDULE_DELAY: '100',
        SPANFLOW_DATABASE_URL: TEST_DATABASE_URL,
        SPANFLOW_SCHEMA: SCHEMA,
        DEMO_ITEMS: '300',
        DEMO_PAUSE_MS: '200',
        DEMO_HEARTBEAT_FILE: heartbeat,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    exit = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    const deadline = Date.now() + 60_000;
    const sent = (path: string) => received.some((r) => r.path === path);
    while (!(existsSync(heartbeat) && sent('/v1/metrics') && sent('/v1/traces'))) {
      assert.ok(Date.now() < deadline && child.exitCode === null, `the demo did not finish a round and export: ${output}`);
      await sleep(100);
    }
    child.kill('SIGTERM');
  });

  after(async () => {
    await collector?.close();
    folder.cleanup();
  });

  test('it stops on SIGTERM with exit code 0', async () => {
    assert.equal(await exit, 0, output);
    assert.match(output, /round 1: quick-promo succeeded, feature-film succeeded, deadline-crunch timed_out; etl \w+/);
  });

  test('it sends its spans and the catalogue’s metrics to the collector, as service spanflow-demo', async () => {
    await exit;
    const metrics = received.filter((r) => r.path === '/v1/metrics').map((r) => r.body).join('\n');
    for (const def of [METRICS.runs, METRICS.runDuration, METRICS.items, METRICS.poolRunTime]) assert.ok(metrics.includes(`"${def.name}"`), def.name);
    const traces = received.filter((r) => r.path === '/v1/traces').map((r) => r.body).join('\n');
    assert.match(traces, /"spanflow-demo"/);
    assert.match(traces, /video-render/);
  });

  test('it stores its runs, with their trace ids, in the schema it is given', async () => {
    await exit;
    const rows = await adminQuery<{ pipeline: string; traced: string }>(
      `select pipeline, count(trace_id)::text as traced from "${SCHEMA}".runs where parent_run_id is null group by 1 order by 1`,
    );
    assert.deepEqual(
      rows.map((r) => r.pipeline),
      ['etl', 'video-render'],
    );
    for (const row of rows) assert.ok(Number(row.traced) > 0, `${row.pipeline} runs carry their trace id`);
  });
});
