// spanflow/http: watch runs live over HTTP. `LiveRuns` is an observer you pass
// to pipelines, runs or batches (`observe: live`); `createLiveHandler({ live })`
// is a node:http request handler serving their snapshots as JSON, their events
// as Server-Sent Events, and one page that shows them. Give it a store as well
// (`openStore()` from spanflow/postgres) and it serves stored runs too, those of
// other processes included (`spanflow serve` does just that).

export { type Authorize, createLiveHandler, type LiveHandler, type LiveHandlerOptions } from './handler.ts';
export { type ClientState, LiveRuns, type LiveRunsOptions, type RunListing } from './live-runs.ts';
export type { LinkTemplates, RunLinks, RunView, StepView } from './run-view.ts';
export type { RunSource } from './stored.ts';
