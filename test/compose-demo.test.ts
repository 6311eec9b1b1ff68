// The compose stack's demo service, run as the container runs it (`node
// compose/demo/main.ts`) against a stand-in collector and the test Postgres:
// it sends traces and metrics over OTLP/HTTP, stores its runs, keeps its
// heartbeat fresh for the health check, sends its remote-render batches to a
// render worker (as the stack's render-worker containers run it), and stops cleanly on SIGTERM.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { ATTR, METRICS } from '../sdk/index.ts';
import { RENDER_QUEUE } from '../compose/demo/round.ts';
import { dropSchema, startWorkerProcess, stopWorkerProcess, type WorkerProcess } from './distributed-support.ts';
import { adminQuery, NEEDS_POSTGRES, TEST_DATABASE_URL, tempFolder } from './store-support.ts';
import { loopbackServer } from './support.ts';

const SCHEMA = 'compose_demo';
/** Where the demo's render jobs are kept: a pg-boss schema of this test's own. */
const JOBS = 'compose_demo_jobs';
const MAIN = fileURLToPath(new URL('../compose/demo/main.ts', import.meta.url));
const COLLECTOR = fileURLToPath(new URL('../compose/otel-collector.yaml', import.meta.url));

/** A span as OTLP/JSON carries it (the fields read here). */
interface JsonSpan {
  readonly traceId: string;
  readonly name: string;
  readonly attributes?: readonly { readonly key: string }[];
}

describe('the demo service', { skip: NEEDS_POSTGRES }, () => {
  const received: { path: string; body: string }[] = [];
  let collector: Awaited<ReturnType<typeof loopbackServer>> | undefined;
  const folder = tempFolder('demo');
  const heartbeat = join(folder.path, 'alive');
  let exit: Promise<number | null> | undefined;
  let output = '';
  /** A render worker, as the stack's render-worker containers run it. */
  let worker: WorkerProcess | undefined;

  before(async () => {
    await adminQuery(`drop schema if exists "${SCHEMA}" cascade`);
    await dropSchema(JOBS);
    worker = await startWorkerProcess(RENDER_QUEUE, JOBS, { concurrency: 4 });
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
        // No periodic metric export (its timeout would be the interval's, 300 ms once): the flush at SIGTERM sends the final values.
        OTEL_METRIC_EXPORT_INTERVAL: '60000',
        OTEL_BSP_SCHEDULE_DELAY: '100',
        SPANFLOW_DATABASE_URL: TEST_DATABASE_URL,
        SPANFLOW_SCHEMA: SCHEMA,
        DEMO_ITEMS: '300',
        DEMO_PAUSE_MS: '200',
        DEMO_HEARTBEAT_FILE: heartbeat,
        DEMO_REMOTE_RENDER: 'true',
        DEMO_QUEUE_SCHEMA: JOBS,
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
    while (!(existsSync(heartbeat) && sent('/v1/traces'))) {
      assert.ok(Date.now() < deadline && child.exitCode === null, `the demo did not finish a round and export: ${output}`);
      await sleep(100);
    }
    child.kill('SIGTERM');
  });

  after(async () => {
    if (worker) await stopWorkerProcess(worker);
    await dropSchema(JOBS);
    await collector?.close();
    folder.cleanup();
  });

  test('it stops on SIGTERM with exit code 0', async () => {
    assert.equal(await exit, 0, output);
    assert.match(output, /round 1: quick-promo succeeded, feature-film succeeded, deadline-crunch timed_out; etl \w+ \(.*\); remote-render succeeded \(20 clips\)/);
  });

  test('it sends its spans and the catalogue’s metrics to the collector, as service spanflow-demo', async () => {
    await exit;
    const metrics = received.filter((r) => r.path === '/v1/metrics').map((r) => r.body).join('\n');
    for (const def of [METRICS.runs, METRICS.runDuration, METRICS.items, METRICS.poolRunTime, METRICS.remoteWaitTime, METRICS.remoteRunTime]) assert.ok(metrics.includes(`"${def.name}"`), def.name);
    const traces = received.filter((r) => r.path === '/v1/traces').map((r) => r.body).join('\n');
    assert.match(traces, /"spanflow-demo"/);
    assert.match(traces, /video-render/);
  });

  test('the collector’s sampling keeps every run trace the demo sends, and leaves its item traces to the sample', async () => {
    await exit;
    const policies: { name: string; ottl_condition?: { span: string[] } }[] = parse(readFileSync(COLLECTOR, 'utf8')).processors.tail_sampling.policies;
    const [condition] = policies.find((p) => p.name === 'runs')?.ottl_condition?.span ?? [];
    const pattern = new RegExp(/^IsMatch\(name, "(.+)"\)$/.exec(condition ?? '')?.[1] ?? assert.fail(`the runs policy: ${condition}`));
    const traces = new Map<string, JsonSpan[]>();
    for (const { body } of received.filter((r) => r.path === '/v1/traces')) {
      const spans: JsonSpan[] = JSON.parse(body).resourceSpans.flatMap((r: { scopeSpans: { spans: JsonSpan[] }[] }) => r.scopeSpans.flatMap((s) => s.spans));
      for (const span of spans) traces.set(span.traceId, [...(traces.get(span.traceId) ?? []), span]);
    }
    const has = (span: JsonSpan, key: string) => span.attributes?.some((a) => a.key === key) ?? false;
    const items = [...traces.values()].filter((spans) => spans.some((span) => has(span, ATTR.ITEM_ID)));
    const runs = [...traces.values()].filter((spans) => !items.includes(spans) && spans.some((span) => has(span, ATTR.RUN_ID)));
    assert.ok(runs.length >= 4 && items.length >= 100, `${runs.length} run traces, ${items.length} item traces`);
    const kept = (spans: JsonSpan[]) => spans.some((span) => pattern.test(span.name));
    assert.deepEqual(runs.filter((spans) => !kept(spans)).map((spans) => spans.map((s) => s.name)), [], 'run traces the policy would not keep');
    assert.deepEqual(items.filter(kept).map((spans) => spans.map((s) => s.name)), [], 'item traces the policy would keep whole');
  });

  test('it stores its runs, with their trace ids, in the schema it is given', async () => {
    await exit;
    const rows = await adminQuery<{ pipeline: string; traced: string }>(
      `select pipeline, count(trace_id)::text as traced from "${SCHEMA}".runs where parent_run_id is null group by 1 order by 1`,
    );
    assert.deepEqual(
      rows.map((r) => r.pipeline),
      ['etl', 'remote-render', 'video-render'],
    );
    for (const row of rows) assert.ok(Number(row.traced) > 0, `${row.pipeline} runs carry their trace id`);
  });
});
