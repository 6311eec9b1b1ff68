// What users put in names and errors reaches the CLI intact and harmless, on
// the embedded database (SQLite): step and pipeline names with line breaks and
// other control characters keep one row per step in every table; names with
// what Mermaid's gantt syntax reads as its own (':', '#', ';', '%%', a leading
// keyword) stay task names; a thrown non-Error reads as its JSON; an error
// handler's error does not hide the error it handled.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { openStore } from '../exporters/postgres/index.ts';
import { pipeline } from '../sdk/index.ts';
import { ok } from './cli-support.ts';
import { tempFolder } from './support.ts';

const folder = tempFolder('cli-odd');
const at = ['--data-dir', folder.path];

/** Step names with control characters, and how the CLI writes them. */
const CONTROL_NAMES: readonly [string, string][] = [
  ['line\nbreak', 'line\\nbreak'],
  ['carriage\rreturn', 'carriage\\rreturn'],
  ['tab\tstop', 'tab\\tstop'],
  ['esc\u001b[31mred', 'esc\\x1b[31mred'],
  ['separator\u2028here', 'separator\\u2028here'],
];
/** Step names that gantt syntax would eat: a comment, a task data separator, a line end, keywords, a date. */
const GANTT_NAMES = ['%%hidden', '50% done', 'a: b', 'c # d', 'e; f', 'title page', 'Section two', 'click here', 'gantt-ish', '2025-05-01-batch'];
const ODD_PIPELINE = 'odd\npipeline';

let controlRun: string;
let ganttRun: string;
let thrownRun: string;
let handledRun: string;

before(async () => {
  const store = await openStore({ dataDir: folder.path });
  let odd = pipeline(ODD_PIPELINE);
  for (const [i, [name]] of CONTROL_NAMES.entries()) {
    const next = CONTROL_NAMES[i + 1]?.[0];
    odd = odd.step(name, async () => i, next === undefined ? { to: 'fails\nhere' } : { to: next });
  }
  odd = odd.step('fails\nhere', async () => {
    throw new Error('first line\nsecond line');
  });
  controlRun = (await odd.run(undefined, { persist: store })).runId;

  let gantt = pipeline('gantt-names');
  for (const [i, name] of GANTT_NAMES.entries()) {
    const next = GANTT_NAMES[i + 1];
    gantt = gantt.step(name, async () => i, next === undefined ? {} : { to: next });
  }
  ganttRun = (await gantt.run(undefined, { persist: store })).runId;

  thrownRun = (
    await pipeline('throws-object')
      .step('s', () => {
        throw { code: 1, reason: 'quota' };
      })
      .run(undefined, { persist: store })
  ).runId;
  handledRun = (
    await pipeline('handled')
      .step('fetch', () => {
        throw new Error('upstream down');
      }, {
        onError: () => {
          throw new Error('payment provider unavailable');
        },
      })
      .run(undefined, { persist: store })
  ).runId;
  await store.close();
});
after(() => folder.cleanup());

