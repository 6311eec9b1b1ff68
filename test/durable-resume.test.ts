// Durable runs across processes: a run killed with SIGKILL mid-map is resumed
// by another process. Two resumers race and exactly one proceeds; no step (nor
// map item) whose checkpoint was stored runs again; the step running at the
// kill runs again (at least once); the outputs and state equal an
// uninterrupted run's; attempt numbers and event seqs go on without a gap.

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { openStore, type StoreOptions } from '../exporters/postgres/index.ts';
import { demo } from './fixtures/durable-pipeline.ts';
import { adminQuery, NEEDS_POSTGRES, TEST_DATABASE_URL, tempFolder } from './store-support.ts';
import { HANG_GUARD } from './support.ts';

const CHILD = fileURLToPath(new URL('./fixtures/durable-child.ts', import.meta.url));

function start(args: readonly string[]): { child: ChildProcess; line: (pattern: RegExp) => Promise<RegExpExecArray>; done: Promise<string> } {
  const child = spawn(process.execPath, [CHILD, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  child.stdout?.setEncoding('utf8');
  let out = '';
  const waiters: { pattern: RegExp; resolve: (m: RegExpExecArray) => void }[] = [];
  child.stdout?.on('data', (chunk: string) => {
    out += chunk;
    for (const w of [...waiters]) {
      const found = w.pattern.exec(out);
      if (found) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(found);
      }
    }
  });
  const done = once(child, 'exit').then(() => out);
  const line = (pattern: RegExp) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const found = pattern.exec(out);
      if (found) return resolve(found);
      waiters.push({ pattern, resolve });
      void done.then(() => reject(new Error(`the process ended without printing ${pattern}: ${out}`)));
    });
  return { child, line, done };
}

const callsIn = (file: string): string[] => (existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean) : []);
const tally = (calls: readonly string[]) => {
  const counts = new Map<string, number>();
  for (const c of calls) counts.set(c, (counts.get(c) ?? 0) + 1);
  return counts;
};
/** A run's outputs without what differs between runs (a sub step's run id, times, metrics). */
const comparable = (outputs: Record<string, unknown>) => {
  const sum = outputs.sum as { status: string; state: unknown; outputs: unknown };
  return { ...outputs, sum: { status: sum.status, state: sum.state, outputs: sum.outputs } };
};

interface Where {
  readonly name: string;
  readonly skip: string | false;
  /** The store argument of the child processes, and the options to open it here. */
  readonly prepare: () => Promise<{ arg: string; schema: string; options: StoreOptions; folder: string }>;
}

const folders: { cleanup: () => void }[] = [];
after(() => {
  for (const f of folders) f.cleanup();
});

const PLACES: readonly Where[] = [
  {
    name: 'PostgreSQL',
    skip: NEEDS_POSTGRES,
    prepare: async () => {
      const schema = 'durable_resume';
      await adminQuery(`drop schema if exists ${schema} cascade`);
      const folder = tempFolder('durable-calls');
      folders.push(folder);
      return { arg: TEST_DATABASE_URL, schema, options: { url: TEST_DATABASE_URL, schema }, folder: folder.path };
    },
  },
  {
    name: 'the embedded database',
    skip: false,
    prepare: async () => {
      const folder = tempFolder('durable-resume');
      folders.push(folder);
      return { arg: folder.path, schema: 'spanflow', options: { dataDir: folder.path }, folder: folder.path };
    },
  },
];

