// The compose stack and Grafana's provisioning, checked as far as a machine
// without Docker allows: the files parse, every datasource a dashboard names
// is provisioned, every mounted path exists, ports and credentials agree
// between services, the collector's pipelines use only what it defines, and
// images are pinned, with health checks where the image can run one.

import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { REMOTE_CLIPS, RENDER_QUEUE, RUNS_PER_ROUND } from '../compose/demo/round.ts';
import { dashboards, RUNS_UID, STACK_SCHEMA } from '../grafana/index.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const COMPOSE_DIR = join(ROOT, 'compose');
// biome-ignore lint/suspicious/noExplicitAny: parsed YAML, checked field by field below.
type Yaml = any;
const load = (path: string): Yaml => parse(readFileSync(path, 'utf8'));

const compose = load(join(COMPOSE_DIR, 'docker-compose.yml'));
const services: Record<string, Yaml> = compose.services;
const collector = load(join(COMPOSE_DIR, 'otel-collector.yaml'));
const prometheusConfig = load(join(COMPOSE_DIR, 'prometheus.yml'));
const provisioning = join(ROOT, 'grafana', 'provisioning');
const datasources: Yaml[] = readdirSync(join(provisioning, 'datasources')).flatMap((f) => load(join(provisioning, 'datasources', f)).datasources);
const providers: Yaml[] = readdirSync(join(provisioning, 'dashboards')).flatMap((f) => load(join(provisioning, 'dashboards', f)).providers);

/** Traces Jaeger v2's all-in-one keeps in memory (its default `max_traces`; compose gives it no config of its own), evicting the oldest. */
const JAEGER_MAX_TRACES = 100_000;

/** The collector's tail sampling policy named `name`. */
const samplingPolicy = (name: string): Yaml =>
  collector.processors.tail_sampling.policies.find((p: Yaml) => p.name === name) ?? assert.fail(`no tail sampling policy ${name}`);

/** Images that have no shell nor HTTP client, so compose cannot run a health check in them. */
const NO_SHELL: Readonly<Record<string, string>> = {
  'otel/opentelemetry-collector-contrib': 'a static binary on scratch; its health_check extension is published instead',
};

/** A service's bind mounts, `source` resolved from compose/. */
function binds(service: Yaml): { source: string; target: string }[] {
  return (service.volumes ?? [])
    .map((v: string) => v.split(':'))
    .filter(([source]: string[]) => source?.startsWith('.') || source?.startsWith('/'))
    .map(([source, target]: string[]) => ({ source: resolve(COMPOSE_DIR, source as string), target: target as string }));
}

/** The ports a service listens on inside the network: `ports` (container side) and `expose`. */
function containerPorts(service: Yaml): number[] {
  const published = (service.ports ?? []).map((p: string) => Number(String(p).split(':').at(-1)?.split('/')[0]));
  return [...published, ...(service.expose ?? []).map(Number)];
}

/** Asserts that `url` (or host:port) names a compose service and a port it listens on; returns the service. */
function reaches(url: string, what: string): Yaml {
  const { hostname, port } = new URL(url.includes('://') ? url : `tcp://${url}`);
  const service = services[hostname];
  assert.ok(service, `${what}: ${hostname} is not a compose service`);
  assert.ok(containerPorts(service).includes(Number(port)), `${what}: ${hostname} does not listen on ${port} (${containerPorts(service)})`);
  return service;
}

const env = (service: string): Record<string, string> => services[service]?.environment ?? {};
const datasource = (type: string): Yaml => datasources.find((d) => d.type === type) ?? assert.fail(`no ${type} datasource provisioned`);

