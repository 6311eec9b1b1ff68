// The live view's one page: a static file, no build step and no framework. Its
// inline script and style are allowed by their hashes in the page's own
// Content-Security-Policy, so it needs neither 'unsafe-inline' nor a second file.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

let html: string | undefined;
let headers: Record<string, string> | undefined;

export function pageHtml(): string {
  html ??= readFileSync(new URL('./page.html', import.meta.url), 'utf8');
  return html;
}

function hashesOf(tag: 'script' | 'style'): string {
  const bodies = [...pageHtml().matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, 'g'))].map((m) => m[1] ?? '');
  return bodies.map((body) => `'sha256-${createHash('sha256').update(body).digest('base64')}'`).join(' ');
}

export function pageHeaders(): Record<string, string> {
  headers ??= {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-cache',
    'x-content-type-options': 'nosniff',
    'content-security-policy': `default-src 'none'; script-src ${hashesOf('script')}; style-src ${hashesOf('style')}; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'self'`,
  };
  return headers;
}
