#!/usr/bin/env node
// The `spanflow` command (package.json "bin"): `spanflow --help` lists the commands.
import { main, processIo } from './index.ts';

process.exitCode = await main(process.argv.slice(2), processIo());