describe('the compose stack and Grafana provisioning', () => {
  test('every datasource a dashboard names (panels, queries, variables, links) is provisioned with that uid and type', () => {
    const provisioned = new Map(datasources.map((d) => [d.uid, d.type]));
    assert.equal(provisioned.size, datasources.length, 'datasource uids are unique');
    let refs = 0;
    const visit = (node: unknown, where: string): void => {
      if (Array.isArray(node)) {
        node.forEach((n, i) => {
          visit(n, `${where}[${i}]`);
        });
        return;
      }
      if (node === null || typeof node !== 'object') return;
      const record = node as Record<string, unknown>;
      const ref = record.datasource as { uid?: string; type?: string } | undefined;
      if (ref && typeof ref === 'object' && !Array.isArray(ref)) {
        assert.equal(provisioned.get(ref.uid), ref.type, `${where}: datasource ${ref.uid} (${ref.type}) is not provisioned so`);
        refs++;
      }
      if (typeof record.datasourceUid === 'string') assert.ok(provisioned.has(record.datasourceUid), `${where}: link to ${record.datasourceUid}`);
      for (const [key, value] of Object.entries(record)) visit(value, `${where}.${key}`);
    };
    for (const { file, dashboard } of dashboards()) visit(dashboard, file);
    assert.ok(refs > 20);
    for (const destination of datasource('prometheus').jsonData.exemplarTraceIdDestinations) {
      assert.equal(provisioned.get(destination.datasourceUid), 'jaeger', 'exemplars open their trace in Jaeger');
    }
  });

  test('every mounted path, the build context and what the Dockerfile copies exist in the repository', () => {
    for (const [name, service] of Object.entries(services)) {
      for (const { source } of binds(service)) assert.ok(existsSync(source), `${name} mounts ${relative(ROOT, source)}, which does not exist`);
    }
    const build = services.demo?.build;
    const context = resolve(COMPOSE_DIR, build.context);
    const dockerfile = join(context, build.dockerfile);
    assert.ok(existsSync(dockerfile), build.dockerfile);
    const copies = [...readFileSync(dockerfile, 'utf8').matchAll(/^COPY\s+(.+)\s+\S+$/gm)].flatMap((m) => (m[1] ?? '').split(/\s+/));
    for (const source of copies) assert.ok(existsSync(join(context, source)), `the Dockerfile copies ${source}, which does not exist`);
    const command = readFileSync(dockerfile, 'utf8').match(/^CMD \["node", "([^"]+)"\]/m)?.[1];
    assert.ok(command && existsSync(join(context, command)), `the demo runs ${command}`);
  });

  test("two render-worker containers take the demo's render queue, from the demo's image and database", () => {
    const worker = services['render-worker'];
    assert.ok(worker, 'a render-worker service');
    assert.equal(worker.deploy?.replicas, 2, 'two containers');
    assert.deepEqual(worker.build, services.demo?.build, "the demo's image");
    const command: string[] = worker.command;
    assert.deepEqual(command.slice(0, 3), ['node', 'cli/spanflow.js', 'worker']);
    assert.ok(existsSync(join(ROOT, command[1] ?? '')), command[1]);
    assert.equal(command[command.indexOf('--queue') + 1], RENDER_QUEUE, 'the queue the demo sends to');
    const copied = [...readFileSync(join(COMPOSE_DIR, 'demo.Dockerfile'), 'utf8').matchAll(/^COPY\s+(\S+)\s+\S+$/gm)].map((m) => m[1]);
    for (const folder of ['cli/', 'distributed/']) assert.ok(copied.includes(folder), `the image has ${folder}`);
    assert.equal(env('render-worker').SPANFLOW_DATABASE_URL, env('demo').SPANFLOW_DATABASE_URL, 'the Postgres the demo sends its jobs to');
    assert.equal(env('demo').DEMO_REMOTE_RENDER, 'true', 'the demo sends its remote-render batches');
    reaches(env('render-worker').OTEL_EXPORTER_OTLP_ENDPOINT ?? '', 'the render workers export to the collector');
    const alive = command[command.indexOf('--alive-file') + 1] ?? '';
    assert.ok(worker.healthcheck?.test.join(' ').includes(alive), 'the health check reads the file the worker touches');
  });

  test('Grafana loads the generated dashboards from where compose mounts them, and opens on the overview', () => {
    const grafana = services.grafana;
    const mount = binds(grafana).find((b) => b.source === join(ROOT, 'grafana', 'dashboards'));
    assert.ok(mount, 'grafana/dashboards is mounted');
    assert.deepEqual(
      providers.map((p) => p.options.path),
      [mount.target],
    );
    assert.ok(binds(grafana).some((b) => b.source === provisioning && b.target === '/etc/grafana/provisioning'));
    const files = new Set(readdirSync(mount.source));
    for (const { file } of dashboards()) assert.ok(files.has(file), `${file} is generated into grafana/dashboards`);
    const home = env('grafana').GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH ?? '';
    assert.equal(dirname(home), mount.target);
    assert.ok(files.has(home.slice(mount.target.length + 1)), home);
    assert.equal(env('grafana').GF_AUTH_ANONYMOUS_ENABLED, 'true');
    assert.equal(env('grafana').GF_AUTH_ANONYMOUS_ORG_ROLE, 'Viewer', 'anonymous users may only view');
  });

  test('ports agree: demo -> collector -> Prometheus and Jaeger, and Grafana -> its datasources', () => {
    const receivers = collector.receivers.otlp.protocols;
    const collectorPorts = containerPorts(services['otel-collector']);
    for (const protocol of ['grpc', 'http']) {
      const port = Number(String(receivers[protocol].endpoint).split(':').at(-1));
      assert.ok(collectorPorts.includes(port), `the collector publishes its OTLP ${protocol} port ${port}`);
    }
    const demoEndpoint = new URL(env('demo').OTEL_EXPORTER_OTLP_ENDPOINT ?? '');
    assert.equal(Number(demoEndpoint.port), Number(String(receivers.http.endpoint).split(':').at(-1)), 'the demo sends OTLP/HTTP to the collector’s http receiver');
    reaches(demoEndpoint.href, 'demo OTLP endpoint');

    const toPrometheus = collector.exporters['otlphttp/prometheus'].endpoint as string;
    assert.equal(new URL(toPrometheus).pathname, '/api/v1/otlp', 'Prometheus takes OTLP at /api/v1/otlp');
    const prometheus = reaches(toPrometheus, 'collector -> Prometheus');
    assert.ok(prometheus.command.includes('--web.enable-otlp-receiver'));
    const listen = prometheus.command.find((a: string) => a.startsWith('--web.listen-address='));
    assert.equal(Number(listen.split(':').at(-1)), Number(new URL(toPrometheus).port));
    reaches(collector.exporters['otlp/jaeger'].endpoint, 'collector -> Jaeger');

    for (const ds of datasources) reaches(ds.url, `Grafana datasource ${ds.name}`);
  });

  test('the demo, Grafana and Postgres agree on the database, its credentials and the schema the dashboards read', () => {
    const postgres = env('postgres');
    const url = new URL(env('demo').SPANFLOW_DATABASE_URL ?? '');
    reaches(url.href, 'demo -> Postgres');
    assert.deepEqual(
      [decodeURIComponent(url.username), decodeURIComponent(url.password), url.pathname.slice(1)],
      [postgres.POSTGRES_USER, postgres.POSTGRES_PASSWORD, postgres.POSTGRES_DB],
    );
    const ds = datasource('grafana-postgresql-datasource');
    assert.deepEqual([ds.user, ds.secureJsonData.password, ds.jsonData.database], [postgres.POSTGRES_USER, postgres.POSTGRES_PASSWORD, postgres.POSTGRES_DB]);
    assert.equal(env('demo').SPANFLOW_SCHEMA, STACK_SCHEMA, 'the runs dashboard reads the schema the demo writes');
  });

  test('the collector’s pipelines name only receivers, processors and exporters it defines', () => {
    const { pipelines, extensions = [] } = collector.service;
    assert.ok(Object.keys(pipelines).length >= 2);
    for (const [name, pipeline] of Object.entries<Yaml>(pipelines)) {
      for (const kind of ['receivers', 'processors', 'exporters'] as const) {
        for (const component of pipeline[kind] ?? []) assert.ok(collector[kind]?.[component] !== undefined, `pipeline ${name}: ${kind} ${component} is not defined`);
      }
      assert.ok((pipeline.receivers ?? []).length > 0 && (pipeline.exporters ?? []).length > 0, `pipeline ${name} receives and exports`);
    }
    for (const extension of extensions) assert.ok(collector.extensions?.[extension] !== undefined, `extension ${extension}`);
    const used = new Set(Object.values<Yaml>(pipelines).flatMap((p) => p.exporters));
    assert.deepEqual(Object.keys(collector.exporters).filter((e) => !used.has(e)), [], 'every exporter is in a pipeline');
    assert.equal(prometheusConfig.otlp.translation_strategy, 'UnderscoreEscapingWithSuffixes', 'the names grafana/prometheus-names.ts assumes');
  });

  test('Jaeger keeps every trace the runs dashboard links to over its default time range: all runs, a sample of the items', () => {
    const { traces } = collector.service.pipelines;
    assert.ok(traces.processors.includes('tail_sampling'), 'the traces pipeline samples');
    assert.ok(traces.processors.indexOf('tail_sampling') < traces.processors.indexOf('batch'), 'sampling sees whole traces before batching');
    const runs = samplingPolicy('runs');
    assert.equal(runs.type, 'ottl_condition');
    assert.deepEqual(runs.ottl_condition.span, ['IsMatch(name, "^pipeline ")'], 'every trace with a run span ("pipeline <name>") is kept');
    const items = samplingPolicy('items');
    assert.equal(items.type, 'probabilistic');
    assert.equal(collector.processors.tail_sampling.policies.length, 2, 'no other policy keeps traces');
    assert.equal(services.jaeger?.command, undefined, 'Jaeger runs its default in-memory store');
    assert.equal(binds(services.jaeger ?? {}).length, 0, 'Jaeger runs its default in-memory store');

    const range = dashboards().find((d) => d.dashboard.uid === RUNS_UID)?.dashboard.time?.from ?? '';
    const hours = Number(/^now-(\d+)h$/.exec(range)?.[1] ?? assert.fail(`the runs dashboard's range: ${range}`));
    // A round ends with its pause: however fast the machine, no more rounds than this fit in the range.
    const rounds = (hours * 3_600_000) / Number(env('demo').DEMO_PAUSE_MS);
    const itemsPerRound = Number(env('demo').DEMO_ITEMS) + (env('demo').DEMO_REMOTE_RENDER === 'true' ? REMOTE_CLIPS : 0);
    const tracesPerRound = RUNS_PER_ROUND + (itemsPerRound * items.probabilistic.sampling_percentage) / 100;
    assert.ok(rounds * tracesPerRound <= JAEGER_MAX_TRACES, `${rounds} rounds × ${tracesPerRound} traces exceed Jaeger's ${JAEGER_MAX_TRACES}`);
  });

  test('Postgres is published on loopback and not on the host’s 5432, where a local server often listens', () => {
    const published = (services.postgres?.ports ?? []).map(String);
    assert.equal(published.length, 1);
    const [host, ...rest] = String(published[0]).split(':');
    assert.equal(host, '127.0.0.1');
    const hostPort = rest.slice(0, -1).join(':').replace(/^\$\{\w+:-(\d+)\}$/, '$1');
    assert.notEqual(Number(hostPort), 5432);
    assert.ok(Number(hostPort) > 1024, hostPort);
    for (const [name, service] of Object.entries(services)) {
      for (const port of (service.ports ?? []).map(String)) assert.doesNotMatch(port, /^(\d+\.\d+\.\d+\.\d+:)?5432:/, `${name} publishes the host's 5432`);
    }
  });

  test('images are pinned, every service has a health check where its image can run one, and volumes are named', () => {
    const images = Object.entries(services).map(([name, s]) => [name, s.image ?? ''] as const);
    const dockerfile = readFileSync(join(COMPOSE_DIR, 'demo.Dockerfile'), 'utf8');
    const from = dockerfile.match(/^FROM\s+(\S+)/m)?.[1];
    for (const [name, image] of [...images.filter(([, image]) => image !== ''), ['demo (FROM)', from ?? ''] as const]) {
      assert.match(image, /^[\w./-]+:[\w.-]*\d[\w.-]*$/, `${name}: ${image} has a version tag`);
      assert.doesNotMatch(image, /:latest$/, `${name}: ${image}`);
    }
    for (const [name, service] of Object.entries(services)) {
      assert.ok(service.image || service.build, `${name} has an image or a build`);
      const repository = String(service.image ?? '').split(':')[0] ?? '';
      if (NO_SHELL[repository]) {
        assert.equal(service.healthcheck, undefined, `${name}: ${NO_SHELL[repository]}`);
        continue;
      }
      assert.ok(service.healthcheck?.test, `${name} has a health check`);
    }
    const health = collector.extensions.health_check.endpoint as string;
    assert.ok(containerPorts(services['otel-collector']).includes(Number(health.split(':').at(-1))), 'the collector publishes its health_check port');
    const named = Object.values(services).flatMap((s) => (s.volumes ?? []).map((v: string) => v.split(':')[0]).filter((v: string) => !/^[./]/.test(v)));
    assert.ok(named.length >= 3);
    assert.deepEqual([...new Set(named)].sort(), Object.keys(compose.volumes ?? {}).sort(), 'named volumes are declared, and every declared one is used');
  });
});
