// Unit tests of the retry backoff every step and task shares (`backoffDelay`).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { backoffDelay, type RetryPolicy } from '../sdk/index.ts';

const fixed = (value: number) => () => value;

describe('backoffDelay', () => {
  test('without jitter the delays are exact and grow by the factor', () => {
    const policy: RetryPolicy = { initialDelayMs: 10, factor: 3, jitter: 0 };
    const delays = [1, 2, 3, 4].map((attempt) => backoffDelay(policy, attempt, fixed(0.7)));
    assert.deepEqual(delays, [10, 30, 90, 270]);
  });

  test('uses factor 2 when none is given', () => {
    const policy: RetryPolicy = { initialDelayMs: 5, jitter: 0 };
    assert.deepEqual(
      [1, 2, 3, 4, 5].map((attempt) => backoffDelay(policy, attempt)),
      [5, 10, 20, 40, 80],
    );
  });

  test('defaults: 100 ms first delay, capped at 30 s', () => {
    const policy: RetryPolicy = { jitter: 0 };
    assert.equal(backoffDelay(policy, 1), 100);
    assert.equal(backoffDelay(policy, 2), 200);
    assert.equal(backoffDelay(policy, 30), 30_000);
  });

  test('no delay is longer than maxDelayMs', () => {
    const policy: RetryPolicy = { initialDelayMs: 10, factor: 2, maxDelayMs: 50, jitter: 0 };
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6].map((attempt) => backoffDelay(policy, attempt)),
      [10, 20, 40, 50, 50, 50],
    );
  });

  test('jitter 1 spreads a delay anywhere between 0 and the delay', () => {
    const policy: RetryPolicy = { initialDelayMs: 80, factor: 2, jitter: 1 };
    assert.equal(backoffDelay(policy, 2, fixed(0)), 160);
    assert.equal(backoffDelay(policy, 2, fixed(0.25)), 120);
    assert.equal(backoffDelay(policy, 2, fixed(0.5)), 80);
    assert.equal(backoffDelay(policy, 2, fixed(0.9999)), 0);
    for (let i = 0; i <= 100; i++) {
      const delay = backoffDelay(policy, 3, fixed(i / 101));
      assert.ok(delay >= 0 && delay <= 320, `delay ${delay} out of [0, 320]`);
    }
  });

  test('jitter 1 is still capped by maxDelayMs', () => {
    const policy: RetryPolicy = { initialDelayMs: 100, factor: 10, maxDelayMs: 150, jitter: 1 };
    for (const r of [0, 0.3, 0.6, 0.99]) {
      const delay = backoffDelay(policy, 4, fixed(r));
      assert.ok(delay >= 0 && delay <= 150, `delay ${delay} out of [0, 150]`);
    }
    assert.equal(backoffDelay(policy, 4, fixed(0)), 150);
  });

  test('the default jitter (0.5) keeps a delay between half of it and all of it', () => {
    const policy: RetryPolicy = { initialDelayMs: 100 };
    assert.equal(backoffDelay(policy, 1, fixed(0)), 100);
    assert.equal(backoffDelay(policy, 1, fixed(0.9999)), 50);
    assert.equal(backoffDelay(policy, 2, fixed(0.5)), 150);
  });

  test('jitter outside [0, 1] is clamped', () => {
    assert.equal(backoffDelay({ initialDelayMs: 40, jitter: 5 }, 1, fixed(0.5)), 20);
    assert.equal(backoffDelay({ initialDelayMs: 40, jitter: -3 }, 1, fixed(0.5)), 40);
  });

  test('delays are whole milliseconds', () => {
    const policy: RetryPolicy = { initialDelayMs: 7, factor: 1.5, jitter: 0.3 };
    for (let attempt = 1; attempt <= 6; attempt++) {
      assert.ok(Number.isInteger(backoffDelay(policy, attempt, fixed(0.37))));
    }
  });
});
