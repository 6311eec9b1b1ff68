// The parts of the Node SDK's set-up that the OTEL_* variables choose, read the
// way @opentelemetry/sdk-node reads them, so startTelemetry() can build on the
// trace and metrics SDKs alone: the resource, the sampler, span limits and the
// propagator. (sdk-node would also bring gRPC, Zipkin and Prometheus exporters
// and import-in-the-middle, none of which spanflow uses.)

import { diag, type TextMapPropagator } from '@opentelemetry/api';
import type { Resource, ResourceDetector } from '@opentelemetry/resources';
import type { Sampler, SpanLimits } from '@opentelemetry/sdk-trace';
import { core, resources, sdkTrace } from './packages.ts';

/**
 * The default resource, `serviceName` over it, then what the detectors find:
 * OTEL_NODE_RESOURCE_DETECTORS (env, host, os, process, serviceinstance, all,
 * none; default all). The env detector reads OTEL_RESOURCE_ATTRIBUTES and
 * OTEL_SERVICE_NAME, so both win over `serviceName`.
 */
export function resourceFromEnv(serviceName: string | undefined): Resource {
  const { defaultResource, detectResources, envDetector, hostDetector, osDetector, processDetector, resourceFromAttributes, serviceInstanceIdDetector } =
    resources();
  const known = new Map<string, ResourceDetector>([
    ['serviceinstance', serviceInstanceIdDetector],
    ['process', processDetector],
    ['host', hostDetector],
    ['os', osDetector],
    ['env', envDetector],
  ]);
  const names = core().getStringListFromEnv('OTEL_NODE_RESOURCE_DETECTORS') ?? ['all'];
  const detectors = names.includes('all')
    ? [...known.values()]
    : names.includes('none')
      ? []
      : names.flatMap((name) => {
          const detector = known.get(name);
          if (!detector) diag.warn(`spanflow/otel: OTEL_NODE_RESOURCE_DETECTORS names no detector '${name}' (known: ${[...known.keys()].join(', ')}, all, none)`);
          return detector ? [detector] : [];
        });
  const base = serviceName ? defaultResource().merge(resourceFromAttributes({ 'service.name': serviceName })) : defaultResource();
  return base.merge(detectResources({ detectors }));
}

/** OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG; undefined (the provider's parent-based always-on) when unset or unknown. */
export function samplerFromEnv(): Sampler | undefined {
  const { AlwaysOffSampler, AlwaysOnSampler, ParentBasedSampler, TraceIdRatioBasedSampler } = sdkTrace();
  const name = core().getStringFromEnv('OTEL_TRACES_SAMPLER');
  switch (name) {
    case undefined:
      return undefined;
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'traceidratio':
      return new TraceIdRatioBasedSampler(ratioFromEnv());
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratioFromEnv()) });
    default:
      diag.error(
        `spanflow/otel: OTEL_TRACES_SAMPLER=${name} is not a sampler; using the default (parentbased_always_on). ` +
          'Known: always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio',
      );
      return undefined;
  }
}

/** OTEL_TRACES_SAMPLER_ARG for the ratio samplers: a number in [0, 1], else 1 (with an error through diag). */
function ratioFromEnv(): number {
  const ratio = core().getNumberFromEnv('OTEL_TRACES_SAMPLER_ARG');
  if (ratio !== undefined && ratio >= 0 && ratio <= 1) return ratio;
  diag.error(`spanflow/otel: OTEL_TRACES_SAMPLER_ARG must be a ratio from 0 to 1 (got ${ratio ?? 'nothing'}); sampling every trace`);
  return 1;
}

/** OTEL_SPAN_*_LIMIT and OTEL_ATTRIBUTE_*_LIMIT; unset ones keep the SDK's defaults. */
export function spanLimitsFromEnv(): SpanLimits {
  const number = core().getNumberFromEnv;
  const limits: SpanLimits = {
    attributeCountLimit: number('OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT') ?? number('OTEL_ATTRIBUTE_COUNT_LIMIT'),
    attributeValueLengthLimit: number('OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT') ?? number('OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT'),
    eventCountLimit: number('OTEL_SPAN_EVENT_COUNT_LIMIT'),
    linkCountLimit: number('OTEL_SPAN_LINK_COUNT_LIMIT'),
    attributePerEventCountLimit: number('OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT') ?? number('OTEL_SPAN_ATTRIBUTE_PER_EVENT_COUNT_LIMIT'),
    attributePerLinkCountLimit: number('OTEL_LINK_ATTRIBUTE_COUNT_LIMIT') ?? number('OTEL_SPAN_ATTRIBUTE_PER_LINK_COUNT_LIMIT'),
  };
  return Object.fromEntries(Object.entries(limits).filter(([, value]) => value !== undefined));
}

/**
 * OTEL_PROPAGATORS (default tracecontext,baggage); `none` registers none, so
 * the application may register its own. B3 is not carried (it needs
 * @opentelemetry/propagator-b3): a name spanflow does not know is reported
 * through diag and left out.
 */
export function propagatorFromEnv(): TextMapPropagator | undefined {
  const { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator, getStringListFromEnv } = core();
  const names = [...new Set(getStringListFromEnv('OTEL_PROPAGATORS') ?? ['tracecontext', 'baggage'])];
  if (names.includes('none')) return undefined;
  const propagators = names.flatMap((name): TextMapPropagator[] => {
    if (name === 'tracecontext') return [new W3CTraceContextPropagator()];
    if (name === 'baggage') return [new W3CBaggagePropagator()];
    diag.warn(
      `spanflow/otel: OTEL_PROPAGATORS names '${name}', which spanflow/otel does not carry (tracecontext, baggage, none); ` +
        'for B3, install @opentelemetry/propagator-b3 and register it with propagation.setGlobalPropagator() after startTelemetry()',
    );
    return [];
  });
  if (propagators.length === 0) return undefined;
  return propagators.length === 1 ? propagators[0] : new CompositePropagator({ propagators });
}
