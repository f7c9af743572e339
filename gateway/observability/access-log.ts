// Structured JSON access logs, sampled: off by default (config `observability.accessLogSampleRate: 0`).
// The data path asks `sampled()` first (a comparison and an addition, no allocation) and builds the
// entry only for requests that will be logged. Sampling is deterministic (RateSampler): rate r logs
// exactly one request in 1/r over any long run, with no random numbers.
import type { Logger } from 'pino';
import { RateSampler } from './rate-sampler.js';

/** One finished request or tunnel, as a JSON log line. Times in milliseconds. */
export interface AccessLogEntry {
  readonly listener: 'outbound' | 'peer' | 'tcp';
  /** The calling cluster (this cluster for outbound traffic). */
  readonly source: string;
  /** `name.namespace`, or '(unknown)' when no route matched. */
  readonly service: string;
  /** Cluster that served the request; '(none)' when nothing did. */
  readonly destination: string;
  readonly method?: string;
  readonly authority?: string;
  readonly path?: string;
  /** HTTP status sent downstream (499: the caller went away). */
  readonly status: number;
  readonly grpcStatus?: number;
  readonly durationMs: number;
  /** The endpoint or peer gateway that answered, host:port. */
  readonly upstream?: string;
  readonly bytesIn?: number;
  readonly bytesOut?: number;
  /** The W3C trace id of the request (absent for opaque TCP tunnels, which carry no headers). */
  readonly traceId?: string;
  /** The traceparent forwarded upstream: the trace id and this gateway's span id. */
  readonly traceparent?: string;
  /** Error code when the gateway answered itself (NO_ROUTE, UPSTREAM_TIMEOUT, …). */
  readonly error?: string;
}

export class AccessLog {
  readonly sampleRate: number;
  private readonly logger: Logger;
  private readonly sampler: RateSampler;

  /** `sampleRate` 0..1 (clamped); 0 turns access logging off, 1 logs every request. */
  constructor(logger: Logger, sampleRate: number) {
    this.sampler = new RateSampler(sampleRate);
    this.sampleRate = this.sampler.rate;
    this.logger = logger.child({ component: 'access' });
  }

  /** True when this request should be logged. Call once per request. */
  sampled(): boolean {
    return this.sampler.sampled();
  }

  write(entry: AccessLogEntry): void {
    this.logger.info(entry, 'access');
  }
}
