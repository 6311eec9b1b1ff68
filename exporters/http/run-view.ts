// Where one run stands, as the live view shows it: folded from the run's own
// events (the one vocabulary; statuses come from runStatusOf / stepStatusOf),
// so a live run and a stored run replayed from its events look the same.

import {
  type ErrorInfo,
  type NodeKind,
  type PipelineDescription,
  type PipelineSnapshot,
  type RunStatus,
  runStatusOf,
  type SpanflowEvent,
  type StepStatus,
  stepStatusOf,
} from '../../sdk/index.ts';

/** One step of a graph run. A map worker's items are counted by status rather than listed. */
export interface StepView {
  readonly node: string;
  readonly kind: NodeKind;
  /** `pending` until the step is first queued. */
  status: StepStatus | 'pending';
  attempts: number;
  /** Epoch ms of its first attempt. */
  startedAt: number | undefined;
  endedAt: number | undefined;
  durationMs: number | undefined;
  error: ErrorInfo | undefined;
  /** A map worker's items (or any step run per item) by their current status. */
  items: Partial<Record<StepStatus, number>> | undefined;
  /** Tokens a streaming step yielded. */
  tokens: number;
}

/** Links to the run elsewhere, when their URLs are configured. */
export interface RunLinks {
  readonly trace?: string;
  readonly grafana?: string;
}

/** A run as `GET /runs/:id` gives it, and as a resync message carries it. */
export interface RunView {
  readonly runId: string;
  readonly pipeline: string;
  readonly kind: 'graph' | 'stages';
  readonly parentRunId: string | undefined;
  /** `live`: this process runs it; `stored`: read from the store. */
  readonly source: 'live' | 'stored';
  /** A stored run left under way by a crashed process is `interrupted`. */
  status: RunStatus | 'interrupted';
  /** The sequence number of the last event this view includes. */
  seq: number;
  startedAt: number | undefined;
  endedAt: number | undefined;
  durationMs: number | undefined;
  traceId: string | undefined;
  error: ErrorInfo | undefined;
  failedNode: string | undefined;
  links: RunLinks;
  /** A graph run's steps, in definition order (steps of no definition, as in a stored run, as they appear). */
  steps: StepView[];
  /** A stage batch: where it stands (the batch's own `snapshot()`). */
  batch: PipelineSnapshot | undefined;
  /** A stored stage batch: its item counters, which the store keeps live. */
  items: { readonly fed: number; readonly completed: number; readonly failed: number; readonly skipped: number } | undefined;
  /** A Mermaid flowchart of the definition, when known. */
  mermaid: string | undefined;
  /** The runs it started (sub-pipelines), in start order. */
  children: { readonly runId: string; readonly pipeline: string }[];
}

/** Link templates: `{traceId}` and `{runId}` are replaced. */
export interface LinkTemplates {
  /** E.g. `http://localhost:16686/trace/{traceId}` (Jaeger). */
  readonly jaeger?: string;
  /** E.g. `http://localhost:3000/d/spanflow-runs?var-run={runId}` (Grafana). */
  readonly grafana?: string;
}

export function linksOf(templates: LinkTemplates | undefined, runId: string, traceId: string | undefined): RunLinks {
  const fill = (template: string) => template.replaceAll('{runId}', encodeURIComponent(runId)).replaceAll('{traceId}', encodeURIComponent(traceId ?? ''));
  return {
    ...(templates?.jaeger && traceId ? { trace: fill(templates.jaeger) } : {}),
    ...(templates?.grafana ? { grafana: fill(templates.grafana) } : {}),
  };
}

export interface RunViewInit {
  readonly runId: string;
  readonly pipeline: string;
  readonly kind: 'graph' | 'stages';
  readonly parentRunId: string | undefined;
  readonly source: 'live' | 'stored';
  /** The definition (a live run's, or the store's): its steps are listed in order before they run. */
  readonly description: Pick<PipelineDescription, 'graph' | 'mermaid'> | undefined;
  readonly links: LinkTemplates | undefined;
}

