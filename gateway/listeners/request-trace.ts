// The W3C trace of one request on the data path: the traceparent the caller sent is continued with this
// gateway's own span id as parent-id (a new trace is started when it sent none or an invalid one), and
// the request is offered to the listener's observer (access log, span export) once, as it starts.
// Shared by the HTTP sinks (DownstreamSink.traceRequest) and the upgrade tunnels, which have no sink.
import {
  forwardTraceparent,
  TRACEPARENT_HEADER,
  type ObservedRequest,
  type RequestFacts,
  type RequestObserver,
} from '../observability/index.js';
import type { HeaderMap } from '../upstream/exchange.js';

/**
 * Sets `headers.traceparent` to the value to send upstream; returns what to finish when the request
 * ends, or undefined when nothing observes it (always, while access logs and span export are off).
 */
export function traceRequestHeaders(
  headers: HeaderMap,
  facts: RequestFacts,
  observer: RequestObserver | undefined,
  source: string,
): ObservedRequest | undefined {
  const received = headers[TRACEPARENT_HEADER];
  const traceIn = typeof received === 'string' ? received : undefined;
  const traceOut = forwardTraceparent(traceIn, observer?.traceSampler);
  headers[TRACEPARENT_HEADER] = traceOut;
  return observer === undefined ? undefined : observer.observe(facts, source, traceIn, traceOut);
}
