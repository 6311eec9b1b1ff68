// What the spans look like: a pipeline run inside a caller's span (an HTTP handler's),
// its spans printed as a tree (an in-memory exporter stands in for Jaeger).
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { pipeline } from '../../sdk/index.ts';

context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
const exporter = new InMemorySpanExporter();
const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
trace.setGlobalTracerProvider(provider);

const quotes = pipeline<{ skus: string[]; total?: number }>('quote')
  .map('price-skus', ({ state }) => state.skus, { worker: 'price', concurrency: 2, to: 'sum' })
  .step<string>('price', async ({ item, attempt }) => {
    if (item === 'B-2' && attempt === 1) throw new Error('price service busy');
    // The step's own spans (an HTTP call, a query) nest under its attempt span.
    return trace.getTracer('shop').startActiveSpan(`GET /prices/${item}`, (span) => {
      span.end();
      return 10;
    });
  }, { retry: { attempts: 2, initialDelayMs: 1 } })
  .step('sum', ({ state, output }) => {
    state.total = (output<number[]>('price-skus') ?? []).reduce((a, b) => a + b, 0);
  });

// An HTTP handler's span: the run joins its trace.
await trace.getTracer('shop').startActiveSpan('POST /quote', async (span) => {
  await quotes.run({ skus: ['A-1', 'B-2'] });
  span.end();
});
await provider.forceFlush();

const spans = exporter.getFinishedSpans();
const children = (id: string | undefined) =>
  spans.filter((s) => s.parentSpanContext?.spanId === id).sort((a, b) => a.startTime[0] - b.startTime[0] || a.startTime[1] - b.startTime[1]);
const show = (span: ReadableSpan, depth: number): void => {
  const result = span.attributes['cicd.pipeline.task.run.result'] ?? span.attributes['cicd.pipeline.result'];
  const events = span.events.map((e) => e.name.replace('spanflow.', '')).join(', ');
  console.log(`${'  '.repeat(depth)}${span.name}${result ? ` (${result})` : ''}${span.status.code === 2 ? ' ERROR' : ''}${events ? `  [${events}]` : ''}`);
  for (const child of children(span.spanContext().spanId)) show(child, depth + 1);
};
for (const root of children(undefined)) show(root, 0);
