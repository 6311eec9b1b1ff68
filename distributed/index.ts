// spanflow/distributed: steps and stage tasks on worker processes of a pg-boss
// queue, on the Postgres that keeps the runs, with cancellation, timeouts and
// one trace across processes.

export { createDispatcher, Dispatcher, type DispatcherOptions } from './dispatcher.ts';
export { RemoteError, RemoteTaskError, WorkerLostError } from './errors.ts';
export type { ConnectionOptions } from './connection.ts';
export { REMOTE_ATTR } from './tracing.ts';
export { type RemoteContext, type RemoteFn, type RemoteInputOf, type RemoteOutputOf, type RemoteTask, type RemoteTaskOptions, remoteTask, type RunRemoteOptions } from './task.ts';
export { RemoteWorker, startWorker, type StopOptions, type WorkerOptions } from './worker.ts';
export { WorkerDefinitionError } from '../worker-threads/index.ts';
