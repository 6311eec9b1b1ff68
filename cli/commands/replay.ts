// `spanflow replay <run>`: the tokens a run's streaming steps yielded, written
// to stdout again with their original timing (scaled by --speed).

import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import type { StepTokens } from '../../exporters/postgres/index.ts';
import { CommandError, type Output } from '../io.ts';
import { parseSpeed } from '../parse.ts';
import { plain } from '../render/format.ts';
import { stepLabel } from '../render/timeline.ts';
import { resolveRun, withStore } from '../store.ts';
import { storeFlags } from './shared.ts';

interface ReplayFlags {
  readonly step?: string;
  readonly speed: number;
  readonly json?: boolean;
}

interface Token {
  readonly group: StepTokens;
  readonly tokenIndex: number;
  readonly token: unknown;
  /** Epoch ms. */
  readonly time: number;
}

/** Every token of the chosen steps in the order they came, across steps. */
export function interleave(groups: readonly StepTokens[]): Token[] {
  const tokens = groups.flatMap((group) => group.tokens.map((t) => ({ group, tokenIndex: t.tokenIndex, token: t.token, time: t.time })));
  return tokens.sort((x, y) => x.time - y.time || x.group.node.localeCompare(y.group.node) || x.tokenIndex - y.tokenIndex);
}

async function play(out: Output, groups: readonly StepTokens[], flags: ReplayFlags): Promise<void> {
  const base = Math.min(...groups.map((g) => g.startedAt));
  const labelled = groups.length > 1;
  const begun = performance.now();
  for (const t of interleave(groups)) {
    const offsetMs = t.time - base;
    if (flags.speed > 0) {
      const wait = begun + offsetMs / flags.speed - performance.now();
      if (wait > 0) await sleep(wait);
    }
    const label = stepLabel({ node: t.group.node, index: t.group.index, itemId: null, attempt: 0 });
    if (flags.json) {
      out.line(JSON.stringify({ node: t.group.node, index: t.group.index, attempt: t.group.attempt, tokenIndex: t.tokenIndex, offsetMs, token: t.token }));
    } else {
      out.line(`${labelled ? out.style('dim', `${label}: `) : ''}${plain(t.token)}`);
    }
  }
}

export function registerReplay(program: Command, out: Output): void {
  program
    .command('replay')
    .description("re-emit a run's streamed tokens to stdout with their original timing")
    .argument('<run>', 'run id, or its first 4 or more characters')
    .option('--step <node>', "only this step's tokens (default: every step that streamed)")
    .option('--speed <x>', 'play faster (2) or slower (0.5); 0 for no waiting', parseSpeed, 1)
    .option('--json', 'one JSON line per token: node, index, attempt, tokenIndex, offsetMs, token')
    .action(async (prefix: string, flags: ReplayFlags, command: Command) => {
      const groups = await withStore(out, storeFlags(command), async (store) => {
        const id = await resolveRun(store, prefix);
        const chosen = await store.stepTokens(id, { node: flags.step });
        if (chosen.length > 0) return chosen;
        const streamed = flags.step === undefined ? [] : [...new Set((await store.stepTokens(id)).map((g) => g.node))];
        if (flags.step === undefined) throw new CommandError(`run ${id} has no tokens to replay: none of its steps streamed (yielded) anything`);
        throw new CommandError(
          `step '${flags.step}' yielded no tokens in run ${id}: ${streamed.length > 0 ? `steps with tokens: ${streamed.join(', ')}` : 'none of its steps streamed anything'}`,
        );
      });
      await play(out, groups, flags);
    });
}
