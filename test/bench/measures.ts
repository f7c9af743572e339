// The measures of DESIGN.md's performance budget. A load measure runs once against one variant to give
// one sample per metric. Settings (durations, connection counts) come from the run's options.
import { runH2load, runHey, runIperf3, runWrk } from './tools.js';
import type { Topology, Variant } from './topology.js';

export const MEASURES = ['http', 'grpc', 'tcp', 'latency', 'rss'] as const;
export type Measure = (typeof MEASURES)[number];
/** The measures run in interleaved rounds; `rss` runs once, on fresh processes (gateway-memory.ts). */
export const LOAD_MEASURES = ['http', 'grpc', 'tcp', 'latency'] as const;
export type LoadMeasure = (typeof LOAD_MEASURES)[number];

export type Metric =
  | 'http.rps'
  | 'grpc.rps'
  | 'tcp.gbps'
  | 'latency.p50ms'
  | 'latency.p99ms'
  | 'rss.idleMbA'
  | 'rss.idleMbB'
  | 'rss.quietMbA'
  | 'rss.quietMbB'
  | 'rss.floorMb'
  | 'rss.perConnKb';

export interface Sample {
  readonly metric: Metric;
  readonly variant: Variant;
  /** Round 1..rounds; for memory, 0 for idle RSS and the step number for per-connection growth. */
  readonly round: number;
  readonly value: number;
  /** Failed requests or bad statuses in the run that produced this sample. */
  readonly errors: number;
  readonly requests?: number;
}

export interface MeasureSettings {
  readonly httpSeconds: number;
  readonly grpcSeconds: number;
  readonly tcpSeconds: number;
  readonly latencySeconds: number;
  readonly wrkConnections: number;
  readonly wrkThreads: number;
  readonly h2loadConnections: number;
  readonly h2loadStreams: number;
  readonly latencyWorkers: number;
  readonly latencyRatePerWorker: number;
}

export async function runMeasure(
  measure: LoadMeasure,
  variant: Variant,
  round: number,
  topology: Topology,
  s: MeasureSettings,
): Promise<Sample[]> {
  const targets = topology.targets(variant);
  const sample = (metric: Metric, value: number, errors: number, requests?: number): Sample => ({
    metric,
    variant,
    round,
    value,
    errors,
    ...(requests === undefined ? {} : { requests }),
  });
  switch (measure) {
    case 'http': {
      const r = await runWrk(targets.http, {
        connections: s.wrkConnections,
        threads: s.wrkThreads,
        seconds: s.httpSeconds,
      });
      return [sample('http.rps', r.requestsPerSecond, r.errors, r.requests)];
    }
    case 'grpc': {
      const r = await runH2load(targets.grpc, {
        connections: s.h2loadConnections,
        streamsPerConnection: s.h2loadStreams,
        seconds: s.grpcSeconds,
        bodyFile: topology.grpcRequestFile,
      });
      return [sample('grpc.rps', r.requestsPerSecond, r.errors, r.requests)];
    }
    case 'tcp': {
      const r = await runIperf3(targets.tcp, s.tcpSeconds);
      return [sample('tcp.gbps', r.bitsPerSecond / 1e9, 0)];
    }
    case 'latency': {
      const r = await runHey(targets.http, {
        workers: s.latencyWorkers,
        ratePerWorker: s.latencyRatePerWorker,
        seconds: s.latencySeconds,
      });
      return [
        sample('latency.p50ms', r.p50Ms, r.errors, r.requests),
        sample('latency.p99ms', r.p99Ms, r.errors, r.requests),
      ];
    }
  }
}
