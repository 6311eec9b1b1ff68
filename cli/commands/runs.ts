// `spanflow runs`: the stored runs, newest first, filtered and a page at a time.

import type { Command } from 'commander';
import type { RunPage, RunSummary, StoredRunStatus } from '../../exporters/postgres/index.ts';
import type { Output } from '../io.ts';
import { parseStatuses, parseWhen, wholeNumber } from '../parse.ts';
import { durationIsLowerBound, errorLine, plural, runLength, shortId, status, time, visible } from '../render/format.ts';
import { table } from '../render/table.ts';
import { withStore } from '../store.ts';
import { JSON_FLAG, storeFlags } from './shared.ts';

interface RunsFlags {
  readonly pipeline?: string;
  readonly status?: StoredRunStatus[];
  readonly since?: Date;
  readonly until?: Date;
  readonly limit: number;
  readonly offset: number;
  readonly children?: boolean;
  readonly json?: boolean;
}

/** A run for --json: as stored, and whether its duration is a lower bound (interrupted). */
export function runJson<R extends RunSummary>(run: R): R & { readonly durationIsLowerBound: boolean } {
  return { ...run, durationIsLowerBound: durationIsLowerBound(run) };
}

/** A short note: why it failed, where it stopped, or a stage batch's item counts. */
export function runNote(run: RunSummary): string {
  const parts: string[] = [];
  // A durable run's links first: the error after them may be cut to fit the table.
  if (run.resumes > 0) parts.push(`resumed ${run.resumes === 1 ? 'once' : `${run.resumes} times`}`);
  if (run.retryOf) parts.push(`retry of ${shortId(run.retryOf)}`);
  if (run.retriedBy) parts.push(`retried by ${shortId(run.retriedBy)}`);
  if (run.items) parts.push(`items ${run.items.completed}/${run.items.fed}${run.items.failed ? `, ${run.items.failed} failed` : ''}`);
  if (run.failedNode) parts.push(`at ${visible(run.failedNode)}`);
  if (run.error) parts.push(errorLine(run.error));
  if (run.eventsDropped > 0) parts.push(`${plural(run.eventsDropped, 'event')} not stored`);
  return parts.join(' · ');
}

/** The runs as a table: id prefix, pipeline, status, start, duration, note. */
export function runsTable(out: Output, runs: readonly RunSummary[], withParent = false): string {
  const head = ['run', 'pipeline', 'status', 'started', 'duration', ...(withParent ? ['parent'] : []), 'note'];
  const rows = runs.map((r) => [
    shortId(r.id),
    visible(r.pipeline),
    status(out, r.status),
    time(r.startedAt),
    runLength(r),
    ...(withParent ? [r.parentRunId ? shortId(r.parentRunId) : ''] : []),
    runNote(r),
  ]);
  return table(out, head, rows, { right: [4], flex: head.length - 1 });
}

function footer(page: RunPage): string {
  if (page.total === 0) return '';
  const shown = `${page.offset + 1}–${page.offset + page.runs.length} of ${plural(page.total, 'run')}`;
  return page.nextOffset === undefined ? shown : `${shown} · next page: --offset ${page.nextOffset}`;
}

export function registerRuns(program: Command, out: Output): void {
  program
    .command('runs')
    .description('list stored runs, newest first')
    .option('--pipeline <name>', 'only runs of this pipeline (its exact name)')
    .option('--status <list>', 'only runs with these statuses, comma-separated', parseStatuses)
    .option('--since <when>', 'runs started since then: a duration ago (2h, 7d) or a date', (v) => parseWhen(v))
    .option('--until <when>', 'runs started before then: a duration ago or a date', (v) => parseWhen(v))
    .option('--limit <n>', 'runs per page, 1 to 1000', wholeNumber(1, 1000), 50)
    .option('--offset <n>', 'runs to skip (for the next page)', wholeNumber(0), 0)
    .option('--children', 'include sub-pipeline runs')
    .option(...JSON_FLAG)
    .action(async (flags: RunsFlags, command: Command) => {
      const page = await withStore(out, storeFlags(command), (store) =>
        store.listRuns({
          pipeline: flags.pipeline,
          status: flags.status,
          since: flags.since,
          until: flags.until,
          children: flags.children === true,
          limit: flags.limit,
          offset: flags.offset,
        }),
      );
      if (flags.json) return out.json({ ...page, runs: page.runs.map(runJson) });
      if (page.runs.length === 0) {
        const filtered = flags.pipeline !== undefined || flags.status || flags.since || flags.until;
        return out.line(page.total > 0 ? `no runs past offset ${flags.offset} (${plural(page.total, 'run')} in all)` : filtered ? 'no runs match' : 'no runs stored yet');
      }
      out.line(runsTable(out, page.runs, flags.children === true));
      out.line(out.style('dim', footer(page)));
    });
}
