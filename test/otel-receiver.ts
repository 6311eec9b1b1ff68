// A real OTLP/HTTP receiver on loopback for the tests that run the real
// exporters (spanflow/otel's, or an application's own SDK): it records every
// POST, decodes http/json bodies, and can refuse the first trace export or
// never answer. Also the OTLP/JSON shapes the assertions read, and the exported
// spans rendered as a tree.

import type { IncomingHttpHeaders } from 'node:http';
import { loopbackServer } from './support.ts';

export interface OtlpValue {
  readonly stringValue?: string;
  readonly intValue?: string | number;
  readonly doubleValue?: number;
  readonly boolValue?: boolean;
}
export interface Attributed {
  readonly attributes: readonly { key: string; value: OtlpValue }[];
}
export interface OtlpSpan extends Attributed {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId?: string;
  readonly name: string;
  readonly kind?: number;
  readonly status?: { code?: number };
}
export interface OtlpPoint extends Attributed {
  readonly asDouble?: number;
  readonly asInt?: string | number;
  readonly explicitBounds?: number[];
}
export interface OtlpMetric {
  readonly name: string;
  readonly unit: string;
  readonly sum?: { isMonotonic?: boolean; dataPoints: OtlpPoint[] };
  readonly histogram?: { dataPoints: OtlpPoint[] };
  readonly gauge?: { dataPoints: OtlpPoint[] };
}
export interface OtlpBody {
  readonly resourceSpans?: { resource: Attributed; scopeSpans: { scope?: { name: string }; spans: OtlpSpan[] }[] }[];
  readonly resourceMetrics?: { resource: Attributed; scopeMetrics: { metrics: OtlpMetric[] }[] }[];
}
export interface Received {
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly bytes: number;
  /** The decoded body of an http/json export ({} for protobuf). */
  readonly body: OtlpBody;
}

export interface ReceiverOptions {
  /** Answer the first trace export with 400. */
  readonly rejectFirstTraces?: boolean;
  /** Accept requests and never answer them. */
  readonly silent?: boolean;
  /** Hold trace exports unanswered until `answerHeld()`; answer at once after it. */
  readonly holdTraces?: boolean;
}

/** An OTLP/HTTP receiver on loopback: `received` fills with every POST. */
export async function receiver(options: ReceiverOptions = {}) {
  const received: Received[] = [];
  let rejected = 0;
  let held: (() => void)[] | undefined = options.holdTraces ? [] : undefined;
  const { url, close } = await loopbackServer((req, raw, res) => {
    const path = req.url ?? '';
    const json = req.headers['content-type'] === 'application/json';
    received.push({ path, headers: req.headers, bytes: raw.length, body: json && raw.length > 0 ? (JSON.parse(raw.toString('utf8')) as OtlpBody) : {} });
    if (options.silent) return;
    if (held && path.endsWith('/v1/traces')) {
      held.push(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
      return;
    }
    if (req.method !== 'POST') {
      res.writeHead(404).end();
      return;
    }
    if (path.endsWith('/v1/traces') && options.rejectFirstTraces && rejected === 0) {
      rejected++;
      received.pop();
      res.writeHead(400, { 'content-type': 'application/json' }).end('{"message":"refused by the test"}');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
  /** Answers the held trace exports, and every later one at once. */
  const answerHeld = () => {
    for (const answer of held ?? []) answer();
    held = undefined;
  };
  return { url, received, close, answerHeld };
}

/** A span with the name of the instrumentation scope that made it. */
export type ScopedSpan = OtlpSpan & { readonly scope: string };

export const spansOf = (received: readonly Received[]): ScopedSpan[] =>
  received
    .flatMap((r) => r.body.resourceSpans ?? [])
    .flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans.map((span) => ({ ...span, scope: ss.scope?.name ?? '' }))));

export const resourceOf = (received: readonly Received[], path: string): Attributed | undefined => {
  const body = received.find((r) => r.path === path)?.body;
  return (body?.resourceSpans ?? body?.resourceMetrics)?.[0]?.resource;
};

export const attr = (item: Attributed | undefined, key: string): unknown => {
  const value = item?.attributes.find((a) => a.key === key)?.value;
  return value?.stringValue ?? value?.intValue ?? value?.doubleValue ?? value?.boolValue;
};

/** The last (cumulative) export of each metric. */
export function metricsOf(received: readonly Received[]): Map<string, OtlpMetric> {
  const byName = new Map<string, OtlpMetric>();
  for (const rm of received.flatMap((r) => r.body.resourceMetrics ?? [])) for (const sm of rm.scopeMetrics) for (const m of sm.metrics) byName.set(m.name, m);
  return byName;
}

export const points = (metric: OtlpMetric | undefined): OtlpPoint[] => (metric?.sum ?? metric?.histogram ?? metric?.gauge)?.dataPoints ?? [];
export const value = (point: OtlpPoint): number => Number(point.asDouble ?? point.asInt);

/**
 * The spans as an indented tree, one line a span: `name (scope)`; children
 * sorted by name (the order exports arrive in is not the order spans start).
 * A span whose parent is not among them is a root, marked `ORPHAN`.
 */
export function spanTree(spans: readonly ScopedSpan[]): string {
  const ids = new Set(spans.map((s) => s.spanId));
  const children = new Map<string, ScopedSpan[]>();
  const roots: ScopedSpan[] = [];
  for (const span of spans) {
    const parent = span.parentSpanId;
    if (parent && ids.has(parent)) children.set(parent, [...(children.get(parent) ?? []), span]);
    else roots.push(span);
  }
  const lines: string[] = [];
  const byName = (a: ScopedSpan, b: ScopedSpan) => a.name.localeCompare(b.name);
  const walk = (span: ScopedSpan, depth: number) => {
    lines.push(`${'  '.repeat(depth)}${span.name} (${span.scope})${span.parentSpanId && !ids.has(span.parentSpanId) ? ' ORPHAN' : ''}`);
    for (const child of (children.get(span.spanId) ?? []).toSorted(byName)) walk(child, depth + 1);
  };
  for (const root of roots.toSorted(byName)) walk(root, 0);
  return lines.join('\n');
}
