// Walks that follow sub-pipelines into the pipelines they contain (rendering,
// describing) read best as recursion. They are written as generators that
// yield the child they would recurse into and are resumed with its result;
// `unnest` runs them on a stack of its own, so however deep pipelines nest,
// the call stack does not grow with them.

/** A walk over one level: yields a child to walk (`Q`), is resumed with that child's result, returns its own (`R`). */
export type Nested<Q, R> = Generator<Q, R, R>;

/** Runs `root`, starting `enter(child)` for every child it yields and resuming it with that child's result. */
export function unnest<Q, R>(root: Nested<Q, R>, enter: (child: Q) => Nested<Q, R>): R {
  const stack: Nested<Q, R>[] = [root];
  let step = root.next();
  for (;;) {
    if (!step.done) {
      const child = enter(step.value);
      stack.push(child);
      step = child.next();
      continue;
    }
    stack.pop();
    const parent = stack.at(-1);
    if (!parent) return step.value;
    step = parent.next(step.value);
  }
}
