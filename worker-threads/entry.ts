// The module Piscina loads in each worker thread. For each task it imports the
// user's module (once per thread), calls the named export with the input, in
// the trace context the main thread sent, and replies with the output (or the
// error) and the spans the task's code made. Errors of the task are replies,
// not throws, so its spans come back with them.
// Only Piscina loads this module, in a pool's threads: the pool checked on the
// main thread that the optional peers imported here are installed (checkPeers).

import { type Context, context, ProxyTracerProvider, propagation, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { threadId } from 'node:worker_threads';
import { move, Piscina, transferableSymbol, valueSymbol } from 'piscina';
import { loadExport } from './modules.ts';
import { errorRecord, monoNow, type Reply, type TaskMessage, type WorkerData } from './protocol.ts';
import { RecordingTracerProvider, TaskRecording } from './recording.ts';
import { unwrapTransfer } from './transfer.ts';

// The task's code sees its task span as the active context across awaits, and
// its spans are recorded (see recording.ts). Set once per thread. A preload the
// app runs in every thread (`node --import`) may have registered globals of its
// own here: this thread's belong to spanflow, so they are taken back first
// (the pool switches the OpenTelemetry SDK off in its threads, see pool.ts).
// The tracer provider only when one is registered: disabling replaces the API's
// proxy, and tracers that instrumentations made before would stay with the old one.
context.disable();
propagation.disable();
const registered = trace.getTracerProvider();
// 'spanflow' is the engine's TELEMETRY_SCOPE, written out: a thread loads nothing of the engine it does not need.
if (!(registered instanceof ProxyTracerProvider) || registered.getDelegateTracer('spanflow') !== undefined) trace.disable();
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
trace.setGlobalTracerProvider(new RecordingTracerProvider());
// Registered too, so the task's code can pass the context on (an outgoing request's headers).
const propagator = new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] });
propagation.setGlobalPropagator(propagator);

/** A reply whose output moves buffers: Piscina sends a value marked by its move() with that transfer list. */
function movable(reply: Reply, list: readonly unknown[]): object {
  return move({ [transferableSymbol]: list, [valueSymbol]: reply } as Parameters<typeof move>[0]);
}

/** The pool's task start times, shared with the main thread: the utilization metric counts a running task from its start. */
const starts = (Piscina.workerData as WorkerData | undefined)?.starts;

/** Runs one task; `started` and `ended` become its wait and run time on the main thread. */
export default async function runTask(message: TaskMessage): Promise<Reply | object> {
  const started = monoNow();
  if (starts && message.slot >= 0) Atomics.store(starts, message.slot, BigInt(Math.round(started * 1e6)));
  const base = { started, threadId, spans: undefined, droppedSpans: 0 };
  const loaded = await loadExport(message.module, message.export);
  if (!loaded.ok) return { ...base, ended: monoNow(), ok: false, kind: loaded.kind, error: errorRecord(loaded.error) };
  const fn = loaded.fn;

  const recording = message.carrier ? new TaskRecording(propagator.extract(ROOT_CONTEXT, message.carrier, getter)) : undefined;
  try {
    const call = () => (message.context === undefined ? fn(message.input) : fn(message.input, { ...message.context, signal: NEVER }));
    const result = recording ? await context.with(recording.context as Context, call) : await call();
    const { value, list } = unwrapTransfer(result);
    const reply: Reply = { ...base, ended: monoNow(), spans: recording?.take(), droppedSpans: recording?.dropped ?? 0, ok: true, output: value };
    return list ? movable(reply, list) : reply;
  } catch (error) {
    return { ...base, ended: monoNow(), spans: recording?.take(), droppedSpans: recording?.dropped ?? 0, ok: false, kind: 'threw', error: errorRecord(error) };
  }
}

/** The signal a task on a thread is given: its thread is stopped rather than its signal fired. */
const NEVER = new AbortController().signal;

const getter = {
  get: (carrier: Record<string, string>, key: string) => carrier[key],
  keys: (carrier: Record<string, string>) => Object.keys(carrier),
};
