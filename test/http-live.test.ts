// spanflow/http on loopback, with a real HTTP client (fetch): snapshots of a
// running graph and a running batch, the event stream in order to run_end,
// Last-Event-ID, a client that never reads, cancel and authorize, bad input.

import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, describe, test } from 'node:test';
import { createLiveHandler, LiveRuns, type RunView } from '../exporters/http/index.ts';
import { configureTelemetry, pipeline, type SpanflowEvent, stages } from '../sdk/index.ts';
import { getJson, parseSse, readSse, serve } from './http-support.ts';
import { eventLog, HANG_GUARD, latch, range } from './support.ts';

/** A graph with every kind of status change: a map, a retry, a streaming step; `gate` holds step `wait`. */
function renderGraph(gate: Promise<void>) {
  let failures = 0;
  return pipeline('render')
    .step('plan', () => 'ok', { to: 'wait' })
    .step('wait', () => gate, { to: 'frames' })
    .map('frames', () => range(5), { worker: 'frame', to: 'flaky', concurrency: 2 })
    .step<number>('frame', ({ item }) => item * 2)
    .step(
      'flaky',
      () => {
        if (failures++ === 0) throw new Error('first try fails');
      },
      { retry: { attempts: 2, initialDelayMs: 1 }, to: 'narrate' },
    )
    .step('narrate', async function* () {
      yield 'secret token';
      yield 'another';
    });
}

