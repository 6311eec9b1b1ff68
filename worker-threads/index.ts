// spanflow/workers: CPU-bound steps and stage tasks on Piscina worker threads,
// with trace context across the thread boundary and pool metrics.

export { WorkerDefinitionError, WorkerError, WorkerExitError, WorkerOutOfMemoryError, WorkerPoolError, WorkerTaskError } from './errors.ts';
export { defaultPool, type TaskRef, WorkerPool, type WorkerPoolOptions } from './pool.ts';
export { type InputOf, type OutputOf, type RunOnPoolOptions, type WorkerFn, type WorkerTask, type WorkerTaskOptions, workerTask } from './task.ts';
export { WORKER_ATTR } from './tracing.ts';
export { type Transfer, transfer } from './transfer.ts';
// For spanflow/distributed, whose remote workers run the same task declarations: not part of spanflow/workers' API.
export { loadExport } from './modules.ts';
export { type ErrorRecord, errorRecord, fromRecord } from './protocol.ts';
export { moduleUrl, shown } from './task.ts';
