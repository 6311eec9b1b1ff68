// The live view's page in Debian's Chromium (headless, driven by playwright-core):
// it is loaded while the showcase's pipeline runs (its last step held until the
// page shows the run running), follows the run to its end live, and shows a
// batch as per-stage progress bars. The test asserts on the DOM, not on pixels;
// the screenshots go to .screenshots/ (git-ignored; docs/live-view.png is one).

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { type Browser, chromium } from 'playwright-core';
import { GpuPool, scenarios, videoRender } from '../examples/video-render/pipeline.ts';
import { createLiveHandler, LiveRuns } from '../exporters/http/index.ts';
import { stages } from '../sdk/index.ts';
import { serve } from './http-support.ts';
import { chromiumBin, unless } from './requirements.ts';
import { latch, range } from './support.ts';

const SCREENSHOTS = new URL('../.screenshots/', import.meta.url);
/** Hang guard only: waits are on the page's DOM, each bounded by this. */
const DOM_GUARD = { timeout: 60_000 } as const;

describe('the live view page in Chromium', { skip: unless('chromium'), timeout: 180_000 }, () => {
  const live = new LiveRuns({ links: { jaeger: 'http://localhost:16686/trace/{traceId}', grafana: 'http://localhost:3000/d/spanflow-runs?var-run={runId}' } });
  let browser: Browser;
  let server: Awaited<ReturnType<typeof serve>>;
  let pool: GpuPool;

  before(async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    server = await serve(createLiveHandler({ live }));
    browser = await chromium.launch({ executablePath: chromiumBin(), headless: true });
    pool = new GpuPool(4);
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  test('shows a showcase run live: its steps, running, then each with its final status', async () => {
    const deliver = latch();
    const [scenario] = scenarios;
    assert.ok(scenario);
    // The showcase's pipeline, its last step held until the page has shown the run under way.
    const held = videoRender.withSteps({ deliver: async ({ state }) => deliver.promise.then(() => `s3://renders/${state.jobId}.mp4`) });
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(error.message));
    page.on('console', (message) => message.type() === 'error' && problems.push(message.text()));
    await page.goto(`${server.url}/`);
    const handle = held.run(scenario.job(), { context: { pool }, observe: live });
    // The page lists the run on its own and opens it (the newest running one).
    await page.waitForSelector(`#runs li[data-run="${handle.runId}"]`, DOM_GUARD);
    await page.waitForSelector('tr.step[data-node="deliver"][data-status="running"]', DOM_GUARD);
    assert.equal(await page.getAttribute('#run-status', 'data-status'), 'running');
    deliver.resolve();
    const result = await handle;
    assert.equal(result.status, 'succeeded');
    await page.waitForSelector('#run-status[data-status="succeeded"]', DOM_GUARD);
    await page.waitForSelector('tr.step[data-node="deliver"][data-status="succeeded"]', DOM_GUARD);
    const steps = await page.$$eval('tr.step', (rows) => rows.map((row) => [row.getAttribute('data-node'), row.getAttribute('data-status')]));
    const shown = Object.fromEntries(steps);
    for (const node of ['probe', 'deliver', 'quality', 'render-farm-hq', 'render-farm-fast', 'render-farm-rush', 'extract', 'analyze']) {
      assert.ok(node in shown || !(node in result.metrics.steps), `${node} is shown`);
    }
    // Every step ended (or was never reached); each that ran shows the status its run gave it.
    for (const [node, status] of steps) assert.ok(['succeeded', 'skipped', 'failed', 'timed_out', 'cancelled'].includes(status ?? ''), `${node}: ${status}`);
    assert.equal(shown.deliver, 'succeeded');
    assert.equal(steps.length, videoRender.graph.nodes.size);
    const children = await page.$$eval('#related a', (links) => links.map((a) => a.textContent));
    assert.equal(children.length, 1, 'its render-farm run is linked');
    assert.match(children[0] ?? '', /^render-farm /);
    const log = await page.textContent('#log');
    assert.match(log ?? '', /run_end/, 'the end came over the event stream');
    assert.deepEqual(problems, [], 'no script errors, no CSP violations');
    await page.screenshot({ path: new URL('live-view.png', SCREENSHOTS).pathname, fullPage: true });
    await page.close();
  });

  test('shows a batch as per-stage progress bars, to its end', async () => {
    const hold = latch();
    const batch = stages<number>('thumbnails', { observe: live })
      .stage('decode', { workers: 3, tasks: (n: number) => n })
      .stage('resize', { workers: 2, tasks: (n: number) => (n === 199 ? hold.promise.then(() => n) : n) })
      .stage('upload', { workers: 2, tasks: (n: number) => (n % 50 === 7 ? Promise.reject(new Error('503 from storage')) : n) })
      .start({ expected: 200 });
    const page = await browser.newPage({ viewport: { width: 1280, height: 700 } });
    await page.goto(`${server.url}/#run=${batch.runId}`);
    const feeding = batch.feed(range(200));
    await page.waitForSelector('tr.stage[data-stage="resize"]', DOM_GUARD);
    assert.equal(await page.getAttribute('#run-status', 'data-status'), 'running');
    hold.resolve();
    await feeding;
    await batch.join();
    await page.waitForSelector('#run-status[data-status="failed"]', DOM_GUARD);
    const rows = await page.$$eval('tr.stage', (trs) => trs.map((tr) => [tr.getAttribute('data-stage'), tr.textContent]));
    assert.deepEqual(
      rows.map(([stage]) => stage),
      ['decode', 'resize', 'upload'],
    );
    assert.match(rows[2]?.[1] ?? '', /196 done.*4 failed/);
    const widths = await page.$$eval('tr.stage .bar .done', (bars) => bars.map((bar) => /width: ([^;]+)/.exec(bar.getAttribute('style') ?? '')?.[1]));
    assert.deepEqual(widths, ['100%', '100%', '98%']);
    await page.screenshot({ path: new URL('live-batch.png', SCREENSHOTS).pathname, fullPage: true });
    await page.close();
  });
});
