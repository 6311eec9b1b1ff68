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
