// An immutable view of local endpoint health, replaced whole whenever an endpoint's routing answer
// changes or the catalog changes: what the route table (endpointHealthy) and discovery (the healthy count
// of each exported service) read. Endpoints without a health check are healthy here; passive outlier
// detection is applied on top by the data plane.
import type { LocalService } from '../catalog/index.js';

export interface ServiceHealthSummary {
  readonly total: number;
  readonly healthy: number;
}

export class HealthSnapshot {
  readonly revision: number;
  private readonly unhealthy: ReadonlySet<string>;
  private readonly summaries: ReadonlyMap<string, ServiceHealthSummary>;

  constructor(revision: number, services: ReadonlyMap<string, LocalService>, unhealthy: ReadonlySet<string>) {
    this.revision = revision;
    this.unhealthy = unhealthy;
    const summaries = new Map<string, ServiceHealthSummary>();
    for (const service of services.values()) {
      let healthy = 0;
      for (const e of service.endpoints)
        if (!unhealthy.has(endpointKey(service.key, e.host, e.port))) healthy++;
      summaries.set(service.key, Object.freeze({ total: service.endpoints.length, healthy }));
    }
    this.summaries = summaries;
  }

  /** False only when an active check says so; unknown endpoints and services are healthy. */
  isHealthy(service: string, host: string, port: number): boolean {
    return this.unhealthy.size === 0 || !this.unhealthy.has(endpointKey(service, host, port));
  }

  /** The services with an endpoint whose answer differs between `previous` and this snapshot. */
  servicesChangedSince(previous: HealthSnapshot): Set<string> {
    const changed = new Set<string>();
    for (const key of this.unhealthy) if (!previous.unhealthy.has(key)) changed.add(serviceOf(key));
    for (const key of previous.unhealthy) if (!this.unhealthy.has(key)) changed.add(serviceOf(key));
    return changed;
  }

  /** Endpoint counts of a local service; undefined when the catalog has no such service. */
  summary(service: string): ServiceHealthSummary | undefined {
    return this.summaries.get(service);
  }
}

function serviceOf(endpointKey: string): string {
  return endpointKey.slice(0, endpointKey.indexOf('|'));
}

export function endpointKey(service: string, host: string, port: number): string {
  return `${service}|${host.includes(':') ? `[${host}]` : host}:${port}`;
}
