// Helpers for the CLI tests: the CLI run in-process (`main()`, output
// collected) or as the real `spanflow` bin in a child process, and a store
// filled with the showcase's three runs.

import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { main } from '../cli/index.ts';
import type { Store } from '../exporters/postgres/index.ts';
import { runScenarios, type ScenarioRun } from '../examples/video-render/pipeline.ts';
import type { SpanflowEvent } from '../sdk/index.ts';

export const BIN = fileURLToPath(new URL('../cli/bin.ts', import.meta.url));
export const ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliOptions {
  /** Added to the process's environment. */
  readonly env?: NodeJS.ProcessEnv;
  readonly columns?: number;
  readonly color?: boolean;
  readonly cwd?: string;
}

/** Runs `spanflow <args>` in-process and collects what it writes. */
export async function cli(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await main(args, {
    stdout: (text) => {
      stdout += text;
    },
    stderr: (text) => {
      stderr += text;
    },
    columns: options.columns ?? 160,
    color: options.color ?? false,
    env: { ...process.env, ...options.env },
    cwd: options.cwd ?? ROOT,
  });
  return { code, stdout, stderr };
}

/** Runs `spanflow <args>` as a command would: `node cli/bin.ts`, in a child process. */
export async function bin(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [BIN, ...args], {
      cwd: ROOT,
      env: { ...process.env, NO_COLOR: '1', ...env },
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number | string; stdout?: string; stderr?: string };
    if (typeof failed.code !== 'number') throw error;
    return { code: failed.code, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

/** `cli()` that must succeed: returns stdout, and fails with stderr otherwise. */
export async function ok(args: readonly string[], options: CliOptions = {}): Promise<string> {
  const result = await cli(args, options);
  if (result.code !== 0) throw new Error(`spanflow ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
  return result.stdout;
}

export interface Showcase {
  readonly runs: readonly ScenarioRun[];
  /** Every event of each run (sub-pipeline runs included), by run id. */
  readonly events: ReadonlyMap<string, SpanflowEvent[]>;
  /** The run id of a scenario by name. */
  readonly id: (scenario: 'quick-promo' | 'feature-film' | 'deadline-crunch') => string;
}

/** Runs the showcase's three scenarios into `store` and writes them out. */
export async function persistShowcase(store: Store): Promise<Showcase> {
  const events = new Map<string, SpanflowEvent[]>();
  const runs = await runScenarios({
    persist: store,
    onEvent: (event) => {
      const list = events.get(event.runId) ?? [];
      list.push(event);
      events.set(event.runId, list);
    },
  });
  await store.flush();
  const id = (name: string) => {
    const run = runs.find((r) => r.scenario.name === name);
    if (!run) throw new Error(`no scenario ${name}`);
    return run.result.runId;
  };
  return { runs, events, id };
}

/** An event as JSON keeps it, without its time (stored to the microsecond). */
export const plain = ({ time: _time, ...event }: SpanflowEvent): unknown => JSON.parse(JSON.stringify(event));
