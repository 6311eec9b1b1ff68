// Dashboard objects: render a view and write it to a stream. On a terminal the frame is redrawn
// in place (log-update); elsewhere (pipes, CI logs) one plain progress line per update that
// changed something, and a summary line at the end.
import type { Writable } from 'node:stream';
import type { createLogUpdate } from 'log-update';
import { type BatchSummary, checkPeers, type Dashboard, type DashboardName, loadPeer, type PipelineSnapshot } from '../../sdk/index.ts';
import { rateMeter } from './rate.ts';
import { type ConsoleView, plainLine, type RenderOptions, renderers, summaryLine } from './render.ts';

export interface ConsoleOptions {
  /** Where to write. Default `process.stdout`. A stream whose `isTTY` is true is redrawn in place. */
  readonly stream?: NodeJS.WriteStream | Writable;
  /** Columns to fit. Default: the stream's `columns`, else 100. */
  readonly width?: number;
  /** Items expected in all, for percent and ETA. Default: items fed so far. */
  readonly total?: number;
  /** Shown instead of the pipeline's name. */
  readonly title?: string;
  /** Worker rows in `detailed` / `full` (busy ones first). Default 20. */
  readonly maxWorkers?: number;
  /** Errors listed in `detailed` / `full`. Default 5. */
  readonly recentErrors?: number;
}

type Stream = NodeJS.WriteStream | Writable;

/**
 * One redrawn frame per terminal stream. Dashboards sharing a stream (say `progress: true` with
 * `dashboard: 'detailed'`, or two batches at once) each own a region of it; two log-update
 * instances on one terminal would erase each other's lines.
 */
interface Screen {
  readonly draw: ReturnType<typeof createLogUpdate>;
  readonly regions: Map<symbol, string>;
  readonly open: Set<symbol>;
  /** Final summary lines, each once, under every region. */
  readonly summaries: string[];
}
const screens = new WeakMap<Stream, Screen>();

/** Draw `region`'s text; `summary` marks its last frame (the line is shown once per screen). */
function paint(stream: Stream, region: symbol, text: string, summary?: string): void {
  let screen = screens.get(stream);
  if (!screen) {
    const logUpdate = loadPeer<typeof import('log-update')>('log-update', 'spanflow/console');
    screen = { draw: logUpdate.createLogUpdate(stream as NodeJS.WritableStream), regions: new Map(), open: new Set(), summaries: [] };
    screens.set(stream, screen);
  }
  screen.regions.set(region, text);
  if (summary === undefined) {
    screen.open.add(region);
  } else {
    screen.open.delete(region);
    if (!screen.summaries.includes(summary)) screen.summaries.push(summary);
  }
  screen.draw([...screen.regions.values(), ...screen.summaries].join('\n'));
  if (screen.open.size === 0) {
    // Every dashboard on this terminal is done: keep the frame, start the next one below it.
    screen.draw.done();
    screens.delete(stream);
  }
}

/**
 * The last few plain lines written to each non-terminal stream: two dashboards on one stream
 * (a progress bar and a view) print the same line, and the engine interleaves their calls.
 */
const recentLines = new WeakMap<Stream, string[]>();

function writeLine(stream: Stream, line: string): void {
  let recent = recentLines.get(stream);
  if (!recent) {
    recent = [];
    recentLines.set(stream, recent);
  }
  if (recent.includes(line)) return;
  recent.push(line);
  if (recent.length > 8) recent.shift();
  stream.write(`${line}\n`);
}

function isTerminal(stream: NodeJS.WriteStream | Writable): boolean {
  return (stream as { isTTY?: boolean }).isTTY === true;
}

function columnsOf(stream: NodeJS.WriteStream | Writable): number | undefined {
  const columns = (stream as { columns?: number }).columns;
  return typeof columns === 'number' && columns > 0 ? columns : undefined;
}

function dashboard(view: ConsoleView, options: ConsoleOptions = {}): Dashboard {
  // log-update and cli-table3 are optional peers: a dashboard that could not draw says so when it is made, not mid-batch.
  checkPeers('spanflow/console');
  const stream = options.stream ?? process.stdout;
  const tty = isTerminal(stream);
  const render = renderers[view];
  const region = Symbol(view);
  let meter = rateMeter();
  let lastCounts: string | undefined;

  const renderOptions = (snapshot: PipelineSnapshot): RenderOptions => {
    const measured = meter.update(snapshot);
    return {
      width: options.width ?? columnsOf(stream) ?? 100,
      ...(options.total !== undefined && { total: options.total }),
      ...(options.title !== undefined && { title: options.title }),
      ...(measured !== undefined && { rate: measured }),
      ...(options.maxWorkers !== undefined && { maxWorkers: options.maxWorkers }),
      ...(options.recentErrors !== undefined && { recentErrors: options.recentErrors }),
    };
  };

  const update = (snapshot: PipelineSnapshot) => {
    const opts = renderOptions(snapshot);
    if (tty) {
      paint(stream, region, render(snapshot, opts));
      return;
    }
    // A line only when the counts moved: a stalled pipeline does not flood the log.
    const { stats } = snapshot;
    const counts = `${stats.fed}/${stats.completed}/${stats.failed}/${stats.skipped}/${stats.inFlight}`;
    if (counts === lastCounts) return;
    lastCounts = counts;
    writeLine(stream, plainLine(snapshot, opts));
  };

  return {
    onStart(snapshot) {
      // A dashboard object may serve one batch after another: each starts afresh.
      meter = rateMeter();
      lastCounts = undefined;
      // Lines of an earlier batch must not hide this one's (the same 100% line, the same summary).
      if (!tty) recentLines.delete(stream);
      if (tty) update(snapshot);
      else meter.update(snapshot);
    },
    onUpdate: update,
    onFinish(snapshot: PipelineSnapshot, summary: BatchSummary) {
      const opts = renderOptions(snapshot);
      const last = summaryLine(summary, opts);
      if (tty) paint(stream, region, render(snapshot, opts), last);
      else writeLine(stream, last);
    },
  };
}

/** A progress bar: bar, percent, done/total, items/s, ETA, failures. `progress: progressBar()` (or `dashboard:`). */
export function progressBar(options?: ConsoleOptions): Dashboard {
  return dashboard('progress', options);
}

/** A line per stage: `dashboard: compactDashboard()`. */
export function compactDashboard(options?: ConsoleOptions): Dashboard {
  return dashboard('compact', options);
}

/** Stage and worker tables and the recent errors: `dashboard: detailedDashboard()`. */
export function detailedDashboard(options?: ConsoleOptions): Dashboard {
  return dashboard('detailed', options);
}

/** The detailed view plus the item tracker and the error summary: `dashboard: fullDashboard()`. */
export function fullDashboard(options?: ConsoleOptions): Dashboard {
  return dashboard('full', options);
}

/** A live view by name: `compact`, `detailed` or `full` (what `dashboard: 'full'` resolves to once spanflow/console is imported). */
export function consoleDashboard(view: DashboardName, options?: ConsoleOptions): Dashboard {
  if (!(view === 'compact' || view === 'detailed' || view === 'full')) {
    throw new TypeError(`unknown dashboard '${String(view)}': use 'compact', 'detailed' or 'full'`);
  }
  return dashboard(view, options);
}
