// What test/readme.test.ts holds the README to, apart from the test itself: its code blocks
// and their markers, a file as a user writes it, output compared in shape, the commands a
// reader types as the node invocations they are, and the links of a Markdown file.

import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('..', import.meta.url));

export const packageJson = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  name: string;
  scripts: Record<string, string>;
  exports: Record<string, { 'spanflow-source': string }>;
  peerDependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
};

// ---- the README's blocks ------------------------------------------------------------

export interface Block {
  /** 1-based line of the opening fence. */
  readonly line: number;
  readonly lang: string;
  readonly text: string;
  /** What the marker above it says: `file examples/tour/main.ts`, `output node …`, `session`, `commands`. */
  readonly marker: string | undefined;
}

export function blocksOf(markdown: string): Block[] {
  const lines = markdown.split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*$/.exec(lines[i] ?? '');
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i] ?? ''); i++) body.push(lines[i] ?? '');
    let above = start - 1;
    while (above >= 0 && (lines[above] ?? '').trim() === '') above--;
    const marker = /^<!-- test: (.+?) -->$/.exec((lines[above] ?? '').trim())?.[1];
    blocks.push({ line: start + 1, lang: open[1] ?? '', text: body.join('\n'), marker });
  }
  return blocks;
}

/** The package names of spanflow's doors, by the source file each one is (package.json's `spanflow-source`). */
const doors = new Map(Object.entries(packageJson.exports).map(([subpath, targets]) => [resolve(root, targets['spanflow-source']), subpath === '.' ? packageJson.name : `${packageJson.name}/${subpath.slice(2)}`]));

/** A file as a user would write it: relative imports of spanflow's doors become the package names. */
export function asUserWrites(path: string): string {
  const text = readFileSync(join(root, path), 'utf8');
  return text.replace(/(from |import\()'(\.\.?\/[^']+)'/g, (whole, keyword: string, specifier: string) => {
    const door = doors.get(resolve(root, dirname(path), specifier));
    return door ? `${keyword}'${door}'` : whole;
  });
}

// ---- comparing output in shape --------------------------------------------------------

export const UUID = /\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/g;
/** Hex ids (run id prefixes, hashes, digests): eight or more hex digits, at least one a digit (an id may have no letter). */
const HEX_ID = /\b(?=[0-9a-f]*\d)[0-9a-f]{8,}\b/g;

/** A line with what may change from run to run made alike: ids, times, paths, numbers, widths. */
export function shape(line: string): string {
  const indent = /^\s*/.exec(line)?.[0] ?? '';
  return (
    indent +
    line
      .trim()
      .replace(UUID, '<id>')
      .replace(HEX_ID, '<id>')
      .replace(/\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d+)?Z?/g, '<time>')
      .replace(/(^|\s)(\/|\.\/|\.\.\/)\S+/g, '$1<path>')
      .replace(/\S*…/g, '…')
      .replace(/\d[\d,]*(\.\d+)?/g, 'N')
      .replace(/\bN (ms|s)\b/g, 'N ms')
      .replace(/─+/g, '─')
      .replace(/█+/g, '█')
      .replace(/░+/g, '░')
      .replace(/\s+/g, ' ')
  );
}

/** Every README line is among the actual lines (one for one); without a "…" line, nothing else is. */
export function assertSameShape(expected: string, actual: string, what: string): void {
  const wanted = expected.split('\n').filter((line) => line.trim() !== '');
  const elided = wanted.some((line) => line.trim() === '…');
  const left = actual
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map(shape);
  const missing: string[] = [];
  for (const line of wanted) {
    if (line.trim() === '…') continue;
    const at = left.indexOf(shape(line));
    if (at < 0) missing.push(line);
    else left.splice(at, 1);
  }
  const extra = elided ? [] : left;
  assert.ok(
    missing.length === 0 && extra.length === 0,
    `${what}: the README's block and the output differ in shape.\n` +
      `${missing.length > 0 ? `In the README, not in the output:\n  ${missing.join('\n  ')}\n` : ''}` +
      `${extra.length > 0 ? `In the output, not in the README:\n  ${extra.join('\n  ')}\n` : ''}` +
      `The output:\n${actual}`,
  );
}

// ---- running commands as a reader would -----------------------------------------------

/** `npm start`, `npm run x`, `node file …`, `npx spanflow …` as the node invocations they are. */
export function invocations(command: string): string[][] {
  const words = command.trim().split(/\s+/);
  const script = words[0] === 'npm' && (words[1] === 'start' || words[1] === 'test') ? words[1] : words[0] === 'npm' && words[1] === 'run' ? words[2] : undefined;
  if (script !== undefined) {
    const body = packageJson.scripts[script];
    assert.ok(body, `package.json has no script '${script}' (README: ${command})`);
    return body.split('&&').flatMap(invocations);
  }
  if (words[0] === 'node') return [words.slice(1)];
  if (words[0] === 'npx' && words[1] === 'spanflow') return [['cli/spanflow.js', ...words.slice(2)]];
  assert.fail(`the README test does not know how to run '${command}': add it to invocations()`);
}

// ---- links ------------------------------------------------------------------------

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens. */
const slug = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');

const anchorsOf = (markdown: string) => new Set([...markdown.matchAll(/^#{1,6} (.+)$/gm)].map((m) => slug((m[1] ?? '').replace(/`/g, ''))));

/** Markdown links and images, outside code blocks and code spans. */
export function linksOf(markdown: string): string[] {
  const prose = markdown.replace(/^```[\s\S]*?^```\s*$/gm, '').replace(/`[^`\n]*`/g, '');
  return [...prose.matchAll(/!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)].map((m) => m[1] ?? '');
}

const PRIVATE_HOST = /^(localhost|127\.|0\.0\.0\.0|10\.|192\.168\.|172\.(1[6-9]|2\d|3[01])\.|\[::1\]|[^/]*\.local$)/;

export function linkProblem(file: string, target: string, markdown: string): string | undefined {
  if (/^[a-z][a-z0-9+.-]*:/i.test(target)) {
    const url = URL.canParse(target) ? new URL(target) : undefined;
    if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:')) return `${target}: not a web address`;
    if (PRIVATE_HOST.test(url.hostname)) return `${target}: not a public site`;
    return undefined;
  }
  const [path = '', anchor] = target.split('#');
  const resolved = path === '' ? file : resolve(dirname(file), decodeURIComponent(path));
  if (!resolved.startsWith(root)) return `${target}: outside the repository`;
  if (!existsSync(resolved)) return `${target}: no such file in the repository`;
  if (anchor !== undefined && resolved.endsWith('.md')) {
    const text = resolved === file ? markdown : readFileSync(resolved, 'utf8');
    if (!anchorsOf(text).has(anchor)) return `${target}: no heading with that anchor`;
  }
  return undefined;
}

/** The README, the changelog, and every Markdown file under docs/ and in a folder of the repository's own. */
export function markdownFiles(): string[] {
  const found = ['README.md', 'CHANGELOG.md'].map((name) => join(root, name)).filter(existsSync);
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.name === 'node_modules' || entry.name.startsWith('.') || entry.name === 'dist') continue;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.md') && dir !== root) found.push(path);
    }
  };
  walk(root);
  return found;
}

