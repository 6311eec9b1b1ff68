// Durable runs in one process, on both engines: retry from the failed step,
// recovery on start, the checks resume and retry make (each refusal typed and
// saying what to do), a value a checkpoint cannot store, restored steps in the
// event stream and the trace.

import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { Store } from '../exporters/postgres/index.ts';
import { CheckpointError, pipeline, type RunRecorder, type SpanflowEvent } from '../sdk/index.ts';
import { type DemoContext, type DemoState, demo } from './fixtures/durable-pipeline.ts';
import { finished, reset } from './otel-support.ts';
import { cli } from './cli-support.ts';
import { ENGINES, TEST_DATABASE_URL, tempFolder } from './store-support.ts';

const folder = tempFolder('durable-runs');
after(() => folder.cleanup());
let files = 0;
const callsFile = () => join(folder.path, `calls-${files++}`);
const callsIn = (file: string): string[] => (existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean) : []);
const fresh = (): DemoState => ({ size: 20, log: [] });

/** A run left as a killed process leaves it: failed here, then marked interrupted (as the next open marks a dead process's run). */
async function interrupted(store: Store, context: DemoContext): Promise<string> {
  const result = await demo.run(fresh(), { context, persist: store });
  assert.equal(result.status, 'failed');
  await store.flush();
  await store.db.withSchema(store.schema).updateTable('runs').set({ status: 'interrupted' }).where('id', '=', result.runId).execute();
  return result.runId;
}

