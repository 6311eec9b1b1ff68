import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);

test('the README tour runs: a retried map item, streamed receipt lines, a succeeded run', async () => {
  const { stdout } = await run(process.execPath, ['examples/tour/main.ts'], { cwd: new URL('..', import.meta.url) });
  assert.match(stdout, /retry {5}price\[1\] attempt 1: price service busy/);
  assert.match(stdout, /token {5}receipt flaky: ok/);
  assert.match(stdout, /run_end {3}succeeded/);
  assert.match(stdout, /^succeeded receipt for A-17 4 price attempts$/m);
});

test('the README stage tour runs: 9 completed, the large image skipped, item 7 retried', async () => {
  const { stdout } = await run(process.execPath, ['examples/tour/stages.ts'], { cwd: new URL('..', import.meta.url) });
  assert.match(stdout, /^succeeded 9 completed, 1 skipped, 0 failed$/m);
  assert.match(stdout, /img-0\.png -> 1812\.5 px/);
  assert.match(stdout, /task_start → task_retry → item_status retrying → item_status in_progress → task_start → task_end succeeded/);
  assert.match(stdout, /item_status completed$/m);
});

test('the README telemetry tour prints the span tree: the run under the caller, attempts under the map, user spans under attempts', async () => {
  const { stdout } = await run(process.execPath, ['examples/tour/telemetry.ts'], { cwd: new URL('..', import.meta.url) });
  const lines = stdout.trimEnd().split('\n');
  assert.equal(lines[0], 'POST /quote');
  assert.equal(lines[1], '  pipeline quote (success)  [queued, queued]');
  assert.equal(lines[2], '    step price-skus (success)  [map_start, map_end]');
  assert.ok(lines.includes('      step price (failure) ERROR  [retrying, exception]'));
  assert.ok(lines.includes('        GET /prices/A-1') && lines.includes('        GET /prices/B-2'));
  assert.equal(lines.at(-1), '    step sum (success)');
});
