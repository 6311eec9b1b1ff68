// The README cannot drift: every code block in it carries a marker saying what it is, and
// this test holds it to that.
//   <!-- test: file <path> -->      a ```ts block is that file, as a user writes it (the
//                                   repository's relative imports of spanflow's doors read as
//                                   the package names); the file is run
//   <!-- test: output <command> --> a block is what the command prints, compared in shape
//                                   (numbers, ids, times and paths may differ; a line "…"
//                                   stands for lines left out)
//   <!-- test: session -->          `$ <command>` lines, each followed by what it prints
//   <!-- test: commands -->         a ```sh block of commands: the scripts, files and
//                                   packages they name exist
// Commands run one after another in one sandbox (an embedded store in a temporary folder, an
// OTLP/HTTP receiver on loopback), as a reader would run them in a fresh checkout.
// And no link in the README or the docs points outside the repository except to public sites.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { receiver, spansOf } from './otel-receiver.ts';
import { asUserWrites, assertSameShape, blocksOf, invocations, linkProblem, linksOf, markdownFiles, packageJson, root, shape, UUID } from './readme-support.ts';

const run = promisify(execFile);
const HANG_GUARD_MS = 120_000;

const readme = readFileSync(join(root, 'README.md'), 'utf8');
const blocks = blocksOf(readme);

describe('README.md', () => {
  test('every code block says what it is: a file, a command and its output, or commands', () => {
    const unmarked = blocks.filter((b) => b.marker === undefined || !/^(file|output|session|commands)\b/.test(b.marker));
    assert.deepEqual(
      unmarked.map((b) => `line ${b.line}: \`\`\`${b.lang} ${b.text.split('\n')[0]}`),
      [],
      'put <!-- test: file <path> -->, <!-- test: output <command> -->, <!-- test: session --> or <!-- test: commands --> above each block',
    );
  });

  test('every ts block is the file it names, as a user writes it', () => {
    for (const block of blocks.filter((b) => b.marker?.startsWith('file '))) {
      const path = block.marker?.slice('file '.length).trim() ?? '';
      assert.ok(existsSync(join(root, path)), `README line ${block.line}: no file ${path}`);
      assert.equal(`${block.text}\n`, asUserWrites(path), `README line ${block.line}: the block differs from ${path}`);
    }
  });

  test('every command block names scripts, files and packages that exist', () => {
    const known = new Set([packageJson.name, ...Object.keys(packageJson.peerDependencies ?? {}), ...Object.keys(packageJson.devDependencies ?? {})]);
    for (const block of blocks.filter((b) => b.marker === 'commands')) {
      for (const line of block.text.split('\n')) {
        const command = line.replace(/#.*/, '').trim();
        for (const part of command.split('&&').map((p) => p.trim().split(/\s+/))) {
          if (part[0] === 'npm' && (part[1] === 'start' || part[1] === 'test')) assert.ok(packageJson.scripts[part[1]], `README line ${block.line}: no npm script ${part[1]}`);
          if (part[0] === 'npm' && part[1] === 'run') assert.ok(packageJson.scripts[part[2] ?? ''], `README line ${block.line}: no npm script ${part[2]}`);
          if (part[0] === 'npm' && (part[1] === 'install' || part[1] === 'i')) {
            // Package names (`kysely@^0.29`, `@opentelemetry/api`), not options or paths (`--prefix bench/alternatives`).
            for (const name of part.slice(2).filter((word) => /^(@[\w.-]+\/)?[\w.-]+(@\S+)?$/.test(word))) {
              const bare = name.replace(/(?<=.)@.*$/, '');
              assert.ok(known.has(bare), `README line ${block.line}: ${bare} is not spanflow nor one of its peer dependencies`);
            }
          }
          for (const word of part.filter((w) => /^[\w.-]+\/[\w./-]+$/.test(w) && !w.startsWith('@'))) {
            assert.ok(existsSync(join(root, word)), `README line ${block.line}: no ${word} in the repository`);
          }
        }
      }
    }
  });

  describe('run in a fresh sandbox, every file runs and every output block keeps its shape', { timeout: HANG_GUARD_MS }, () => {
    let sandbox: string;
    let collector: Awaited<ReturnType<typeof receiver>>;
    let env: NodeJS.ProcessEnv;
    /** Every line printed so far, to find the runs a later command names by an id prefix. */
    const printed: string[] = [];

    before(async () => {
      sandbox = mkdtempSync(join(tmpdir(), 'spanflow-readme-'));
      collector = await receiver();
      const clean = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^(OTEL_|SPANFLOW_|DATABASE_URL$)/.test(key)));
      env = {
        ...clean,
        SPANFLOW_DATA_DIR: join(sandbox, 'data'),
        OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      };
    });
    after(async () => {
      await collector.close();
      rmSync(sandbox, { recursive: true, force: true });
    });

    /** The run a README id prefix stands for: the id at the same place in the matching printed line. */
    function realId(prefix: string): string {
      const line = readme.split('\n').find((l) => [...l.matchAll(UUID)].some((m) => m[0].startsWith(prefix)));
      if (!line) return prefix;
      const index = [...line.matchAll(UUID)].findIndex((m) => m[0].startsWith(prefix));
      const twin = printed.find((p) => shape(p) === shape(line));
      assert.ok(twin, `no printed line like the README's "${line}" to take a run id from`);
      return [...twin.matchAll(UUID)][index]?.[0].slice(0, prefix.length) ?? prefix;
    }

    async function outputOf(command: string): Promise<string> {
      let stdout = '';
      for (const [file = '', ...args] of invocations(command)) {
        const real = args.map((arg) => (/^[0-9a-f]{4,12}$/.test(arg) ? realId(arg) : arg));
        const ran = await run(process.execPath, [file, ...real], { cwd: root, env, timeout: HANG_GUARD_MS, maxBuffer: 16 * 1024 * 1024 });
        stdout += ran.stdout;
      }
      printed.push(...stdout.split('\n'));
      return stdout;
    }

    test('the blocks, in order', async () => {
      const ran = new Set<string>();
      for (const block of blocks) {
        const [kind, ...rest] = (block.marker ?? '').split(' ');
        const argument = rest.join(' ');
        if (kind === 'output') {
          assertSameShape(block.text, await outputOf(argument), `README line ${block.line} (${argument})`);
          ran.add(argument.replace(/^node /, ''));
        } else if (kind === 'session') {
          const parts = block.text.split(/^\$ /m).filter((part) => part.trim() !== '');
          for (const part of parts) {
            const [command = '', ...expected] = part.split('\n');
            assertSameShape(expected.join('\n'), await outputOf(command), `README line ${block.line} ($ ${command})`);
          }
        } else if (kind === 'file' && !ran.has(argument) && !blocks.some((b) => b.marker === `output node ${argument}`)) {
          // A file with no output block: it runs and ends well.
          await outputOf(`node ${argument}`);
        }
      }
    });

    test('the OpenTelemetry tour exported its run to the collector', { skip: !readme.includes('examples/tour/otel.ts') }, () => {
      const names = spansOf(collector.received).map((span) => span.name);
      assert.ok(names.includes('pipeline quote'), `the run's span arrived (got ${names.join(', ')})`);
      assert.ok(names.filter((name) => name === 'step price').length >= 3, 'a span for each priced item');
    });
  });
});