for (const engine of ENGINES) {
  describe(`durable runs on ${engine.name}`, { skip: engine.skip }, () => {
    let store: Store;
    after(() => store?.close());

    test('retry: a new linked run that reruns the failed item and what follows, reusing the rest', async () => {
      store = await engine.open('durable_runs');
      const calls = callsFile();
      const failed = await demo.run(fresh(), { context: { calls, fail: 'square:15' }, persist: store });
      assert.equal(failed.status, 'failed');
      assert.equal(failed.failedNode, 'items');
      const before = callsIn(calls).length;

      const events: SpanflowEvent[] = [];
      const retried = await demo.retry(failed.runId, { context: { calls }, store, onEvent: (e) => events.push(e) });
      assert.equal(retried.status, 'succeeded');
      assert.notEqual(retried.runId, failed.runId);
      const again = callsIn(calls).slice(before);
      assert.deepEqual(again, ['items', 'square:15', 'square:16', 'square:17', 'square:18', 'square:19', 'route', 'add', 'double', 'finish']);
      const plain = await demo.run(fresh(), { context: { calls: callsFile() }, durable: false, persist: false });
      assert.deepEqual(retried.state, plain.state);
      assert.deepEqual(retried.outputs.items, plain.outputs.items);

      const restored = events.filter((e) => e.type === 'step_end' && e.restored).map((e) => (e.type === 'step_end' && e.index !== undefined ? `${e.node}:${e.index}` : (e as { node: string }).node));
      assert.deepEqual(restored, ['prepare', ...Array.from({ length: 15 }, (_, i) => `square:${i}`)]);
      assert.deepEqual(retried.metrics.steps.prepare, undefined, 'a restored step makes no attempt: it is left out of the metrics');
      assert.equal(retried.metrics.steps.square?.attempts, 5);

      await store.flush();
      const [old, retry] = [await store.getRun(failed.runId), await store.getRun(retried.runId)];
      assert.equal(old?.retriedBy, retried.runId);
      assert.equal(retry?.retryOf, failed.runId);
      assert.match((await store.listRuns({ pipeline: 'durable-demo' })).runs.map((r) => `${r.retryOf ?? ''}|${r.retriedBy ?? ''}`).join(' '), new RegExp(failed.runId));
      await assert.rejects(demo.retry(failed.runId, { context: { calls }, store }), { name: 'ResumeError', reason: 'already-retried', message: new RegExp(retried.runId) });
    });

    test('resume and retry refuse what they cannot carry on, each saying why and what to do', async () => {
      const calls = callsFile();
      const unknown = crypto.randomUUID();
      await assert.rejects(demo.resume(unknown, { context: { calls }, store }), { name: 'ResumeError', reason: 'unknown-run', message: /no stored run has id .*spanflow runs/ });

      const succeeded = await demo.run(fresh(), { context: { calls }, persist: store });
      await assert.rejects(demo.retry(succeeded.runId, { context: { calls }, store }), { reason: 'wrong-status', message: /ended succeeded/ });
      const notDurable = await demo.run(fresh(), { context: { calls, fail: 'finish' }, persist: store, durable: false });
      await assert.rejects(demo.retry(notDurable.runId, { context: { calls }, store }), { reason: 'not-durable', message: /was not durable .*durable: true/ });

      const other = pipeline<DemoState, DemoContext>('durable-demo-other').step('only', () => 1);
      const failed = await demo.run(fresh(), { context: { calls, fail: 'route' }, persist: store });
      await assert.rejects(other.retry(failed.runId, { context: { calls }, store }), { reason: 'wrong-pipeline', message: /run of pipeline 'durable-demo', not 'durable-demo-other'/ });
      await assert.rejects(demo.resume(failed.runId, { context: { calls }, store }), { reason: 'wrong-status', message: /retry it instead/ });

      const runId = await interrupted(store, { calls, fail: 'route' });
      const changed = pipeline<DemoState, DemoContext>('durable-demo', { durable: true, version: '1' }).step('prepare', () => 1);
      await assert.rejects(changed.resume(runId, { context: { calls }, store }), { reason: 'changed', message: /definition of pipeline 'durable-demo' changed .*force/ });
      const bumped = pipeline<DemoState, DemoContext>('durable-demo', { durable: true, version: '2' }).step('prepare', () => 1);
      await assert.rejects(bumped.resume(runId, { context: { calls }, store }), { reason: 'changed', message: /ran version 1 .* this is version 2/ });

      // force: resumed with the changed definition, whose one step's output is restored.
      const forced = await bumped.resume(await interrupted(store, { calls, fail: 'route' }), { context: { calls }, store, force: true });
      assert.equal(forced.status, 'succeeded');
      assert.deepEqual(forced.outputs, { prepare: { size: 20 } });

      const resumed = await demo.resume(runId, { context: { calls }, store });
      assert.equal(resumed.status, 'succeeded');
      await store.flush();
      const run = await store.getRun(runId);
      assert.deepEqual(
        run?.steps.filter((s) => s.node === 'route').map((s) => [s.attempt, s.status]),
        [
          [1, 'failed'],
          [2, 'succeeded'],
        ],
        'a resumed step numbers its attempt after the stored ones',
      );
      await assert.rejects(demo.resume(runId, { context: { calls }, store }), { reason: 'wrong-status' });
    });

    test('spanflow resume <run> --module carries an interrupted run on; a refusal is one clear line', async () => {
      const calls = callsFile();
      const runId = await interrupted(store, { calls, fail: 'finish' });
      const where = engine.kind === 'postgres' ? ['--database-url', TEST_DATABASE_URL] : ['--data-dir', dirname(store.location)];
      const args = ['resume', runId.slice(0, 8), '--module', 'test/fixtures/durable-pipeline.ts', ...where, '--schema', store.schema];
      // The module's context export reads it (the CLI runs in this process).
      process.env.DURABLE_DEMO_CALLS = calls;
      const resumed = await cli(args);
      assert.equal(resumed.code, 0, resumed.stderr);
      assert.match(resumed.stdout, new RegExp(`^run ${runId} resumed: succeeded in .*; 4 steps \\(and map items\\) restored from checkpoints\n$`));
      assert.equal(callsIn(calls).filter((c) => c === 'finish').length, 2, 'the failed step ran again; nothing else did');
      assert.equal(callsIn(calls).filter((c) => c === 'prepare').length, 1);

      const shown = await cli(['show', runId.slice(0, 8), ...where, '--schema', store.schema]);
      assert.match(shown.stdout, /\ndurable +resumed once after its process died/);

      const failed = await demo.run(fresh(), { context: { calls, fail: 'finish' }, persist: store });
      const retried = await demo.retry(failed.runId, { context: { calls }, store });
      await store.flush();
      const listed = await cli(['runs', '--pipeline', 'durable-demo', ...where, '--schema', store.schema]);
      assert.match(listed.stdout, new RegExp(`${retried.runId.slice(0, 8)} .*retry of ${failed.runId.slice(0, 8)}`));
      assert.match(listed.stdout, new RegExp(`${failed.runId.slice(0, 8)} .*retried by ${retried.runId.slice(0, 8)}`));
      assert.match(listed.stdout, new RegExp(`${runId.slice(0, 8)} .*resumed once`));
      const shownRetry = await cli(['show', retried.runId, ...where, '--schema', store.schema]);
      assert.match(shownRetry.stdout, new RegExp(`\nretry of +${failed.runId}  \\(spanflow show ${failed.runId.slice(0, 8)}\\)`));

      const again = await cli(args);
      assert.equal(again.code, 1);
      assert.match(again.stderr, /^spanflow: run .* cannot be resumed: it ended succeeded; only an interrupted run resumes\n$/);
      const wrongModule = await cli(['retry', runId, '--module', 'examples/video-render/pipeline.ts', ...where, '--schema', store.schema]);
      assert.equal(wrongModule.code, 1);
      assert.match(wrongModule.stderr, /exports no graph pipeline named 'durable-demo', the pipeline of run .*: it exports 'render-farm' \(export renderFarm\), 'rush-farm' \(export rushFarm\), 'video-render' \(export videoRender\)/);
    });

    test('recover() resumes the interrupted durable runs of the pipelines it is given, on this host', async () => {
      const calls = callsFile();
      const runId = await interrupted(store, { calls, fail: 'finish' });
      const untouched = await interrupted(store, { calls, fail: 'finish' });
      await store.db.withSchema(store.schema).updateTable('runs').set({ host: 'another-host' }).where('id', '=', untouched).execute();
      assert.deepEqual(await store.recover([]), []);
      const results = await store.recover([{ pipeline: demo, context: { calls } }]);
      assert.deepEqual(
        results.map((r) => [r.runId, r.status]),
        [[runId, 'succeeded']],
      );
      assert.deepEqual(await store.interruptedRuns(['durable-demo']), [], "another host's run is not this host's to recover");
    });

    test('durable runs started faster than the store writes wait for it: no checkpoint is dropped', async () => {
      // A small write buffer, and runs of no-op steps back to back on four loops: the engine makes rows far
      // faster than any database writes them, so without waiting the buffer overflows and rows are dropped.
      const small = await engine.open('durable_paced', { maxBuffered: 400 });
      try {
        let chain = pipeline<{ steps: number }>('paced-chain', { durable: true, persist: small });
        for (let i = 0; i < 10; i++) chain = chain.step(`step-${i}`, ({ state }) => ({ step: i, at: ++state.steps }), i < 9 ? { to: `step-${i + 1}` } : {});
        const runIds: string[] = [];
        let checkpoints = 0;
        const loop = async () => {
          for (let r = 0; r < 40; r++) {
            const result = await chain.run({ steps: 0 }, { onEvent: (e) => e.type === 'checkpoint' && checkpoints++ });
            assert.equal(result.status, 'succeeded');
            runIds.push(result.runId);
          }
        };
        await Promise.all([loop(), loop(), loop(), loop()]);
        await small.flush();
        assert.equal(small.writes.dropped, 0, 'no row was dropped');
        let stored = 0;
        for (const runId of runIds) stored += (await small.loadCheckpoints(runId))?.checkpoints.length ?? 0;
        assert.equal(stored, checkpoints, 'every checkpoint of the 160 runs is stored');
        assert.equal(checkpoints, 160 * 11, 'each run stored its initial state and its 10 steps');
      } finally {
        await small.close();
      }
    });

    test('one run of 2,000 steps waits for the store between steps: none of its rows is dropped', async () => {
      const small = await engine.open('durable_long', { maxBuffered: 400 });
      try {
        let chain = pipeline<{ steps: number }>('long-chain', { durable: true, persist: small });
        for (let i = 0; i < 2000; i++) chain = chain.step(`step-${i}`, ({ state }) => ++state.steps, i < 1999 ? { to: `step-${i + 1}` } : {});
        let events = 0;
        const result = await chain.run({ steps: 0 }, { onEvent: () => events++ });
        assert.equal(result.status, 'succeeded');
        await small.flush();
        assert.equal(small.writes.dropped, 0, 'no row was dropped');
        assert.equal(small.writes.written, events, 'every event is written');
        assert.equal((await small.loadCheckpoints(result.runId))?.checkpoints.length, 2001);
      } finally {
        await small.close();
      }
    });
  });
}

