// A graph pipeline as a store keeps it: nodes, edges and options as JSON, its
// Mermaid flowchart, and the same for every sub-pipeline it runs.

import { describePipeline, type PipelineDescription } from '../persist.ts';
import { renderMermaid } from './mermaid.ts';
import { type Nested, unnest } from './nested.ts';
import type { Graph } from './pipeline.ts';
import { type GraphNode, STOP } from './types.ts';

const described = new WeakMap<Graph<unknown, unknown>, PipelineDescription>();

/** A JSON-safe copy of a retry option (functions such as `retryIf` are named, not kept). */
function retryOf(retry: GraphNode<unknown, unknown>['retry']): unknown {
  if (retry === undefined || typeof retry === 'number') return retry;
  const { retryIf, ...rest } = retry;
  return retryIf ? { ...rest, retryIf: true } : rest;
}

function target(to: string | typeof STOP | undefined): string | undefined {
  return to === STOP ? 'STOP' : to;
}

function nodeOf(node: GraphNode<unknown, unknown>): Record<string, unknown> {
  const common = { name: node.name, kind: node.kind, to: node.to, retry: retryOf(node.retry), timeout: node.timeout, description: node.description };
  switch (node.kind) {
    case 'step':
      return { ...common, streaming: node.streaming };
    case 'barrier':
      return { ...common, streaming: node.streaming, mode: node.mode, barrierTimeout: node.barrierTimeout };
    case 'map':
      return { ...common, worker: node.worker, concurrency: node.concurrency, maxItems: node.maxItems };
    case 'switch':
      return {
        ...common,
        routes: node.routes && Object.fromEntries(Object.entries(node.routes).map(([route, to]) => [route, target(to)])),
        default: target(node.default),
      };
    case 'sub':
      return { ...common, pipeline: node.child.name };
  }
}

export function describeGraph(graph: Graph<unknown, unknown>): PipelineDescription {
  return unnest(describe(graph), describe);
}

/** One graph's description; yields each sub-pipeline's graph to be described first. */
function* describe(graph: Graph<unknown, unknown>): Nested<Graph<unknown, unknown>, PipelineDescription> {
  let description = described.get(graph);
  if (description) return description;
  const subs = new Map<string, PipelineDescription>();
  for (const node of graph.nodes.values()) {
    if (node.kind !== 'sub') continue;
    const child: PipelineDescription = yield node.child.graph as Graph<unknown, unknown>;
    subs.set(child.name, child);
    for (const grandchild of child.subPipelines) subs.set(grandchild.name, grandchild);
  }
  const json = {
    root: graph.shape.root,
    nodes: [...graph.nodes.values()].map(nodeOf),
    startup: graph.startup.map((h) => h.name),
    shutdown: graph.shutdown.map((h) => h.name),
    meta: graph.meta,
    maxConcurrency: graph.options.maxConcurrency,
  };
  description = describePipeline(graph.name, 'graph', json, renderMermaid(graph), [...subs.values()]);
  described.set(graph, description);
  return description;
}
