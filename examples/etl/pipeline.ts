// A four-stage ETL over order records: fetch -> parse -> enrich -> save.
//
// Everything "remote" is simulated, deterministically from the item's index, so
// a run always ends the same way:
//   - fetch waits 0–2 ms for some records (I/O) and reports what it is doing;
//   - about 2% of records come back empty: parse's skip predicate skips them;
//   - enrich calls a flaky customer service: about 3% of records time out on
//     their first attempt or two and succeed on a retry, and one record in a
//     thousand times out every time and ends failed after 3 attempts;
//   - save writes rows into an in-memory table (a Map), two writes at a time.

import type { Writable } from 'node:stream';
import { setImmediate, setTimeout } from 'node:timers/promises';
import {
  type BatchResult,
  type Dashboard,
  type DashboardName,
  type EventListener,
  item,
  type PersistOption,
  type StagePipeline,
  type StagePipelineOptions,
  stages,
  type TaskContext,
} from '../../sdk/index.ts';
import { consoleDashboard } from '../../exporters/index.ts';

// ---- the simulated world --------------------------------------------------------

/** The customer service did not answer in time. Retried by enrich; thrown every time for a few records. */
export class UpstreamTimeout extends Error {
  readonly service: string;
  constructor(service: string, waitedMs: number) {
    super(`${service} did not answer within ${waitedMs} ms`);
    this.name = 'UpstreamTimeout';
    this.service = service;
  }
}

/** A fixed pseudo-random number in [0, 1) for (index, salt): the same every run. */
function noise(index: number, salt: number): number {
  let x = (Math.imul(index + 1, 0x9e3779b1) ^ Math.imul(salt, 0x85ebca6b)) >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d);
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
  return ((x ^ (x >>> 16)) >>> 0) / 2 ** 32;
}

/** What the simulation has in store for each record. Exported so tests can predict every outcome. */
export const simulation = {
  /** Times out on every attempt: ends failed in enrich. One record in a thousand. */
  broken: (index: number): boolean => index % 1000 === 421,
  /** Comes back with an empty body: skipped by parse. */
  empty: (index: number): boolean => !simulation.broken(index) && noise(index, 1) < 0.02,
  /** Attempts of enrich that time out before one succeeds (0, 1 or 2). */
  flakes: (index: number): number => {
    if (simulation.broken(index) || simulation.empty(index) || noise(index, 2) >= 0.03) return 0;
    return noise(index, 3) < 0.6 ? 1 : 2;
  },
  /** Simulated fetch latency in ms: none for half the records, 1 or 2 ms for the rest. */
  latencyMs: (index: number): number => {
    const n = noise(index, 4);
    return n < 0.5 ? 0 : n < 0.85 ? 1 : 2;
  },
};

const CURRENCIES = ['EUR', 'USD', 'GBP', 'CHF'] as const;
type Currency = (typeof CURRENCIES)[number];
const TO_EUR: Record<Currency, number> = { EUR: 1, USD: 0.92, GBP: 1.17, CHF: 1.04 };
const REGIONS = ['emea', 'amer', 'apac'] as const;
const TIERS = ['free', 'pro', 'enterprise'] as const;

/** The order the (simulated) source API returns for `orderNo`, as JSON text. */
function sourceRecord(orderNo: number): string {
  const lines = 1 + Math.floor(noise(orderNo, 5) * 4);
  return JSON.stringify({
    order_no: orderNo,
    customer: `cust-${String(orderNo % 731).padStart(4, '0')}`,
    currency: CURRENCIES[orderNo % CURRENCIES.length],
    created_at: new Date(Date.UTC(2025, 0, 1) + orderNo * 37_000).toISOString(),
    lines: Array.from({ length: lines }, (_, i) => ({
      sku: `SKU-${(orderNo * 7 + i * 13) % 997}`,
      qty: 1 + ((orderNo + i) % 5),
      unit_price: `${(5 + noise(orderNo, 10 + i) * 95).toFixed(2)}`,
    })),
  });
}

// ---- the records as they go through --------------------------------------------

/** What fetch returns: the raw response. */
export interface RawRecord {
  readonly key: string;
  readonly status: number;
  readonly body: string;
}

export interface Order {
  readonly orderNo: number;
  readonly customer: string;
  readonly currency: Currency;
  readonly createdAt: Date;
  readonly lines: readonly { readonly sku: string; readonly qty: number; readonly unitPriceCents: number }[];
  readonly totalCents: number;
}

export interface EnrichedOrder extends Order {
  readonly region: (typeof REGIONS)[number];
  readonly tier: (typeof TIERS)[number];
  readonly totalEurCents: number;
}

/** A row of the `orders` table. */
export interface Row {
  readonly key: string;
  readonly customer: string;
  readonly region: string;
  readonly tier: string;
  readonly lineCount: number;
  readonly totalEurCents: number;
  readonly day: string;
  readonly savedBy: number;
}

export type Table = Map<string, Row>;

// ---- the tasks -------------------------------------------------------------------

/** GET /orders/:n from the source API (simulated latency on the task's signal). */
async function fetchOrder(orderNo: number, ctx: TaskContext): Promise<RawRecord> {
  const key = `order-${String(orderNo).padStart(6, '0')}`;
  ctx.setTaskStatus(`GET /orders/${orderNo}`);
  const latency = simulation.latencyMs(ctx.item.index);
  if (latency > 0) await setTimeout(latency, undefined, { signal: ctx.signal });
  if (simulation.empty(ctx.item.index)) return { key, status: 204, body: '' };
  return { key, status: 200, body: sourceRecord(orderNo) };
}

