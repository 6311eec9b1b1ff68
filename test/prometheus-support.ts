// A real Prometheus for the dashboard tests: a Prometheus server (Debian's
// package) that scrapes a target on loopback and answers queries. The target
// is either @opentelemetry/exporter-prometheus itself, or the SDK's metrics
// written here in Prometheus's text format under the names the Collector and
// Prometheus 3's OTLP receiver give them (grafana's translation), standing in
// for an OTLP path that cannot run here (no Collector, and Debian's Prometheus
// 2.42 has no OTLP receiver).

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type CollectionResult, DataPointType, type MetricData } from '@opentelemetry/sdk-metrics';
import { type NamedMetric, prometheusLabel, prometheusSeries } from '../grafana/index.ts';
import { PROMETHEUS_HOWTO, prometheusBin, unless } from './requirements.ts';
import { freePort, loopbackServer, tempFolder } from './support.ts';

/** The Prometheus binary: SPANFLOW_PROMETHEUS (`.ci/run` sets it), else `prometheus` on PATH. */
export const PROMETHEUS_BIN = prometheusBin() ?? 'prometheus';

/** `skip` for suites that start a Prometheus: the line saying it is missing, or false (see requirements.ts). */
export const NEEDS_PROMETHEUS = unless('prometheus');

const number = (value: number) => (Number.isNaN(value) ? 'NaN' : value === Infinity ? '+Inf' : value === -Infinity ? '-Inf' : String(value));
const escapeValue = (value: string) => value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

function labels(attributes: Record<string, unknown>, extra: Record<string, string> = {}): string {
  const pairs = [
    ...Object.entries(attributes).map(([key, value]) => [prometheusLabel(key), String(value)] as const),
    ...Object.entries(extra),
  ];
  return pairs.length === 0 ? '' : `{${pairs.map(([k, v]) => `${k}="${escapeValue(v)}"`).join(',')}}`;
}

/** The catalogue's instrument for what the SDK exported (an up-down counter is a non-monotonic sum). */
function named(metric: MetricData): NamedMetric {
  const { name, unit } = metric.descriptor;
  switch (metric.dataPointType) {
    case DataPointType.HISTOGRAM:
    case DataPointType.EXPONENTIAL_HISTOGRAM:
      return { name, unit, instrument: 'histogram' };
    case DataPointType.GAUGE:
      return { name, unit, instrument: 'gauge' };
    case DataPointType.SUM:
      return { name, unit, instrument: metric.isMonotonic ? 'counter' : 'updowncounter' };
  }
}

/** Prometheus text format (0.0.4) of one collection, one family per translated name. */
export function exposition(result: CollectionResult): string {
  const families = new Map<string, { type: string; lines: string[] }>();
  for (const metric of result.resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics)) {
    const series = prometheusSeries(named(metric));
    const family = families.get(series.name) ?? { type: series.type, lines: [] };
    families.set(series.name, family);
    for (const point of metric.dataPoints) {
      const attributes = point.attributes as Record<string, unknown>;
      if (metric.dataPointType === DataPointType.HISTOGRAM) {
        const { boundaries, counts } = (point.value as { buckets: { boundaries: number[]; counts: number[] } }).buckets;
        const { sum = 0, count } = point.value as { sum?: number; count: number };
        let cumulative = 0;
        boundaries.forEach((bound, i) => {
          cumulative += counts[i] ?? 0;
          family.lines.push(`${series.bucket}${labels(attributes, { le: number(bound) })} ${cumulative}`);
        });
        family.lines.push(`${series.bucket}${labels(attributes, { le: '+Inf' })} ${count}`);
        family.lines.push(`${series.sum}${labels(attributes)} ${number(sum)}`, `${series.count}${labels(attributes)} ${count}`);
      } else {
        family.lines.push(`${series.name}${labels(attributes)} ${number(point.value as number)}`);
      }
    }
  }
  const text = [...families].map(([name, { type, lines }]) => [`# TYPE ${name} ${type}`, ...lines].join('\n')).join('\n');
  return `${text}\n`;
}

