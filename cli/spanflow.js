#!/usr/bin/env node
// The `spanflow` command as package.json's "bin" names it. Plain JavaScript, so
// it starts anywhere: installed as a package it runs the built CLI (Node does
// not strip types under node_modules); in a checkout, the TypeScript source.
import module from 'node:module';
import { existsSync } from 'node:fs';

// Each command is a fresh process that loads the same modules: V8's compile cache (in the OS's temporary
// folder) saves recompiling them, about 0.2 s a command.
module.enableCompileCache?.();

const source = new URL('./bin.ts', import.meta.url);
const built = new URL('../dist/cli/bin.js', import.meta.url);
const installed = import.meta.url.includes('/node_modules/');
await import(!installed && existsSync(source) ? source.href : built.href);
