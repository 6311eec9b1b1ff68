// Looking into stored runs on the embedded database (SQLite): `timeline` as
// text bars and as a Mermaid gantt chart, `compare`, `export --json` (the
// events come back as the engine emitted them), `replay` (the streamed tokens
// in order) and `stats`.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { openStore } from '../exporters/postgres/index.ts';
import type { SpanflowEvent } from '../sdk/index.ts';
import { cli, ok, persistShowcase, plain, type Showcase } from './cli-support.ts';
import { tempFolder } from './support.ts';

const folder = tempFolder('cli-inspect');
const at = ['--data-dir', folder.path];
let showcase: Showcase;

before(async () => {
  const store = await openStore({ dataDir: folder.path });
  showcase = await persistShowcase(store);
  await store.close();
});
after(() => folder.cleanup());

describe('spanflow timeline', () => {
  test('draws a bar per started attempt, scaled to the terminal, over an axis from 0 to the run length', async () => {
    const columns = 100;
    const out = await ok(['timeline', ...at, showcase.id('feature-film').slice(0, 8)], { columns });
    const lines = out.trimEnd().split('\n');
    assert.match(lines[0] ?? '', /^video-render run [0-9a-f]{8} · succeeded · \d+(\.\d+)? m?s$/);
    const bars = lines.slice(1, -1);
    assert.ok(bars.some((l) => /^analyze\[5\] #2\s+ *█+ *\s+\S+ m?s {2}succeeded$/.test(l)), 'the retry is its own bar');
    assert.ok(bars.some((l) => /^analyze\[5\]\s+ *█+ *\s+\S+ m?s {2}retrying$/.test(l)));
    assert.ok(!bars.some((l) => l.startsWith('render-farm-fast')), 'a step that never started has no bar');
    for (const line of lines) assert.ok([...line].length <= columns, `${line} fits`);
    assert.match(lines.at(-1) ?? '', /^\s+0\s+.*\s\d+(\.\d+)? m?s$/);
    // The bars sit in time order: accept starts no later than deliver.
    const start = (node: string) => bars.find((l) => l.startsWith(`${node} `))?.indexOf('█') ?? -1;
    assert.ok(start('accept') >= 0 && start('accept') <= start('deliver'));
  });

  test('--mermaid prints a gantt chart: a section per node, a task per attempt, failed attempts marked crit', async () => {
    const out = await ok(['timeline', ...at, showcase.id('deadline-crunch'), '--mermaid']);
    const lines = out.trimEnd().split('\n');
    assert.deepEqual(lines.slice(0, 1), ['gantt']);
    assert.match(out, /\n {2}title video-render run [0-9a-f]{8} timed_out \d/);
    assert.match(out, /\n {2}dateFormat x\n/);
    assert.match(out, /\n {2}section accept\n {4}accept succeeded :done, t0, \d{13}, \d{13}\n/);
    assert.match(out, /\n {2}section render-farm-rush\n {4}render-farm-rush timed_out :crit, t\d+, \d{13}, \d{13}\n/);
    assert.doesNotMatch(out, /render-farm-fast/);
    for (const line of lines.filter((l) => l.startsWith('    '))) {
      const [, from, to] = /, (\d+), (\d+)$/.exec(line) ?? [];
      assert.ok(Number(to) >= Number(from), `${line}: ends no earlier than it starts`);
    }
  });

  test('--json gives each attempt with its offsets from the run start', async () => {
    const out = JSON.parse(await ok(['timeline', ...at, showcase.id('quick-promo'), '--json']));
    const preview = out.attempts.find((a: { node: string }) => a.node === 'preview');
    assert.equal(preview.status, 'succeeded');
    assert.ok(preview.fromMs >= 0 && preview.toMs >= preview.fromMs && preview.toMs <= out.totalMs);
  });
});

describe('spanflow compare', () => {
  test('puts two runs side by side with the duration difference and each step', async () => {
    const a = showcase.id('quick-promo');
    const b = showcase.id('deadline-crunch');
    const out = await ok(['compare', ...at, a.slice(0, 8), b.slice(0, 8)]);
    assert.match(out, new RegExp(`\\nrun\\s+${a.slice(0, 8)}\\s+${b.slice(0, 8)}\\n`));
    assert.match(out, /\nstatus\s+succeeded\s+timed_out\n/);
    // The difference is signed; which run was slower depends on the machine's load, so only its shape is checked.
    assert.match(out, /\nduration\s+\S+ m?s\s+\S+ m?s \((?:[≥≤] )?[+-]?\S+ m?s\)\n/);
    assert.match(out, /\nsame pipeline definition\n/);
    assert.match(out, /\nrender-farm-fast\s+1\s+\S+ m?s\s+0 \(1 skipped\)/, 'promo took the fast farm, the crunch skipped it');
    assert.match(out, /\nrender-farm-hq\s+0 \(1 skipped\)\s+\S+ m?s\s+0 \(1 skipped\)/);
    assert.match(out, /\nrender-farm-rush\s+0 \(1 skipped\)\s+\S+ m?s\s+1 \(1 timed_out\)/);
    assert.match(out, /\ndeliver\s+1\s+\S+ m?s\s+—\s+—\s+—/, 'the crunch never got to deliver');
  });

  test('--json gives the comparison as the store computes it', async () => {
    const c = JSON.parse(await ok(['compare', ...at, showcase.id('feature-film'), showcase.id('quick-promo'), '--json']));
    assert.equal(c.sameDefinition, true);
    assert.equal(typeof c.durationDeltaMs, 'number');
    const analyze = c.steps.find((s: { node: string }) => s.node === 'analyze');
    assert.equal(analyze.a.attempts, 9, 'eight scenes, one retried');
    assert.equal(analyze.b.attempts, 4);
  });
});

describe('spanflow export', () => {
  test('gives the run, its steps and every event, rebuilt as the events the engine emitted', async () => {
    for (const { result } of showcase.runs) {
      const exported = JSON.parse(await ok(['export', ...at, result.runId.slice(0, 8), '--json']));
      assert.equal(exported.run.id, result.runId);
      assert.equal(exported.run.status, result.status);
      assert.ok(exported.steps.length > 10);
      const emitted = showcase.events.get(result.runId) ?? [];
      assert.ok(emitted.length > 20);
      assert.deepEqual(exported.events.map(plain), emitted.map(plain));
      for (const [i, e] of (exported.events as SpanflowEvent[]).entries()) {
        assert.ok(Math.abs(e.time - (emitted[i]?.time ?? 0)) < 0.0015, `event ${e.seq}: time kept`);
      }
    }
  });
});

describe('spanflow replay', () => {
  const streamed = () =>
    (showcase.events.get(showcase.id('quick-promo')) ?? []).filter((e): e is Extract<SpanflowEvent, { type: 'token' }> => e.type === 'token');

  test('prints the tokens of the streaming step in the order they came', async () => {
    const expected = streamed().map((e) => String(e.token));
    assert.ok(expected.length > 2);
    const out = await ok(['replay', ...at, showcase.id('quick-promo').slice(0, 8), '--speed', '20']);
    assert.deepEqual(out.trimEnd().split('\n'), expected);
    assert.equal(await ok(['replay', ...at, showcase.id('quick-promo'), '--step', 'preview', '--speed', '0']), out);
  });

  test('--json writes one line per token with its index and its offset from the step start', async () => {
    const out = await ok(['replay', ...at, showcase.id('quick-promo'), '--json', '--speed', '0']);
    const tokens = out
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.deepEqual(
      tokens.map((t) => t.tokenIndex),
      streamed().map((e) => e.tokenIndex),
    );
    assert.ok(tokens.every((t, i) => t.node === 'preview' && t.offsetMs >= 0 && (i === 0 || t.offsetMs >= tokens[i - 1].offsetMs)));
  });

  test('a step without tokens, or a bad speed, is a clear error', async () => {
    const none = await cli(['replay', ...at, showcase.id('quick-promo'), '--step', 'deliver']);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /step 'deliver' yielded no tokens in run .*: steps with tokens: preview/);
    const crunch = await cli(['replay', ...at, showcase.id('deadline-crunch')]);
    assert.equal(crunch.code, 1);
    assert.match(crunch.stderr, /has no tokens to replay: none of its steps streamed/);
    const speed = await cli(['replay', ...at, showcase.id('quick-promo'), '--speed', 'fast']);
    assert.equal(speed.code, 2);
    assert.match(speed.stderr, /'fast' is not a speed: give a positive factor/);
  });
});

describe('spanflow stats', () => {
  test('counts the runs by status per pipeline, with the slowest steps and the errors by type', async () => {
    const out = await ok(['stats', ...at]);
    assert.match(out, /^3 runs started in the last 7 days \(since .*\): 2 succeeded, 1 timed_out\n/);
    assert.match(out, /\nvideo-render\s+3\s+2 succeeded, 1 timed_out\s+66\.7%\s/);
    assert.match(out, /\nslowest steps \(by p95\)\n/);
    assert.match(out, /\n {2}by type {2}.*StepTimeoutError 2/);
    assert.match(out, /TransientError 1/);
    const json = JSON.parse(await ok(['stats', ...at, '--days', '1', '--children', '--json']));
    assert.equal(json.runs, 6);
    assert.equal(json.days, 1);
    assert.deepEqual(json.pipelines.map((p: { pipeline: string }) => p.pipeline).toSorted(), ['render-farm', 'rush-farm', 'video-render']);
    assert.equal(json.errors.byType.TransientError, 1);
    const bad = await cli(['stats', ...at, '--days', '-3']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /is not a number of days/);
  });
});