interface SourceOrder {
  order_no: number;
  customer: string;
  currency: Currency;
  created_at: string;
  lines: { sku: string; qty: number; unit_price: string }[];
}

function decode(raw: RawRecord): SourceOrder & { key: string } {
  return { key: raw.key, ...(JSON.parse(raw.body) as SourceOrder) };
}

function normalize(source: SourceOrder & { key: string }): Order & { key: string } {
  const lines = source.lines.map((l) => ({ sku: l.sku, qty: l.qty, unitPriceCents: Math.round(Number(l.unit_price) * 100) }));
  return {
    key: source.key,
    orderNo: source.order_no,
    customer: source.customer,
    currency: source.currency,
    createdAt: new Date(source.created_at),
    lines,
    totalCents: lines.reduce((sum, l) => sum + l.qty * l.unitPriceCents, 0),
  };
}

/** Looks the customer up in the (flaky) customer service and converts the total to EUR. */
async function lookupCustomer(order: Order & { key: string }, ctx: TaskContext): Promise<EnrichedOrder & { key: string }> {
  const index = ctx.item.index;
  if (simulation.broken(index) || ctx.attempt <= simulation.flakes(index)) throw new UpstreamTimeout('customer-service', 250);
  const n = Number(order.customer.slice(5));
  return {
    ...order,
    region: REGIONS[n % REGIONS.length] ?? 'emea',
    tier: TIERS[n % TIERS.length] ?? 'free',
    totalEurCents: Math.round(order.totalCents * TO_EUR[order.currency]),
  };
}

// ---- the pipeline ----------------------------------------------------------------

/**
 * The ETL definition, writing into `table`. Pipeline-level options (dashboard,
 * tracker, onEvent...) are passed through.
 */
export function etlPipeline(table: Table, options: StagePipelineOptions = {}): StagePipeline<number, Row> {
  return stages<number>('etl', options)
    // A limit for a source that stops answering; the simulated fetches take 0–2 ms, and no record is meant to hit it.
    .stage('fetch', { workers: 4, tasks: { name: 'get-order', run: fetchOrder }, timeout: 10_000 })
    .stage('parse', {
      workers: 2,
      tasks: [decode, normalize],
      skip: (raw: RawRecord) => raw.status === 204 || raw.body === '',
    })
    .stage('enrich', {
      workers: 4,
      tasks: { name: 'lookup-customer', run: lookupCustomer },
      retry: { attempts: 3, initialDelayMs: 5, retryIf: (error) => error instanceof UpstreamTimeout },
    })
    .stage('save', {
      workers: 4,
      tasks: {
        name: 'write-row',
        concurrency: 2, // the table takes two writers at a time
        run: async (order: EnrichedOrder & { key: string }, ctx: TaskContext): Promise<Row> => {
          const row: Row = {
            key: order.key,
            customer: order.customer,
            region: order.region,
            tier: order.tier,
            lineCount: order.lines.length,
            totalEurCents: order.totalEurCents,
            day: order.createdAt.toISOString().slice(0, 10),
            savedBy: ctx.worker,
          };
          await setImmediate(undefined, { signal: ctx.signal }); // the write's round trip
          table.set(row.key, row);
          return row;
        },
      },
    });
}

export interface EtlOptions {
  /** Orders to process. Default 10,000. */
  readonly items?: number;
  /** A live view: a name from spanflow/console, a dashboard object, or false (default) for none. */
  readonly dashboard?: DashboardName | Dashboard | false;
  /** Where a named dashboard writes. Default: stdout. */
  readonly stream?: Writable;
  /** Called with every event of the run. */
  readonly onEvent?: EventListener;
  /** A StatusTracker (or anything with `observe`), fed with every event. */
  readonly tracker?: { readonly observe: EventListener };
  /** Dashboard refresh, in ms. Default 250. */
  readonly updateInterval?: number;
  /** The table to write into. Default: a new one (see `result.table`). */
  readonly table?: Table;
  readonly signal?: AbortSignal;
  readonly runId?: string;
  /** Store the batch: a store from spanflow/postgres, or `true` for the default one. */
  readonly persist?: PersistOption;
}

/** The ETL's pipeline meta: where orders come from and go. */
export const ETL_META = { source: 'orders-api', target: 'warehouse.orders' } as const;

/** `count` orders as the ETL feeds them, with ids `order-000001`, … */
export function orders(count: number) {
  return Array.from({ length: count }, (_, i) => item(i + 1, { id: `order-${String(i + 1).padStart(6, '0')}` }));
}

export type EtlResult = BatchResult<Row> & { readonly table: Table };

/** Runs the ETL over orders 1..items and returns the batch result, plus the table it wrote. */
export async function runEtl(options: EtlOptions = {}): Promise<EtlResult> {
  const count = options.items ?? 10_000;
  const table: Table = options.table ?? new Map();
  let dashboard: Dashboard | DashboardName | undefined;
  if (options.dashboard && typeof options.dashboard === 'string' && options.stream) {
    dashboard = consoleDashboard(options.dashboard, { stream: options.stream });
  } else if (options.dashboard) {
    dashboard = options.dashboard;
  }
  const etl = etlPipeline(table, {
    ...(dashboard && { dashboard }),
    ...(options.tracker && { tracker: options.tracker }),
    ...(options.updateInterval !== undefined && { updateInterval: options.updateInterval }),
    ...(options.persist !== undefined && { persist: options.persist }),
    meta: ETL_META,
  });
  const result = await etl.run(orders(count), {
    ...(options.onEvent && { onEvent: options.onEvent }),
    ...(options.signal && { signal: options.signal }),
    ...(options.runId && { runId: options.runId }),
  });
  return { ...result, table };
}
