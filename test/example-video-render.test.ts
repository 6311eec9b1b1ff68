// The showcase example: three video render scenarios that use every node kind,
// run in-process, and the `npm start` / `npm run graph` programs run as a user would.

import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { before, describe, test } from 'node:test';
import { GpuPool, PIPELINE_META, runScenarios, type ScenarioRun, scenarios, videoRender } from '../examples/video-render/pipeline.ts';
import { NODE_KINDS, type SpanflowEvent, type StepTimeoutError } from '../sdk/index.ts';

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));

describe('video render scenarios, in-process', () => {
  const events = new Map<string, SpanflowEvent[]>();
  let runs: ScenarioRun[] = [];
  let pool: GpuPool;

  const byName = (name: string): ScenarioRun => {
    const found = runs.find((r) => r.scenario.name === name);
    assert.ok(found, `scenario ${name} ran`);
    return found;
  };
  const eventsOf = (name: string): SpanflowEvent[] => events.get(name) ?? [];

  before(async () => {
    pool = new GpuPool(4);
    runs = await runScenarios({
      pool,
      onEvent: (event, scenario) => {
        const list = events.get(scenario.name) ?? [];
        list.push(event);
        events.set(scenario.name, list);
      },
    });
  });

  test('the three scenarios end succeeded, succeeded, timed_out, in turn', () => {
    assert.deepEqual(
      runs.map((r) => r.scenario.name),
      scenarios.map((s) => s.name),
    );
    assert.deepEqual(
      runs.map((r) => r.result.status),
      ['succeeded', 'succeeded', 'timed_out'],
    );
    for (const { scenario, result } of runs) assert.equal(result.status, scenario.expect, scenario.name);
  });

  test('the feature film succeeds after its transient scene failure is retried', () => {
    const film = byName('feature-film');
    assert.equal(film.result.status, 'succeeded');
    const retries = eventsOf('feature-film').filter((e) => e.type === 'step_retry');
    assert.ok(retries.length >= 1, 'at least one step_retry');
    for (const retry of retries) {
      assert.equal(retry.node, 'analyze');
      assert.equal(retry.error.type, 'TransientError');
    }
    assert.equal(film.retries, retries.length);
    assert.equal(film.result.state.analysis.length, film.result.state.scenes);
    assert.ok(film.result.state.analysis.some((a) => a.attempts > 1), 'a scene needed a second attempt');
    assert.ok((film.result.metrics.steps.analyze?.attempts ?? 0) > film.result.state.scenes);
  });

  test('the deadline crunch times out in the render step, and its GPU is reclaimed at shutdown', () => {
    const { result } = byName('deadline-crunch');
    assert.equal(result.status, 'timed_out');
    assert.equal(result.failedNode, 'render-farm-rush');
    assert.equal(result.error?.name, 'StepTimeoutError');
    assert.equal((result.error as StepTimeoutError).node, 'render-frames');
    const renderEnd = eventsOf('deadline-crunch').find((e) => e.type === 'step_end' && e.node === 'render-frames');
    assert.ok(renderEnd?.type === 'step_end');
    assert.equal(renderEnd.status, 'timed_out');
    assert.notEqual(renderEnd.parentRunId, undefined, 'render-frames ran in the render-farm child run');
    assert.equal(result.state.deliveredTo, undefined);
    assert.equal((result.meta.data.gpuPool as { reclaimed: number }).reclaimed, 1);
    assert.equal(pool.leased, 0, 'the shutdown hook left no GPU leased');
  });

  test('every node kind appears in the events', () => {
    const kinds = new Set(
      [...events.values()].flat().flatMap((e) => ('nodeKind' in e ? [e.nodeKind] : [])),
    );
    assert.deepEqual([...kinds].sort(), [...NODE_KINDS].sort());
  });

  test('run meta records the GPU pool and pipeline meta carries version, team and region', () => {
    for (const { scenario, result } of runs) {
      const gpuPool = result.meta.data.gpuPool as Record<string, unknown> | undefined;
      assert.ok(gpuPool, `${scenario.name}: run meta has gpuPool`);
      assert.equal(gpuPool.gpus, 4);
      assert.equal(gpuPool.region, PIPELINE_META.region);
      assert.equal(gpuPool.released, true);
      const start = eventsOf(scenario.name).find((e) => e.type === 'run_start' && e.parentRunId === undefined);
      assert.ok(start?.type === 'run_start');
      assert.deepEqual(start.pipelineMeta, { version: '2.4.0', team: 'media-platform', region: 'eu-west-1' });
    }
    const hooks = eventsOf('quick-promo').flatMap((e) => (e.type === 'hook_end' ? [`${e.phase}:${e.hook}:${e.status}`] : []));
    assert.deepEqual(hooks, ['startup:warm-gpu-pool:succeeded', 'shutdown:release-gpu-pool:succeeded']);
  });

  test('the quality switch runs one render branch and skips the others', () => {
    const expected = {
      'quick-promo': ['low', 'render-farm-fast', ['render-farm-hq', 'render-farm-rush']],
      'feature-film': ['high', 'render-farm-hq', ['render-farm-fast', 'render-farm-rush']],
      'deadline-crunch': ['rush', 'render-farm-rush', ['render-farm-hq', 'render-farm-fast']],
    } as const;
    for (const [name, [route, taken, skippedBranches]] of Object.entries(expected)) {
      const list = eventsOf(name);
      const routeEvent = list.find((e) => e.type === 'route');
      assert.ok(routeEvent?.type === 'route');
      assert.equal(routeEvent.route, route);
      assert.deepEqual(routeEvent.targets, [taken]);
      const end = (node: string | undefined) => list.find((e) => e.type === 'step_end' && e.node === node && e.parentRunId === undefined);
      for (const skipped of skippedBranches) {
        const skippedEnd = end(skipped);
        assert.ok(skippedEnd?.type === 'step_end');
        assert.equal(skippedEnd.status, 'skipped');
        assert.equal(skippedEnd.skipReason, 'not-reached');
      }
      const takenEnd = end(taken);
      assert.ok(takenEnd?.type === 'step_end');
      if (name === 'deadline-crunch') {
        assert.equal(takenEnd.status, 'timed_out');
        continue;
      }
      assert.equal(takenEnd.status, 'succeeded');
      // The ALL barrier behind the switch waited only for the branch that ran.
      const release = list.find((e) => e.type === 'barrier_release' && e.node === 'composite');
      assert.ok(release?.type === 'barrier_release');
      assert.deepEqual(release.arrived, [taken]);
    }
  });

  test('the preview step streams frame tokens', () => {
    for (const name of ['quick-promo', 'feature-film']) {
      const tokens = eventsOf(name).filter((e) => e.type === 'token');
      assert.ok(tokens.length > 0, `${name}: tokens streamed`);
      for (const token of tokens) {
        assert.equal(token.node, 'preview');
        assert.match(String(token.token), /^frame \d+\/\d+ [0-9a-f]{8}$/);
      }
      assert.equal(byName(name).result.metrics.tokens.preview, tokens.length);
    }
  });

  test('each scenario has exactly one top-level run_end, plus its render farm child run', () => {
    for (const { scenario, result } of runs) {
      const ends = eventsOf(scenario.name).filter((e) => e.type === 'run_end');
      const top = ends.filter((e) => e.parentRunId === undefined);
      assert.equal(top.length, 1, scenario.name);
      assert.equal(top[0]?.runId, result.runId);
      const children = ends.filter((e) => e.parentRunId === result.runId);
      assert.equal(children.length, 1, `${scenario.name}: one render-farm run`);
      assert.equal(children[0]?.pipeline, scenario.name === 'deadline-crunch' ? 'rush-farm' : 'render-farm');
    }
  });
});

