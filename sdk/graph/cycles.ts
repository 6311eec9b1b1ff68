// Finding a cycle: the steps of a graph that lead back to themselves, and a
// sub-pipeline chain that contains itself, are the same search. Depth-first,
// with the open path kept on a stack of its own: a chain of 100,000 steps is
// 100,000 deep, and the call stack must not grow with it.

/** A cycle as the path that closes it: `nodes` ends with the node it starts from again; `via[i]` is the edge from `nodes[i]` to `nodes[i + 1]`. */
export interface Cycle<N, E> {
  readonly nodes: readonly N[];
  readonly via: readonly E[];
}

/** The first cycle a depth-first walk from each of `starts` in turn meets, or undefined. `edgesOf(node)`: its edges, as [label, target]. */
export function firstCycle<N, E>(starts: Iterable<N>, edgesOf: (node: N) => readonly (readonly [E, N])[]): Cycle<N, E> | undefined {
  const state = new Map<N, 'open' | 'done'>();
  /** The open nodes, first one first, each with its edges and the position of the next edge to follow. */
  const path: N[] = [];
  const edges: (readonly (readonly [E, N])[])[] = [];
  const nextAt: number[] = [];
  /** The edges taken along the path. */
  const via: E[] = [];
  const open = (node: N) => {
    state.set(node, 'open');
    path.push(node);
    edges.push(edgesOf(node));
    nextAt.push(0);
  };
  for (const start of starts) {
    if (state.has(start)) continue;
    open(start);
    while (path.length > 0) {
      const top = path.length - 1;
      const list = edges[top] as readonly (readonly [E, N])[];
      const at = nextAt[top] as number;
      if (at === list.length) {
        state.set(path.pop() as N, 'done');
        edges.pop();
        nextAt.pop();
        via.pop();
        continue;
      }
      nextAt[top] = at + 1;
      const [label, next] = list[at] as readonly [E, N];
      const seen = state.get(next);
      if (seen === 'open') {
        const from = path.lastIndexOf(next);
        return { nodes: [...path.slice(from), next], via: [...via.slice(from), label] };
      }
      if (seen === undefined) {
        via.push(label);
        open(next);
      }
    }
  }
  return undefined;
}