/** A run's view and what folding its events needs beside it (steps by name, a map's items by index). */
export class RunFold {
  readonly view: RunView;
  readonly #links: LinkTemplates | undefined;
  readonly #steps = new Map<string, StepView>();
  readonly #items = new Map<string, Map<number, StepStatus>>();

  constructor(init: RunViewInit) {
    this.#links = init.links;
    const nodes = init.kind === 'graph' ? ((init.description?.graph.nodes as { name: string; kind: NodeKind }[] | undefined) ?? []) : [];
    this.view = {
      runId: init.runId,
      pipeline: init.pipeline,
      kind: init.kind,
      parentRunId: init.parentRunId,
      source: init.source,
      status: 'pending',
      seq: 0,
      startedAt: undefined,
      endedAt: undefined,
      durationMs: undefined,
      traceId: undefined,
      error: undefined,
      failedNode: undefined,
      links: linksOf(init.links, init.runId, undefined),
      steps: [],
      batch: undefined,
      items: undefined,
      mermaid: init.description?.mermaid,
      children: [],
    };
    for (const node of nodes) this.#step(node.name, node.kind);
  }

  /** Folds one event of the run into its view. */
  apply(event: SpanflowEvent): void {
    const view = this.view;
    view.seq = event.seq;
    const runStatus = runStatusOf(event);
    if (runStatus !== undefined) view.status = runStatus;
    switch (event.type) {
      case 'run_queued':
        view.startedAt = event.time;
        return;
      case 'run_start':
        view.startedAt ??= event.time;
        view.traceId = event.traceId;
        view.links = linksOf(this.#links, view.runId, event.traceId);
        return;
      case 'run_end':
        view.endedAt = event.time;
        view.durationMs = event.durationMs;
        view.error = event.error;
        view.failedNode = event.failedNode;
        if (event.items) view.items = event.items;
        return;
      case 'token':
        this.#step(event.node, event.nodeKind).tokens = event.tokenIndex + 1;
        return;
    }
    // A durable run's checkpoints say nothing the step events do not (a restored step has its step_end).
    if (event.type === 'checkpoint') return;
    const status = stepStatusOf(event);
    if (status === undefined || !('node' in event)) return;
    const step = this.#step(event.node, event.nodeKind);
    const index = 'index' in event ? event.index : undefined;
    if (index !== undefined) {
      this.#item(step, index, status, event);
      return;
    }
    step.status = status;
    switch (event.type) {
      case 'step_start':
        step.attempts = event.attempt;
        step.startedAt ??= event.time;
        step.endedAt = undefined;
        return;
      case 'step_retry':
        step.error = event.error;
        return;
      case 'step_end':
        step.attempts = Math.max(step.attempts, event.attempt);
        step.endedAt = event.time;
        step.durationMs = step.startedAt === undefined ? event.durationMs : event.time - step.startedAt;
        step.error = event.error;
        return;
    }
  }

  /** One item of a map worker: counted; the step is running while any item is. */
  #item(step: StepView, index: number, status: StepStatus, event: SpanflowEvent): void {
    let byIndex = this.#items.get(step.node);
    if (!byIndex) {
      byIndex = new Map();
      this.#items.set(step.node, byIndex);
    }
    const before = byIndex.get(index);
    byIndex.set(index, status);
    step.items ??= {};
    const items = step.items;
    if (before !== undefined) items[before] = (items[before] ?? 1) - 1;
    items[status] = (items[status] ?? 0) + 1;
    if (event.type === 'step_start') {
      step.attempts++;
      step.startedAt ??= event.time;
    }
    const open = (items.queued ?? 0) + (items.running ?? 0) + (items.retrying ?? 0);
    step.status = open > 0 ? 'running' : (items.failed ?? 0) + (items.timed_out ?? 0) > 0 ? 'failed' : 'succeeded';
    step.endedAt = open > 0 ? undefined : event.time;
  }

  #step(node: string, kind: NodeKind): StepView {
    let step = this.#steps.get(node);
    if (!step) {
      step = { node, kind, status: 'pending', attempts: 0, startedAt: undefined, endedAt: undefined, durationMs: undefined, error: undefined, items: undefined, tokens: 0 };
      this.#steps.set(node, step);
      this.view.steps.push(step);
    }
    return step;
  }
}