for (const place of PLACES) {
  describe(`a durable run killed with SIGKILL, on ${place.name}`, { skip: place.skip }, () => {
    test('is resumed by one of two processes, running only what had not completed', HANG_GUARD, async () => {
      const { arg, schema, options, folder } = await place.prepare();
      const calls = join(folder, 'calls');

      // 1. A run that hangs at item 12 of its map, after the store wrote everything before it; killed there.
      const doomed = start([arg, schema, 'run', calls, 'square:12']);
      const runId = (await doomed.line(/running ([0-9a-f-]{36})/))[1] as string;
      await doomed.line(/hanging at square:12/);
      doomed.child.kill('SIGKILL');
      await doomed.done;
      const before = callsIn(calls);
      assert.deepEqual(before, ['prepare', 'items', ...Array.from({ length: 12 }, (_, i) => `square:${i}`)]);

      // What the store holds at the kill: the steps and items whose checkpoints were written.
      const store = await openStore(options);
      const stored = await store.loadCheckpoints(runId);
      await store.close();
      const checkpointed = (stored?.checkpoints ?? []).filter((c) => c.kind === 'step').map((c) => (c.index === undefined ? c.node : `square:${c.index}`));
      assert.deepEqual(checkpointed, ['prepare', ...Array.from({ length: 12 }, (_, i) => `square:${i}`)]);

      // 2. Two processes resume it at once: one proceeds, the other is refused.
      // The winner waits at `route` until the loser was refused, so the two overlap.
      const resumers = [start([arg, schema, 'resume', calls, runId]), start([arg, schema, 'resume', calls, runId])];
      await Promise.race(resumers.map((r) => r.line(/refused/).catch(() => new Promise(() => {}))));
      writeFileSync(`${calls}.go`, '');
      const outs = await Promise.all(resumers.map((r) => r.done));
      const results = outs.map((out) => /result (.*)/.exec(out)?.[1]).filter((r): r is string => r !== undefined);
      const refusals = outs.map((out) => /refused (\S+)/.exec(out)?.[1]).filter((r): r is string => r !== undefined);
      assert.equal(results.length, 1, `exactly one resumer proceeds: ${outs.join(' | ')}`);
      assert.deepEqual(refusals, ['claimed'], `the other is refused, as claimed: ${outs.join(' | ')}`);
      const resumed = JSON.parse(results[0] as string) as { status: string; runId: string; outputs: Record<string, unknown>; state: unknown };
      assert.equal(resumed.status, 'succeeded');
      assert.equal(resumed.runId, runId, 'a resumed run keeps its id');

      // 3. Nothing checkpointed ran again; the map (under way at the kill) and its item 12 ran again; the rest once.
      const counts = tally(callsIn(calls));
      for (const done of checkpointed) assert.equal(counts.get(done as string), 1, `${done} ran once`);
      assert.equal(counts.get('items'), 2, 'the map producer was under way: it runs again');
      assert.equal(counts.get('square:12'), 1, 'item 12 hung before its call was counted, and ran once on resume');
      for (let i = 13; i < 20; i++) assert.equal(counts.get(`square:${i}`), 1);
      for (const name of ['route', 'add', 'double', 'finish']) assert.equal(counts.get(name), 1, name);
      assert.equal(counts.get('tiny'), undefined, 'the branch not taken never ran');

      // 4. The same outputs and state as an uninterrupted run.
      const fresh = await demo.run({ size: 20, log: [] }, { context: { calls: join(folder, 'fresh-calls') }, durable: false, persist: false });
      assert.equal(fresh.status, 'succeeded');
      assert.deepEqual(comparable(resumed.outputs), comparable(JSON.parse(JSON.stringify(fresh.outputs))));
      assert.deepEqual(resumed.state, JSON.parse(JSON.stringify(fresh.state)));

      // 5. The history goes on: the interrupted attempts are failed, the next ones numbered after them; seqs have no gap.
      const reopened = await openStore(options);
      try {
        const run = await reopened.getRun(runId);
        assert.equal(run?.status, 'succeeded');
        assert.equal(run?.resumes, 1);
        const attemptsOf = (node: string, index: number | null) =>
          run?.steps.filter((s) => s.node === node && s.index === index).map((s) => [s.attempt, s.status, s.error?.type ?? null]);
        assert.deepEqual(attemptsOf('items', null), [
          [1, 'failed', 'InterruptedError'],
          [2, 'succeeded', null],
        ]);
        assert.deepEqual(attemptsOf('square', 12), [
          [1, 'failed', 'InterruptedError'],
          [2, 'succeeded', null],
        ]);
        assert.deepEqual(attemptsOf('square', 3), [[1, 'succeeded', null]], 'a restored item keeps its one attempt');
        const seqs = (run?.events ?? []).map((e) => e.seq);
        assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => i + 1), 'event seqs go on from the stored ones');
        const restored = (run?.events ?? []).filter((e) => e.type === 'step_end' && e.data.restored === true).map((e) => (e.item === null ? e.node : `${e.node}:${e.item}`));
        assert.deepEqual(restored.toSorted(), checkpointed.map((c) => (c as string).replace('square:', 'square:')).toSorted(), 'each checkpointed step ends restored');
        // A resumed run that ended is not resumed again.
        await assert.rejects(demo.resume(runId, { context: { calls }, store: reopened }), { name: 'ResumeError', reason: 'wrong-status' });
      } finally {
        await reopened.close();
      }
    });

    test('killed inside its sub-pipeline: the child run is resumed too, under its own id', HANG_GUARD, async () => {
      const { arg, schema, options, folder } = await place.prepare();
      const calls = join(folder, 'calls-sub');
      const doomed = start([arg, schema, 'run', calls, 'double']);
      const runId = (await doomed.line(/running ([0-9a-f-]{36})/))[1] as string;
      await doomed.line(/hanging at double/);
      doomed.child.kill('SIGKILL');
      await doomed.done;

      const resumer = start([arg, schema, 'resume', calls, runId]);
      const out = await resumer.done;
      const result = JSON.parse(/result (.*)/.exec(out)?.[1] ?? 'null') as { status: string; outputs: { sum: { runId: string; outputs: unknown } } } | null;
      assert.equal(result?.status, 'succeeded', out);
      const counts = tally(callsIn(calls));
      for (const name of ['prepare', 'items', 'route', 'add', 'double', 'finish']) assert.equal(counts.get(name), 1, `${name} ran once`);

      const store = await openStore(options);
      try {
        const parent = await store.getRun(runId);
        const child = parent?.children[0];
        assert.equal(parent?.children.length, 1, 'one child run: the same one, carried on');
        assert.equal(child?.id, result?.outputs.sum.runId);
        assert.equal(child?.status, 'succeeded');
        assert.equal(child?.resumes, 1);
        assert.deepEqual(result?.outputs.sum.outputs, { add: 2470, double: 4940 });
      } finally {
        await store.close();
      }
    });
  });
}
