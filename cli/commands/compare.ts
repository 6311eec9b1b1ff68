// `spanflow compare <a> <b>`: two runs side by side, then each step's attempts and time.

import type { Command } from 'commander';
import type { RunComparison, StepTotals } from '../../exporters/postgres/index.ts';
import type { Output } from '../io.ts';
import { delta, duration, durationIsLowerBound, errorLine, runLength, shortId, status, time, visible } from '../render/format.ts';
import { table } from '../render/table.ts';
import { resolveRun, withStore } from '../store.ts';
import { runJson } from './runs.ts';
import { JSON_FLAG, storeFlags } from './shared.ts';

function tries(t: StepTotals | undefined): string {
  if (!t) return '—';
  const bad = Object.entries(t.statuses)
    .filter(([s, n]) => s !== 'succeeded' && n)
    .map(([s, n]) => `${n} ${s}`);
  return bad.length > 0 ? `${t.attempts} (${bad.join(', ')})` : String(t.attempts);
}

/**
 * b's duration against a's. An interrupted run's duration is a lower bound, so
 * the difference is one too (b interrupted), an upper bound (a interrupted),
 * or unknown (both).
 */
function durationDelta(c: RunComparison): string {
  if (c.durationDeltaMs === undefined) return '';
  const aAtLeast = durationIsLowerBound(c.a);
  const bAtLeast = durationIsLowerBound(c.b);
  if (aAtLeast && bAtLeast) return ' (difference unknown: both were interrupted)';
  return ` (${bAtLeast ? '≥ ' : aAtLeast ? '≤ ' : ''}${delta(c.durationDeltaMs)})`;
}

function render(out: Output, c: RunComparison): void {
  const { a, b } = c;
  const rows = [
    ['run', shortId(a.id), shortId(b.id)],
    ['pipeline', visible(a.pipeline), visible(b.pipeline)],
    ['status', status(out, a.status), status(out, b.status)],
    ['started', time(a.startedAt), time(b.startedAt)],
    ['duration', runLength(a), `${runLength(b)}${durationDelta(c)}`],
    ['failed at', visible(a.failedNode ?? ''), visible(b.failedNode ?? '')],
    ['error', errorLine(a.error), errorLine(b.error)],
  ].filter(([, x, y]) => x !== '' || y !== '');
  out.line(table(out, ['', 'a', 'b'], rows));
  out.line(out.style('dim', c.sameDefinition ? 'same pipeline definition' : 'different pipeline definitions: the steps may differ'));
  out.line();
  if (c.steps.length === 0) {
    out.line(out.style('dim', 'no steps recorded in either run'));
    return;
  }
  const steps = c.steps.map((s) => [visible(s.node), tries(s.a), duration(s.a?.totalMs), tries(s.b), duration(s.b?.totalMs), delta(s.deltaMs)]);
  out.line(table(out, ['step', 'a tries', 'a time', 'b tries', 'b time', 'Δ time'], steps, { right: [2, 4, 5] }));
}

export function registerCompare(program: Command, out: Output): void {
  program
    .command('compare')
    .description('two runs side by side: status, duration, and each step')
    .argument('<a>', 'the first run (id or prefix)')
    .argument('<b>', 'the second run (id or prefix)')
    .option(...JSON_FLAG)
    .action(async (first: string, second: string, flags: { json?: boolean }, command: Command) => {
      const comparison = await withStore(out, storeFlags(command), async (store) =>
        store.compareRuns(await resolveRun(store, first), await resolveRun(store, second)),
      );
      if (flags.json) return out.json({ ...comparison, a: runJson(comparison.a), b: runJson(comparison.b) });
      render(out, comparison);
    });
}
