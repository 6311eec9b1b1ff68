// The views as pure functions of a snapshot: (snapshot, options) => text. No terminal needed.
import { type BatchSummary, FeedError, type PipelineSnapshot, type WorkerSnapshot } from '../../sdk/index.ts';
import { bar, count, duration, fitLines, oneLine, percent, rate, truncate } from './format.ts';
import { table } from './table.ts';

export type ConsoleView = 'progress' | 'compact' | 'detailed' | 'full';

export interface RenderOptions {
  /** Columns available. Default 100. */
  readonly width?: number;
  /** Items expected in all, for percent and ETA. Default: items fed so far. */
  readonly total?: number;
  /** Shown first on the progress line. Default: the pipeline's name. */
  readonly title?: string;
  /** Items per second; the dashboards measure it between snapshots. Default: the average since the start. */
  readonly rate?: number;
  /** Worker rows shown in `detailed` and `full` (busy ones first). Default 20. */
  readonly maxWorkers?: number;
  /** Recent errors shown in `detailed` and `full`. Default 5. */
  readonly recentErrors?: number;
}

export interface Progress {
  readonly title: string;
  /** Completed + failed + skipped. */
  readonly done: number;
  readonly total: number;
  readonly percent: number;
  readonly rate: number;
  /** Milliseconds left at the current rate; undefined when unknown. */
  readonly etaMs: number | undefined;
  readonly failed: number;
  readonly skipped: number;
}

/**
 * An ETA is given once the batch has run this long or done this share of its items: the
 * first items' rate (JIT warm-up, pools and connections starting) says little about the
 * rest, and a batch that finishes in seconds read `ETA 29m 07s` at its start.
 */
const ETA_AFTER_MS = 2_000;
const ETA_AFTER_SHARE = 0.05;

/** The numbers on a progress line. */
export function progressOf(snapshot: PipelineSnapshot, options: RenderOptions = {}): Progress {
  const { stats } = snapshot;
  const done = stats.completed + stats.failed + stats.skipped;
  const total = Math.max(options.total ?? stats.expected, 0);
  const measured = options.rate ?? (snapshot.elapsedMs > 0 ? (done / snapshot.elapsedMs) * 1000 : 0);
  const itemsPerSecond = Number.isFinite(measured) && measured > 0 ? measured : 0;
  const left = Math.max(0, total - done);
  let etaMs: number | undefined;
  const warmedUp = snapshot.elapsedMs >= ETA_AFTER_MS || done >= total * ETA_AFTER_SHARE;
  if (left === 0) etaMs = 0;
  else if (itemsPerSecond > 0 && warmedUp) etaMs = (left / itemsPerSecond) * 1000;
  return {
    title: oneLine(options.title ?? snapshot.pipeline),
    done,
    total,
    percent: percent(done, total),
    rate: itemsPerSecond,
    etaMs,
    failed: stats.failed,
    skipped: stats.skipped,
  };
}

function tail(p: Progress): string {
  const parts = [`${rate(p.rate)} items/s`, `ETA ${p.etaMs === undefined ? '--' : duration(p.etaMs)}`, `${count(p.failed)} failed`];
  if (p.skipped > 0) parts.push(`${count(p.skipped)} skipped`);
  return parts.join(' · ');
}

/** One line without a bar or escape codes, for logs: `etl: 5,120/10,000 51% · 2,345 items/s · ETA 2.1s · 3 failed`. */
export function plainLine(snapshot: PipelineSnapshot, options: RenderOptions = {}): string {
  const p = progressOf(snapshot, options);
  return `${p.title}: ${count(p.done)}/${count(p.total)} ${p.percent}% · ${tail(p)}`;
}

/** The progress view: title, bar, percent, done/total, rate, ETA, failures, on one line fitted to the width. */
export function renderProgress(snapshot: PipelineSnapshot, options: RenderOptions = {}): string {
  const width = options.width ?? 100;
  const p = progressOf(snapshot, options);
  const head = p.title;
  const numbers = `${String(p.percent).padStart(3)}% ${count(p.done)}/${count(p.total)} · ${tail(p)}`;
  const room = width - head.length - numbers.length - 4; // spaces around, brackets
  if (room < 5) return truncate(`${head} ${numbers}`, width);
  return `${head} ${bar(p.done, p.total, Math.min(40, room))} ${numbers}`;
}

/**
 * Final line: `etl: succeeded in 4.2s · 10,000 fed · 9,990 completed · 3 failed · 7 skipped · 2,380 items/s`,
 * ending with the source's error when the feed source threw (the counts alone would not say why it failed).
 */
