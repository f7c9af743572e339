// An immutable view of local endpoint health, replaced whole whenever an endpoint's routing answer
// changes or the checks change with the catalog: what the route table (endpointHealthy) and discovery
// (the healthy count of each exported service) read. Endpoints without a health check are healthy here;
// passive outlier detection is applied on top by the data plane. The per-service counts are worked out
// when first asked for (the admin API and tests ask; routing never does): a catalog of thousands of
// services would otherwise pay for all of them at every change.
import type { LocalService } from '../catalog/index.js';

export interface ServiceHealthSummary {
  readonly total: number;
  readonly healthy: number;
}

export class HealthSnapshot {
  readonly revision: number;
  private readonly unhealthy: ReadonlySet<string>;
  private readonly services: ReadonlyMap<string, LocalService>;
  private readonly summaries = new Map<string, ServiceHealthSummary>();

  constructor(revision: number, services: ReadonlyMap<string, LocalService>, unhealthy: ReadonlySet<string>) {
    this.revision = revision;
    this.unhealthy = unhealthy;
    this.services = services;
  }

  /** False only when an active check says so; unknown endpoints and services are healthy. */
  isHealthy(service: string, host: string, port: number): boolean {
    return this.unhealthy.size === 0 || !this.unhealthy.has(endpointKey(service, host, port));
  }

  /** The same health over another generation of the catalog (the counts follow it; nothing else does). */
  withCatalog(services: ReadonlyMap<string, LocalService>): HealthSnapshot {
    return new HealthSnapshot(this.revision, services, this.unhealthy);
  }

  /** The services with an endpoint whose answer differs between `previous` and this snapshot. */
  servicesChangedSince(previous: HealthSnapshot): Set<string> {
    const changed = new Set<string>();
    for (const key of this.unhealthy) if (!previous.unhealthy.has(key)) changed.add(serviceOf(key));
    for (const key of previous.unhealthy) if (!this.unhealthy.has(key)) changed.add(serviceOf(key));
    return changed;
  }

  /** Endpoint counts of a local service; undefined when the catalog has no such service. */
  summary(key: string): ServiceHealthSummary | undefined {
    const known = this.summaries.get(key);
    if (known) return known;
    const service = this.services.get(key);
    if (!service) return undefined;
    let healthy = 0;
    for (const e of service.endpoints) if (!this.unhealthy.has(endpointKey(key, e.host, e.port))) healthy++;
    const summary = Object.freeze({ total: service.endpoints.length, healthy });
    this.summaries.set(key, summary);
    return summary;
  }
}

function serviceOf(endpointKey: string): string {
  return endpointKey.slice(0, endpointKey.indexOf('|'));
}

export function endpointKey(service: string, host: string, port: number): string {
  return `${service}|${host.includes(':') ? `[${host}]` : host}:${port}`;
}
