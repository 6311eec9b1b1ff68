// IdleGauges: what a gauge reads once its source is gone, and how much of it is kept.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { IdleGauges } from '../sdk/index.ts';

describe('IdleGauges', () => {
  test('a set reported before and not live now reads its zero; a live one does not', () => {
    const gauges = new IdleGauges<string>();
    gauges.report('a', 'a is 0');
    gauges.report('b', 'b is 0');
    assert.deepEqual([...gauges.idle(new Set(['b']))], ['a is 0']);
    assert.deepEqual([...gauges.idle(new Set())], ['a is 0', 'b is 0']);
  });

  test('at most 1,000 sets are kept: the ones unreported longest go first', () => {
    const gauges = new IdleGauges<number>();
    for (let i = 0; i < 1_001; i++) gauges.report(`pool-${i}`, i);
    gauges.report('pool-1', 1); // reported again: now the newest
    gauges.report('pool-1001', 1_001);
    const idle = [...gauges.idle(new Set())];
    assert.equal(idle.length, 1_000);
    assert.ok(!idle.includes(0) && !idle.includes(2), 'the two reported longest ago are forgotten');
    assert.ok(idle.includes(1) && idle.includes(1_001));
  });
});