export function summaryLine(summary: BatchSummary, options: Pick<RenderOptions, 'title'> = {}): string {
  const done = summary.completed + summary.failed + summary.skipped;
  const perSecond = summary.durationMs > 0 ? (done / summary.durationMs) * 1000 : 0;
  const parts = [
    `${oneLine(options.title ?? summary.pipeline)}: ${summary.status} in ${duration(summary.durationMs)}`,
    `${count(summary.fed)} fed`,
    `${count(summary.completed)} completed`,
    `${count(summary.failed)} failed`,
    `${count(summary.skipped)} skipped`,
    `${rate(perSecond)} items/s`,
  ];
  if (summary.error instanceof FeedError) parts.push(oneLine(summary.error.message));
  return parts.join(' · ');
}

function header(snapshot: PipelineSnapshot, options: RenderOptions): string {
  const state = snapshot.running ? 'running' : 'finished';
  const stats = snapshot.stats;
  return `${oneLine(options.title ?? snapshot.pipeline)} · ${state} · ${duration(snapshot.elapsedMs)} · ${count(stats.fed)} fed · ${count(stats.inFlight)} in flight · run ${snapshot.runId}`;
}

/** One line per stage (pending / in progress / completed / failed), then the progress line. */
export function renderCompact(snapshot: PipelineSnapshot, options: RenderOptions = {}): string {
  const width = options.width ?? 100;
  const stages = snapshot.stats.stages;
  const withSkipped = stages.some((stage) => stage.skipped > 0);
  const cells = stages.map((stage) => {
    const row = [
      oneLine(stage.name),
      `pending ${count(stage.pending)}`,
      `in progress ${count(stage.inProgress)}`,
      `completed ${count(stage.completed)}`,
      `failed ${count(stage.failed)}`,
    ];
    if (withSkipped) row.push(`skipped ${count(stage.skipped)}`);
    return row;
  });
  const widths: number[] = [];
  for (const row of cells) {
    for (const [i, cell] of row.entries()) widths[i] = Math.max(widths[i] ?? 0, cell.length);
  }
  const lines = [header(snapshot, options)];
  for (const row of cells) lines.push(`  ${row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ').trimEnd()}`);
  lines.push(renderProgress(snapshot, options));
  return fitLines(lines.join('\n'), width);
}

function stagesTable(snapshot: PipelineSnapshot, width: number): string {
  const rows = snapshot.stats.stages.map((stage) => [
    stage.name,
    String(stage.workers),
    `${count(stage.queued)}/${count(stage.capacity)}`,
    count(stage.inProgress),
    count(stage.completed),
    count(stage.failed),
    count(stage.skipped),
  ]);
  return table(
    [
      { head: 'Stage', flex: true },
      { head: 'Workers', align: 'right' },
      { head: 'Queue', align: 'right' },
      { head: 'In progress', align: 'right' },
      { head: 'Completed', align: 'right' },
      { head: 'Failed', align: 'right' },
      { head: 'Skipped', align: 'right' },
    ],
    rows,
    width,
  );
}

/** Busy workers first when there are more than `max`; shown in their original order. */
function pickWorkers(workers: readonly WorkerSnapshot[], max: number): WorkerSnapshot[] {
  if (workers.length <= max) return [...workers];
  const order = new Map(workers.map((worker, i) => [worker, i]));
  const busy = workers.filter((worker) => worker.state === 'busy');
  const idle = workers.filter((worker) => worker.state !== 'busy');
  return [...busy, ...idle].slice(0, max).sort((a, b) => (order.get(a) ?? 0) - (order.get(b) ?? 0));
}

function workersTable(snapshot: PipelineSnapshot, width: number, max: number): string {
  const shown = pickWorkers(snapshot.workers, max);
  const rows = shown.map((worker) => [
    worker.stage,
    String(worker.worker),
    worker.state,
    worker.itemId ?? '',
    worker.task ?? '',
    worker.taskStatus ?? '',
    count(worker.processed),
    count(worker.failed),
    worker.processed + worker.failed > 0 ? worker.avgMs.toFixed(1) : '-',
  ]);
  const drawn = table(
    [
      { head: 'Stage', flex: true },
      { head: 'Worker', align: 'right' },
      { head: 'State' },
      { head: 'Item', flex: true },
      { head: 'Task', flex: true },
      { head: 'Task status', flex: true },
      { head: 'Processed', align: 'right' },
      { head: 'Failed', align: 'right' },
      { head: 'Avg ms', align: 'right' },
    ],
    rows,
    width,
  );
  const hidden = snapshot.workers.length - shown.length;
  if (hidden <= 0) return drawn;
  const idle = snapshot.workers.filter((worker) => worker.state !== 'busy').length;
  return `${drawn}\n  … ${count(hidden)} more workers (${count(idle)} idle in all)`;
}

