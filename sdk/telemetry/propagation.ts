// The W3C propagator (traceparent, tracestate, baggage) that carries a trace
// across a thread or a process: explicit, not the global propagator, so the
// trace crosses whatever the application registered (or not). Made at first
// use: @opentelemetry/core is an optional peer of the entry points that need it.

import type { CompositePropagator } from '@opentelemetry/core';
import { type EntryPoint, loadPeer } from '../peers.ts';

let w3c: CompositePropagator | undefined;

export function w3cPropagator(entryPoint: EntryPoint): CompositePropagator {
  if (w3c) return w3c;
  const { CompositePropagator: Composite, W3CBaggagePropagator, W3CTraceContextPropagator } = loadPeer<typeof import('@opentelemetry/core')>('@opentelemetry/core', entryPoint);
  w3c = new Composite({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] });
  return w3c;
}
