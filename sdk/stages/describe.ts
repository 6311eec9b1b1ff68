// A stage pipeline as a store keeps it: its stages and their options as JSON, and a Mermaid chain.

import { mermaidLabel as label } from '../mermaid.ts';
import { describePipeline, type PipelineDescription } from '../persist.ts';
import type { StagePipeline } from './pipeline.ts';

const described = new WeakMap<object, PipelineDescription>();

/** A JSON-safe copy of a retry option (functions such as `retryIf` are named, not kept). */
function retryOf(retry: unknown): unknown {
  if (retry === undefined || typeof retry === 'number') return retry;
  const { retryIf, ...rest } = retry as { retryIf?: unknown };
  return retryIf ? { ...rest, retryIf: true } : rest;
}

/** What a description needs of a stage pipeline (any `In` and `Out`). */
type Described = Pick<StagePipeline<unknown, unknown>, 'name' | 'options' | 'stages'>;

export function describeStages(pipeline: Described): PipelineDescription {
  let description = described.get(pipeline);
  if (description) return description;
  const stages = pipeline.stages.map((stage) => ({
    name: stage.name,
    workers: stage.workers,
    capacity: stage.capacity,
    tasks: stage.tasks.map((task) => ({ name: task.name, retry: retryOf(task.retry), timeout: task.timeout, concurrency: task.concurrency })),
    retry: retryOf(stage.retry),
    timeout: stage.timeout,
    skip: stage.skip !== undefined,
  }));
  const lines = ['flowchart LR'];
  pipeline.stages.forEach((stage, i) => {
    const tasks = stage.tasks.map((t) => t.name).join(' → ');
    lines.push(`  s${i}[${label(`${stage.name} ×${stage.workers}${tasks === stage.name || tasks === '' ? '' : `: ${tasks}`}`)}]`);
    if (i > 0) lines.push(`  s${i - 1} --> s${i}`);
  });
  description = describePipeline(pipeline.name, 'stages', { stages, meta: pipeline.options.meta ?? {} }, `${lines.join('\n')}\n`, []);
  described.set(pipeline, description);
  return description;
}
