// Mermaid rendering: what a user pastes into a Markdown file to see the graph.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pipeline, STOP } from '../sdk/index.ts';

const noop = () => undefined;

function videoPipeline() {
  const child = pipeline<{ n: number }>('render-farm')
    .onStartup('lease-gpu', noop)
    .step('allocate', noop, { to: 'render' })
    .step('render', noop);
  return pipeline('video')
    .onStartup('warm-pool', noop)
    .onStartup('open-cache', noop)
    .onShutdown('release-pool', noop)
    .onShutdown('close-cache', noop)
    .step('accept', noop, { to: ['cdn', 'origin'] })
    .step('cdn', noop, { to: 'normalize' })
    .step('origin', noop, { to: 'normalize' })
    .barrier('normalize', noop, { mode: 'any', barrierTimeout: 50, to: 'extract' })
    .map('extract', () => [], { worker: 'analyze', concurrency: 4, to: 'quality' })
    .step('analyze', noop)
    .switch('quality', () => 'high', { routes: { high: 'farm', low: 'preview', none: STOP } })
    .sub('farm', child, { state: () => ({ n: 0 }), to: 'publish' })
    .step(
      'preview',
      async function* () {
        yield 'frame';
      },
      { to: 'publish' },
    )
    .step('publish', noop);
}

/** The line that declares a node, found by its label. */
function declaration(chart: string, text: string): string {
  const line = chart.split('\n').find((l) => (l.includes(`"${text}"`) || l.includes(`"${text} `)) && !l.includes('-->'));
  assert.ok(line, `no node labelled '${text}' in:\n${chart}`);
  return line.trim();
}

/** The id a node was declared under. */
function idOf(chart: string, text: string): string {
  const id = /^([\w]+)/.exec(declaration(chart, text))?.[1];
  assert.ok(id, `no id for '${text}'`);
  return id;
}

