// `spanflow stats`: how pipelines fared over the last N days: runs by status,
// success rate, durations, the slowest steps and the errors by type.

import type { Command } from 'commander';
import type { ErrorSummary, PipelineStats, RunStats } from '../../exporters/postgres/index.ts';
import type { Output } from '../io.ts';
import { parseDays } from '../parse.ts';
import { duration, percent, plural, status, time, visible } from '../render/format.ts';
import { table } from '../render/table.ts';
import { withStore } from '../store.ts';
import { JSON_FLAG, storeFlags } from './shared.ts';

interface StatsFlags {
  readonly days: number;
  readonly pipeline?: string;
  readonly children?: boolean;
  readonly json?: boolean;
}

function byStatus(out: Output, counts: Readonly<Record<string, number | undefined>>): string {
  return Object.entries(counts)
    .filter(([, n]) => n)
    .map(([s, n]) => `${n} ${status(out, s)}`)
    .join(', ');
}

/** A pipeline's durations take in interrupted runs, whose stored durations are lower bounds. */
function durationsAreLowerBounds(p: PipelineStats): boolean {
  return (p.byStatus.interrupted ?? 0) > 0;
}

function render(out: Output, stats: RunStats, errors: ErrorSummary): void {
  const days = plural(stats.days, 'day');
  out.line(`${plural(stats.runs, 'run')} started in the last ${days} (since ${time(stats.since)})${stats.runs ? `: ${byStatus(out, stats.byStatus)}` : ''}`);
  if (stats.runs === 0) return;
  out.line();
  const pipelines = stats.pipelines.map((p) => {
    // An interrupted run counts with its duration up to its last heartbeat or event, a lower bound; so is any
    // average, quantile or maximum that takes it in.
    const atLeast = durationsAreLowerBounds(p) ? '≥ ' : '';
    const shown = (ms: number | null) => (ms === null ? duration(ms) : `${atLeast}${duration(ms)}`);
    return [visible(p.pipeline), String(p.runs), byStatus(out, p.byStatus), percent(p.successRate), shown(p.avgMs), shown(p.p50Ms), shown(p.p95Ms), shown(p.maxMs), time(p.lastStartedAt)];
  });
  out.line(table(out, ['pipeline', 'runs', 'statuses', 'success', 'avg', 'p50', 'p95', 'max', 'last started'], pipelines, { right: [1, 3, 4, 5, 6, 7] }));
  if (stats.pipelines.some(durationsAreLowerBounds)) {
    out.line(out.style('dim', '≥: with interrupted runs, whose durations run only to their last heartbeat or event, so these are at least as long'));
  }
  if (stats.steps.length > 0) {
    out.line();
    out.line(out.style('bold', 'slowest steps (by p95)'));
    const steps = stats.steps.map((s) => [visible(s.pipeline), visible(s.node), String(s.attempts), String(s.failed), duration(s.avgMs), duration(s.p95Ms)]);
    out.line(table(out, ['pipeline', 'step', 'attempts', 'failed', 'avg', 'p95'], steps, { right: [2, 3, 4, 5] }));
  }
  if (errors.total > 0) {
    out.line();
    const types = Object.entries(errors.byType).map(([type, n]) => `${visible(type)} ${n}`);
    const nodes = Object.entries(errors.byNode).map(([node, n]) => `${visible(node)} ${n}`);
    out.line(`${out.style('bold', 'errors')} ${errors.total} failed, timed-out or retried attempts`);
    out.line(`  by type  ${types.join(', ')}`);
    out.line(`  by step  ${nodes.join(', ')}`);
  }
}

export function registerStats(program: Command, out: Output): void {
  program
    .command('stats')
    .description('runs by status, success rate and durations per pipeline; the slowest steps; errors by type')
    .option('--days <n>', 'look back this many days', parseDays, 7)
    .option('--pipeline <name>', 'only this pipeline')
    .option('--children', 'count sub-pipeline runs too')
    .option(...JSON_FLAG)
    .action(async (flags: StatsFlags, command: Command) => {
      const { stats, errors } = await withStore(out, storeFlags(command), async (store) => {
        const stats = await store.stats({ days: flags.days, pipeline: flags.pipeline, children: flags.children === true });
        const errors = await store.errorSummary({ pipeline: flags.pipeline, since: stats.since, recent: 10 });
        return { stats, errors };
      });
      if (flags.json) {
        const pipelines = stats.pipelines.map((p) => ({ ...p, durationsAreLowerBounds: durationsAreLowerBounds(p) }));
        return out.json({ ...stats, pipelines, errors });
      }
      render(out, stats, errors);
    });
}