describe('video render programs', () => {
  test('npm start prints each scenario and a results table', async () => {
    // It stores its runs: in a folder of its own here, not the repository's .spanflow/.
    const dataDir = join(mkdtempSync(join(tmpdir(), 'spanflow-start-')), 'db');
    const { SPANFLOW_DATABASE_URL, DATABASE_URL, ...env } = process.env;
    const { stdout } = await run(process.execPath, ['examples/video-render/main.ts'], { cwd: root, timeout: 60_000, env: { ...env, SPANFLOW_DATA_DIR: dataDir } });
    assert.equal(stdout.match(/succeeded/g)?.length, 4, 'two lines and two table rows say succeeded');
    assert.equal(stdout.match(/timed_out/g)?.length, 2);
    for (const column of ['scenario', 'status', 'duration', 'attempts', 'retries', 'tokens', 'run id']) assert.ok(stdout.includes(column), column);
    assert.match(stdout, /│ feature-film +│ succeeded │ +\d+ ms │ +\d+ │ +[1-9]\d* │/, 'the feature film row shows a retry');
    assert.match(stdout, /deadline-crunch +timed_out +\d+ ms +run [0-9a-f-]{36}/);
    assert.ok(stdout.includes(`runs stored in ${dataDir}`), 'it says where the runs are');
  });

  test('npm start -- --serve prints the live view\'s URL, which shows the runs until Ctrl-C', async () => {
    const dataDir = join(mkdtempSync(join(tmpdir(), 'spanflow-start-')), 'db');
    const { SPANFLOW_DATABASE_URL, DATABASE_URL, ...env } = process.env;
    const child = spawn(process.execPath, ['examples/video-render/main.ts', '--serve=0'], { cwd: root, env: { ...env, SPANFLOW_DATA_DIR: dataDir } });
    let stdout = '';
    const served = new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        if (stdout.includes('Ctrl-C stops')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`exited ${code} before serving: ${stdout}`)));
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      await served;
      const url = /watch the runs live: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(stdout)?.[1];
      assert.ok(url, stdout);
      const { runs } = (await (await fetch(`${url}runs`)).json()) as { runs: { pipeline: string; status: string; source: string }[] };
      const top = runs.filter((r) => r.pipeline === 'video-render' && r.source === 'live');
      assert.deepEqual(top.map((r) => r.status).sort(), ['succeeded', 'succeeded', 'timed_out']);
      assert.match(await (await fetch(url)).text(), /<title>spanflow/);
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0, 'Ctrl-C (SIGTERM here) ends it cleanly');
  });

  test('npm run graph prints a Mermaid flowchart with the render farm expanded', async () => {
    const { stdout } = await run(process.execPath, ['examples/video-render/graph.ts'], { cwd: root, timeout: 30_000 });
    assert.ok(stdout.startsWith('flowchart TD'));
    assert.ok(stdout.includes('subgraph'));
    assert.ok(stdout.includes('render-frames'));
    assert.equal(stdout, videoRender.toMermaid());
  });
});
