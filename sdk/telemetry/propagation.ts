// The W3C propagator (traceparent, tracestate, baggage) that carries a trace
// across a thread or a process: explicit, not the global propagator, so the
// trace crosses whatever the application registered (or not). Made at first
// use: @opentelemetry/core is an optional peer of the entry points that need it.

import type { TextMapPropagator } from '@opentelemetry/api';
import { type EntryPoint, loadPeer } from '../peers.ts';

/** What is used of @opentelemetry/core, typed with the API's own types: the engine's types need nothing beyond @opentelemetry/api. */
interface CorePropagators {
  readonly CompositePropagator: new (config: { propagators: TextMapPropagator[] }) => TextMapPropagator;
  readonly W3CTraceContextPropagator: new () => TextMapPropagator;
  readonly W3CBaggagePropagator: new () => TextMapPropagator;
}

let w3c: TextMapPropagator | undefined;

export function w3cPropagator(entryPoint: EntryPoint): TextMapPropagator {
  if (w3c) return w3c;
  const { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } = loadPeer<CorePropagators>('@opentelemetry/core', entryPoint);
  w3c = new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] });
  return w3c;
}
