// The engine's side of persistence, with a store of our own (no database):
// the `persist` option on pipelines and runs, what a store is told about a
// pipeline, which events it gets, and how a store that falls behind holds
// back a streaming step. This file does not import spanflow/postgres.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type EventType,
  type PipelineDescription,
  pipeline,
  type Recording,
  type RecordingContext,
  type RunRecorder,
  type SpanflowEvent,
  stages,
} from '../sdk/index.ts';

/** A store that keeps what it is given in memory. */
function memoryStore(options: { types?: ReadonlySet<EventType>; ready?: () => Promise<void> | undefined } = {}) {
  const recorded: { pipeline: PipelineDescription; context: RecordingContext; events: SpanflowEvent[] }[] = [];
  const store: RunRecorder = {
    record(description, context): Recording {
      const entry = { pipeline: description, context, events: [] as SpanflowEvent[] };
      recorded.push(entry);
      return { listener: (event) => entry.events.push(event), ...options };
    },
  };
  return { store, recorded };
}

const child = pipeline<{ frames: number }>('farm').step('render', async ({ state }) => {
  state.frames++;
});
function parent(timeout?: number) {
  return pipeline('job', { meta: { team: 'media' } })
    .step('plan', async () => 'planned', { to: 'farm', retry: { attempts: 2, retryIf: () => true }, timeout })
    .sub('farm', child, { state: () => ({ frames: 0 }) });
}

describe('persist: true without spanflow/postgres', () => {
  test('a graph run says which import is missing', () => {
    assert.throws(() => parent().run(undefined, { persist: true }), /persist: true stores runs through spanflow\/postgres: add `import 'spanflow\/postgres'` once, or pass a store/);
  });

  test('a stage batch says the same', () => {
    const p = stages<number>('numbers', { persist: true }).stage('double', { tasks: (n: number) => n * 2 });
    assert.throws(() => p.start(), /add `import 'spanflow\/postgres'`/);
  });

  test('something that is not a store is refused', () => {
    assert.throws(() => parent().run(undefined, { persist: {} as RunRecorder }), /persist must be true or a store with a record\(\) method/);
  });
});

describe('a graph pipeline with a store', () => {
  test('the store is told the pipeline (hash, JSON graph, Mermaid, sub-pipelines) and gets every event of the run tree', async () => {
    const { store, recorded } = memoryStore();
    const p = pipeline('job', { persist: store })
      .step('plan', async () => 'planned', { to: 'farm' })
      .sub('farm', child, { state: () => ({ frames: 0 }) });
    const seen: SpanflowEvent[] = [];
    const result = await p.run(undefined, { onEvent: (e) => seen.push(e) });
    assert.equal(recorded.length, 1);
    const [entry] = recorded;
    assert.equal(entry?.pipeline.name, 'job');
    assert.equal(entry?.pipeline.kind, 'graph');
    assert.match(entry?.pipeline.hash ?? '', /^[0-9a-f]{16}$/);
    assert.equal(entry?.pipeline.mermaid, p.toMermaid());
    assert.deepEqual(
      ((entry?.pipeline.graph.nodes ?? []) as { name: string; kind: string }[]).map((n) => [n.name, n.kind]),
      [
        ['plan', 'step'],
        ['farm', 'sub'],
      ],
    );
    assert.deepEqual(
      entry?.pipeline.subPipelines.map((s) => [s.name, s.kind]),
      [['farm', 'graph']],
    );
    assert.deepEqual(entry?.events, seen, 'the parent run and the farm run, every event');
    assert.ok(seen.some((e) => e.type === 'run_end' && e.parentRunId === result.runId));
    const start = seen.find((e) => e.type === 'run_start');
    assert.ok(start?.type === 'run_start' && start.traceId === undefined, 'no trace id without telemetry');
  });

  test('the hash stays for an equal definition and changes with the definition', async () => {
    const { store, recorded } = memoryStore();
    await parent().run(undefined, { persist: store });
    await parent().run(undefined, { persist: store });
    await parent(1000).run(undefined, { persist: store });
    const [a, b, c] = recorded.map((r) => r.pipeline.hash);
    assert.equal(a, b);
    assert.notEqual(a, c);
  });

  test("a run's persist overrides its pipeline's: false turns it off, another store takes it", async () => {
    const first = memoryStore();
    const second = memoryStore();
    const p = parent();
    const q = pipeline('other', { persist: first.store }).step('only', async () => {});
    await q.run(undefined, { persist: false });
    await q.run(undefined, { persist: second.store });
    await p.run(undefined);
    assert.equal(first.recorded.length, 0);
    assert.equal(second.recorded.length, 1);
  });

  test('a store that falls behind holds back a streaming step until it has room, and nothing is lost', async () => {
    let release: (() => void) | undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let holding = true;
    const { store, recorded } = memoryStore({ ready: () => (holding ? held : undefined) });
    const TOKENS = 5000;
    const handle = pipeline('stream', { persist: store })
      .step('tokens', async function* () {
        for (let i = 0; i < TOKENS; i++) yield i;
      })
      .run(undefined);
    let ended = false;
    void handle.then(() => {
      ended = true;
    });
    for (let turn = 0; turn < 50; turn++) await new Promise((resolve) => setImmediate(resolve));
    const tokensSoFar = recorded[0]?.events.filter((e) => e.type === 'token').length ?? 0;
    assert.equal(ended, false, 'the run waits for the store');
    assert.ok(tokensSoFar < TOKENS, `the producer stopped (${tokensSoFar} tokens so far)`);
    holding = false;
    release?.();
    const result = await handle;
    assert.equal(result.status, 'succeeded');
    assert.equal(recorded[0]?.events.filter((e) => e.type === 'token').length, TOKENS);
  });
});

describe('a stage pipeline with a store', () => {
  test('each batch is recorded once, as a stages pipeline, with only the event types the store asks for', async () => {
    const types: ReadonlySet<EventType> = new Set(['run_queued', 'run_end', 'item_status'] as const);
    const { store, recorded } = memoryStore({ types });
    const p = stages<number>('numbers', { persist: store })
      .stage('double', { workers: 2, tasks: (n: number) => n * 2 })
      .stage('check', { tasks: [(n: number) => n, (n: number) => n + 1] });
    await p.run([1, 2, 3]);
    await p.run([4]);
    assert.equal(recorded.length, 2);
    const [first] = recorded;
    assert.equal(first?.pipeline.kind, 'stages');
    assert.equal(first?.pipeline.name, 'numbers');
    assert.equal(first?.pipeline.hash, recorded[1]?.pipeline.hash);
    assert.match(first?.pipeline.mermaid ?? '', /^flowchart LR\n {2}s0\["double ×2"\]\n {2}s1\["check ×1: check#35;1 → check#35;2"\]\n {2}s0 --> s1\n$/);
    assert.deepEqual([...new Set(first?.events.map((e) => e.type))].toSorted(), ['item_status', 'run_end', 'run_queued']);
  });
});
