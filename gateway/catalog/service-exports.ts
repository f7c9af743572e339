// The local services as discovery exports them to the fabric: identity, protocol, allow list, and how
// many endpoints there are and how many of them are available (the caller decides what available means:
// active health checks and passive outlier detection in the gateway).
import type { ServiceExport } from '../../discovery/index.js';
import type { LocalEndpoint, LocalService } from './local-catalog.js';

export function exportsOf(
  services: ReadonlyMap<string, LocalService>,
  available: (service: string, endpoint: LocalEndpoint) => boolean,
): ServiceExport[] {
  return [...services.values()].map((s) => ({
    name: s.name,
    namespace: s.namespace,
    key: s.key,
    protocol: s.protocol,
    allow: s.allow,
    endpoints: {
      total: s.endpoints.length,
      healthy: s.endpoints.filter((endpoint) => available(s.key, endpoint)).length,
    },
  }));
}
