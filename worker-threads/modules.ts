// Loading a task's module and finding its export, where the task runs: in a
// pool's thread (entry.ts) or in a remote worker process (spanflow/distributed).
// A module is imported once per thread or process; one that failed to load is
// tried again next time.

type TaskFn = (input: unknown, context?: unknown) => unknown;

/** The export, or why there is none: `module` failed to load, or has no such `export`. */
export type LoadedExport = { readonly ok: true; readonly fn: TaskFn } | { readonly ok: false; readonly kind: 'module' | 'export'; readonly error: unknown };

const modules = new Map<string, Promise<Record<string, unknown>>>();

export async function loadExport(module: string, exportName: string): Promise<LoadedExport> {
  let loading = modules.get(module);
  if (!loading) {
    loading = import(module) as Promise<Record<string, unknown>>;
    modules.set(module, loading);
  }
  let exports: Record<string, unknown>;
  try {
    exports = await loading;
  } catch (error) {
    modules.delete(module);
    return { ok: false, kind: 'module', error };
  }
  const found = exports[exportName];
  if (typeof found === 'function') return { ok: true, fn: found as TaskFn };
  const functions = Object.keys(exports).filter((key) => typeof exports[key] === 'function');
  const has = functions.length > 0 ? `its functions: ${functions.join(', ')}` : 'it exports no function';
  const error = new Error(`has no exported function '${exportName}' (${has}); export it as \`export function ${exportName}(input) {...}\``);
  return { ok: false, kind: 'export', error };
}
