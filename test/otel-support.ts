// Spans in memory, for tests that assert the exact span tree. Importing this
// registers (once per process: each test file is its own) an SDK tracer
// provider that exports every ended span to an in-memory exporter, and the
// AsyncLocalStorage context manager, so spans nest across awaits.
//
// `tree()` renders the finished spans as an indented tree, one line a span:
//   name [key=value, …] ERROR {event, event×n, …} -> linked span, …
// - children in start order (the order the SDK started them: span start
//   times are whole milliseconds, so they tie too often to sort by);
// - attributes: the KEY_ATTRS a span has, in that order, named without their
//   `cicd.pipeline.` or `spanflow.` prefix (`attempt=2`, `task.run.result=timeout`);
// - ERROR when the span's status is ERROR;
// - events by name without the `spanflow.` prefix, a run of the same name as `name×n`;
// - links by the name of the span linked to (`?<span id>` if it is not among the
//   spans), sorted: an ALL barrier's parents arrive in whatever order they finish.
import { context, type SpanContext, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor, type SpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { ATTR } from '../sdk/index.ts';

/** Start order of every span (kept across reset()): the SDK calls onStart as it makes each one. */
const started = new Map<string, number>();
let sequence = 0;
const startOrder: SpanProcessor = {
  onStart: (span) => void started.set(span.spanContext().spanId, sequence++),
  onEnd: () => {},
  forceFlush: () => Promise.resolve(),
  shutdown: () => Promise.resolve(),
};

export const exporter = new InMemorySpanExporter();
export const provider = new TracerProvider({ spanProcessors: [startOrder, new SimpleSpanProcessor({ exporter })] });
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
trace.setGlobalTracerProvider(provider);

/** Forgets the spans so far (call between tests). */
export async function reset(): Promise<void> {
  await provider.forceFlush();
  exporter.reset();
}

/** Every span ended so far, in start order. */
export async function finished(): Promise<ReadableSpan[]> {
  await provider.forceFlush();
  return exporter.getFinishedSpans().toSorted((a, b) => order(a) - order(b));
}

/** The spans named `name`, in start order. */
export async function spansNamed(name: string): Promise<ReadableSpan[]> {
  return (await finished()).filter((s) => s.name === name);
}

const order = (span: ReadableSpan): number => started.get(span.spanContext().spanId) ?? Number.MAX_SAFE_INTEGER;

/** The attributes a line shows, when the span has them, in this order. */
export const KEY_ATTRS: readonly string[] = [
  ATTR.HOOK_PHASE,
  ATTR.ITEM_ID,
  ATTR.STAGE,
  ATTR.MAP_INDEX,
  ATTR.ATTEMPT,
  ATTR.RESULT,
  ATTR.TASK_RESULT,
  ATTR.ITEM_STATUS,
  ATTR.ERROR_TYPE,
];

export interface TreeOptions {
  /** Attributes to show (default KEY_ATTRS). */
  readonly attrs?: readonly string[];
  /** Show events (default true). */
  readonly events?: boolean;
  /** Render only the subtrees of the spans this picks (default: every root). */
  readonly from?: (span: ReadableSpan) => boolean;
  /** Spans kept from earlier (`finished()`), instead of the exporter's. */
  readonly spans?: readonly ReadableSpan[];
}

const short = (name: string) => name.replace(/^(cicd\.pipeline|spanflow)\./, '');

function line(span: ReadableSpan, byId: Map<string, ReadableSpan>, options: TreeOptions): string {
  let text = span.name;
  const attrs = (options.attrs ?? KEY_ATTRS).filter((k) => span.attributes[k] !== undefined).map((k) => `${short(k)}=${String(span.attributes[k])}`);
  if (attrs.length > 0) text += ` [${attrs.join(', ')}]`;
  if (span.status.code === SpanStatusCode.ERROR) text += ' ERROR';
  if (options.events !== false && span.events.length > 0) {
    const runs: { name: string; count: number }[] = [];
    for (const event of span.events) {
      const last = runs.at(-1);
      if (last?.name === event.name) last.count++;
      else runs.push({ name: event.name, count: 1 });
    }
    text += ` {${runs.map((r) => short(r.name) + (r.count > 1 ? `×${r.count}` : '')).join(', ')}}`;
  }
  if (span.links.length > 0) {
    const names = span.links.map((l) => byId.get(l.context.spanId)?.name ?? `?${l.context.spanId}`);
    text += ` -> ${names.toSorted().join(', ')}`;
  }
  return text;
}

/** The finished spans as an indented tree (two spaces a level); see the top of this file. */
export async function tree(options: TreeOptions = {}): Promise<string> {
  const spans = options.spans ? options.spans.toSorted((a, b) => order(a) - order(b)) : await finished();
  const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]));
  const children = new Map<string, ReadableSpan[]>();
  const roots: ReadableSpan[] = [];
  for (const span of spans) {
    const parent = span.parentSpanContext?.spanId;
    if (parent !== undefined && byId.has(parent)) children.set(parent, [...(children.get(parent) ?? []), span]);
    else roots.push(span);
  }
  const lines: string[] = [];
  const walk = (span: ReadableSpan, depth: number) => {
    lines.push('  '.repeat(depth) + line(span, byId, options));
    for (const child of children.get(span.spanContext().spanId) ?? []) walk(child, depth + 1);
  };
  for (const root of options.from ? spans.filter(options.from) : roots) walk(root, 0);
  return lines.join('\n');
}

/** `lines` joined: write an expected tree as one line per array entry. */
export const lines = (...rows: string[]): string => rows.join('\n');

/** The span id of a span context, for comparing links. */
export const idOf = (span: ReadableSpan | SpanContext): string => ('spanContext' in span ? span.spanContext() : span).spanId;
