// The ETL example: run in-process on 2,000 orders and checked against what the simulation
// has in store for each record, then `node examples/etl/main.ts` run as a user would, piped.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type EtlResult, runEtl, simulation } from '../examples/etl/pipeline.ts';
import type { SpanflowEvent, TaskRetryEvent } from '../sdk/index.ts';

const execFileAsync = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));
const ITEMS = 2_000;

const indexes = Array.from({ length: ITEMS }, (_, i) => i);
const broken = indexes.filter(simulation.broken);
const empty = indexes.filter(simulation.empty);
const flaky = indexes.filter((i) => simulation.flakes(i) > 0);

describe('the ETL example, in-process', () => {
  let result: EtlResult;
  const retries: TaskRetryEvent[] = [];
  let runEnds = 0;

  before(async () => {
    result = await runEtl({
      items: ITEMS,
      dashboard: false,
      onEvent: (event: SpanflowEvent) => {
        if (event.type === 'task_retry') retries.push(event);
        if (event.type === 'run_end') runEnds++;
      },
    });
  });

  test('the simulation plans a few permanent failures, some skips and some flaky records', () => {
    assert.ok(broken.length >= 1, 'at least one record fails for good');
    assert.ok(empty.length >= 10, 'some records come back empty');
    assert.ok(flaky.length >= 20, 'some records need a retry');
    assert.ok(
      flaky.some((i) => simulation.flakes(i) === 2),
      'some records need two retries',
    );
  });

  test('every record fed is accounted for as completed, failed or skipped', () => {
    assert.equal(result.fed, ITEMS);
    assert.equal(result.completed + result.failed + result.skipped, result.fed);
    assert.equal(result.items.length, ITEMS);
    assert.equal(result.results.length, result.completed);
    assert.equal(runEnds, 1);
  });

  test('the batch ends failed, because of the records enrich could not fetch', () => {
    assert.equal(result.status, 'failed');
    assert.equal(result.failed, broken.length);
    assert.equal(result.skipped, empty.length);
    assert.equal(result.completed, ITEMS - broken.length - empty.length);
  });

  test('permanent failures are listed as UpstreamTimeout in enrich after 3 attempts', () => {
    assert.deepEqual(
      result.failures.map((f) => f.index).sort((a, b) => a - b),
      broken,
    );
    for (const failure of result.failures) {
      assert.equal(failure.error.type, 'UpstreamTimeout');
      assert.equal(failure.stage, 'enrich');
      assert.equal(failure.task, 'lookup-customer');
      assert.equal(failure.attempts, 3);
      assert.match(failure.error.message, /customer-service did not answer/);
    }
  });

  test('empty records are skipped in parse', () => {
    const skipped = result.items.filter((o) => o.status === 'skipped');
    assert.deepEqual(
      skipped.map((o) => o.index),
      empty,
    );
    for (const outcome of skipped) assert.equal(outcome.stage, 'parse');
  });

  test('flaky records are retried in enrich and then succeed', () => {
    const perItem = new Map<number, number>();
    for (const retry of retries) {
      assert.equal(retry.stage, 'enrich');
      assert.equal(retry.task, 'lookup-customer');
      assert.equal(retry.error.type, 'UpstreamTimeout');
      perItem.set(retry.index, (perItem.get(retry.index) ?? 0) + 1);
    }
    const expectedRetries = flaky.reduce((sum, i) => sum + simulation.flakes(i), 0) + broken.length * 2;
    assert.equal(retries.length, expectedRetries);
    for (const index of flaky) {
      assert.equal(perItem.get(index), simulation.flakes(index), `retries of record ${index}`);
      assert.equal(result.items[index]?.status, 'completed', `record ${index} completed after its retries`);
    }
  });

  test('the table holds exactly one row per completed record', () => {
    assert.equal(result.table.size, result.completed);
    const completedIds = result.items.flatMap((o) => (o.status === 'completed' ? [o.itemId] : []));
    assert.deepEqual([...result.table.keys()].sort(), completedIds.sort());
    for (const row of result.results) {
      assert.deepEqual(result.table.get(row.key), row);
      assert.ok(row.totalEurCents > 0, `${row.key} has a total`);
    }
  });
});

describe('node examples/etl/main.ts', () => {
  test('piped, it prints plain progress lines and a summary of 10,000 records, and exits 0', async () => {
    const { stdout } = await execFileAsync(process.execPath, ['examples/etl/main.ts'], {
      cwd: root,
      timeout: 120_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    assert.ok(!stdout.includes('\u001b'), `no ANSI escape codes when stdout is not a terminal:\n${stdout}`);
    const progress = stdout.split('\n').filter((line) => /^etl: [\d,]+\/10,000 \d+% · /.test(line));
    assert.ok(progress.length >= 1, `plain progress lines in:\n${stdout}`);
    const summary = stdout.match(/^etl (\w+) \| ([\d,]+) fed \| ([\d,]+) completed \| ([\d,]+) failed \| ([\d,]+) skipped \| [\d.]+ s \| [\d,]+ items\/s \| run \S+$/m);
    assert.ok(summary, `a summary line in:\n${stdout}`);
    const [, status, fed, completed, failed, skipped] = summary;
    const n = (text: string | undefined) => Number(text?.replaceAll(',', ''));
    assert.equal(status, 'failed');
    assert.equal(n(fed), 10_000);
    assert.equal(n(completed) + n(failed) + n(skipped), 10_000);
    assert.equal(n(failed), 10);
  });
});