describe('links in the README and the docs', () => {
  test('point into the repository (to files that exist) or to public sites', () => {
    const problems: string[] = [];
    for (const file of markdownFiles()) {
      const text = readFileSync(file, 'utf8');
      for (const target of linksOf(text)) {
        const problem = linkProblem(file, target, text);
        if (problem) problems.push(`${relative(root, file)}: ${problem}`);
      }
    }
    assert.deepEqual(problems, []);
  });
});

describe('the shape comparison itself', () => {
  test('makes ids, times, paths, numbers and widths alike, and nothing else', () => {
    assert.equal(
      shape('feature-film     succeeded    77 ms  run a5358d75-9a2d-4fd3-b079-1fac5f69ca88'),
      shape('feature-film     succeeded  1.02 s  run 0b1e2c3d-0000-4fd3-b079-1fac5f69ca88'),
    );
    assert.equal(shape('7faa1b30  video-render  timed_out  2026-12-06 06:19:00    425 ms'), '<id> video-render timed_out <time> N ms');
    assert.equal(shape('15734950  video-render'), shape('7faa1b30  video-render'), 'a run id prefix of digits alone');
    assert.equal(shape('runs stored in /work/main/.spanflow/db · npx spanflow runs'), 'runs stored in <path> · npx spanflow runs');
    assert.equal(shape('│ quick-promo     │ ────── │'), shape('│ quick-promo │ ─ │'));
    assert.notEqual(shape('feature-film succeeded'), shape('feature-film failed'));
    assert.notEqual(shape('  step price (success)'), shape('    step price (success)'), 'indentation is part of a tree');
  });

  test('a README line missing from the output fails; "…" allows lines left out', () => {
    assert.throws(() => assertSameShape('a 1\nb 2', 'a 3\nc 4', 'x'), /In the README, not in the output:\n {2}b 2/);
    assert.throws(() => assertSameShape('a 1', 'a 3\nc 4', 'x'), /In the output, not in the README:\n {2}c N/);
    assertSameShape('a 1\n…', 'c 4\na 3', 'x');
  });

  test('a file reads with the package names in place of the doors', () => {
    const text = asUserWrites('examples/tour/main.ts');
    assert.match(text, /from 'spanflow';/);
    assert.doesNotMatch(text, /\.\.\/\.\.\/sdk/);
  });
});
