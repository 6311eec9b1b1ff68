// Definition analysis and Mermaid rendering at the edges: self-loops,
// pipelines that contain themselves, reused children, awkward node names.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DefinitionError, pipeline, STOP } from '../sdk/index.ts';
import { definitionError } from './support.ts';

const noop = () => undefined;

const KEYWORDS = new Set(['end', 'subgraph', 'graph', 'flowchart', 'style', 'click', 'classDef', 'class', 'direction', 'linkStyle']);

/**
 * Structural validity of a flowchart: balanced subgraph/end at the same
 * indentation, edges only between declared ids, labels without a raw quote
 * inside, and no line that is a bare keyword except a block's own `end`.
 */
function assertWellFormed(chart: string): { declared: Set<string>; edges: string[][] } {
  const lines = chart.split('\n').filter((l) => l.trim() !== '');
  assert.equal(lines[0], 'flowchart TD');
  const stack: string[] = [];
  const declared = new Set<string>();
  const edges: string[][] = [];
  for (const raw of lines.slice(1)) {
    const indent = /^ */.exec(raw)?.[0] ?? '';
    const line = raw.trim();
    if (line.startsWith('classDef ')) continue;
    const open = /^subgraph (\w+) \["[^"]*"\]$/.exec(line);
    if (open?.[1]) {
      stack.push(indent);
      declared.add(open[1]);
      continue;
    }
    assert.ok(!line.startsWith('subgraph'), `malformed subgraph line: ${raw}`);
    if (line === 'end') {
      assert.equal(stack.pop(), indent, `an 'end' that closes no subgraph at its indentation:\n${chart}`);
      continue;
    }
    assert.ok(!KEYWORDS.has(line.split(/\s/)[0] ?? ''), `a line starting with a keyword: ${raw}`);
    const edge = /^(\w+) (?:-->|-- "[^"]*" -->|-\. each item \.->|-\.->) (\w+)$/.exec(line);
    if (edge) {
      edges.push([edge[1] ?? '', edge[2] ?? '']);
      continue;
    }
    const node = /^(\w+)(\[\/"[^"]*"\/\]|\[\[?"[^"]*"\]\]?|\{\{?"[^"]*"\}\}?|\(\["[^"]*"\]\)|\(\(stop\)\))(:::\w+)?$/.exec(line);
    assert.ok(node?.[1], `not a node, edge or block line (raw quote or broken shape?): ${raw}`);
    declared.add(node[1]);
  }
  assert.deepEqual(stack, [], 'every subgraph is closed');
  for (const [from, to] of edges) {
    assert.ok(declared.has(from ?? ''), `edge from undeclared '${from}' in:\n${chart}`);
    assert.ok(declared.has(to ?? ''), `edge to undeclared '${to}' in:\n${chart}`);
  }
  return { declared, edges };
}

/** The id declared for the node whose label starts with `text`. */
function idOf(chart: string, text: string): string {
  const line = chart.split('\n').find((l) => l.includes(`"${text}`) && !l.includes('--'));
  const id = line ? /^\s*(?:subgraph )?(\w+)/.exec(line)?.[1] : undefined;
  assert.ok(id, `no node labelled '${text}' in:\n${chart}`);
  return id;
}

describe('definition analysis: loops and recursion', () => {
  it('rejects a step that points to itself, printing the loop', () => {
    const error = definitionError(() => pipeline('self').step('a', noop, { to: 'a' }).validate());
    assert.ok(error.problems.some((m) => /cycle: a -> a;/.test(m)), error.message);
  });

  it('rejects a switch that routes to itself', () => {
    const p = pipeline('sw')
      .step('start', noop, { to: 'choose' })
      .switch('choose', () => 'again', { routes: { again: 'choose', done: STOP } });
    const error = definitionError(() => p.validate());
    assert.ok(error.problems.some((m) => /cycle: choose -> choose;/.test(m)), error.message);
  });

  it('rejects a pipeline that contains itself, naming the recursion, and toMermaid fails the same way', () => {
    const a = pipeline('loop-a');
    a.step('start', noop, { to: 'again' }).sub('again', a, { state: () => undefined });
    const error = definitionError(() => a.validate());
    assert.match(error.message, /sub-pipeline recursion: 'loop-a' \(step 'again'\) -> 'loop-a'/);
    assert.ok(definitionError(() => a.toMermaid()) instanceof DefinitionError);
    assert.ok(definitionError(() => a.run(undefined)) instanceof DefinitionError);
  });

  it('rejects two pipelines that contain each other, from either side', () => {
    const a = pipeline('ping');
    const b = pipeline('pong');
    a.step('serve', noop, { to: 'to-b' }).sub('to-b', b, { state: () => undefined });
    b.step('return', noop, { to: 'to-a' }).sub('to-a', a, { state: () => undefined });
    assert.match(definitionError(() => a.toMermaid()).message, /'ping' \(step 'to-b'\) -> 'pong' \(step 'to-a'\) -> 'ping'/);
    assert.match(definitionError(() => b.run(undefined)).message, /'pong' \(step 'to-a'\) -> 'ping' \(step 'to-b'\) -> 'pong'/);
  });

  it('reports recursion together with the other problems of the definition', () => {
    const a = pipeline('both');
    a.step('start', noop, { to: 'nowhere' }).step('inner', noop, { to: 'again' }).sub('again', a, { state: () => undefined });
    const error = definitionError(() => a.validate());
    assert.ok(error.problems.some((m) => /unknown step 'nowhere'/.test(m)), error.message);
    assert.ok(error.problems.some((m) => /sub-pipeline recursion/.test(m)), error.message);
  });

  it('accepts a self-containing sub step replaced by withSteps (nothing recurses)', () => {
    const a = pipeline('mocked');
    a.step('start', noop, { to: 'again' }).sub('again', a, { state: () => undefined });
    const chart = a.withSteps({ again: () => 'stub' }).toMermaid();
    assertWellFormed(chart);
    assert.ok(!chart.includes('subgraph'));
  });

  it('accepts the same child in two places (not recursion)', () => {
    const child = pipeline('leaf').step('work', noop);
    const p = pipeline('twice')
      .sub('first', child, { state: () => undefined, to: 'second' })
      .sub('second', child, { state: () => undefined });
    assert.doesNotThrow(() => p.validate());
  });
});