describe('Mermaid rendering', () => {
  const chart = videoPipeline().toMermaid();

  it('is a top-down flowchart', () => {
    assert.match(chart, /^flowchart TD\n/);
  });

  it('gives each node kind its own shape', () => {
    assert.match(declaration(chart, 'accept'), /^\w+\["accept"\]:::step$/);
    assert.match(declaration(chart, 'extract'), /^\w+\[\["extract \(map ×4\)"\]\]:::map$/);
    assert.match(declaration(chart, 'quality'), /^\w+\{"quality"\}:::switch$/);
    assert.match(declaration(chart, 'normalize'), /^\w+\{\{"normalize \(ANY, 50 ms\)"\}\}:::barrier$/);
  });

  it('marks a streaming step', () => {
    assert.match(declaration(chart, 'preview'), /^\w+\[\/"preview ⇶ stream"\/\]:::stream$/);
    assert.doesNotMatch(declaration(chart, 'publish'), /stream/);
  });

  it('shows an ALL barrier without a timeout plainly', () => {
    const p = pipeline('join')
      .step('a', noop, { to: ['b', 'c'] })
      .step('b', noop, { to: 'j' })
      .step('c', noop, { to: 'j' })
      .barrier('j', noop);
    assert.match(p.toMermaid(), /\{\{"j \(ALL\)"\}\}:::barrier/);
  });

  it('expands a sub-pipeline as a subgraph holding its own steps and hooks', () => {
    const lines = chart.split('\n');
    const open = lines.findIndex((l) => /^\s*subgraph \w+ \["farm: sub-pipeline render-farm"\]$/.test(l));
    assert.ok(open >= 0, chart);
    const close = lines.findIndex((l, i) => i > open && l.trim() === 'end');
    const inside = lines.slice(open + 1, close).join('\n');
    assert.match(inside, /\["allocate"\]:::step/);
    assert.match(inside, /\["render"\]:::step/);
    assert.match(inside, /startup: lease-gpu/);
    // The child's steps are declared only inside the subgraph.
    assert.equal(chart.split('"allocate"').length - 1, 1);
  });

  it('wires edges into a sub-pipeline at its entry and out of it from its exits', () => {
    const allocate = idOf(chart, 'allocate');
    const render = idOf(chart, 'render');
    const publish = idOf(chart, 'publish');
    const quality = idOf(chart, 'quality');
    assert.ok(chart.includes(`${quality} -- "high" --> ${allocate}`), chart);
    assert.ok(chart.includes(`${render} --> ${publish}`), chart);
  });

  it('labels switch edges with their route names and shows STOP as an end', () => {
    const quality = idOf(chart, 'quality');
    const preview = idOf(chart, 'preview');
    assert.ok(chart.includes(`${quality} -- "low" --> ${preview}`), chart);
    assert.ok(chart.includes(`${quality}_stop((stop))`), chart);
    assert.ok(chart.includes(`${quality} -- "none" --> ${quality}_stop`), chart);
  });

  it('labels the default route and the targets of a switch without routes', () => {
    const p = pipeline('pick')
      .step('start', noop, { to: ['by-table', 'by-name'] })
      .switch('by-table', () => 'x', { routes: { x: 'a' }, default: 'b' })
      .switch('by-name', () => 'c', { to: ['c', 'd'] })
      .step('a', noop)
      .step('b', noop)
      .step('c', noop)
      .step('d', noop);
    const out = p.toMermaid();
    const [table, name, a, b, c, d] = ['by-table', 'by-name', 'a', 'b', 'c', 'd'].map((n) => idOf(out, n));
    assert.ok(out.includes(`${table} -- "x" --> ${a}`), out);
    assert.ok(out.includes(`${table} -- "default" --> ${b}`), out);
    assert.ok(out.includes(`${name} -- "c" --> ${c}`), out);
    assert.ok(out.includes(`${name} -- "d" --> ${d}`), out);
  });

  it('shows a map handing each item to its worker', () => {
    assert.ok(chart.includes(`${idOf(chart, 'extract')} -. each item .-> ${idOf(chart, 'analyze')}`), chart);
  });

  it('shows startup hooks before the root and shutdown hooks after the leaves, in run order', () => {
    assert.match(chart, /startup\(\["startup: warm-pool → open-cache"\]\):::hook/);
    assert.match(chart, /shutdown\(\["shutdown: close-cache → release-pool"\]\):::hook/);
    assert.ok(chart.includes(`startup -.-> ${idOf(chart, 'accept')}`), chart);
    assert.ok(chart.includes(`${idOf(chart, 'publish')} -.-> shutdown`), chart);
  });

  it('leaves hooks out when there are none', () => {
    const out = pipeline('bare').step('only', noop).toMermaid();
    assert.doesNotMatch(out, /startup|shutdown/);
    assert.match(out, /\["only"\]:::step/);
  });

  it('escapes quotes in step names', () => {
    const out = pipeline('quotes').step('say "hi"', noop).toMermaid();
    assert.match(out, /\["say #quot;hi#quot;"\]/);
  });

  it('only draws edges between nodes it declared', () => {
    const declared = new Set<string>();
    const edges: string[][] = [];
    for (const raw of chart.split('\n')) {
      const line = raw.trim();
      const edge = /^(\w+) (?:-->|-- "[^"]*" -->|-\. each item \.->|-\.->) (\w+)$/.exec(line);
      if (edge) edges.push([edge[1] ?? '', edge[2] ?? '']);
      else {
        const node = /^(?:subgraph )?(\w+)[[{(/ ]/.exec(line);
        if (node?.[1] && !line.startsWith('classDef')) declared.add(node[1]);
      }
    }
    assert.ok(edges.length >= 15, `expected the full set of edges, got ${edges.length}`);
    for (const [from, to] of edges) {
      assert.ok(declared.has(from ?? ''), `edge from undeclared '${from}'`);
      assert.ok(declared.has(to ?? ''), `edge to undeclared '${to}'`);
    }
  });

  it('renders a sub step replaced by withSteps as a plain step', () => {
    const out = videoPipeline()
      .withSteps({ farm: () => 'mocked' })
      .toMermaid();
    assert.doesNotMatch(out, /subgraph/);
    assert.match(out, /\["farm"\]:::step/);
  });
});
