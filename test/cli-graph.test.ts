// `spanflow graph <module>`: the Mermaid of the pipelines a module exports
// (no database needed), with clear errors for modules that export none, fail
// to import, or hold an invalid pipeline; and the duration and date helpers
// the filters use.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { parseDuration, parseWhen } from '../cli/index.ts';
import { renderFarm, videoRender } from '../examples/video-render/pipeline.ts';
import { bin, cli, ok } from './cli-support.ts';
import { tempFolder } from './support.ts';

const folder = tempFolder('cli-graph');
after(() => folder.cleanup());
const SDK = pathToFileURL(join(import.meta.dirname, '../sdk/index.ts')).href;

/** A module in the temp folder; returns its path. */
function module(name: string, source: string): string {
  const path = join(folder.path, name);
  writeFileSync(path, source);
  return path;
}

describe('spanflow graph', () => {
  test("prints the Mermaid of each pipeline the showcase's module exports", async () => {
    const out = await ok(['graph', 'examples/video-render/pipeline.ts']);
    assert.ok(out.includes(`%% renderFarm: pipeline 'render-farm'\n${renderFarm.toMermaid()}`));
    assert.ok(out.includes(`%% videoRender: pipeline 'video-render'\n${videoRender.toMermaid()}`));
    assert.match(out, /^%% renderFarm/);
  });

  test('--export prints one pipeline, as Mermaid and nothing else', async () => {
    assert.equal(await ok(['graph', 'examples/video-render/pipeline.ts', '--export', 'videoRender']), videoRender.toMermaid());
    const notOne = await cli(['graph', 'examples/video-render/pipeline.ts', '--export', 'scenarios']);
    assert.equal(notOne.code, 1);
    assert.match(notOne.stderr, /export 'scenarios' of .* is not a pipeline: its pipelines are renderFarm \(pipeline 'render-farm'\), rushFarm \(pipeline 'rush-farm'\), videoRender/);
    const missing = await cli(['graph', 'examples/video-render/pipeline.ts', '--export', 'nope']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /has no export named 'nope': its pipelines are renderFarm/);
  });

  test('draws a stage pipeline as its chain of stages', async () => {
    const path = module(
      'stages.ts',
      `import { stages } from '${SDK}';\n` +
        "export const etl = stages<number>('etl').stage('fetch', { workers: 3, tasks: (n: number) => n }).stage('store', { tasks: [{ name: 'encode', run: (n: number) => n }, { name: 'write', run: (n: number) => n }] });\n",
    );
    const out = await ok(['graph', path]);
    assert.equal(out, 'flowchart LR\n  s0["fetch ×3"]\n  s1["store ×1: encode → write"]\n  s0 --> s1\n');
  });

  test('a module with no pipeline, a missing file, a failing import and an invalid pipeline are clear errors', async () => {
    const none = await cli(['graph', module('none.ts', 'export const answer = 42;\nexport function f() {}\n')]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /exports no pipeline \(its exports: answer, f\): export one made with pipeline\(\) or stages\(\)/);
    const absent = await cli(['graph', 'no/such/module.ts']);
    assert.equal(absent.code, 1);
    assert.match(absent.stderr, /no file at .*no\/such\/module\.ts: give the path of a module that exports pipelines/);
    const throws = await cli(['graph', module('throws.ts', "throw new Error('config missing');\n")]);
    assert.equal(throws.code, 1);
    assert.match(throws.stderr, /importing .*throws\.ts failed: config missing/);
    const invalid = await cli([
      'graph',
      module('invalid.ts', `import { pipeline } from '${SDK}';\nexport const p = pipeline('broken').step('a', async () => 1, { to: 'nowhere' });\n`),
    ]);
    assert.equal(invalid.code, 1);
    assert.match(invalid.stderr, /pipeline 'broken' \(export p\) is not valid: .*nowhere/);
    for (const result of [none, absent, throws, invalid]) assert.doesNotMatch(result.stderr, /\n\s+at /);
  });
});

