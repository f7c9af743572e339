// Structured JSON access logs, sampled: off by default (config `observability.accessLogSampleRate: 0`).
// The data path asks `sampled()` first (a comparison and an addition, no allocation) and builds the
// entry only for requests that will be logged. Sampling is deterministic: rate r logs exactly one
// request in 1/r over any long run, with no random numbers.
import type { Logger } from 'pino';

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
  /** The traceparent forwarded upstream. */
  readonly traceparent?: string;
  /** Error code when the gateway answered itself (NO_ROUTE, UPSTREAM_TIMEOUT, …). */
  readonly error?: string;
}

export class AccessLog {
  readonly sampleRate: number;
  private readonly logger: Logger;
  /** Sampling in parts per million, so that rates like 0.1 add up exactly. */
  private readonly ratePpm: number;
  private creditPpm = 0;

  /** `sampleRate` 0..1 (clamped); 0 turns access logging off, 1 logs every request. */
  constructor(logger: Logger, sampleRate: number) {
    this.sampleRate = Number.isFinite(sampleRate) ? Math.min(1, Math.max(0, sampleRate)) : 0;
    this.ratePpm = Math.round(this.sampleRate * 1_000_000);
    this.logger = logger.child({ component: 'access' });
  }

  /** True when the request now finishing should be logged. Call once per request. */
  sampled(): boolean {
    if (this.ratePpm === 0) return false;
    this.creditPpm += this.ratePpm;
    if (this.creditPpm < 1_000_000) return false;
    this.creditPpm -= 1_000_000;
    return true;
  }

  write(entry: AccessLogEntry): void {
    this.logger.info(entry, 'access');
  }
}
