// Telemetry overhead. Two pipelines: a stage pipeline (3 stages × 10 workers of
// no-op async tasks, 50,000 items, results not collected) and a graph pipeline
// (a 10-step linear pipeline of no-op steps, run many times). Each runs
//   off      no OpenTelemetry SDK registered (the engine attaches nothing);
//   on       the full SDK: TracerProvider + BatchSpanProcessor over a span exporter
//            that discards, MeterProvider + PeriodicExportingMetricReader over a
//            metric exporter that discards, AsyncLocalStorageContextManager;
//   sampled  the same SDK with ParentBasedSampler({ root: TraceIdRatioBasedSampler(0.01) });
// and the floor: a plain loop creating, directly through the same SDK's tracer,
// the spans spanflow creates (same names, parents, attributes, events, links),
// and the metric points spanflow records (see the floor's comment below for what it does and
// why), with the SDK as in `on` (floor) and as in `sampled` (floor_sampled).
// OpenTelemetry's globals can be registered once per process, so every variant
// runs in a child process of its own and reports one JSON line. A `check` child
// first asserts, with an in-memory exporter and a reader, that the floor makes the
// same spans and metric points as spanflow.
//
// spanflow's cost per span = (time per unit on − time per unit off) / spans per unit;
// the floor's = floor time per unit / spans per unit (a unit: a stage item, a graph run).
// Goals: spanflow's cost per span ≤ 1.5× the floor's; sampled throughput ≥ 0.5× off.
// At 1% sampling, what spanflow adds per unit over off is also set against what the
// floor's telemetry costs the SDK per unit then (sampled_cost_ratio: no goal; it tells the
// engine's share from the SDK's, which does not shrink as the engine gets faster).
// The five children run in rounds, in turns (the order reversed every other round), and
// every ratio is taken per round, then the median: first on the machine as it is, then with
// a process keeping one core busy beside them (the loaded_ figures).
//
//   node bench/telemetry.ts                                the whole bench
//   node bench/telemetry.ts --variant off|on|sampled|floor|floor_sampled   one variant (what the bench spawns; profile these)
//   node bench/telemetry.ts --variant check                the floor-vs-spanflow span and metric check