describe('durations and dates on the command line', () => {
  test('a number and a unit, parts adding up', () => {
    assert.equal(parseDuration('7d'), 7 * 86_400_000);
    assert.equal(parseDuration('12h'), 12 * 3_600_000);
    assert.equal(parseDuration('30m'), 1_800_000);
    assert.equal(parseDuration('1h30m'), 5_400_000);
    assert.equal(parseDuration('1.5s'), 1500);
    assert.equal(parseDuration('250ms'), 250);
    assert.equal(parseDuration('2w'), 14 * 86_400_000);
  });

  test('anything else is refused with an example of what works', () => {
    for (const bad of ['', '7', 'd', '-1d', '7x', '7 days', '1h 30m', '7d!', 'NaNd']) {
      assert.throws(() => parseDuration(bad), /is not a duration: give a number and a unit such as 30m, 12h, 7d or 1h30m/, bad);
    }
  });

  test('each unit once, largest first; a repeated or misordered unit is refused with the accepted format', () => {
    assert.equal(parseDuration('1w2d3h4m5s6ms'), 604_800_000 + 2 * 86_400_000 + 3 * 3_600_000 + 4 * 60_000 + 5_000 + 6);
    for (const [bad, why] of [
      ['30d30d', /'30d30d' is not a duration: the unit d comes twice/],
      ['1h1h', /the unit h comes twice/],
      ['30m1h', /'30m1h' is not a duration: h comes after m/],
      ['5ms1s', /s comes after ms/],
    ] as const) {
      assert.throws(() => parseDuration(bad), why, bad);
      assert.throws(() => parseDuration(bad), /give a number and a unit such as 30m, 12h, 7d or 1h30m \(units w, d, h, m, s, ms, each once, largest first\)/);
    }
  });

  test('a duration past a hundred years is refused, naming the limit', () => {
    assert.equal(parseDuration('36500d'), 36_500 * 86_400_000);
    for (const bad of ['36501d', '99999999999d', '5215w', '876001h']) {
      assert.throws(() => parseDuration(bad), new RegExp(`'${bad}' is longer than the limit of 36500 days \\(about a hundred years\\): give 36500d or less`), bad);
    }
    assert.throws(() => parseWhen('99999999999d'), /longer than the limit of 36500 days/);
  });

  test('through the command: bad ages and times are usage errors (exit 2) with the limit or the format, never "a bug"', async () => {
    const cases: [string[], RegExp][] = [
      [['cleanup', '--older-than', '99999999999d'], /option '--older-than <age>' argument '99999999999d' is invalid\. '99999999999d' is longer than the limit of 36500 days/],
      [['runs', '--since', '99999999999d'], /option '--since <when>' argument '99999999999d' is invalid\. '99999999999d' is longer than the limit of 36500 days/],
      [['runs', '--until', '100000w'], /'100000w' is longer than the limit of 36500 days/],
      [['cleanup', '--older-than', '30d30d'], /'30d30d' is not a duration: the unit d comes twice; give a number and a unit/],
      [['runs', '--since', '30d30d'], /'30d30d' is not a duration: the unit d comes twice/],
    ];
    for (const [args, message] of cases) {
      const result = await cli([...args, '--data-dir', folder.path]);
      assert.equal(result.code, 2, args.join(' '));
      assert.match(result.stderr, message, args.join(' '));
      assert.doesNotMatch(result.stderr, /looks like a bug|\n\s+at /);
    }
    const viaBin = await bin(['cleanup', '--older-than', '99999999999d', '--data-dir', folder.path]);
    assert.equal(viaBin.code, 2);
    assert.match(viaBin.stderr, /'99999999999d' is longer than the limit of 36500 days \(about a hundred years\): give 36500d or less/);
    assert.doesNotMatch(viaBin.stderr, /looks like a bug/);
  });

  test('a point in time is a duration ago or a date', () => {
    const now = Date.parse('2025-05-10T12:00:00Z');
    assert.equal(parseWhen('2h', now).toISOString(), '2025-05-10T10:00:00.000Z');
    assert.equal(parseWhen('2025-05-01T08:30:00Z', now).toISOString(), '2025-05-01T08:30:00.000Z');
    assert.throws(() => parseWhen('last week', now), /'last week' is neither a duration ago .* nor a date/);
    assert.throws(() => parseWhen('2025-13-45', now), /nor a date/);
  });
});
