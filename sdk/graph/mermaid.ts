// Mermaid flowchart of a pipeline: one shape per node kind, streaming steps
// marked, sub-pipelines expanded as subgraphs, hooks shown at both ends.

import { mermaidLabel as label } from '../mermaid.ts';
import { type Nested, unnest } from './nested.ts';
import type { Graph } from './pipeline.ts';
import { type GraphNode, STOP } from './types.ts';

const CLASSES = [
  'classDef step fill:#e8f0fe,stroke:#4a6fa5',
  'classDef stream fill:#e6f4ea,stroke:#3c8d5a',
  'classDef map fill:#fff4e5,stroke:#c77c02',
  'classDef switch fill:#fde8ef,stroke:#b03a64',
  'classDef barrier fill:#ede7f6,stroke:#5e35b1',
  'classDef hook fill:#f1f3f4,stroke:#80868b,stroke-dasharray:3 3',
];

/** The name, with the step's retry and timeout when it has them (`analyze ↻3 ⏱400 ms`). */
function title(node: GraphNode<unknown, unknown>): string {
  const attempts = typeof node.retry === 'number' ? node.retry : node.retry?.attempts;
  const retry = attempts !== undefined && attempts > 1 ? ` ↻${attempts}` : '';
  const timeout = node.timeout === undefined ? '' : ` ⏱${node.timeout} ms`;
  return `${node.name}${retry}${timeout}`;
}

function shape(id: string, node: GraphNode<unknown, unknown>): string {
  const name = title(node);
  switch (node.kind) {
    case 'step':
      return node.streaming ? `${id}[/${label(`${name} ⇶ stream`)}/]:::stream` : `${id}[${label(name)}]:::step`;
    case 'barrier': {
      const timeout = node.barrierTimeout === undefined ? '' : `, ${node.barrierTimeout} ms`;
      return `${id}{{${label(`${name} (${node.mode.toUpperCase()}${timeout})`)}}}:::barrier`;
    }
    case 'map':
      return `${id}[[${label(`${name} (map ×${node.concurrency})`)}]]:::map`;
    case 'switch':
      return `${id}{${label(name)}}:::switch`;
    case 'sub':
      return `${id}[${label(name)}]:::step`;
  }
}

export function renderMermaid(graph: Graph<unknown, unknown>): string {
  const lines = ['flowchart TD'];
  unnest(render(graph, '', lines, '  '), (child) => render(child.graph, child.prefix, lines, child.indent));
  for (const c of CLASSES) lines.push(`  ${c}`);
  return `${lines.join('\n')}\n`;
}

/** A sub-pipeline to expand in place: its graph, the prefix of its ids and its indent. */
interface Subgraph {
  readonly graph: Graph<unknown, unknown>;
  readonly prefix: string;
  readonly indent: string;
}

/** Where a rendered graph is entered and left, in ids. */
interface Ends {
  readonly entry: string;
  readonly exits: string[];
}

/** Renders one graph (the top one or an expanded child) and returns its entry and exit ids; yields the sub-pipelines to expand. */
function* render(graph: Graph<unknown, unknown>, prefix: string, lines: string[], indent: string): Nested<Subgraph, Ends> {
  const ids = new Map<string, string>();
  let counter = 0;
  for (const name of graph.nodes.keys()) ids.set(name, `${prefix}n${counter++}`);
  const id = (name: string) => ids.get(name) ?? name;
  const entries = new Map<string, string>();
  const exits = new Map<string, string[]>();

  for (const node of graph.nodes.values()) {
    if (node.kind === 'sub' && !node.fn) {
      const child = node.child.graph as Graph<unknown, unknown>;
      lines.push(`${indent}subgraph ${id(node.name)} [${label(`${node.name}: sub-pipeline ${child.name}`)}]`);
      const inner = yield { graph: child, prefix: `${id(node.name)}_`, indent: `${indent}  ` };
      lines.push(`${indent}end`);
      entries.set(node.name, inner.entry);
      exits.set(node.name, inner.exits);
    } else {
      lines.push(`${indent}${shape(id(node.name), node)}`);
    }
  }
  const into = (name: string) => entries.get(name) ?? id(name);
  const outOf = (name: string) => exits.get(name) ?? [id(name)];

  for (const node of graph.nodes.values()) {
    if (node.kind === 'switch') {
      const routes = Object.entries(node.routes ?? {});
      if (node.default !== undefined) routes.push(['default', node.default]);
      for (const target of node.to) routes.push([target, target]);
      for (const [route, target] of routes) {
        if (target === STOP) {
          lines.push(`${indent}${id(node.name)}_stop((stop))`);
          lines.push(`${indent}${id(node.name)} -- ${label(route)} --> ${id(node.name)}_stop`);
        } else {
          lines.push(`${indent}${id(node.name)} -- ${label(route)} --> ${into(target)}`);
        }
      }
      continue;
    }
    if (node.kind === 'map') lines.push(`${indent}${id(node.name)} -. each item .-> ${into(node.worker)}`);
    for (const target of node.to) for (const from of outOf(node.name)) lines.push(`${indent}${from} --> ${into(target)}`);
  }

  const root = graph.shape.root;
  const workers = graph.shape.workerOf;
  const leaves = [...graph.nodes.keys()].filter((n) => !workers.has(n) && (graph.shape.successors.get(n)?.length ?? 0) === 0);
  if (graph.startup.length > 0) {
    lines.push(`${indent}${prefix}startup([${label(`startup: ${graph.startup.map((h) => h.name).join(' → ')}`)}]):::hook`);
    lines.push(`${indent}${prefix}startup -.-> ${into(root)}`);
  }
  const leafExits = leaves.flatMap(outOf);
  if (graph.shutdown.length > 0) {
    lines.push(`${indent}${prefix}shutdown([${label(`shutdown: ${graph.shutdown.map((h) => h.name).join(' → ')}`)}]):::hook`);
    for (const leaf of leafExits) lines.push(`${indent}${leaf} -.-> ${prefix}shutdown`);
  }
  return { entry: into(root), exits: leafExits };
}
