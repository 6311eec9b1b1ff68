// Attribute names. The OpenTelemetry CICD semantic conventions where they fit
// (copied here: the incubating entry point is not for run-time import), and
// `spanflow.*` for the rest.

export const ATTR = {
  PIPELINE_NAME: 'cicd.pipeline.name',
  RUN_ID: 'cicd.pipeline.run.id',
  RESULT: 'cicd.pipeline.result',
  TASK_NAME: 'cicd.pipeline.task.name',
  TASK_RUN_ID: 'cicd.pipeline.task.run.id',
  TASK_RESULT: 'cicd.pipeline.task.run.result',
  ERROR_TYPE: 'error.type',
  NODE_KIND: 'spanflow.node.kind',
  ATTEMPT: 'spanflow.attempt',
  MAP_INDEX: 'spanflow.map.index',
  PARENT_RUN_ID: 'spanflow.parent_run.id',
  STAGE: 'spanflow.stage',
  WORKER: 'spanflow.worker',
  WORKER_STATE: 'spanflow.worker.state',
  ITEM_ID: 'spanflow.item.id',
  ITEM_STATUS: 'spanflow.item.status',
  HOOK_PHASE: 'spanflow.hook.phase',
  ROUTE: 'spanflow.route',
  TOKEN_COUNT: 'spanflow.token.count',
  TOKEN: 'spanflow.token',
  DROP_REASON: 'spanflow.drop.reason',
  /** A worker thread pool's name (spanflow/workers). */
  POOL_NAME: 'spanflow.pool.name',
  /** A distributed queue's name (spanflow/distributed). */
  QUEUE_NAME: 'spanflow.queue.name',
} as const;

export type AttributeName = (typeof ATTR)[keyof typeof ATTR];
