// The showcase (three video render scenarios, each with a render-farm
// sub-pipeline) persisted, on PostgreSQL and on the embedded database: every run, step
// attempt and event the engine emitted is a row, and reads back as it was.
// A tracer is registered, so runs carry their trace ids and attempts their span ids.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { asEvent, type RunDetail, type Store } from '../exporters/postgres/index.ts';
import type { ScenarioRun } from '../examples/video-render/pipeline.ts';
import type { SpanflowEvent } from '../sdk/index.ts';
import { finished } from './otel-support.ts';
import { ENGINES, persistShowcase, plain } from './store-support.ts';

/** What the step_attempts table should hold, from the events: the last status each attempt reached. */
function expectedAttempts(events: readonly SpanflowEvent[]): Map<string, string> {
  const attempts = new Map<string, string>();
  for (const e of events) {
    if (e.type === 'step_start') attempts.set(`${e.node}|${e.index ?? ''}|${e.attempt}`, 'running');
    if (e.type === 'step_retry') attempts.set(`${e.node}|${e.index ?? ''}|${e.attempt}`, 'retrying');
    if (e.type === 'step_end') attempts.set(`${e.node}|${e.index ?? ''}|${e.attempt}`, e.status);
  }
  return attempts;
}

for (const engine of ENGINES) {
  describe(`the showcase persisted on ${engine.name}`, { skip: engine.skip }, () => {
    let store: Store;
    let runs: readonly ScenarioRun[];
    let events: ReadonlyMap<string, SpanflowEvent[]>;
    const stored = new Map<string, RunDetail>();

    before(async () => {
      store = await engine.open('store_showcase');
      ({ runs, events } = await persistShowcase(store));
      for (const runId of events.keys()) {
        const detail = await store.getRun(runId);
        assert.ok(detail, `run ${runId} is stored`);
        stored.set(runId, detail);
      }
    });
    after(() => store.close());

    test('every run of the tree is a row: three scenarios, each with its render-farm child', async () => {
      assert.equal(events.size, 6);
      const page = await store.listRuns({});
      assert.deepEqual(
        page.runs.map((r) => r.id).toSorted(),
        runs.map((r) => r.result.runId).toSorted(),
        'the listing shows the three top-level runs',
      );
      for (const { scenario, result } of runs) {
        const run = stored.get(result.runId);
        assert.ok(run);
        assert.equal(run.status, result.status, scenario.name);
        assert.equal(run.pipeline, 'video-render');
        assert.equal(run.kind, 'graph');
        assert.equal(run.parentRunId, null);
        assert.equal(run.durationMs, result.durationMs);
        assert.equal(run.failedNode, result.failedNode ?? null);
        assert.equal(run.error?.type, result.error?.name);
        assert.deepEqual(run.runMeta, JSON.parse(JSON.stringify(result.meta)));
        assert.deepEqual(run.metrics, JSON.parse(JSON.stringify(result.metrics)));
        assert.deepEqual(run.pipelineMeta, { version: '2.4.0', team: 'media-platform', region: 'eu-west-1' });
        assert.equal(run.eventsDropped, 0);
        assert.equal(run.children.length, 1);
        const child = run.children[0];
        assert.equal(child?.pipeline, scenario.name === 'deadline-crunch' ? 'rush-farm' : 'render-farm');
        assert.equal(child?.parentRunId, result.runId);
        assert.equal(child?.traceId, run.traceId, 'a sub-pipeline run is in its parent trace');
      }
    });

    test('each run row carries the trace id of its run span', async () => {
      const spans = await finished();
      for (const { result } of runs) {
        const span = spans.find((s) => s.name === 'pipeline video-render' && s.attributes['cicd.pipeline.run.id'] === result.runId);
        assert.ok(span, `the run span of ${result.runId}`);
        assert.equal(stored.get(result.runId)?.traceId, span.spanContext().traceId);
      }
    });

    test('every step attempt is a row with the status its last event gave it, and started attempts have their span id', () => {
      for (const [runId, list] of events) {
        const run = stored.get(runId);
        assert.ok(run);
        const actual = new Map(run.steps.map((s) => [`${s.node}|${s.index ?? ''}|${s.attempt}`, s.status as string]));
        assert.deepEqual(actual, expectedAttempts(list), `${run.pipeline} ${runId}`);
        for (const step of run.steps) {
          if (step.attempt > 0) assert.match(step.spanId ?? '', /^[0-9a-f]{16}$/, `${step.node} attempt ${step.attempt} has a span id`);
        }
      }
      const film = runs.find((r) => r.scenario.name === 'feature-film');
      const retried = stored.get(film?.result.runId ?? '')?.steps.filter((s) => s.status === 'retrying') ?? [];
      assert.equal(retried.length, film?.retries);
      for (const step of retried) assert.equal(step.error?.type, 'TransientError');
    });

    test('every event is a row, in order, and reads back as the event the engine emitted', () => {
      for (const [runId, list] of events) {
        const run = stored.get(runId);
        assert.ok(run);
        assert.deepEqual(
          run.events.map((e) => e.seq),
          list.map((e) => e.seq),
        );
        const back = run.events.map((e) => asEvent(e, run));
        assert.deepEqual(back.map(plain), list.map(plain));
        // Times are kept to the microsecond.
        for (const [i, e] of back.entries()) assert.ok(Math.abs(e.time - (list[i]?.time ?? 0)) < 0.0015, `event ${e.seq} time`);
      }
    });

    test("the preview step's tokens come back with their offsets, ready for replay", async () => {
      const promo = runs.find((r) => r.scenario.name === 'quick-promo');
      assert.ok(promo);
      const streamed = await store.stepTokens(promo.result.runId, { node: 'preview' });
      assert.equal(streamed.length, 1);
      const tokens = (events.get(promo.result.runId) ?? []).filter((e) => e.type === 'token');
      assert.deepEqual(
        streamed[0]?.tokens.map((t) => t.token),
        tokens.map((t) => t.token),
      );
      const offsets = streamed[0]?.tokens.map((t) => t.offsetMs) ?? [];
      assert.ok(offsets.every((o, i) => o >= 0 && (i === 0 || o >= (offsets[i - 1] as number))), 'offsets grow from the attempt start');
    });

    test('the pipeline definitions are stored with their Mermaid graph, one row per definition', async () => {
      const run = stored.get(runs[0]?.result.runId ?? '');
      assert.ok(run?.pipelineHash);
      const parent = await store.pipeline('video-render');
      assert.equal(parent?.hash, run.pipelineHash);
      assert.match(parent?.mermaid ?? '', /^flowchart TD/);
      const child = await store.pipeline('render-farm');
      assert.equal(child?.hash, run.children[0]?.pipelineHash);
      assert.equal(new Set(runs.map((r) => stored.get(r.result.runId)?.pipelineHash)).size, 1, 'the three runs share one definition');
    });
  });
}
