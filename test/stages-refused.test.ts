// A batch refused for its options has started nothing: no events, no workers,
// no signal listeners left behind. (This file imports neither spanflow/console
// nor spanflow/postgres, so their short forms are the errors.)

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type SpanflowEvent, stages } from '../sdk/index.ts';

describe('a batch whose options are refused', () => {
  test('a dashboard by name without spanflow/console: the error, and no run, no listener left', async () => {
    const events: SpanflowEvent[] = [];
    const before = process.listenerCount('SIGTERM');
    const pipeline = stages<number>('refused', { dashboard: 'detailed', onEvent: (e) => events.push(e) }).stage('double', { tasks: (n: number) => n * 2 });
    await assert.rejects(
      Promise.resolve().then(() => pipeline.run([1, 2, 3], { shutdownOn: ['SIGTERM'] })),
      /the 'detailed' dashboard lives in spanflow\/console/,
    );
    assert.equal(process.listenerCount('SIGTERM'), before, 'no SIGTERM listener left behind');
    assert.deepEqual(events, [], 'no run was started');
  });

  test('persist: true without spanflow/postgres: the error, and no run, no listener left', async () => {
    const events: SpanflowEvent[] = [];
    const before = process.listenerCount('SIGINT');
    const pipeline = stages<number>('refused', { onEvent: (e) => events.push(e) }).stage('double', { tasks: (n: number) => n * 2 });
    await assert.rejects(
      Promise.resolve().then(() => pipeline.run([1], { persist: true, shutdownOn: ['SIGINT'] })),
      /persist: true stores runs through spanflow\/postgres/,
    );
    assert.equal(process.listenerCount('SIGINT'), before);
    assert.deepEqual(events, []);
  });
});
