// Definition-time checks. Every problem is collected, each says what is wrong
// and how to fix it, and the graph's derived shape (edges, parents, root) is
// computed once here and kept with the frozen definition.

import { DefinitionError } from '../errors.ts';
import { didYouMean } from '../suggest.ts';
import { type GraphNode, STOP } from './types.ts';
import { firstCycle } from './cycles.ts';

export interface Shape {
  readonly root: string;
  /** Static successors: `to`, a switch's route targets and default. Map workers are not edges. */
  readonly successors: ReadonlyMap<string, readonly string[]>;
  readonly parents: ReadonlyMap<string, readonly string[]>;
  /** Map worker -> its map. */
  readonly workerOf: ReadonlyMap<string, string>;
}

/** Each target once (a name listed twice in `to` is one edge: a join counts its parents, not its edges). */
export function successorsOf(node: GraphNode<unknown, unknown>): string[] {
  const targets = new Set(node.to);
  if (node.kind !== 'switch') return [...targets];
  for (const target of Object.values(node.routes ?? {})) if (target !== STOP) targets.add(target);
  if (node.default !== undefined && node.default !== STOP) targets.add(node.default);
  return [...targets];
}

export function analyze(pipeline: string, nodes: ReadonlyMap<string, GraphNode<unknown, unknown>>): Shape {
  const problems: string[] = [];
  const names = [...nodes.keys()];
  if (nodes.size === 0) throw new DefinitionError(pipeline, ['it has no steps: add one with .step(name, fn)']);

  const unknown = (target: string, where: string) => {
    if (!nodes.has(target)) problems.push(`${where} points to unknown step '${target}'.${didYouMean(target, names)}`);
    return nodes.has(target);
  };

  const successors = new Map<string, string[]>();
  const parents = new Map<string, string[]>(names.map((n) => [n, []]));
  const workerOf = new Map<string, string>();
  for (const node of nodes.values()) {
    const next = successorsOf(node).filter((t) => unknown(t, `step '${node.name}'`));
    if (node.kind === 'switch' && !node.routes && node.to.length === 0) {
      problems.push(`switch '${node.name}' has no targets: give it routes ({ routes: { key: 'step' } }) or the steps it may return ({ to: [...] })`);
    }
    successors.set(node.name, next);
    for (const target of next) parents.get(target)?.push(node.name);
    if (node.kind === 'map' && unknown(node.worker, `map '${node.name}' (worker)`)) {
      const other = workerOf.get(node.worker);
      if (other) problems.push(`step '${node.worker}' is the worker of two maps ('${other}' and '${node.name}'): give each map its own worker`);
      workerOf.set(node.worker, node.name);
    }
  }

  for (const [worker, map] of workerOf) {
    const node = nodes.get(worker);
    if (node && node.kind !== 'step' && node.kind !== 'sub') {
      problems.push(`map worker '${worker}' is a ${node.kind}: a worker must be a step or a sub-pipeline`);
    }
    if (node && node.to.length > 0) {
      problems.push(
        `map worker '${worker}' has its own targets (${node.to.join(', ')}): a worker's result goes back to its map '${map}'; move \`to\` onto '${map}'`,
      );
    }
    const feeders = parents.get(worker) ?? [];
    if (feeders.length > 0) {
      problems.push(`map worker '${worker}' is also a target of ${feeders.map((f) => `'${f}'`).join(', ')}: a worker runs only for its map's items`);
    }
  }

  for (const node of nodes.values()) {
    if (node.kind === 'barrier' && (parents.get(node.name)?.length ?? 0) < 2 && !workerOf.has(node.name)) {
      problems.push(`barrier '${node.name}' has ${parents.get(node.name)?.length ?? 0} parent(s): a barrier joins two or more branches; use .step() for a single one`);
    }
  }

  const cycle = firstCycle(names, (name) => (successors.get(name) ?? []).map((target) => [target, target] as const));
  if (cycle) problems.push(`there is a cycle: ${cycleText(cycle.nodes)}; pipelines are acyclic, so break one of these edges`);

  const roots = names.filter((n) => (parents.get(n)?.length ?? 0) === 0 && !workerOf.has(n));
  if (roots.length === 0) problems.push('it has no root: every step has a parent, so none can start');
  if (roots.length > 1) {
    problems.push(
      `it has several roots (${shortList(roots)}): a pipeline starts at exactly one step; connect the others to it with \`to\``,
    );
  }

  const root = roots[0];
  if (root !== undefined && roots.length === 1) {
    const reached = reachable(root, successors, nodes);
    const unreachable = names.filter((n) => !reached.has(n));
    if (unreachable.length > 0) {
      problems.push(`step(s) ${shortList(unreachable.map((n) => `'${n}'`))} cannot be reached from the root '${root}': connect them with \`to\` or remove them`);
    }
  }

  if (problems.length > 0 || root === undefined) throw new DefinitionError(pipeline, problems);
  return { root, successors, parents, workerOf };
}

/** Every node reachable from `start`, map workers included. */
export function reachable(
  start: string,
  successors: ReadonlyMap<string, readonly string[]>,
  nodes: ReadonlyMap<string, GraphNode<unknown, unknown>>,
): Set<string> {
  const seen = new Set<string>([start]);
  const stack = [start];
  for (let name = stack.pop(); name !== undefined; name = stack.pop()) {
    const node = nodes.get(name);
    const next = [...(successors.get(name) ?? [])];
    if (node?.kind === 'map') next.push(node.worker);
    for (const target of next) {
      if (!seen.has(target)) {
        seen.add(target);
        stack.push(target);
      }
    }
  }
  return seen;
}

/** Items of a message, joined; a long list (a chain of 100,000 steps) shows its first ones and how many more there are. */
function shortList(items: readonly string[], shown = 10): string {
  if (items.length <= shown) return items.join(', ');
  return `${items.slice(0, shown).join(', ')}, … (${items.length - shown} more)`;
}

/** A cycle as its path; a long one shows its start and its end, where it closes. */
function cycleText(cycle: readonly string[]): string {
  const ends = 5;
  if (cycle.length <= 2 * ends + 1) return cycle.join(' -> ');
  return `${cycle.slice(0, ends).join(' -> ')} -> … (${cycle.length - 2 * ends} more) -> ${cycle.slice(-ends).join(' -> ')}`;
}