/** Serves `collect()` in text format on loopback, under the Collector's names. */
export async function metricsEndpoint(collect: () => Promise<CollectionResult>) {
  const server = await loopbackServer((_req, _body, res) => {
    void collect().then(
      (result) => res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(exposition(result)),
      (error: unknown) => res.writeHead(500).end(String(error)),
    );
  });
  return { url: server.url, host: new URL(server.url).host, close: server.close };
}

/** One element of an instant vector: its labels, and [time in seconds, value as text]. */
export interface Sample {
  readonly metric: Record<string, string>;
  readonly value: [number, string];
}

export interface PrometheusServer {
  readonly url: string;
  /** `/api/v1/query`: the result vector (fails the test on an error status, with Prometheus's message). */
  query(expr: string): Promise<Sample[]>;
  /** `/api/v1/label/<label>/values`, matching `match` (a series selector). */
  labelValues(label: string, match: string): Promise<string[]>;
  /**
   * Resolves once Prometheus holds a successful scrape of its target that began
   * after this call (its `up` sample is committed with the scraped samples). A
   * failed scrape (a slow answer on a loaded machine) is waited past; only at
   * `timeoutMs`, a hang guard, does it fail, with the last scrape error.
   */
  nextScrape(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

async function api<T>(url: string): Promise<T> {
  const response = await fetch(url);
  const body = (await response.json()) as { status: string; data: T; error?: string; errorType?: string };
  assert.equal(body.status, 'success', `${decodeURIComponent(url)}: ${body.errorType}: ${body.error}`);
  return body.data;
}

/** The scrape job's name: its series carry `job="spanflow"`. */
export const JOB = 'spanflow';

/** Starts Prometheus on a loopback port, scraping `target` (host:port) every 2 s, each scrape allowed 2 s, with its data in a temporary folder. */
export async function startPrometheus(target: string): Promise<PrometheusServer> {
  const folder = tempFolder('prometheus');
  const config = join(folder.path, 'prometheus.yml');
  writeFileSync(
    config,
    `global:\n  scrape_interval: 2s\n  scrape_timeout: 2s\nscrape_configs:\n  - job_name: ${JOB}\n    static_configs:\n      - targets: ["${target}"]\n`,
  );
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const output: string[] = [];
  const child: ChildProcess = spawn(
    PROMETHEUS_BIN,
    [`--config.file=${config}`, `--storage.tsdb.path=${join(folder.path, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await Promise.race([exited, sleep(5_000)]);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    folder.cleanup();
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    const failed = await Promise.race([spawnError, sleep(100).then(() => undefined)]);
    if (failed) {
      await stop();
      assert.fail(
        `cannot start Prometheus (${PROMETHEUS_BIN}: ${failed.message}). ${PROMETHEUS_HOWTO}.`,
      );
    }
    if (child.exitCode !== null) assert.fail(`Prometheus exited with ${child.exitCode}: ${output.join('')}`);
    const ready = await fetch(`${url}/-/ready`).then((r) => r.ok, () => false);
    if (ready) break;
    if (Date.now() > deadline) {
      await stop();
      assert.fail(`Prometheus was not ready within 20 s: ${output.join('')}`);
    }
  }
  const query = (expr: string) => api<{ result: Sample[] }>(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`).then((data) => data.result);
  const nextScrape = async (timeoutMs = 30_000): Promise<void> => {
    const since = Date.now();
    const deadline = since + timeoutMs;
    let lastError = 'no scrape began since';
    for (;;) {
      // The newest scrape's time (when it began) and whether it succeeded, in one query so both are of the same scrape.
      const [scrape] = await query(`up{job="${JOB}"} and timestamp(up{job="${JOB}"}) >= ${since / 1000}`);
      if (scrape?.value[1] === '1') return;
      if (scrape) {
        const targets = await api<{ activeTargets: { lastError: string }[] }>(`${url}/api/v1/targets`);
        lastError = `the last failed: ${targets.activeTargets.map((t) => t.lastError).join('; ')}`;
      }
      assert.ok(Date.now() < deadline, `Prometheus did not scrape ${target} successfully within ${timeoutMs} ms (${lastError})`);
      await sleep(50);
    }
  };
  return {
    url,
    query,
    labelValues: (label, match) => api(`${url}/api/v1/label/${label}/values?match[]=${encodeURIComponent(match)}`),
    nextScrape,
    stop,
  };
}