describe('Mermaid rendering: edge cases', () => {
  it('renders a single step without edges', () => {
    const chart = pipeline('one').step('only', noop).toMermaid();
    const { declared, edges } = assertWellFormed(chart);
    assert.equal(edges.length, 0);
    assert.equal(declared.size, 1);
  });

  it('renders the same child twice as two subgraphs with distinct ids', () => {
    const child = pipeline('leaf').step('work', noop, { to: 'done' }).step('done', noop);
    const chart = pipeline('twice')
      .sub('first', child, { state: () => undefined, to: 'second' })
      .sub('second', child, { state: () => undefined })
      .toMermaid();
    const { declared, edges } = assertWellFormed(chart);
    assert.equal(chart.match(/^\s*subgraph /gm)?.length, 2);
    assert.equal(chart.split('"work"').length - 1, 2);
    assert.equal(declared.size, 6, 'two subgraphs and four inner nodes, each with its own id');
    const first = idOf(chart, 'first: sub-pipeline leaf');
    const second = idOf(chart, 'second: sub-pipeline leaf');
    assert.notEqual(first, second);
    assert.ok(
      edges.some(([from, to]) => from?.startsWith(`${first}_`) && to?.startsWith(`${second}_`)),
      'the first copy exits into the second',
    );
  });

  it('keeps awkward names and Mermaid keywords inside quoted labels', () => {
    const names = ['end', 'subgraph', 'graph', 'style', 'click', 'has space', 'say "hi"', 'a[b]{c}(d)', 'ticket #42', 'naïve → 日本', 'x;y|z'];
    const child = pipeline('end').step('end', noop, { to: 'subgraph' }).step('subgraph', noop);
    let p = pipeline('weird');
    names.forEach((name, i) => {
      p = p.step(name, noop, { to: names[i + 1] ?? 'inner' });
    });
    p = p.sub('inner', child, { state: () => undefined });
    const chart = p.toMermaid();
    const { declared, edges } = assertWellFormed(chart);
    assert.equal(edges.length, names.length + 1);
    assert.ok(declared.size >= names.length + 3);
    assert.ok(chart.includes('"say #quot;hi#quot;"'));
    assert.ok(chart.includes('"naïve → 日本"'));
    assert.ok(chart.includes('"ticket #35;42"'), 'a # is escaped, so it never starts an entity');
  });

  it('keeps a name that spells a Mermaid entity literal', () => {
    const chart = pipeline('entity').step('a #quot; b', noop).toMermaid();
    assertWellFormed(chart);
    assert.ok(chart.includes('"a #35;quot; b"'), chart);
  });

  it('keeps a name containing a line break on one line', () => {
    const chart = pipeline('nl').step('two\nlines', noop, { to: 'next' }).step('next', noop).toMermaid();
    assertWellFormed(chart);
    assert.ok(chart.includes('"two<br>lines"'));
  });

  it('shows the each-item edge into a sub-pipeline worker', () => {
    const child = pipeline<{ n: number }>('per-item').step('handle', noop, { to: 'store' }).step('store', noop);
    const chart = pipeline('fan')
      .map('items', () => [1, 2], { worker: 'each', to: 'after' })
      .sub('each', child, { state: () => ({ n: 0 }) })
      .step('after', noop)
      .toMermaid();
    const { edges } = assertWellFormed(chart);
    const map = idOf(chart, 'items (map');
    const sub = idOf(chart, 'each: sub-pipeline per-item');
    const handle = idOf(chart, 'handle');
    assert.ok(handle.startsWith(`${sub}_`), 'the worker steps sit inside its subgraph');
    assert.match(chart, new RegExp(`^\\s*${map} -\\. each item \\.-> ${handle}$`, 'm'));
    assert.ok(edges.some(([from, to]) => from === map && to === idOf(chart, 'after')));
  });

  it("draws a child's hooks inside its subgraph without colliding with the parent's", () => {
    const child = pipeline('hooked').onStartup('lease', noop).onShutdown('unlease', noop).step('work', noop);
    const chart = pipeline('parent')
      .onStartup('warm', noop)
      .onShutdown('cool', noop)
      .step('begin', noop, { to: 'kid' })
      .sub('kid', child, { state: () => undefined })
      .toMermaid();
    const { declared } = assertWellFormed(chart);
    const lines = chart.split('\n');
    const open = lines.findIndex((l) => /^\s*subgraph /.test(l));
    const close = lines.findIndex((l, i) => i > open && l.trim() === 'end');
    const inside = lines.slice(open + 1, close).join('\n');
    assert.match(inside, /"startup: lease"/);
    assert.match(inside, /"shutdown: unlease"/);
    const ids = ['startup: warm', 'shutdown: cool', 'startup: lease', 'shutdown: unlease'].map((t) => idOf(chart, t));
    assert.equal(new Set(ids).size, 4, `hook ids collide: ${ids.join(', ')}`);
    for (const id of ids) assert.ok(declared.has(id));
  });
});
