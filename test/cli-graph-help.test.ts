// `spanflow graph <module>` imports the module, so its top-level code runs: the help says so,
// where a user looks before pointing it at a script.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cli } from './cli-support.ts';

test("spanflow graph --help and the command list say that the module's top-level code runs", async () => {
  const help = await cli(['graph', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /The module is imported, so its top-level code runs/);
  assert.match(help.stdout, /a file that defines pipelines,\s+not one that runs them/);
  const list = await cli(['--help']);
  assert.match(list.stdout, /graph \[options\] <module> +print the Mermaid flowchart .*\(its top-level code runs\)/);
});