describe('durable: true', () => {
  test('a value a checkpoint cannot store fails its step at once, naming where it is, not retried', async () => {
    const store = await ENGINES[1]?.open('spanflow');
    assert.ok(store);
    try {
      let calls = 0;
      const result = await pipeline<{ n: number }>('unstorable', { durable: true })
        .step(
          'make',
          () => {
            calls++;
            return { when: { at: new Map([[1, 2]]) } };
          },
          { retry: 3 },
        )
        .run({ n: 1 }, { persist: store });
      assert.equal(result.status, 'failed');
      assert.equal(calls, 1, 'a checkpoint error is not retried');
      const cause = (result.error as Error).cause;
      assert.ok(cause instanceof CheckpointError);
      assert.match(cause.message, /step 'make' of a durable run: its output cannot be stored as a checkpoint: when\.at is a Map/);

      const badState = await pipeline<{ big: bigint }>('unstorable-state', { durable: true })
        .step('never', () => 1)
        .run({ big: 1n }, { persist: store });
      assert.equal(badState.status, 'failed');
      assert.match(badState.error?.message ?? '', /initial state cannot be stored .* big is a bigint/);
    } finally {
      await store.close();
    }
  });

  test('needs a store that keeps checkpoints, and cannot go with persist: false', () => {
    const recorder: RunRecorder = { record: () => ({ listener: () => {} }) };
    const p = pipeline('needs-store', { durable: true }).step('a', () => 1);
    assert.throws(() => p.run(undefined, { persist: recorder }), { name: 'TypeError', message: /durable runs need a store that keeps checkpoints/ });
    assert.throws(() => p.run(undefined, { persist: false }), { name: 'TypeError', message: /cannot go with persist: false/ });
  });

  test("a retried run's span links to the failed run's trace", async () => {
    const store = await ENGINES[1]?.open('spanflow');
    assert.ok(store);
    try {
      await reset();
      const calls = callsFile();
      const failed = await demo.run(fresh(), { context: { calls, fail: 'finish' }, persist: store });
      const retried = await demo.retry(failed.runId, { context: { calls }, store });
      const spans = await finished();
      const roots = spans.filter((s) => s.name === 'pipeline durable-demo');
      const [first, second] = roots;
      assert.ok(first && second);
      assert.equal(second.attributes['spanflow.run.id'] ?? second.attributes[Object.keys(second.attributes).find((k) => k.endsWith('run.id')) ?? ''], retried.runId);
      assert.deepEqual(
        second.links.map((l) => [l.context.traceId, l.attributes?.['spanflow.continues']]),
        [[first.spanContext().traceId, 'retry']],
      );
      assert.equal(spans.filter((s) => s.name === 'step prepare').length, 1, 'a restored step has no span');
    } finally {
      await store.close();
    }
  });
});
