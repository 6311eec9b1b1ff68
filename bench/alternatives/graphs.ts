// A 10-step graph run, the same work in three engines: ten async no-op steps in a line,
// run one after another (µs per run). spanflow's pipeline(); LangGraph.js's StateGraph,
// compiled without a checkpointer (its default: nothing is saved between steps);
// Mastra's workflow of createStep()s, as it comes and tuned (no input validation, no step
// events, no snapshots: the fastest path its options give, as nothing here reads them).
// No telemetry and no event listeners anywhere.

import { Annotation, END, START, StateGraph } from '@langchain/langgraph';
import { createStep, createWorkflow } from '@mastra/core/workflows';
import { z } from 'zod';
import { pipeline } from '../../sdk/index.ts';
import { interleaved, ratios, spread } from '../report.ts';
import type { GraphComparison } from './results.ts';

export const STEPS = 10;

type State = { n: number };
const input: State = { n: 1 };

// ---- spanflow ----------------------------------------------------------------

let linear = pipeline<State>('linear');
for (let i = 0; i < STEPS; i++) linear = linear.step(`s${i}`, async () => {}, i + 1 < STEPS ? { to: `s${i + 1}` } : {});
linear.validate();

async function spanflowRun(): Promise<void> {
  const result = await linear.run({ ...input });
  if (result.status !== 'succeeded') throw new Error(`spanflow run ended ${result.status}`);
}

// ---- LangGraph.js ------------------------------------------------------------

const GraphState = Annotation.Root({ n: Annotation<number> });
const names = Array.from({ length: STEPS }, (_, i) => `s${i}`);
// addSequence is LangGraph's own way to chain nodes: START -> s0 -> … -> s9 -> END.
const langgraph = new StateGraph(GraphState)
  .addSequence(Object.fromEntries(names.map((name) => [name, async () => ({})])))
  .addEdge(START, 's0')
  .addEdge(`s${STEPS - 1}`, END)
  .compile();

async function langgraphRun(): Promise<void> {
  const result = await langgraph.invoke({ ...input });
  if (result.n !== input.n) throw new Error(`LangGraph run returned ${JSON.stringify(result)}`);
}

// ---- Mastra ------------------------------------------------------------------

const schema = z.object({ n: z.number() });
const steps = names.map((id) => createStep({ id, inputSchema: schema, outputSchema: schema, execute: async ({ inputData }) => inputData }));

function mastraWorkflow(id: string, options: Parameters<typeof createWorkflow>[0]['options']) {
  // Each .then() changes the workflow's type; a loop keeps the last one.
  let workflow = createWorkflow({ id, inputSchema: schema, outputSchema: schema, ...(options && { options }) });
  for (const step of steps) workflow = workflow.then(step) as unknown as typeof workflow;
  return workflow.commit();
}

const mastraDefaults = mastraWorkflow('linear-defaults', undefined);
const mastraTuned = mastraWorkflow('linear-tuned', { validateInputs: false, emitStepEvents: false, shouldPersistSnapshot: () => false });

function mastraRun(workflow: typeof mastraDefaults): () => Promise<void> {
  return async () => {
    const run = await workflow.createRun({ disableScorers: true });
    const result = await run.start({ inputData: { ...input } });
    if (result.status !== 'success') throw new Error(`Mastra run ended ${result.status}`);
  };
}

// ---- measure -----------------------------------------------------------------

/** How many calls of `fn`, one after another, take about `ms`: the size of a sample. */
async function callsIn(fn: () => Promise<void>, ms: number): Promise<number> {
  let calls = 0;
  const started = performance.now();
  while (performance.now() - started < ms) {
    await fn();
    calls++;
  }
  return Math.max(1, Math.round(calls * (ms / (performance.now() - started))));
}

/** A case for `interleaved`: `calls` runs, one after another; the figure is µs per run. */
function usPerRun(fn: () => Promise<void>, calls: number): () => Promise<number> {
  return async () => {
    const started = performance.now();
    for (let i = 0; i < calls; i++) await fn();
    return ((performance.now() - started) * 1000) / calls;
  };
}

export async function compareGraphs(rounds: number, sampleMs: number): Promise<GraphComparison> {
  const engines = { spanflow: spanflowRun, langgraph: langgraphRun, mastra: mastraRun(mastraTuned), mastraDefaults: mastraRun(mastraDefaults) };
  // Warm-up (JIT, lazy imports) doubles as calibration: each sample takes about sampleMs.
  const cases = {} as Record<keyof typeof engines, () => Promise<number>>;
  for (const [name, fn] of Object.entries(engines) as [keyof typeof engines, () => Promise<void>][]) {
    await callsIn(fn, sampleMs);
    cases[name] = usPerRun(fn, await callsIn(fn, sampleMs));
  }
  const samples = await interleaved(cases, rounds);
  return {
    rounds,
    spanflow: spread(samples.spanflow),
    langgraph: spread(samples.langgraph),
    mastra: spread(samples.mastra),
    mastraDefaults: spread(samples.mastraDefaults),
    langgraphRatio: spread(ratios(samples.langgraph, samples.spanflow)),
    mastraRatio: spread(ratios(samples.mastra, samples.spanflow)),
    mastraDefaultsRatio: spread(ratios(samples.mastraDefaults, samples.spanflow)),
  };
}
