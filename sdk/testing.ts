import type { SpanflowEvent } from './events.ts';
import type { RunHandle } from './graph/index.ts';
import type { RunResult } from './graph/types.ts';

export interface CollectedRun<S> {
  readonly result: RunResult<S>;
  readonly events: readonly SpanflowEvent[];
  /** The events of one type, in order. */
  of<T extends SpanflowEvent['type']>(type: T): Extract<SpanflowEvent, { type: T }>[];
  /** `node:status` for every step_end, in order: a compact trace to assert on. */
  readonly steps: readonly string[];
}

/**
 * Test helper: drains a run's events and result. Pair it with
 * `pipeline.withSteps({ name: fn })` to replace steps with mocks.
 */
export async function collectRun<S>(handle: RunHandle<S>): Promise<CollectedRun<S>> {
  const events: SpanflowEvent[] = [];
  for await (const event of handle) events.push(event);
  const result = await handle.result;
  return {
    result,
    events,
    of: <T extends SpanflowEvent['type']>(type: T) => events.filter((e): e is Extract<SpanflowEvent, { type: T }> => e.type === type),
    steps: events.flatMap((e) => (e.type === 'step_end' ? [`${e.node}${e.index === undefined ? '' : `[${e.index}]`}:${e.status}`] : [])),
  };
}