describe('spanflow/http: the live view of runs in this process', HANG_GUARD, () => {
  const live = new LiveRuns({ links: { jaeger: 'http://jaeger.test/trace/{traceId}', grafana: 'http://grafana.test/d/spanflow-runs?var-run={runId}' } });
  const servers: { close: () => Promise<void> }[] = [];
  after(async () => {
    for (const server of servers) await server.close();
  });
  async function server(options: Parameters<typeof createLiveHandler>[0] = { live }) {
    const started = await serve(createLiveHandler(options));
    servers.push(started);
    return started.url;
  }

  test('GET /runs/:id of a running graph: its steps with status, attempts and times; GET /runs lists it', async () => {
    const url = await server();
    const gate = latch();
    const log = eventLog();
    const handle = renderGraph(gate.promise).run(undefined, { observe: live, onEvent: log.listen });
    await log.waitFor((e) => e.type === 'step_start' && e.node === 'wait');
    const { status, body: view } = await getJson<RunView>(`${url}/runs/${handle.runId}`);
    assert.equal(status, 200);
    assert.equal(view.runId, handle.runId);
    assert.equal(view.kind, 'graph');
    assert.equal(view.status, 'running');
    assert.equal(view.source, 'live');
    const byNode = Object.fromEntries(view.steps.map((s) => [s.node, s]));
    assert.deepEqual(
      view.steps.map((s) => s.node),
      ['plan', 'wait', 'frames', 'frame', 'flaky', 'narrate'],
      'steps in definition order, those not reached yet included',
    );
    assert.equal(byNode.plan?.status, 'succeeded');
    assert.equal(byNode.plan?.attempts, 1);
    assert.equal(typeof byNode.plan?.startedAt, 'number');
    assert.equal(typeof byNode.plan?.durationMs, 'number');
    assert.equal(byNode.wait?.status, 'running');
    assert.equal(byNode.wait?.endedAt, undefined);
    assert.equal(byNode.flaky?.status, 'pending');
    assert.match(view.mermaid ?? '', /flowchart/);
    assert.equal(view.links.grafana, `http://grafana.test/d/spanflow-runs?var-run=${handle.runId}`);
    const { body: list } = await getJson<{ runs: { runId: string; status: string }[] }>(`${url}/runs`);
    assert.equal(list.runs.find((r) => r.runId === handle.runId)?.status, 'running');
    gate.resolve();
    const result = await handle;
    assert.equal(result.status, 'succeeded');
    const { body: done } = await getJson<RunView>(`${url}/runs/${handle.runId}`);
    const ended = Object.fromEntries(done.steps.map((s) => [s.node, s]));
    assert.equal(done.status, 'succeeded');
    assert.equal(ended.flaky?.attempts, 2);
    assert.equal(ended.flaky?.status, 'succeeded');
    assert.deepEqual(ended.frame?.items, { queued: 0, running: 0, succeeded: 5 });
    assert.equal(ended.narrate?.tokens, 2);
  });

  test('a sub-pipeline run is a run of its own, linked both ways', async () => {
    const url = await server();
    const child = pipeline('child').step('inner', () => 'done');
    const handle = pipeline('parent')
      .sub('nested', child, { state: () => undefined, to: 'after' })
      .step('after', () => 1)
      .run(undefined, { observe: live });
    await handle;
    const { body: root } = await getJson<RunView>(`${url}/runs/${handle.runId}`);
    assert.equal(root.children.length, 1);
    assert.equal(root.children[0]?.pipeline, 'child');
    const { body: sub } = await getJson<RunView>(`${url}/runs/${root.children[0]?.runId}`);
    assert.equal(sub.parentRunId, handle.runId);
    assert.deepEqual(
      sub.steps.map((s) => `${s.node}:${s.status}`),
      ['inner:succeeded'],
    );
  });

  test('GET /runs/:id of a running batch: per-stage pending, in progress, completed, failed, workers, queue sizes, errors', async () => {
    const url = await server();
    const hold = latch();
    const batch = stages<number>('resize', { observe: live })
      .stage('decode', { workers: 2, tasks: (n: number) => (n === 3 ? Promise.reject(new TypeError('bad frame')) : n) })
      .stage('scale', { workers: 1, capacity: 100, tasks: (n: number) => (n >= 5 ? hold.promise.then(() => n) : n) })
      .start();
    const feeding = batch.feed(range(10));
    await new Promise<void>((resolve) => {
      const check = () => (batch.snapshot().stats.stages[1]?.inProgress === 1 && batch.snapshot().stats.stages[0]?.completed === 9 ? resolve() : setImmediate(check));
      check();
    });
    const { body: view } = await getJson<RunView>(`${url}/runs/${batch.runId}`);
    assert.equal(view.kind, 'stages');
    assert.equal(view.status, 'running');
    const [decode, scale] = view.batch?.stats.stages ?? [];
    assert.deepEqual(
      { name: decode?.name, workers: decode?.workers, completed: decode?.completed, failed: decode?.failed, inProgress: decode?.inProgress },
      { name: 'decode', workers: 2, completed: 9, failed: 1, inProgress: 0 },
    );
    assert.deepEqual({ name: scale?.name, inProgress: scale?.inProgress, pending: scale?.pending, completed: scale?.completed }, { name: 'scale', inProgress: 1, pending: 4, completed: 4 });
    assert.equal(view.batch?.stats.queueSizes.scale, 4);
    assert.equal(view.batch?.workers.length, 3);
    assert.deepEqual(view.batch?.errors.byType, { TypeError: 1 });
    assert.equal(view.batch?.errors.recent[0]?.error.message, 'bad frame');
    hold.resolve();
    await feeding;
    const result = await batch.join();
    assert.equal(result.status, 'failed');
  });

  test('GET /runs/:id/events: every event of the run in order, each id its seq, ending with run_end; payloads left out', async () => {
    const url = await server();
    const gate = latch();
    const log = eventLog();
    const handle = renderGraph(gate.promise).run(undefined, { observe: live, onEvent: log.listen });
    await log.waitFor((e) => e.type === 'step_start' && e.node === 'wait');
    const reading = readSse(`${url}/runs/${handle.runId}/events`, {}, (m) => {
      if (m.id === '3') gate.resolve(); // the reader is connected and has the start: let the run go on
      return undefined;
    });
    const messages = await reading;
    await handle;
    assert.deepEqual(
      messages.map((m) => m.event),
      log.events.map(() => 'message'),
    );
    const sent = messages.map((m) => JSON.parse(m.data) as SpanflowEvent);
    assert.deepEqual(
      messages.map((m) => Number(m.id)),
      log.events.map((e) => e.seq),
    );
    assert.deepEqual(
      sent.map((e) => `${e.seq}:${e.type}`),
      log.events.map((e) => `${e.seq}:${e.type}`),
    );
    assert.equal(sent.at(-1)?.type, 'run_end');
    const tokens = sent.filter((e) => e.type === 'token');
    assert.equal(tokens.length, 2);
    for (const token of tokens) assert.equal('token' in token, false, 'token contents stay out while telemetry payloads are off');
  });

  test('with telemetry payloads on, tokens are shown through the same redact hook', async (t) => {
    configureTelemetry({ payloads: true, redact: (value) => String(value).replace('secret', '[redacted]') });
    t.after(() => configureTelemetry({}));
    const url = await server();
    const handle = renderGraph(Promise.resolve()).run(undefined, { observe: live });
    await handle;
    const messages = await readSse(`${url}/runs/${handle.runId}/events`);
    const tokens = messages.map((m) => JSON.parse(m.data) as SpanflowEvent).filter((e) => e.type === 'token');
    assert.deepEqual(
      tokens.map((e) => (e as { token?: unknown }).token),
      ['[redacted] token', 'another'],
    );
  });

  test('reconnecting with Last-Event-ID loses nothing and repeats nothing', async () => {
    const url = await server();
    const gate = latch();
    const log = eventLog();
    const handle = renderGraph(gate.promise).run(undefined, { observe: live, onEvent: log.listen });
    await log.waitFor((e) => e.type === 'step_start' && e.node === 'wait');
    // The first reader leaves after the 4th message; the run goes on meanwhile.
    const first = await readSse(`${url}/runs/${handle.runId}/events`, {}, (m) => m.id === '4');
    gate.resolve();
    await log.waitFor((e) => e.type === 'step_end' && e.node === 'flaky');
    const rest = await readSse(`${url}/runs/${handle.runId}/events`, { 'last-event-id': first.at(-1)?.id ?? '' });
    await handle;
    assert.deepEqual(
      [...first, ...rest].map((m) => Number(m.id)),
      log.events.map((e) => e.seq),
    );
    assert.equal(JSON.parse(rest.at(-1)?.data ?? '{}').type, 'run_end');
    // A client that cannot set headers gives the id in the query.
    const fromQuery = await readSse(`${url}/runs/${handle.runId}/events?lastEventId=${first.at(-1)?.id}`);
    assert.deepEqual(
      fromQuery.map((m) => m.id),
      rest.map((m) => m.id),
    );
    // After the end, a reader resuming from the last id gets nothing more, and the stream ends.
    assert.deepEqual(await readSse(`${url}/runs/${handle.runId}/events`, { 'last-event-id': rest.at(-1)?.id ?? '' }), []);
  });

  test('a quiet stream gets keepalive comments, which readers skip', async () => {
    const url = await server({ live, heartbeatInterval: 5 });
    const gate = latch();
    const log = eventLog();
    const handle = renderGraph(gate.promise).run(undefined, { observe: live, onEvent: log.listen });
    await log.waitFor((e) => e.type === 'step_start' && e.node === 'wait');
    const response = await fetch(`${url}/runs/${handle.runId}/events`);
    let text = '';
    for await (const chunk of response.body ?? []) {
      text += Buffer.from(chunk).toString();
      // The run is held: what comes now, past its first events, is only the heartbeat.
      if (text.includes(': keepalive\n\n')) gate.resolve();
    }
    await handle;
    assert.match(text, /^: keepalive$/m);
    assert.deepEqual(
      parseSse(text).map((m) => Number(m.id)),
      log.events.map((e) => e.seq),
    );
  });

  test('a batch streams its run events and coalesced snapshots, never a message per item', async () => {
    const url = await server();
    const hold = latch();
    const batch = stages<number>('thumbs', { observe: live })
      .stage('cut', { workers: 4, tasks: async (n: number) => (n === 999 ? hold.promise.then(() => n) : n) })
      .start();
    const feeding = batch.feed(range(1000));
    const reading = readSse(`${url}/runs/${batch.runId}/events`, {}, (m) => {
      if (m.event === 'snapshot') hold.resolve();
      return undefined;
    });
    await feeding;
    await batch.join();
    const messages = await reading;
    const events = messages.filter((m) => m.event === 'message').map((m) => JSON.parse(m.data) as SpanflowEvent);
    assert.deepEqual(
      events.map((e) => e.type),
      ['run_queued', 'run_start', 'run_end'],
    );
    const snapshots = messages.filter((m) => m.event === 'snapshot').map((m) => JSON.parse(m.data) as RunView);
    assert.ok(snapshots.length >= 1 && snapshots.length < 1000, `${snapshots.length} snapshots for 1000 items`);
    assert.equal(snapshots.at(-1)?.batch?.stats.completed, 1000, 'the last snapshot, just before run_end, has every item');
    assert.equal(messages.at(-2)?.event, 'snapshot');
    const ids = messages.map((m) => Number(m.id));
    assert.deepEqual(ids, [...ids].sort((a, b) => a - b), 'ids never go back');
  });

  test('a client that never reads gets a resync instead of what it missed, its buffer stays bounded, and the 100,000-item batch completes', async () => {
    const clientBuffer = 64 * 1024;
    const url = new URL(await server({ live, clientBuffer }));
    let overflowed: () => void = () => {};
    const overflow = new Promise<void>((resolve) => {
      overflowed = resolve;
    });
    // The first item's failure carries a large message, so every snapshot (its error summary) is large too, and the
    // never-reading client's socket and queue fill after a few of them, however fast the machine.
    const big = 'x'.repeat(512 * 1024);
    const batch = stages<number>('bulk', { observe: live, collectResults: false, recentErrors: 1 })
      .stage('work', { workers: 4, tasks: (n: number) => (n === 0 ? Promise.reject(new Error(big)) : n) })
      .start();
    // A raw socket that sends its request and never reads a byte of the answer.
    const socket = connect(Number(url.port), url.hostname);
    socket.write(`GET /runs/${batch.runId}/events HTTP/1.1\r\nHost: ${url.host}\r\nAccept: text/event-stream\r\n\r\n`);
    socket.pause();
    const received: Buffer[] = [];
    let maxQueued = 0;
    async function* items() {
      yield* range(50_000);
      // Hold the second half back until the handler has had to drop the client's backlog.
      await overflow;
      yield* range(50_000).map((i) => 50_000 + i);
    }
    const watch = setInterval(() => {
      for (const client of live.clients().filter((c) => c.runId === batch.runId)) {
        maxQueued = Math.max(maxQueued, client.queuedChars);
        if (client.resyncs > 0) overflowed();
      }
    }, 20);
    await batch.feed(items());
    const result = await batch.join();
    clearInterval(watch);
    assert.equal(result.completed + result.failed, 100_000);
    assert.equal(result.failed, 1);
    assert.ok(maxQueued <= clientBuffer, `queued ${maxQueued} characters, bound ${clientBuffer}`);
    // Now read what the server kept for it: a resync, the rest, and the end.
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    socket.resume();
    await new Promise<void>((resolve) => socket.on('end', resolve));
    socket.destroy();
    const text = Buffer.concat(received).toString('utf8');
    const body = text.slice(text.indexOf('\r\n\r\n') + 4).replace(/\r\n[0-9a-f]+\r\n/g, '');
    const messages = parseSse(body.replace(/^[0-9a-f]+\r\n/, ''));
    const resyncs = messages.filter((m) => m.event === 'resync');
    assert.ok(resyncs.length >= 1, 'a resync was sent');
    assert.equal(JSON.parse(messages.at(-1)?.data ?? '{}').type, 'run_end');
  });

  test('POST /runs/:id/cancel works only when allowCancel is on', async () => {
    const closed = await server({ live });
    const open = await server({ live, allowCancel: true });
    const log = eventLog();
    const handle = pipeline('long')
      .step('forever', ({ signal }) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))))
      .run(undefined, { observe: live, onEvent: log.listen });
    await log.waitFor((e) => e.type === 'step_start');
    const refused = await getJson<{ error: string }>(`${closed}/runs/${handle.runId}/cancel`, { method: 'POST' });
    assert.equal(refused.status, 405);
    assert.match(refused.body.error, /allowCancel: true/);
    assert.equal((await getJson<RunView>(`${closed}/runs/${handle.runId}`)).body.status, 'running', 'refused: the run goes on');
    assert.equal((await getJson(`${open}/runs/${handle.runId}/cancel`)).status, 405, 'GET does not cancel');
    const unknown = await getJson<{ error: string }>(`${open}/runs/no-such-run/cancel`, { method: 'POST' });
    assert.equal(unknown.status, 404);
    const accepted = await getJson(`${open}/runs/${handle.runId}/cancel`, { method: 'POST' });
    assert.equal(accepted.status, 202);
    assert.equal((await handle).status, 'cancelled');
    assert.equal((await getJson(`${open}/runs/${handle.runId}/cancel`, { method: 'POST' })).status, 409);
  });

  test('authorize refuses with 401 or 403 before anything is read', async () => {
    const url = await server({
      live,
      authorize: (req) => (req.headers.authorization === undefined ? 401 : req.headers.authorization === 'Bearer good'),
    });
    const handle = pipeline('quick').step('one', () => 1).run(undefined, { observe: live });
    await handle;
    for (const path of ['/', '/runs', `/runs/${handle.runId}`, `/runs/${handle.runId}/events`]) {
      assert.equal((await fetch(`${url}${path}`)).status, 401, path);
      assert.equal((await fetch(`${url}${path}`, { headers: { authorization: 'Bearer bad' } })).status, 403, path);
    }
    assert.equal((await fetch(`${url}/runs/${handle.runId}`, { headers: { authorization: 'Bearer good' } })).status, 200);
  });

  test('bad input: an unknown run, a bad Last-Event-ID, an unknown route, a wrong method, each with what to do', async () => {
    const url = await server();
    const handle = pipeline('quick2').step('one', () => 1).run(undefined, { observe: live });
    await handle;
    const unknown = await getJson<{ error: string }>(`${url}/runs/4b1d0000-0000-4000-8000-000000000000`);
    assert.equal(unknown.status, 404);
    assert.match(unknown.body.error, /no run '4b1d0000-0000-4000-8000-000000000000' in this process: GET \/runs lists the runs/);
    assert.equal((await getJson(`${url}/runs/nope/events`)).status, 404);
    const badId = await getJson<{ error: string }>(`${url}/runs/${handle.runId}/events`, { headers: { 'last-event-id': 'yesterday' } });
    assert.equal(badId.status, 400);
    assert.match(badId.body.error, /Last-Event-ID must be .* a whole number \(got 'yesterday'\); leave it out/);
    const route = await getJson<{ error: string }>(`${url}/nowhere`);
    assert.equal(route.status, 404);
    assert.match(route.body.error, /GET \/runs/);
    const method = await getJson<{ error: string }>(`${url}/runs`, { method: 'DELETE' });
    assert.equal(method.status, 405);
    assert.equal(method.headers.get('allow'), 'GET, HEAD');
    assert.throws(() => createLiveHandler({}), /give it live runs/);
    assert.throws(() => new LiveRuns({ snapshotInterval: 10 }), /snapshotInterval must be a whole number of 100 or more \(got 10\)/);
    assert.throws(() => pipeline('x').step('a', () => 1).run(undefined, { observe: {} as LiveRuns }), /observe must be an observer with an observe\(\) method/);
  });

  test('GET / serves the page with a CSP that allows exactly its inline script and style', async () => {
    const url = await server();
    const response = await fetch(`${url}/`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /text\/html/);
    const csp = response.headers.get('content-security-policy') ?? '';
    assert.match(csp, /default-src 'none'; script-src 'sha256-[A-Za-z0-9+/=]+'; style-src 'sha256-/);
    assert.doesNotMatch(csp, /unsafe-inline/);
    const html = await response.text();
    assert.match(html, /<title>spanflow · live runs<\/title>/);
  });

  test('mounted under a path: basePath strips it, unknown paths go to next(), the bare mount path redirects to its slash', async () => {
    const handler = createLiveHandler({ live, basePath: '/live' });
    let passedOn = 0;
    const started = await serve((req, res) => {
      handler(req, res, () => {
        passedOn++;
        res.writeHead(418).end('the app');
      });
    });
    servers.push(started);
    assert.equal((await fetch(`${started.url}/live/runs`)).status, 200);
    assert.equal((await fetch(`${started.url}/other`)).status, 418);
    assert.equal(passedOn, 1);
    const bare = await fetch(`${started.url}/live`, { redirect: 'manual' });
    assert.equal(bare.status, 308);
    assert.equal(bare.headers.get('location'), '/live/');
  });
});