describe('control characters in names', () => {
  test('show keeps one row per step, the characters written out; the header and errors too', async () => {
    const out = await ok(['show', ...at, controlRun]);
    assert.match(out, /\npipeline\s+odd\\npipeline \(graph/);
    const lines = out.split('\n');
    const start = lines.findIndex((l) => /^step\s+kind\s+try\s+status/.test(l));
    const rows = lines.slice(start + 1, start + 1 + CONTROL_NAMES.length + 1);
    assert.deepEqual(
      rows.map((l) => l.split(/\s{2,}/)[0]),
      [...CONTROL_NAMES.map(([, shown]) => shown), 'fails\\nhere'],
    );
    for (const row of rows) assert.match(row, /\s(succeeded|failed)\s/, `${row}: one row, whole`);
    assert.match(out, /\nfails\\nhere\s+failed\s+Error: first line second line\n/);
    assert.ok(!out.includes('\u001b') && !out.includes('\r') && !out.includes('\u2028'), 'nothing acts on the terminal');
  });

  test('runs, timeline, compare and stats keep one line per run, attempt and step', async () => {
    const runs = await ok(['runs', ...at, '--pipeline', ODD_PIPELINE], { columns: 300 });
    assert.match(runs, /^run\s+pipeline.*\n[0-9a-f]{8}\s+odd\\npipeline\s+failed\s.*at fails\\nhere · .*: first line second line\n1–1 of 1 run\n$/);
    const timeline = await ok(['timeline', ...at, controlRun]);
    assert.match(timeline, /^odd\\npipeline run [0-9a-f]{8} · failed · /);
    for (const [, shown] of CONTROL_NAMES) assert.match(timeline, new RegExp(`\\n${shown.replace(/[\\[]/g, '\\$&')}\\s+ *█`));
    assert.equal(timeline.trimEnd().split('\n').length, 1 + CONTROL_NAMES.length + 1 + 1, 'title, one bar per attempt, axis');
    const compare = await ok(['compare', ...at, controlRun, controlRun]);
    for (const [, shown] of CONTROL_NAMES) assert.match(compare, new RegExp(`\\n${shown.replace(/[\\[]/g, '\\$&')}\\s+1\\s`));
    const stats = await ok(['stats', ...at, '--pipeline', ODD_PIPELINE]);
    assert.match(stats, /\nodd\\npipeline\s+1\s+1 failed/);
    assert.match(stats, /\n {2}by step {2}fails\\nhere 1\n/);
  });
});

describe('names in a Mermaid gantt chart', () => {
  test('every attempt stays a task whose name reads back whole: syntax characters and leading keywords become entity codes', async () => {
    const out = await ok(['timeline', ...at, ganttRun, '--mermaid']);
    const lines = out.trimEnd().split('\n');
    const tasks = lines.filter((l) => l.startsWith('    '));
    assert.equal(tasks.length, GANTT_NAMES.length, out);
    assert.equal(lines.filter((l) => l.startsWith('  section ')).length, GANTT_NAMES.length);
    for (const line of lines.slice(1)) assert.doesNotMatch(line.trimStart(), /^%/, `${line}: not a comment`);
    // gantt.jison: a task name is [^#:\n;]+, then ':' and the task data; '%' starts a comment; keywords and dates are matched first.
    const keyword = /^(gantt|dateformat\s|title\s|section\s|click\s|href\s|call\s|\d{4}-\d{2}-\d{2})/i;
    const decode = (text: string) => text.replace(/#(\d+);/g, (_, code: string) => String.fromCharCode(Number(code)));
    for (const [i, line] of tasks.entries()) {
      const found = /^ {4}([^#:;%\n]*(?:#\d+;[^#:;%\n]*)*) :done, t\d+, \d{13}, \d{13}$/.exec(line);
      assert.ok(found?.[1], `${line}: a task line`);
      assert.doesNotMatch(found[1], keyword, `${line}: does not start with a keyword`);
      assert.equal(decode(found[1]), `${GANTT_NAMES[i]} succeeded`);
    }
    const sections = lines.filter((l) => l.startsWith('  section ')).map((l) => decode(l.slice('  section '.length)));
    assert.deepEqual(sections, GANTT_NAMES);
  });
});

describe('a thrown value that is not an Error', () => {
  test('reads as its JSON in runs, show and export, never [object Object]', async () => {
    const runs = await ok(['runs', ...at, '--pipeline', 'throws-object']);
    assert.match(runs, /at s · StepFailedError: step 's' failed after 1 attempt: \{"code":1,"reason":"quota"\}/);
    const show = await ok(['show', ...at, thrownRun]);
    assert.match(show, /\ns\s+failed\s+object: \{"code":1,"reason":"quota"\}\n/);
    const exported = JSON.parse(await ok(['export', ...at, thrownRun]));
    assert.deepEqual(
      [exported.run.error.cause.type, exported.run.error.cause.message],
      ['object', '{"code":1,"reason":"quota"}'],
      'the run keeps what the step threw as its cause',
    );
    for (const text of [runs, show, JSON.stringify(exported)]) assert.ok(!text.includes('[object Object]'));
  });
});

describe('an error handler that throws', () => {
  test('show and runs name its error and, after it, the error it was handling', async () => {
    const show = await ok(['show', ...at, handledRun]);
    assert.match(show, /\nfetch\s+failed\s+Error: payment provider unavailable \(caused by Error: upstream down\)\n/);
    assert.match(show, /\nerror\s+StepFailedError: step 'fetch' failed after 1 attempt: payment provider unavailable \(caused by Error: upstream down\)\n/);
    const runs = await ok(['runs', ...at, '--pipeline', 'handled'], { columns: 300 });
    assert.match(runs, /payment provider unavailable \(caused by Error: upstream down\)\n/);
  });
});