import { execFile, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type Attributes, context, type Histogram, type Link, type Meter, metrics, ROOT_CONTEXT, type Span, type Tracer, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import type { ExportResult } from '@opentelemetry/core';
import { DataPointType, MeterProvider, MetricReader, PeriodicExportingMetricReader, type PushMetricExporter, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import {
  BatchSpanProcessor,
  InMemorySpanExporter,
  ParentBasedSampler,
  type ReadableSpan,
  SimpleSpanProcessor,
  type SpanExporter,
  TraceIdRatioBasedSampler,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import { ATTR, METRICS, metricOptions, pipeline, stages } from '../sdk/index.ts';
import { fmt, fmtSpread, interleaved, printJson, printTable, ratios, round, type Spread, spread, time } from './report.ts';

const STAGES = 3;
const WORKERS = 10;
const CAPACITY = 40;
const ITEMS = 50_000;
const STAGE_WARMUP = 2;
const STEPS = 10;
const GRAPH_RUNS = 4_000;
/**
 * Graph runs before the samples, in every variant alike: enough for the steady state the ratios
 * are about (a fresh process's first runs are cold_us_per_run's, in bench/graph.ts). The 1%-sampled
 * path takes longest: 4,000-run rounds of it in a fresh process took 54, 20, 27, 24, 14, 12, 12, 11 µs
 * a run, so 4,000 runs of warm-up measured it half warmed.
 */
const GRAPH_WARMUP = 24_000;
const SAMPLES = 3;
const SAMPLE_RATIO = 0.01;
const METRIC_INTERVAL_MS = 1_000;
const SPAN_COST_GOAL = 1.5;
const SAMPLED_GOAL = 0.5;
/** Spans per stage item: the item span and one task span per stage. */
const SPANS_PER_ITEM = 1 + STAGES;
/** Spans per graph run: the run span and one step span per step. */
const SPANS_PER_RUN = 1 + STEPS;

const VARIANTS = ['off', 'on', 'sampled', 'floor', 'floor_sampled'] as const;
type Variant = (typeof VARIANTS)[number];

// ---- the pipelines ----------------------------------------------------------------

const STAGE_PIPELINE = `noop-${STAGES}x${WORKERS}`;
const GRAPH_PIPELINE = `linear-${STEPS}`;
const stageNames = Array.from({ length: STAGES }, (_, s) => `s${s + 1}`);
const stepNames = Array.from({ length: STEPS }, (_, s) => `s${s}`);

const noopTask = async (value: number): Promise<number> => value;
/** A task's name in spans: the function's name. */
const TASK = noopTask.name;

function stagePipeline() {
  let p = stages<number>(STAGE_PIPELINE, { collectResults: false });
  for (const name of stageNames) p = p.stage(name, { workers: WORKERS, capacity: CAPACITY, tasks: noopTask });
  return p;
}

function graphPipeline() {
  let p = pipeline(GRAPH_PIPELINE);
  stepNames.forEach((name, i) => {
    const next = stepNames[i + 1];
    p = p.step(name, async () => {}, next ? { to: next } : {});
  });
  return p.validate();
}

// ---- the floor: the same telemetry, straight through the SDK ----------------------------
//
// The floor is what the SDK alone costs to make the telemetry spanflow documents, written by
// hand and tuned; a ratio against anything less would flatter nobody but be unfair to us,
// and against anything more would flatter us. So it does the same work spanflow's telemetry
// does, and no more:
// - the same spans (names, parents, attributes, events, links), with attributes given where
//   spanflow gives them: at the start for a run span (a sampler sees them), set after the
//   start otherwise (the SDK checks them once rather than twice; a step or task span follows
//   its parent's sampling, an item's root span is sampled on its name and links);
// - the same metric points: a step-duration histogram point per attempt of a run or item the
//   sampler kept (TelemetryOptions.durations 'sampled', the default), a run-duration point per
//   run or batch, and the runs, step attempts, items and active-runs counts. Counts are tallied
//   in plain numbers per attribute set known up front and handed to the SDK when the reader
//   collects (observable instruments); histogram points cannot be handed over that way, so each
//   is a record() with an attribute object made once. Gauges and the drop counters are left
//   out: they cost nothing per unit (read at collection, or one add at start);
// - a step's or task's code runs with its span current (context.with), as spanflow documents
//   ("user code inside a step sees the step span as the active context"), and a graph run's
//   steps run in the run's context, sampled or not (so a step's own spans follow the run's
//   sampling instead of starting traces of their own);
// - durations read from one clock per step or task (the end of one is the start of the next).
// The `check` child asserts both the spans and the metric points are the same as spanflow's.

/** The floor's tracer and meter (spanflow's are 'spanflow': in the check both run in one process). */
const FLOOR_SCOPE = 'spanflow-bench-floor';

/** Called with its span current, as spanflow calls a step's or task's function (a no-op, as theirs are). */
const floorWork = (): void => {};

/** A count per attribute set known up front, handed to the SDK at collection. */
interface Tally {
  readonly attributes: Attributes;
  value: number;
}
const tally = (attributes: Attributes): Tally => ({ attributes, value: 0 });

/** The floor's metric points, made from spanflow's catalogue (same names, units, buckets). */
class FloorMetrics {
  readonly stepDuration: Histogram;
  readonly runDuration: Histogram;
  readonly runs: Tally[] = [];
  readonly attempts: Tally[] = [];
  readonly items: Tally[] = [];
  readonly active: Tally[] = [];

  constructor(meter: Meter) {
    this.stepDuration = meter.createHistogram(METRICS.stepDuration.name, metricOptions(METRICS.stepDuration));
    this.runDuration = meter.createHistogram(METRICS.runDuration.name, metricOptions(METRICS.runDuration));
    const runs = meter.createObservableCounter(METRICS.runs.name, metricOptions(METRICS.runs));
    const attempts = meter.createObservableCounter(METRICS.stepAttempts.name, metricOptions(METRICS.stepAttempts));
    const items = meter.createObservableCounter(METRICS.items.name, metricOptions(METRICS.items));
    const active = meter.createObservableUpDownCounter(METRICS.activeRuns.name, metricOptions(METRICS.activeRuns));
    meter.addBatchObservableCallback(
      (observer) => {
        for (const t of this.runs) observer.observe(runs, t.value, t.attributes);
        for (const t of this.attempts) observer.observe(attempts, t.value, t.attributes);
        for (const t of this.items) observer.observe(items, t.value, t.attributes);
        for (const t of this.active) observer.observe(active, t.value, t.attributes);
      },
      [runs, attempts, items, active],
    );
  }

  /** The tally of this attribute set (one per set: a callback observes each set once), kept for collection. */
  tally(list: Tally[], attributes: Attributes): Tally {
    const key = JSON.stringify(attributes);
    const found = list.find((t) => JSON.stringify(t.attributes) === key);
    if (found) return found;
    const made = tally(attributes);
    list.push(made);
    return made;
  }
}

/** One stage batch: the batch span, and per item its root span (linked to the batch) with a task span per stage (none for an item the sampler left out). */
async function floorStage(tracer: Tracer, m: FloorMetrics, items: number, runId: string): Promise<void> {
  const batchStarted = performance.now();
  const pipelineAttributes = { [ATTR.PIPELINE_NAME]: STAGE_PIPELINE };
  const active = m.tally(m.active, pipelineAttributes);
  active.value++;
  const batch = tracer.startSpan(`pipeline ${STAGE_PIPELINE}`, { attributes: { [ATTR.PIPELINE_NAME]: STAGE_PIPELINE, [ATTR.RUN_ID]: runId } }, ROOT_CONTEXT);
  const links: Link[] = [{ context: batch.spanContext() }];
  const last = stageNames.at(-1) as string;
  // What is known up front is made once: the floor does only what a span or a metric point needs.
  const taskNames = stageNames.map((stage) => `${stage}/${TASK}`);
  const taskSpanNames = taskNames.map((name) => `task ${name}`);
  const itemSpanName = `item ${STAGE_PIPELINE}`;
  const durationAttributes = taskNames.map((task) => ({ [ATTR.PIPELINE_NAME]: STAGE_PIPELINE, [ATTR.TASK_NAME]: task }));
  const attempts = taskNames.map((task) => m.tally(m.attempts, { [ATTR.PIPELINE_NAME]: STAGE_PIPELINE, [ATTR.TASK_NAME]: task, [ATTR.NODE_KIND]: 'task', [ATTR.TASK_RESULT]: 'success' }));
  const completed = m.tally(m.items, { [ATTR.PIPELINE_NAME]: STAGE_PIPELINE, [ATTR.STAGE]: last, [ATTR.ITEM_STATUS]: 'completed' });
  for (let i = 0; i < items; i++) {
    const id = String(i);
    const item = tracer.startSpan(itemSpanName, { root: true, links });
    // An item the sampler left out has nothing more to record but its counts (its task spans and durations are left out with it).
    if (item.isRecording()) {
      item.setAttributes({ [ATTR.PIPELINE_NAME]: STAGE_PIPELINE, [ATTR.RUN_ID]: runId, [ATTR.ITEM_ID]: id });
      const itemContext = trace.setSpan(ROOT_CONTEXT, item);
      let clock = performance.now();
      for (let s = 0; s < STAGES; s++) {
        const stage = stageNames[s] as string;
        item.addEvent('spanflow.queued', { [ATTR.STAGE]: stage, [ATTR.ATTEMPT]: 1 });
        item.addEvent('spanflow.in_progress', { [ATTR.STAGE]: stage, [ATTR.ATTEMPT]: 1 });
        const task = tracer.startSpan(taskSpanNames[s] as string, undefined, itemContext);
        task.setAttributes({
          [ATTR.PIPELINE_NAME]: STAGE_PIPELINE,
          [ATTR.TASK_NAME]: taskNames[s] as string,
          [ATTR.NODE_KIND]: 'task',
          [ATTR.STAGE]: stage,
          [ATTR.WORKER]: i % WORKERS,
          [ATTR.ATTEMPT]: 1,
          [ATTR.ITEM_ID]: id,
        });
        context.with(trace.setSpan(itemContext, task), floorWork);
        const now = performance.now();
        task.setAttribute(ATTR.TASK_RESULT, 'success');
        task.end();
        (attempts[s] as Tally).value++;
        if (now > clock) m.stepDuration.record((now - clock) / 1000, durationAttributes[s]);
        clock = now;
      }
      item.setAttributes({ [ATTR.ITEM_STATUS]: 'completed', [ATTR.STAGE]: last });
    } else for (let s = 0; s < STAGES; s++) (attempts[s] as Tally).value++;
    completed.value++;
    item.end();
    // The batch processor exports on a microtask: a loop that never yields would make it drop spans.
    if ((i & 63) === 63) await null;
  }
  batch.setAttribute(ATTR.RESULT, 'success');
  batch.setAttributes({ 'spanflow.items.completed': items, 'spanflow.items.failed': 0, 'spanflow.items.skipped': 0 });
  batch.end();
  const runAttributes = { [ATTR.PIPELINE_NAME]: STAGE_PIPELINE, [ATTR.RESULT]: 'success' };
  m.runDuration.record((performance.now() - batchStarted) / 1000, runAttributes);
  m.tally(m.runs, runAttributes).value++;
  active.value--;
}

/** Graph runs: the run span (a `spanflow.queued` event per step) and a step span per step (none under a run the sampler left out). */
async function floorGraph(tracer: Tracer, m: FloorMetrics, runs: number, runIds: readonly string[]): Promise<void> {
  const stepSpanNames = stepNames.map((node) => `step ${node}`);
  const runSpanName = `pipeline ${GRAPH_PIPELINE}`;
  const durationAttributes = stepNames.map((node) => ({ [ATTR.PIPELINE_NAME]: GRAPH_PIPELINE, [ATTR.TASK_NAME]: node }));
  const attempts = stepNames.map((node) => m.tally(m.attempts, { [ATTR.PIPELINE_NAME]: GRAPH_PIPELINE, [ATTR.TASK_NAME]: node, [ATTR.NODE_KIND]: 'step', [ATTR.TASK_RESULT]: 'success' }));
  const runAttributes = { [ATTR.PIPELINE_NAME]: GRAPH_PIPELINE, [ATTR.RESULT]: 'success' };
  const ran = m.tally(m.runs, runAttributes);
  const active = m.tally(m.active, { [ATTR.PIPELINE_NAME]: GRAPH_PIPELINE });
  for (let r = 0; r < runs; r++) {
    const started = performance.now();
    active.value++;
    const runId = runIds[r % runIds.length] as string;
    const run = tracer.startSpan(runSpanName, { attributes: { [ATTR.PIPELINE_NAME]: GRAPH_PIPELINE, [ATTR.RUN_ID]: runId } }, ROOT_CONTEXT);
    const runContext = trace.setSpan(ROOT_CONTEXT, run);
    // The run's steps run in its context, sampled or not.
    context.with(runContext, () => {
      if (!run.isRecording()) {
        for (let s = 0; s < STEPS; s++) (attempts[s] as Tally).value++;
        return;
      }
      let clock = started;
      for (let s = 0; s < STEPS; s++) {
        const node = stepNames[s] as string;
        run.addEvent('spanflow.queued', { [ATTR.TASK_NAME]: node });
        const step: Span = tracer.startSpan(stepSpanNames[s] as string, undefined, runContext);
        step.setAttributes({
          [ATTR.PIPELINE_NAME]: GRAPH_PIPELINE,
          [ATTR.RUN_ID]: runId,
          [ATTR.TASK_NAME]: node,
          [ATTR.TASK_RUN_ID]: `${runId}/${node}/1`,
          [ATTR.NODE_KIND]: 'step',
          [ATTR.ATTEMPT]: 1,
        });
        context.with(trace.setSpan(runContext, step), floorWork);
        const now = performance.now();
        step.setAttribute(ATTR.TASK_RESULT, 'success');
        step.end();
        (attempts[s] as Tally).value++;
        if (now > clock) m.stepDuration.record((now - clock) / 1000, durationAttributes[s]);
        clock = now;
      }
    });
    run.setAttribute(ATTR.RESULT, 'success');
    run.end();
    m.runDuration.record((performance.now() - started) / 1000, runAttributes);
    ran.value++;
    active.value--;
    if ((r & 7) === 7) await null;
  }
}

// ---- the SDK, with exporters that discard -------------------------------------------

/** A span exporter that drops what it is given, counting it. */
class DiscardingSpanExporter implements SpanExporter {
  exported = 0;
  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    this.exported += spans.length;
    resultCallback({ code: 0 });
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/** A metric exporter that drops what it is given, counting the exports. */
class DiscardingMetricExporter implements PushMetricExporter {
  exports = 0;
  export(_metrics: ResourceMetrics, resultCallback: (result: ExportResult) => void): void {
    this.exports++;
    resultCallback({ code: 0 });
  }
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

interface Sdk {
  readonly tracerProvider: TracerProvider;
  readonly meterProvider: MeterProvider;
  readonly spans: DiscardingSpanExporter;
  readonly metricExports: DiscardingMetricExporter;
}

function registerSdk(sampled: boolean): Sdk {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  const spans = new DiscardingSpanExporter();
  const tracerProvider = new TracerProvider({
    spanProcessors: [new BatchSpanProcessor({ exporter: spans })],
    ...(sampled ? { sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(SAMPLE_RATIO) }) } : {}),
  });
  const metricExports = new DiscardingMetricExporter();
  const meterProvider = new MeterProvider({
    readers: [new PeriodicExportingMetricReader({ exporter: metricExports, exportIntervalMillis: METRIC_INTERVAL_MS, exportTimeoutMillis: METRIC_INTERVAL_MS })],
  });
  if (!trace.setGlobalTracerProvider(tracerProvider)) throw new Error('a tracer provider was already registered');
  if (!metrics.setGlobalMeterProvider(meterProvider)) throw new Error('a meter provider was already registered');
  return { tracerProvider, meterProvider, spans, metricExports };
}

// ---- child mode: one variant ----------------------------------------------------------

interface Measured {
  /** Units (stage items, graph runs) per second, median sample. */
  readonly unitsPerSecond: number;
  readonly msPerSample: number;
  readonly usPerUnit: number;
  /** Spans the exporter received during the measurement (warm-up included), and spans the variant should have made. */
  readonly exported: number;
  readonly expected: number;
}

interface ChildReport {
  readonly variant: Variant;
  readonly stage: Measured;
  readonly graph: Measured;
  /** Metric exports the periodic reader made during the whole child. */
  readonly metricExports: number;
  readonly seconds: number;
}

async function measureVariant(variant: Variant): Promise<ChildReport> {
  const started = performance.now();
  const sdk = variant === 'off' ? undefined : registerSdk(variant === 'sampled' || variant === 'floor_sampled');
  const floor = variant === 'floor' || variant === 'floor_sampled';
  const tracer = trace.getTracer(FLOOR_SCOPE);
  const floorMetrics = floor ? new FloorMetrics(metrics.getMeter(FLOOR_SCOPE)) : undefined;
  const items = Array.from({ length: ITEMS }, (_, i) => i);
  const runIds = Array.from({ length: 1_000 }, () => crypto.randomUUID());

  const exportedSince = async (before: number): Promise<number> => {
    if (!sdk) return 0;
    await sdk.tracerProvider.forceFlush();
    return sdk.spans.exported - before;
  };

  // Stage pipeline.
  let before = sdk?.spans.exported ?? 0;
  const stageRuns = STAGE_WARMUP + SAMPLES;
  let stage: Awaited<ReturnType<typeof time>>;
  if (floor) {
    stage = await time(() => floorStage(tracer, floorMetrics as FloorMetrics, ITEMS, crypto.randomUUID()), { iterations: 1, warmup: STAGE_WARMUP, samples: SAMPLES, units: ITEMS });
  } else {
    const p = stagePipeline();
    stage = await time(
      async () => {
        const result = await p.run(items);
        if (result.completed !== ITEMS) throw new Error(`stage run ended ${result.status} with ${result.completed} completed`);
      },
      { iterations: 1, warmup: STAGE_WARMUP, samples: SAMPLES, units: ITEMS },
    );
  }
  const stageExported = await exportedSince(before);
  (globalThis as { gc?: () => void }).gc?.();

  // Graph pipeline.
  before = sdk?.spans.exported ?? 0;
  const graphRuns = GRAPH_WARMUP + GRAPH_RUNS * SAMPLES;
  let graph: Awaited<ReturnType<typeof time>>;
  if (floor) {
    // One call does a sample's worth of runs, so the loop is not paced by an await per run.
    graph = await time(() => floorGraph(tracer, floorMetrics as FloorMetrics, GRAPH_RUNS, runIds), { iterations: 1, warmup: GRAPH_WARMUP / GRAPH_RUNS, samples: SAMPLES, units: GRAPH_RUNS });
  } else {
    const p = graphPipeline();
    graph = await time(
      async () => {
        const result = await p.run(undefined);
        if (result.status !== 'succeeded') throw new Error(`graph run ended ${result.status}: ${result.error?.message}`);
      },
      { iterations: GRAPH_RUNS, warmup: GRAPH_WARMUP, samples: SAMPLES },
    );
  }
  const graphExported = await exportedSince(before);

  const expected = (perUnit: number, units: number, perRun: number) => (variant === 'on' || variant === 'floor' ? perUnit * units + perRun : 0);
  const measured = (t: Awaited<ReturnType<typeof time>>, exported: number, expectedSpans: number): Measured => ({
    unitsPerSecond: t.unitsPerSecond,
    msPerSample: t.totalMs,
    usPerUnit: 1e6 / t.unitsPerSecond,
    exported,
    expected: expectedSpans,
  });
  const report: ChildReport = {
    variant,
    stage: measured(stage, stageExported, expected(SPANS_PER_ITEM, ITEMS * stageRuns, stageRuns)),
    graph: measured(graph, graphExported, expected(SPANS_PER_RUN, graphRuns, 0)),
    metricExports: sdk?.metricExports.exports ?? 0,
    seconds: (performance.now() - started) / 1000,
  };
  await sdk?.tracerProvider.shutdown();
  await sdk?.meterProvider.shutdown();
  return report;
}

// ---- child mode: the floor makes the spans spanflow makes ------------------------------

/** Each span as one line: name, parent's name, attribute keys and types, events, links, status. */
function shapes(spans: readonly ReadableSpan[]): string[] {
  const names = new Map(spans.map((s) => [s.spanContext().spanId, s.name]));
  return spans
    .map((s) => {
      const parent = s.parentSpanContext ? (names.get(s.parentSpanContext.spanId) ?? 'elsewhere') : 'root';
      const attributes = Object.entries(s.attributes)
        .map(([k, v]) => `${k}:${typeof v}`)
        .sort()
        .join(',');
      const events = s.events.map((e) => `${e.name}{${Object.keys(e.attributes ?? {}).sort().join(',')}}`).join(' ');
      return `${s.name} <- ${parent} | ${attributes} | ${events} | links ${s.links.length} | status ${s.status.code}`;
    })
    .sort();
}

/** A reader the check collects from when it likes. */
class CheckReader extends MetricReader {
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/** The metrics the floor makes (the rest cost nothing per unit: see the floor's comment). */
const FLOOR_METRICS: readonly string[] = [METRICS.stepDuration, METRICS.runDuration, METRICS.runs, METRICS.stepAttempts, METRICS.items, METRICS.activeRuns].map((def) => def.name);

/** One scope's points of the floor's metrics, one line each: metric, attributes, and its count (a histogram's) or value. */
async function points(reader: CheckReader, scope: string): Promise<string[]> {
  const { resourceMetrics } = await reader.collect();
  const lines: string[] = [];
  for (const scoped of resourceMetrics.scopeMetrics) {
    if (scoped.scope.name !== scope) continue;
    for (const metric of scoped.metrics) {
      if (!FLOOR_METRICS.includes(metric.descriptor.name)) continue;
      for (const point of metric.dataPoints) {
        const attributes = Object.entries(point.attributes)
          .map(([k, v]) => `${k}=${v}`)
          .sort()
          .join(',');
        const value = metric.dataPointType === DataPointType.HISTOGRAM ? `count ${(point.value as { count: number }).count}` : `value ${point.value as number}`;
        lines.push(`${metric.descriptor.name} ${metric.descriptor.unit} {${attributes}} ${value}`);
      }
    }
  }
  return lines.sort();
}

async function checkFloor(): Promise<void> {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  trace.setGlobalTracerProvider(provider);
  const reader = new CheckReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  metrics.setGlobalMeterProvider(meterProvider);
  const tracer = trace.getTracer(FLOOR_SCOPE);
  const floorMetrics = new FloorMetrics(metrics.getMeter(FLOOR_SCOPE));
  const collect = async (make: () => PromiseLike<unknown>): Promise<string[]> => {
    await make();
    await provider.forceFlush();
    const got = shapes(exporter.getFinishedSpans());
    exporter.reset();
    return got;
  };
  const problems: string[] = [];
  const compare = (what: string, ours: string[], floor: string[]) => {
    if (JSON.stringify(ours) !== JSON.stringify(floor)) {
      problems.push(`${what}: spanflow made\n  ${ours.join('\n  ')}\nthe floor made\n  ${floor.join('\n  ')}`);
    }
  };
  const few = 3;
  compare('stage pipeline', await collect(() => stagePipeline().run(Array.from({ length: few }, (_, i) => i))), await collect(() => floorStage(tracer, floorMetrics, few, crypto.randomUUID())));
  compare('graph pipeline', await collect(() => graphPipeline().run(undefined)), await collect(() => floorGraph(tracer, floorMetrics, 1, [crypto.randomUUID()])));
  // Cumulative points of both pipelines: spanflow's (its scope) against the floor's.
  compare('metric points', await points(reader, 'spanflow'), await points(reader, FLOOR_SCOPE));
  await provider.shutdown();
  await meterProvider.shutdown();
  if (problems.length > 0) throw new Error(`the floor does not make the telemetry spanflow makes:\n${problems.join('\n')}`);
  console.log(JSON.stringify({ check: 'ok' }));
}

const variantFlag = process.argv.indexOf('--variant');
if (variantFlag >= 0) {
  const variant = process.argv[variantFlag + 1];
  if (variant === 'check') await checkFloor();
  else if (VARIANTS.includes(variant as Variant)) console.log(JSON.stringify(await measureVariant(variant as Variant)));
  else throw new Error(`--variant takes check, ${VARIANTS.join(', ')}; got ${variant}`);
  process.exit(0);
}

// ---- parent mode: run every variant in a child, report ----------------------------------

const run = promisify(execFile);
const self = fileURLToPath(import.meta.url);
/** The bench's own flags (say --expose-gc), without a profiler's. */
const childFlags = [...process.execArgv.filter((flag) => !flag.startsWith('--cpu-prof') && !flag.startsWith('--heap-prof')), '--expose-gc'];

async function child<T>(variant: string): Promise<T> {
  const { stdout } = await run(process.execPath, [...childFlags, self, '--variant', variant], { timeout: 120_000, maxBuffer: 16 * 1024 * 1024 });
  const last = stdout.trim().split('\n').at(-1) ?? '';
  return JSON.parse(last) as T;
}

/** Rounds of the five variants, taken in turns (a child each), as the machine is, then with a busy core added beside them. */
const ROUNDS = 5;

/** One round: every variant's child, in the order interleaved() gives (reversed every other round). */
async function rounds(count: number): Promise<Record<Variant, ChildReport>[]> {
  const taken = await interleaved(
    Object.fromEntries(VARIANTS.map((v) => [v, async () => reportsOf.push(await child<ChildReport>(v)) - 1])) as Record<Variant, () => Promise<number>>,
    count,
  );
  return Array.from({ length: count }, (_, r) => Object.fromEntries(VARIANTS.map((v) => [v, reportsOf[taken[v][r] as number]])) as Record<Variant, ChildReport>);
}
const reportsOf: ChildReport[] = [];

/** A process that keeps one core busy until killed: the "loaded machine" of the loaded figures. */
async function withBusyCore<T>(work: () => Promise<T>): Promise<T> {
  const busy = spawn(process.execPath, ['-e', 'for(;;);'], { stdio: 'ignore' });
  try {
    return await work();
  } finally {
    busy.kill('SIGKILL');
  }
}

const started = performance.now();
await child<{ check: string }>('check');
const asIs = await rounds(ROUNDS);
const loaded = await withBusyCore(() => rounds(ROUNDS));
const elapsedS = (performance.now() - started) / 1000;

interface Figures {
  readonly off: Spread;
  readonly on: Spread;
  readonly sampled: Spread;
  readonly floor: Spread;
  /** The floor with the SDK sampling 1%. */
  readonly floorSampled: Spread;
  /** Spans exported / expected in the last round (on and floor make every span; sampled about 1%). */
  readonly exported: Record<Variant, Measured>;
  readonly spansPerUnit: number;
  /** spanflow's extra time per span with the SDK on, µs (median of rounds). */
  readonly spanflowUsPerSpan: Spread;
  /** The floor's time per span, µs. */
  readonly floorUsPerSpan: Spread;
  readonly spanCostRatio: Spread;
  readonly sampledRatio: Spread;
  /** At 1% sampling, spanflow's time per unit over off, against the floor's time per unit (what the SDK alone costs). */
  readonly sampledCostRatio: Spread;
}

function figures(taken: readonly Record<Variant, ChildReport>[], which: 'stage' | 'graph', spansPerUnit: number): Figures {
  const of = (v: Variant) => taken.map((round) => round[v][which]);
  const usOf = (v: Variant) => of(v).map((m) => m.usPerUnit);
  const spanflowUs = usOf('on').map((on, r) => (on - (usOf('off')[r] as number)) / spansPerUnit);
  const floorUs = usOf('floor').map((floor) => floor / spansPerUnit);
  // At 1% sampling: what spanflow adds per unit over telemetry off, against what the floor's spans cost the SDK per unit.
  const spanflowSampledUs = usOf('sampled').map((sampled, r) => sampled - (usOf('off')[r] as number));
  const last = taken.at(-1) as Record<Variant, ChildReport>;
  return {
    off: spread(of('off').map((m) => m.unitsPerSecond)),
    on: spread(of('on').map((m) => m.unitsPerSecond)),
    sampled: spread(of('sampled').map((m) => m.unitsPerSecond)),
    floor: spread(of('floor').map((m) => m.unitsPerSecond)),
    floorSampled: spread(of('floor_sampled').map((m) => m.unitsPerSecond)),
    exported: Object.fromEntries(VARIANTS.map((v) => [v, last[v][which]])) as Record<Variant, Measured>,
    spansPerUnit,
    spanflowUsPerSpan: spread(spanflowUs),
    floorUsPerSpan: spread(floorUs),
    spanCostRatio: spread(ratios(spanflowUs, floorUs)),
    sampledRatio: spread(ratios(of('sampled').map((m) => m.unitsPerSecond), of('off').map((m) => m.unitsPerSecond))),
    sampledCostRatio: spread(ratios(spanflowSampledUs, usOf('floor_sampled'))),
  };
}

const stage = figures(asIs, 'stage', SPANS_PER_ITEM);
const graph = figures(asIs, 'graph', SPANS_PER_RUN);
const loadedStage = figures(loaded, 'stage', SPANS_PER_ITEM);
const loadedGraph = figures(loaded, 'graph', SPANS_PER_RUN);

const exportedCell = (m: Measured) => (m.expected > 0 ? `${fmt(m.exported, 0)} / ${fmt(m.expected, 0)}` : fmt(m.exported, 0));
function throughputRows(f: Figures, unit: string): (string | number)[][] {
  const us = (x: Spread) => fmt(1e6 / x.median, 2);
  return [
    ['telemetry off (no SDK registered)', fmtSpread(f.off, 0), us(f.off), '1', '-'],
    ['SDK on (batch processor, periodic reader, discarding exporters)', fmtSpread(f.on, 0), us(f.on), fmt(f.on.median / f.off.median, 3), exportedCell(f.exported.on)],
    [`SDK on, ParentBased(TraceIdRatio ${SAMPLE_RATIO})`, fmtSpread(f.sampled, 0), us(f.sampled), fmtSpread(f.sampledRatio, 3), exportedCell(f.exported.sampled)],
    [`floor: the same ${f.spansPerUnit} spans and metric points per ${unit}, plain loop on the SDK`, fmtSpread(f.floor, 0), us(f.floor), '', exportedCell(f.exported.floor)],
    [`floor, ParentBased(TraceIdRatio ${SAMPLE_RATIO})`, fmtSpread(f.floorSampled, 0), us(f.floorSampled), '', exportedCell(f.exported.floor_sampled)],
  ];
}

console.log(
  `spanflow telemetry bench: node ${process.version}; each variant in its own process (median of ${SAMPLES} samples after warm-up); ${ROUNDS} rounds of the five taken in turns, first as the machine is, then with a busy core added beside them; median (min–max) of the rounds\n`,
);
printTable(
  `Stage pipeline: ${STAGES} stages × ${WORKERS} workers, no-op async tasks, ${fmt(ITEMS)} items per run, collectResults: false (no load added)`,
  ['variant', 'items/s', 'µs per item', 'vs off', 'spans exported / made'],
  throughputRows(stage, 'item'),
);
console.log('');
printTable(
  `Graph pipeline: ${STEPS}-step linear run of no-op steps, ${fmt(GRAPH_RUNS)} runs per sample, one at a time (no load added)`,
  ['variant', 'runs/s', 'µs per run', 'vs off', 'spans exported / made'],
  throughputRows(graph, 'run'),
);
console.log('');
const verdict = (x: Spread, ok: boolean, digits: number) => `${fmtSpread(x, digits)} ${ok ? 'ok' : 'MISSED'}`;
const costRow = (name: string, f: Figures) => [
  name,
  f.spansPerUnit,
  fmt(f.spanflowUsPerSpan.median, 3),
  fmt(f.floorUsPerSpan.median, 3),
  verdict(f.spanCostRatio, f.spanCostRatio.median <= SPAN_COST_GOAL, 2),
  verdict(f.sampledRatio, f.sampledRatio.median >= SAMPLED_GOAL, 3),
  fmtSpread(f.sampledCostRatio, 2),
];
printTable(
  `Cost per span: spanflow's (on − off) vs the floor's (goal ≤ ${SPAN_COST_GOAL}×); sampled throughput vs off (goal ≥ ${SAMPLED_GOAL}); ratios per round`,
  ['pipeline', 'spans per unit', 'spanflow µs per span', 'floor µs per span', 'span cost ratio', 'sampled / off', 'sampled: spanflow − off / floor'],
  [
    costRow('stage (unit: item), no load added', stage),
    costRow('graph (unit: run), no load added', graph),
    costRow('stage, a busy core added beside', loadedStage),
    costRow('graph, a busy core added beside', loadedGraph),
  ],
);
console.log(`bench took ${fmt(elapsedS, 1)} s\n`);

printJson('telemetry', {
  off_items_per_s: round(stage.off.median, 0),
  on_items_per_s: round(stage.on.median, 0),
  sampled_items_per_s: round(stage.sampled.median, 0),
  span_cost_ratio: round(stage.spanCostRatio.median),
  sampled_ratio: round(stage.sampledRatio.median),
  graph_off_runs_per_s: round(graph.off.median, 0),
  graph_on_runs_per_s: round(graph.on.median, 0),
  graph_sampled_runs_per_s: round(graph.sampled.median, 0),
  graph_span_cost_ratio: round(graph.spanCostRatio.median),
  graph_sampled_ratio: round(graph.sampledRatio.median),
  loaded_span_cost_ratio: round(loadedStage.spanCostRatio.median),
  loaded_graph_span_cost_ratio: round(loadedGraph.spanCostRatio.median),
  loaded_sampled_ratio: round(loadedStage.sampledRatio.median),
  loaded_graph_sampled_ratio: round(loadedGraph.sampledRatio.median),
  sampled_cost_ratio: round(stage.sampledCostRatio.median),
  graph_sampled_cost_ratio: round(graph.sampledCostRatio.median),
  loaded_sampled_cost_ratio: round(loadedStage.sampledCostRatio.median),
  loaded_graph_sampled_cost_ratio: round(loadedGraph.sampledCostRatio.median),
});
