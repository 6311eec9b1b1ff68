// Large pipelines: a chain of 100,000 steps validates, renders, is described
// and runs (nothing walks it by recursion, so no stack overflows); a long branch
// not taken is skipped the same way; definition errors about long chains stay
// readable; an ALL join over N parents does O(N) work, counted, not timed.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Pipeline, type PipelineDescription, pipeline, type RunRecorder, type SpanflowEvent } from '../sdk/index.ts';
import { definitionError } from './support.ts';

const CHAIN = 100_000;

/** `s0 -> s1 -> … -> s{length-1}`, each step returning its position. */
function chain(name: string, length: number, prefix = 's'): Pipeline {
  let p = pipeline(name);
  for (let i = 0; i < length; i++) p = p.step(`${prefix}${i}`, () => i, i + 1 < length ? { to: `${prefix}${i + 1}` } : {});
  return p;
}

/** A start step, `width` parallel steps, and one ALL barrier joining them. */
function wideJoin(width: number, name = `join-${width}`): Pipeline {
  const branches = Array.from({ length: width }, (_, i) => `b${i}`);
  let p = pipeline(name).step('root', () => 'root', { to: 'start' }).step('start', () => 0, { to: branches });
  for (const branch of branches) p = p.step(branch, () => 1, { to: 'join' });
  return p.barrier('join', ({ output }) => branches.reduce((sum, b) => sum + (output<number>(b) ?? 0), 0));
}

describe('a chain of 100,000 steps', () => {
  const long = chain('long-chain', CHAIN);

  it('validates', () => {
    assert.equal(long.validate(), long);
  });

  it('renders as Mermaid, every step and edge in it', () => {
    const text = long.toMermaid();
    assert.match(text, /^flowchart TD\n {2}n0\["s0"\]:::step\n/);
    assert.ok(text.includes(`  n${CHAIN - 1}["s${CHAIN - 1}"]:::step\n`));
    assert.ok(text.includes(`  n${CHAIN - 2} --> n${CHAIN - 1}\n`));
    assert.equal(text.split('\n').filter((line) => line.includes(' --> ')).length, CHAIN - 1);
  });

  it('runs and succeeds, and a store is given its whole description', async () => {
    const described: PipelineDescription[] = [];
    const recorder: RunRecorder = {
      record(description) {
        described.push(description);
        return { listener: () => {}, types: new Set(['run_end'] as const) };
      },
    };
    const result = await long.run(undefined, { persist: recorder });
    assert.equal(result.status, 'succeeded', String(result.error));
    assert.equal(result.outputs[`s${CHAIN - 1}`], CHAIN - 1);
    assert.equal(Object.keys(result.metrics.steps).length, CHAIN);
    assert.equal(described.length, 1);
    const [description] = described as [PipelineDescription];
    assert.equal((description.graph.nodes as unknown[]).length, CHAIN);
    assert.ok(description.mermaid.includes(`n${CHAIN - 2} --> n${CHAIN - 1}`));
  });

  it('behind a switch branch not taken, is skipped step by step, and the run succeeds', async () => {
    let p = pipeline('long-branch-not-taken')
      .switch('pick', () => 'short', { routes: { short: 'done', long: 'l0' } })
      .step('done', () => 'done');
    for (let i = 0; i < CHAIN; i++) p = p.step(`l${i}`, () => i, i + 1 < CHAIN ? { to: `l${i + 1}` } : {});
    let skipped = 0;
    const onEvent = (e: SpanflowEvent) => {
      if (e.type === 'step_end' && e.skipReason === 'not-reached') skipped++;
    };
    const result = await p.run(undefined, { onEvent });
    assert.equal(result.status, 'succeeded', String(result.error));
    assert.equal(skipped, CHAIN);
    assert.equal(result.outputs.done, 'done');
  });

  it('closed into a cycle, is rejected with the cycle shown by its ends', () => {
    let p = pipeline('long-cycle');
    for (let i = 0; i < CHAIN; i++) p = p.step(`s${i}`, () => i, { to: i + 1 < CHAIN ? `s${i + 1}` : 's50000' });
    const error = definitionError(() => p.validate());
    const cycle = error.problems.find((m) => m.startsWith('there is a cycle'));
    assert.equal(
      cycle,
      `there is a cycle: s50000 -> s50001 -> s50002 -> s50003 -> s50004 -> … (49991 more) -> s99996 -> s99997 -> s99998 -> s99999 -> s50000; pipelines are acyclic, so break one of these edges`,
    );
  });

  it('beside a long island it cannot reach, names the first unreachable steps and counts the rest', () => {
    let p = chain('long-island', 10);
    for (let i = 0; i < CHAIN; i++) p = p.step(`t${i}`, () => i, { to: `t${(i + 1) % CHAIN}` });
    const error = definitionError(() => p.validate());
    const unreachable = error.problems.find((m) => m.includes('cannot be reached'));
    assert.equal(
      unreachable,
      `step(s) 't0', 't1', 't2', 't3', 't4', 't5', 't6', 't7', 't8', 't9', … (99990 more) cannot be reached from the root 's0': connect them with \`to\` or remove them`,
    );
  });

  it('of sub-pipelines nested 10,000 deep validates (the nesting is walked without recursion too)', () => {
    let nested: Pipeline = pipeline('depth-0').step('leaf', () => 1);
    for (let depth = 1; depth < 10_000; depth++) nested = pipeline(`depth-${depth}`).sub('child', nested, { state: () => undefined });
    assert.equal(nested.validate(), nested);
  });
});

