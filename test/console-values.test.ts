// Dashboards as values: `dashboard: detailedDashboard()`, `progress: progressBar()`
// from spanflow/console draw the same views as the short forms, and the short
// form without spanflow/console says which value to pass instead.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, test } from 'node:test';
import { compactDashboard, consoleDashboard, detailedDashboard, fullDashboard, progressBar } from '../exporters/index.ts';
import { type Dashboard, stages } from '../sdk/index.ts';
import { sink } from './support.ts';

const sdk = fileURLToPath(new URL('../sdk/index.ts', import.meta.url));

/** A three-item batch drawn by `make(stream)` on a plain stream; its lines without the varying rate and ETA. */
async function drawn(make: (stream: ReturnType<typeof sink>['stream']) => Dashboard, as: 'dashboard' | 'progress' = 'dashboard'): Promise<string> {
  const out = sink(false);
  const board = make(out.stream);
  const result = await stages<number>('values', as === 'dashboard' ? { dashboard: board } : { progress: board })
    .stage('double', { tasks: (n: number) => n * 2 })
    .run([1, 2, 3]);
  assert.equal(result.status, 'succeeded');
  return out.text().replace(/[\d.,]+ items\/s|ETA [^·\n]+|in [\d.]+ ?m?s/g, '…');
}

describe('console dashboards as values', () => {
  test('compactDashboard(), detailedDashboard() and fullDashboard() draw what the names draw', async () => {
    const views = [
      ['compact', compactDashboard],
      ['detailed', detailedDashboard],
      ['full', fullDashboard],
    ] as const;
    for (const [name, value] of views) {
      const byValue = await drawn((stream) => value({ stream }));
      assert.ok(byValue.includes('values: 3/3 100%'), `${name}: ${byValue}`);
      assert.equal(byValue, await drawn((stream) => consoleDashboard(name, { stream })), name);
    }
  });

  test('progress: progressBar() draws the progress line', async () => {
    const text = await drawn((stream) => progressBar({ stream }), 'progress');
    assert.match(text, /values: 3\/3 100%/);
  });

  test("dashboard: 'full' without spanflow/console names the value to pass and the import", async () => {
    const script = `
      const { stages } = await import(${JSON.stringify(sdk)});
      for (const options of [{ dashboard: 'full' }, { progress: true }]) {
        try { await stages('bare', options).stage('s', { tasks: (n) => n }).run([1]); console.log('ran'); }
        catch (error) { console.log(error.message); }
      }`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { timeout: 60_000 });
    const [full, progress] = stdout.trim().split('\n');
    assert.equal(
      full,
      "the 'full' dashboard lives in spanflow/console: pass `dashboard: fullDashboard()` (import { fullDashboard } from 'spanflow/console'), " +
        "or add `import 'spanflow/console'` once for the short form, or pass any dashboard object ({ onUpdate(snapshot) {...} })",
    );
    assert.match(progress ?? '', /^the 'progress' dashboard lives in spanflow\/console: pass `progress: progressBar\(\)` \(import \{ progressBar \} from 'spanflow\/console'\)/);
  });
});
