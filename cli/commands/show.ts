// `spanflow show <run>`: one run in full (header, steps with a timeline bar per
// attempt, errors, child runs); `spanflow timeline <run>`: its attempts on a
// time axis, as text bars or a Mermaid gantt chart.

import type { Command } from 'commander';
import type { RunDetail } from '../../exporters/postgres/index.ts';
import { CommandError, type Output } from '../io.ts';
import { duration, durationIsLowerBound, errorLine, oneLine, plain, plural, runLength, shortId, status, time, visible } from '../render/format.ts';
import { table, textWidth } from '../render/table.ts';
import { axis, bar, mermaidGantt, stepLabel, timeline } from '../render/timeline.ts';
import { resolveRun, type StoreFlags, withStore } from '../store.ts';
import { runJson, runsTable } from './runs.ts';
import { JSON_FLAG, storeFlags } from './shared.ts';

/** The run a prefix names, with its steps and child runs (events only when asked). */
async function loadRun(out: Output, flags: StoreFlags, prefix: string, events = false): Promise<RunDetail> {
  return withStore(out, flags, async (store) => {
    const id = await resolveRun(store, prefix);
    const run = await store.getRun(id, { events });
    if (!run) throw new CommandError(`run ${id} is gone: it was deleted while this command ran`);
    return run;
  });
}

function fields(entries: Readonly<Record<string, unknown>> | null | undefined): string {
  return Object.entries(entries ?? {})
    .map(([k, v]) => `${visible(k)}=${oneLine(plain(v))}`)
    .join(' ');
}

