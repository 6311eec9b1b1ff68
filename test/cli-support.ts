// Helpers for the CLI tests: the CLI run in-process (`main()`, output
// collected) or as the real `spanflow` bin in a child process, and a store
// filled with the showcase's three runs.

import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { main } from '../cli/index.ts';

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


export { persistShowcase, plain, type Showcase } from './store-support.ts';