function recentErrors(snapshot: PipelineSnapshot, width: number, max: number): string {
  const { errors } = snapshot;
  const recent = errors.recent.slice(-max);
  if (recent.length === 0) return 'Recent errors: none';
  const lines = [`Recent errors (${count(recent.length)} of ${count(errors.total)}):`];
  for (const failure of recent) {
    const where = failure.task ? `${oneLine(failure.stage)}/${oneLine(failure.task)}` : oneLine(failure.stage);
    const attempts = failure.attempts === 1 ? '1 attempt' : `${failure.attempts} attempts`;
    const error = `${oneLine(failure.error.type)}: ${oneLine(failure.error.message)}`;
    lines.push(truncate(`  item ${oneLine(failure.itemId)} · ${where} · ${attempts} · ${error}`, width));
  }
  return lines.join('\n');
}

/** Per-stage table, per-worker table (current item and task), the last few errors, the progress line. */
export function renderDetailed(snapshot: PipelineSnapshot, options: RenderOptions = {}): string {
  const width = options.width ?? 100;
  return fitLines(
    [
      header(snapshot, options),
      stagesTable(snapshot, width),
      workersTable(snapshot, width, options.maxWorkers ?? 20),
      recentErrors(snapshot, width, options.recentErrors ?? 5),
      renderProgress(snapshot, options),
    ].join('\n'),
    width,
  );
}

/** Items by status, derived from the snapshot's stats: queued (waiting or retrying), in progress and the final ones. */
export function itemCounts(snapshot: PipelineSnapshot): {
  queued: number;
  inProgress: number;
  completed: number;
  failed: number;
  skipped: number;
  fed: number;
} {
  const { stats } = snapshot;
  const inProgress = stats.stages.reduce((sum, stage) => sum + stage.inProgress, 0);
  const queued = Math.max(0, stats.fed - stats.completed - stats.failed - stats.skipped - inProgress);
  return { queued, inProgress, completed: stats.completed, failed: stats.failed, skipped: stats.skipped, fed: stats.fed };
}

function itemTracker(snapshot: PipelineSnapshot, width: number): string {
  const items = itemCounts(snapshot);
  const share = (n: number) => (items.fed > 0 ? `${((n / items.fed) * 100).toFixed(1)}%` : '-');
  const rows: [string, number][] = [
    ['queued', items.queued],
    ['in progress', items.inProgress],
    ['completed', items.completed],
    ['failed', items.failed],
    ['skipped', items.skipped],
    ['fed', items.fed],
  ];
  return `Items\n${table(
    [{ head: 'Status' }, { head: 'Items', align: 'right' }, { head: 'Share', align: 'right' }],
    rows.map(([status, n]) => [status, count(n), status === 'fed' ? '' : share(n)]),
    width,
  )}`;
}

function errorSummary(snapshot: PipelineSnapshot, width: number): string {
  const { errors } = snapshot;
  if (errors.total === 0) return 'Errors: none';
  const sorted = (record: Readonly<Record<string, number>>) =>
    Object.entries(record)
      .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
      .map(([key, n]) => [key, count(n)]);
  const byType = table([{ head: 'Error type', flex: true }, { head: 'Count', align: 'right' }], sorted(errors.byType), width);
  const byStage = table([{ head: 'Stage', flex: true }, { head: 'Failures', align: 'right' }], sorted(errors.byStage), width);
  return `Errors (${count(errors.total)} in all)\n${byType}\n${byStage}`;
}

/** Everything in `detailed`, plus the item tracker and the error summary by type and by stage. */
export function renderFull(snapshot: PipelineSnapshot, options: RenderOptions = {}): string {
  const width = options.width ?? 100;
  return fitLines(
    [
      header(snapshot, options),
      stagesTable(snapshot, width),
      workersTable(snapshot, width, options.maxWorkers ?? 20),
      itemTracker(snapshot, width),
      errorSummary(snapshot, width),
      recentErrors(snapshot, width, options.recentErrors ?? 5),
      renderProgress(snapshot, options),
    ].join('\n'),
    width,
  );
}

export const renderers: Record<ConsoleView, (snapshot: PipelineSnapshot, options?: RenderOptions) => string> = {
  progress: renderProgress,
  compact: renderCompact,
  detailed: renderDetailed,
  full: renderFull,
};