function header(out: Output, run: RunDetail): string[] {
  const rows: [string, string][] = [
    ['run', `${run.id}${run.parentRunId ? `  (child of ${shortId(run.parentRunId)})` : ''}`],
    ['pipeline', `${visible(run.pipeline)} (${run.kind}${run.pipelineHash ? `, definition ${run.pipelineHash.slice(0, 12)}` : ''})`],
    ['status', `${status(out, run.status)}${run.failedNode ? ` at ${visible(run.failedNode)}` : ''}`],
    ['started', time(run.startedAt)],
    ['ended', run.endedAt ? `${time(run.endedAt)}${durationIsLowerBound(run) ? ' or later (its last sign of life)' : ''}` : `not yet (last heartbeat ${time(run.heartbeatAt)})`],
    ['duration', `${runLength(run)}${durationIsLowerBound(run) ? ' (at least: up to its last heartbeat or event, before its process stopped)' : ''}`],
    ['trace id', run.traceId ?? '— (no tracer was registered)'],
    ['host', `${visible(run.host)} · pid ${run.pid}`],
  ];
  if (run.error) rows.push(['error', errorLine(run.error)]);
  if (run.suspended) rows.push(['suspended', `at ${visible(run.suspended.node)}${run.suspended.reason ? `: ${oneLine(run.suspended.reason)}` : ''}`]);
  if (run.resumeFrom) rows.push(['resumed', `from ${visible(run.resumeFrom)}`]);
  if (run.resumes > 0) rows.push(['durable', `resumed ${run.resumes === 1 ? 'once' : `${run.resumes} times`} after its process died (restored steps are not listed again)`]);
  if (run.retryOf) rows.push(['retry of', `${run.retryOf}  (spanflow show ${shortId(run.retryOf)})`]);
  if (run.retriedBy) rows.push(['retried by', `${run.retriedBy}  (spanflow show ${shortId(run.retriedBy)})`]);
  if (run.items) {
    const { fed, completed, failed, skipped } = run.items;
    rows.push(['items', `fed ${fed} · completed ${completed} · failed ${failed} · skipped ${skipped}`]);
  }
  const meta = fields(run.runMeta?.data);
  if (meta || run.runMeta?.tags.length) rows.push(['run meta', [meta, ...(run.runMeta?.tags ?? []).map((t) => `#${visible(t)}`)].filter(Boolean).join(' ')]);
  const pipelineMeta = fields(run.pipelineMeta);
  if (pipelineMeta) rows.push(['pipeline meta', pipelineMeta]);
  if (run.eventsDropped > 0) rows.push(['not stored', `${plural(run.eventsDropped, 'event')} could not be written: this record is incomplete`]);
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${out.style('dim', k.padEnd(width))}  ${v}`);
}

function stepsTable(out: Output, run: RunDetail): string {
  const line = timeline(run);
  const head = ['step', 'kind', 'try', 'status', 'duration', 'timeline'];
  const cells = line.spans.map((span) => {
    const { step } = span;
    const why = step.skipReason ? ` (${step.skipReason})` : '';
    return [stepLabel(step, false), step.nodeKind, step.attempt > 0 ? String(step.attempt) : '—', `${status(out, step.status)}${why}`, step.attempt > 0 ? duration(step.durationMs) : '—'];
  });
  const others = head.slice(0, -1).map((h, i) => Math.max(h.length, ...cells.map((c) => textWidth(c[i] ?? ''))));
  const barWidth = Math.max(10, Math.min(60, out.columns - others.reduce((a, b) => a + b, 0) - 2 * others.length));
  const rows = cells.map((c, i) => [...c, `${bar(line.spans[i] as (typeof line.spans)[number], line.total, barWidth)}`]);
  return table(out, head, rows, { right: [2, 4] });
}

function errors(out: Output, run: RunDetail): string | undefined {
  const failed = run.steps.filter((s) => s.error);
  if (failed.length === 0) return undefined;
  const rows = failed.map((s) => [stepLabel(s), status(out, s.status), errorLine(s.error)]);
  return table(out, ['step', 'status', 'error'], rows, { flex: 2 });
}

function renderShow(out: Output, run: RunDetail): void {
  for (const line of header(out, run)) out.line(line);
  out.line();
  if (run.steps.length === 0) out.line(out.style('dim', run.kind === 'stages' ? 'no failed or retried items' : 'no steps recorded'));
  else out.line(stepsTable(out, run));
  const failures = errors(out, run);
  if (failures) {
    out.line();
    out.line(out.style('bold', 'errors'));
    out.line(failures);
  }
  if (run.children.length > 0) {
    out.line();
    out.line(out.style('bold', 'child runs'));
    out.line(runsTable(out, run.children));
  }
}

function cut(text: string, width: number): string {
  const chars = [...text];
  return chars.length > width ? `${chars.slice(0, Math.max(1, width - 1)).join('')}…` : text.padEnd(width);
}

function renderTimeline(out: Output, run: RunDetail): void {
  const line = timeline(run);
  out.line(`${visible(run.pipeline)} run ${shortId(run.id)} · ${status(out, run.status)} · ${runLength(run)}`);
  const started = line.spans.filter((s) => s.from !== undefined);
  if (started.length === 0) {
    out.line(out.style('dim', 'no step started'));
    return;
  }
  const labelWidth = Math.min(32, Math.max(...started.map((s) => textWidth(s.label))));
  const tail = 10 + 2 + Math.max(...started.map((s) => s.step.status.length));
  const barWidth = Math.max(10, out.columns - labelWidth - 2 - 2 - tail);
  for (const span of started) {
    const drawn = out.style(span.step.status === 'succeeded' ? 'green' : span.step.status === 'running' ? 'cyan' : 'red', bar(span, line.total, barWidth));
    const length = span.open ? `${duration((span.to ?? 0) - (span.from ?? 0))}…` : duration(span.step.durationMs);
    out.line(`${cut(span.label, labelWidth)}  ${drawn}  ${length.padStart(10)}  ${status(out, span.step.status)}`);
  }
  out.line(out.style('dim', `${' '.repeat(labelWidth + 2)}${axis(line.total, barWidth)}`));
}

export function registerShow(program: Command, out: Output): void {
  program
    .command('show')
    .description('one run: status, duration, trace id, host; its steps with a timeline; errors; child runs')
    .argument('<run>', 'run id, or its first 4 or more characters')
    .option(...JSON_FLAG)
    .action(async (prefix: string, flags: { json?: boolean }, command: Command) => {
      const run = await loadRun(out, storeFlags(command), prefix);
      if (flags.json) {
        const { events: _events, ...rest } = run;
        return out.json({ ...runJson(rest), children: rest.children.map(runJson) });
      }
      renderShow(out, run);
    });

  program
    .command('timeline')
    .description("a run's step attempts on a time axis (text bars, or a Mermaid gantt chart)")
    .argument('<run>', 'run id, or its first 4 or more characters')
    .option('--mermaid', 'print a Mermaid gantt chart')
    .option(...JSON_FLAG)
    .action(async (prefix: string, flags: { mermaid?: boolean; json?: boolean }, command: Command) => {
      const run = await loadRun(out, storeFlags(command), prefix);
      if (flags.mermaid) return out.write(mermaidGantt(run));
      if (flags.json) {
        const line = timeline(run);
        return out.json({
          run: run.id,
          status: run.status,
          startedAt: run.startedAt,
          totalMs: line.total,
          durationIsLowerBound: durationIsLowerBound(run),
          attempts: line.spans.map((s) => ({
            node: s.step.node,
            index: s.step.index,
            itemId: s.step.itemId,
            attempt: s.step.attempt,
            status: s.step.status,
            fromMs: s.from ?? null,
            toMs: s.to ?? null,
            open: s.open,
          })),
        });
      }
      renderTimeline(out, run);
    });
}
