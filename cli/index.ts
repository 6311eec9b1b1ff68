// The `spanflow` command line: `main(argv, io)` runs one command and returns its exit code.

export { type Io, processIo } from './io.ts';
export { parseDuration, parseWhen } from './parse.ts';
export { EXIT, main } from './program.ts';
