// spanflow/http over the store: runs of another process (here: runs this one
// stores but does not observe) listed, shown and streamed from their stored
// events, resumed with Last-Event-ID, followed while under way by polling;
// and `spanflow serve`, which serves just that.

import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { main } from '../cli/index.ts';
import { createLiveHandler, type RunView } from '../exporters/http/index.ts';
import type { Store } from '../exporters/postgres/index.ts';
import { pipeline, type SpanflowEvent, stages } from '../sdk/index.ts';
import { getJson, readSse, serve } from './http-support.ts';
import { embeddedStore } from './store-support.ts';
import { eventLog, HANG_GUARD, latch, range } from './support.ts';

const steps = (gate: Promise<void>) =>
  pipeline('stored-render')
    .step('fetch', () => 1, { to: 'wait' })
    .step('wait', () => gate, { to: 'frames' })
    .map('frames', () => range(3), { worker: 'frame' })
    .step<number>('frame', ({ item }) => item);

describe('spanflow/http over the store', HANG_GUARD, () => {
  let store: Store;
  let url: string;
  let close: () => Promise<void>;
  before(async () => {
    store = await embeddedStore();
    ({ url, close } = await serve(createLiveHandler({ store, pollInterval: 50, links: { jaeger: 'http://jaeger.test/trace/{traceId}' } })));
  });
  after(async () => {
    await close();
    await store.close();
  });

  test('a stored graph run: listed, shown with its steps, streamed in order to run_end, resumed from the store', async () => {
    const log = eventLog();
    const result = await steps(Promise.resolve()).run(undefined, { persist: store, onEvent: log.listen });
    await store.flush();
    const { body: list } = await getJson<{ runs: { runId: string; source: string; status: string }[] }>(`${url}/runs`);
    assert.deepEqual(
      list.runs.find((r) => r.runId === result.runId),
      { ...list.runs.find((r) => r.runId === result.runId), source: 'stored', status: 'succeeded' },
    );
    const { body: view } = await getJson<RunView>(`${url}/runs/${result.runId}`);
    assert.equal(view.source, 'stored');
    assert.equal(view.status, 'succeeded');
    assert.deepEqual(
      view.steps.map((s) => `${s.node}:${s.status}`),
      ['fetch:succeeded', 'wait:succeeded', 'frames:succeeded', 'frame:succeeded'],
      'in definition order, from the stored definition',
    );
    assert.match(view.mermaid ?? '', /flowchart/);
    const all = await readSse(`${url}/runs/${result.runId}/events`);
    assert.deepEqual(
      all.map((m) => Number(m.id)),
      log.events.map((e) => e.seq),
    );
    assert.equal((JSON.parse(all.at(-1)?.data ?? '{}') as SpanflowEvent).type, 'run_end');
    const rest = await readSse(`${url}/runs/${result.runId}/events`, { 'last-event-id': '5' });
    assert.deepEqual(
      rest.map((m) => Number(m.id)),
      log.events.filter((e) => e.seq > 5).map((e) => e.seq),
    );
  });

  test('a run under way in another process (not observed here) is followed by polling the store until it ends', async () => {
    const gate = latch();
    const log = eventLog();
    const handle = steps(gate.promise).run(undefined, { persist: store, onEvent: log.listen });
    await log.waitFor((e) => e.type === 'step_start' && e.node === 'wait');
    await store.flush();
    const { body: view } = await getJson<RunView>(`${url}/runs/${handle.runId}`);
    assert.equal(view.status, 'running');
    assert.equal(view.steps.find((s) => s.node === 'wait')?.status, 'running');
    const reading = readSse(`${url}/runs/${handle.runId}/events`, {}, (m) => {
      if ((JSON.parse(m.data) as SpanflowEvent).type === 'step_start') gate.resolve();
      return undefined;
    });
    await handle;
    const messages = await reading;
    assert.deepEqual(
      messages.map((m) => Number(m.id)),
      log.events.map((e) => e.seq),
    );
  });

  test('a stored batch streams its run events and item counters, never its items', async () => {
    const result = await stages<number>('stored-batch', { persist: store })
      .stage('one', { tasks: (n: number) => (n === 7 ? Promise.reject(new Error('seven')) : n) })
      .run(range(50));
    await store.flush();
    const messages = await readSse(`${url}/runs/${result.runId}/events`);
    const events = messages.filter((m) => m.event === 'message').map((m) => (JSON.parse(m.data) as SpanflowEvent).type);
    assert.deepEqual(events, ['run_queued', 'run_start', 'run_end']);
    const { body: view } = await getJson<RunView>(`${url}/runs/${result.runId}`);
    assert.equal(view.kind, 'stages');
    assert.deepEqual(view.items, { fed: 50, completed: 49, failed: 1, skipped: 0 });
  });

  test('an id the store does not have, or that is not a run id, is a 404 that says where it looked', async () => {
    for (const id of ['00000000-0000-4000-8000-000000000000', 'not-a-uuid']) {
      const { status, body } = await getJson<{ error: string }>(`${url}/runs/${id}`);
      assert.equal(status, 404, id);
      assert.match(body.error, /no run '.*'/);
      assert.equal((await fetch(`${url}/runs/${id}/events`)).status, 404);
    }
  });
});

describe('spanflow serve', HANG_GUARD, () => {
  test('serves the stored runs on 127.0.0.1 until stopped; a bad port is a usage error naming the fix', async () => {
    const store = await embeddedStore();
    const dataDir = store.location.replace(/\/[^/]+$/, '');
    const result = await pipeline('served').step('one', () => 1).run(undefined, { persist: store });
    await store.close();
    const stop = new AbortController();
    let printed = '';
    const listening = latch();
    const io = {
      stdout: (text: string) => {
        printed += text;
        if (printed.includes('\n')) listening.resolve();
      },
      stderr: (text: string) => {
        printed += text;
        listening.resolve();
      },
      signal: stop.signal,
    };
    const exit = main(['serve', '--port', '0', '--data-dir', dataDir], io);
    await listening.promise;
    const served = /^spanflow serve: (http:\/\/127\.0\.0\.1:\d+\/) \(runs of .*; Ctrl-C stops\)$/m.exec(printed);
    assert.ok(served, printed);
    const base = served[1] as string;
    const { body } = await getJson<{ runs: { runId: string }[] }>(`${base}runs`);
    assert.ok(body.runs.some((r) => r.runId === result.runId));
    assert.equal((await getJson(`${base}runs/${result.runId}/cancel`, { method: 'POST' })).status, 405, 'nothing it serves writes');
    assert.match(await (await fetch(base)).text(), /<title>spanflow/);
    // A page elsewhere that rebinds its DNS name to 127.0.0.1 sends its own name as Host: refused.
    const rebound = await new Promise<number | undefined>((resolve, reject) => {
      request(`${base}runs`, { headers: { host: 'attacker.example' } }, (res) => {
        res.resume();
        resolve(res.statusCode);
      })
        .on('error', reject)
        .end();
    });
    assert.equal(rebound, 403);
    stop.abort();
    assert.equal(await exit, 0);

    let errors = '';
    const code = await main(['serve', '--port', '70000', '--data-dir', dataDir], { stdout: () => {}, stderr: (t) => (errors += t) });
    assert.equal(code, 2);
    assert.match(errors, /'70000' is not a port: give a whole number from 0 to 65535 \(0 picks a free one\)/);
  });
});
