// A run's step attempts on a time axis: text bars scaled to a width, or a
// Mermaid gantt chart. Attempts that never started have no bar; attempts
// still open (a run under way, or one a crash interrupted) reach to the run's end.

import type { RunDetail, StepAttempt } from '../../exporters/postgres/index.ts';
import { duration, runLength, shortId, visible } from './format.ts';

export interface Span {
  readonly step: StepAttempt;
  /** node, node[index] or node (item id), and #attempt after a first one. */
  readonly label: string;
  /** Offsets from the run's start, in ms; undefined for an attempt that never started. */
  readonly from: number | undefined;
  readonly to: number | undefined;
  /** No end recorded: still running, or cut off. */
  readonly open: boolean;
}

export interface Timeline {
  readonly start: number;
  /** The run's length, or how far it got. */
  readonly total: number;
  readonly spans: readonly Span[];
}

export function stepLabel(step: Pick<StepAttempt, 'node' | 'index' | 'itemId' | 'attempt'>, withAttempt = true): string {
  const where = step.itemId !== null ? ` (item ${step.itemId})` : step.index !== null ? `[${step.index}]` : '';
  return visible(`${step.node}${where}${withAttempt && step.attempt > 1 ? ` #${step.attempt}` : ''}`);
}

/** Where each attempt sits in the run. `now` stands in for the end of a run still going. */
export function timeline(run: RunDetail, now = Date.now()): Timeline {
  const start = run.startedAt.getTime();
  let end = run.endedAt?.getTime() ?? Math.max(now, run.heartbeatAt.getTime());
  for (const step of run.steps) end = Math.max(end, step.endedAt?.getTime() ?? 0);
  const spans = run.steps.map((step): Span => {
    const from = step.startedAt ? step.startedAt.getTime() - start : undefined;
    const to = from === undefined ? undefined : (step.endedAt?.getTime() ?? end) - start;
    return { step, label: stepLabel(step), from, to, open: from !== undefined && step.endedAt === null };
  });
  return { start, total: Math.max(end - start, 1), spans };
}

/** A bar `width` characters wide: blank, then █ from `from` to `to` (at least one), ▶ at the end of an open one. */
export function bar(span: Pick<Span, 'from' | 'to' | 'open'>, total: number, width: number): string {
  if (span.from === undefined || span.to === undefined || width <= 0) return ' '.repeat(Math.max(0, width));
  const first = Math.min(width - 1, Math.max(0, Math.floor((span.from / total) * width)));
  const last = Math.min(width, Math.max(first + 1, Math.ceil((span.to / total) * width)));
  const body = '█'.repeat(last - first);
  const drawn = span.open ? `${body.slice(0, -1)}▶` : body;
  return `${' '.repeat(first)}${drawn}${' '.repeat(width - last)}`;
}

/** An axis under the bars: 0 at the left, the run's length at the right, a middle mark when there is room. */
export function axis(total: number, width: number): string {
  const left = '0';
  const right = duration(total);
  if (width < left.length + right.length + 2) return right.padStart(width);
  const middle = duration(total / 2);
  const line = [...' '.repeat(width)];
  const put = (text: string, at: number) => {
    for (const [i, c] of [...text].entries()) line[at + i] = c;
  };
  put(left, 0);
  put(right, width - right.length);
  const at = Math.round(width / 2 - middle.length / 2);
  if (width >= left.length + right.length + middle.length + 6) put(middle, at);
  return line.join('');
}

/**
 * Characters Mermaid's gantt lexer reads as syntax in a name: ':' and ';' end
 * it, '#' and '%' start a comment (a name starting '%%' would vanish).
 */
const GANTT_SYNTAX = /[#:;%]/g;
/** A name starting with a keyword or a date is read as that keyword or date (gantt.jison matches them first, case-insensitively). */
const GANTT_KEYWORD =
  /^(gantt|dateformat\s|inclusiveenddates|topaxis|axisformat\s|tickinterval\s|includes\s|excludes\s|todaymarker\s|weekday\s|title\s|accdescription\s|acctitle|accdescr|section\s|click\s|href\s|call\s|\d{4}-\d{2}-\d{2})/i;

/**
 * A name as gantt text that keeps every character: syntax characters (and the
 * first character of a leading keyword) become Mermaid entity codes such as
 * `#35;`, which Mermaid turns back into the characters when it draws; control
 * characters are written out (`\n`), so a name never spills onto a line of its own.
 */
function mermaidText(text: string): string {
  const escaped = visible(text)
    .trim()
    .replace(GANTT_SYNTAX, (c) => `#${c.charCodeAt(0)};`);
  if (!escaped) return '(unnamed)';
  return GANTT_KEYWORD.test(escaped) ? `#${escaped.charCodeAt(0)};${escaped.slice(1)}` : escaped;
}

const TAGS: Readonly<Record<string, string>> = { succeeded: 'done, ', failed: 'crit, ', timed_out: 'crit, ', retrying: 'crit, ', running: 'active, ' };

/** The run as a Mermaid gantt chart: a section per node, a task per attempt, times as epoch ms. */
export function mermaidGantt(run: RunDetail, now = Date.now()): string {
  const { start, spans } = timeline(run, now);
  const lines = [
    'gantt',
    `  title ${mermaidText(`${run.pipeline} run ${shortId(run.id)} ${run.status} ${runLength(run, now)}`)}`,
    '  dateFormat x',
    '  axisFormat %H:%M:%S.%L',
  ];
  const sections = new Map<string, Span[]>();
  for (const span of spans) {
    if (span.from === undefined) continue;
    const list = sections.get(span.step.node) ?? [];
    list.push(span);
    sections.set(span.step.node, list);
  }
  let n = 0;
  for (const [node, list] of sections) {
    lines.push(`  section ${mermaidText(node)}`);
    for (const span of list) {
      const from = start + (span.from ?? 0);
      const to = Math.max(from + 1, start + (span.to ?? 0));
      lines.push(`    ${mermaidText(`${span.label} ${span.step.status}`)} :${TAGS[span.step.status] ?? ''}t${n++}, ${Math.round(from)}, ${Math.round(to)}`);
    }
  }
  return `${lines.join('\n')}\n`;
}
