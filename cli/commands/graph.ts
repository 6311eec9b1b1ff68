// `spanflow graph <module>`: imports a module and prints the Mermaid flowchart
// of each pipeline it exports (graph and stage pipelines, through their toMermaid()).

import type { Command } from 'commander';
import { CommandError, type Output } from '../io.ts';
import { messageOf } from '../../sdk/index.ts';
import { exportsOf, importModule } from '../module.ts';
import { visible } from '../render/format.ts';

interface Found {
  readonly exportName: string;
  readonly pipeline: string;
  readonly mermaid: () => string;
}

interface GraphLike {
  readonly name: string;
  toMermaid(): string;
}

// Graph and stage pipelines both draw themselves.
function isPipeline(value: unknown): value is GraphLike {
  return typeof value === 'object' && value !== null && typeof (value as GraphLike).toMermaid === 'function' && typeof (value as GraphLike).name === 'string';
}

function pipelines(module: Readonly<Record<string, unknown>>): Found[] {
  return exportsOf(module, isPipeline).map(({ exportName, value }) => ({ exportName, pipeline: value.name, mermaid: () => value.toMermaid() }));
}

export function registerGraph(program: Command, out: Output): void {
  program
    .command('graph')
    .summary('print the Mermaid flowchart of the pipelines a module exports (its top-level code runs)')
    .description(
      'print the Mermaid flowchart of the pipelines a module exports. The module is imported, so its top-level code runs: point it at a file that defines pipelines, not one that runs them',
    )
    .argument('<module>', 'a .ts or .js file that exports pipelines (path from the current folder); its top-level code runs')
    .option('--export <name>', 'only this export')
    .action(async (path: string, flags: { export?: string }) => {
      const module = await importModule(out, path);
      const found = pipelines(module);
      const names = found.map((f) => `${f.exportName} (pipeline '${f.pipeline}')`).join(', ');
      let chosen = found;
      if (flags.export !== undefined) {
        const wanted = flags.export;
        if (!(wanted in module)) {
          throw new CommandError(`${path} has no export named '${wanted}'${found.length > 0 ? `: its pipelines are ${names}` : ''}`);
        }
        chosen = found.filter((f) => f.exportName === wanted || module[f.exportName] === module[wanted]);
        if (chosen.length === 0) throw new CommandError(`export '${wanted}' of ${path} is not a pipeline${found.length > 0 ? `: its pipelines are ${names}` : ''}`);
      }
      if (chosen.length === 0) {
        const exported = Object.keys(module);
        throw new CommandError(
          `${path} exports no pipeline (${exported.length > 0 ? `its exports: ${exported.join(', ')}` : 'it exports nothing'}): export one made with pipeline() or stages()`,
        );
      }
      for (const [i, f] of chosen.entries()) {
        let text: string;
        try {
          text = f.mermaid();
        } catch (error) {
          throw new CommandError(`pipeline '${f.pipeline}' (export ${f.exportName}) is not valid: ${messageOf(error)}`);
        }
        // A comment line: a name with a line break must not end it.
        if (chosen.length > 1) out.line(`${i > 0 ? '\n' : ''}%% ${f.exportName}: pipeline '${visible(f.pipeline)}'`);
        out.write(text.endsWith('\n') ? text : `${text}\n`);
      }
    });
}
