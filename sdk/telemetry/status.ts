// Span status from an outcome, the same for step, task, item and run spans.

import { type Span, SpanStatusCode } from '@opentelemetry/api';
import type { ErrorInfo, StepEndStatus } from '../events.ts';
import { ATTR } from './attributes.ts';

/** Records the error as an exception event and sets status ERROR. */
export function exception(span: Span, error: ErrorInfo): void {
  span.recordException({ name: error.type, message: error.message, ...(error.stack === undefined ? {} : { stack: error.stack }) });
  span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
}

/** A failed, timed-out or cancelled attempt ends ERROR, with its error when there is one. */
export function endStatus(span: Span, status: StepEndStatus | 'suspended', error: ErrorInfo | undefined): void {
  if (status === 'failed' || status === 'timed_out' || status === 'cancelled') {
    if (error) exception(span, error);
    else span.setStatus({ code: SpanStatusCode.ERROR, message: status });
    if (error) span.setAttribute(ATTR.ERROR_TYPE, error.type);
  }
}

/** A span that ended in `error`, a value as thrown (a pool or queue task's): its exception event, `error.type` and status ERROR. */
export function failSpan(span: Span, error: unknown): void {
  const failure = error instanceof Error ? error : new Error(String(error));
  span.recordException(failure);
  span.setAttribute(ATTR.ERROR_TYPE, failure.name);
  span.setStatus({ code: SpanStatusCode.ERROR, message: failure.message });
}