describe('an ALL join over N parents', () => {
  it('20,000 wide: runs every parent once and the join once, with all of them arrived', async () => {
    const WIDTH = 20_000;
    const result = await wideJoin(WIDTH).run(undefined);
    assert.equal(result.status, 'succeeded', String(result.error));
    assert.equal(result.outputs.join, WIDTH);
    const arrived = result.metrics.barriers.join?.arrived ?? [];
    assert.equal(arrived.length, WIDTH);
    assert.equal(new Set(arrived).size, WIDTH);
    assert.equal(result.metrics.steps.join?.attempts, 1);
  });

  it('tells listeners once that it waits, and once that it is released: events linear in N, not quadratic', async () => {
    const WIDTH = 2_000;
    const waits: SpanflowEvent[] = [];
    const releases: SpanflowEvent[] = [];
    const onEvent = (e: SpanflowEvent) => {
      if (e.type === 'barrier_wait') waits.push(e);
      if (e.type === 'barrier_release') releases.push(e);
    };
    const result = await wideJoin(WIDTH).run(undefined, { onEvent });
    assert.equal(result.status, 'succeeded', String(result.error));
    assert.equal(waits.length, 1, `${waits.length} barrier_wait events for one join`);
    const [wait] = waits;
    assert.ok(wait?.type === 'barrier_wait');
    assert.deepEqual(wait.arrived, ['b0']);
    assert.equal(wait.waitingFor.length, WIDTH - 1);
    assert.equal(wait.waitingFor[0], 'b1');
    assert.equal(releases.length, 1);
    const [release] = releases;
    assert.ok(release?.type === 'barrier_release');
    assert.equal(release.arrived.length, WIDTH);
  });

  for (const resumed of [false, true]) {
    it(`reads its parent list O(N) times in all, not once per arrival${resumed ? ' (a resumed run, whose parents are filtered by reach)' : ''}`, async () => {
      const WIDTH = 2_000;
      const p = wideJoin(WIDTH, `counted-join-${resumed}`).validate();
      // The join's parents as the run sees them, behind a proxy that counts reads of their entries: the
      // work a join does per arrival, observed without a clock.
      const parents = p.graph.shape.parents as Map<string, readonly string[]>;
      let reads = 0;
      const counted = new Proxy(parents.get('join') ?? [], {
        get(target, key, receiver) {
          if (typeof key === 'string' && /^\d+$/.test(key)) reads++;
          return Reflect.get(target, key, receiver);
        },
      });
      parents.set('join', counted);
      const result = await p.run(undefined, resumed ? { resumeFrom: 'start' } : {});
      assert.equal(result.status, 'succeeded', String(result.error));
      assert.equal(result.metrics.barriers.join?.arrived.length, WIDTH);
      assert.ok(reads <= 2 * WIDTH, `${reads} reads of a ${WIDTH}-entry parent list for ${WIDTH} arrivals`);
    });
  }
});
