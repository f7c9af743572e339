// The local services as discovery exports them to the fabric: identity, protocol, allow list, and how
// many endpoints there are and how many of them are available (the caller decides what available means:
// active health checks and passive outlier detection in the gateway). An unchanged service (the same
// catalog object, as many endpoints available) gets the export object it had, frozen through, so that
// discovery neither validates nor encodes it again: a registration in a catalog of thousands of services
// republishes them all.
import type { ServiceExport } from '../../discovery/index.js';
import type { LocalEndpoint, LocalService } from './local-catalog.js';

const exported = new WeakMap<LocalService, ServiceExport>();

export function exportsOf(
  services: ReadonlyMap<string, LocalService>,
  available: (service: string, endpoint: LocalEndpoint) => boolean,
): ServiceExport[] {
  return [...services.values()].map((s) => {
    let healthy = 0;
    for (const endpoint of s.endpoints) if (available(s.key, endpoint)) healthy++;
    const previous = exported.get(s);
    if (previous?.endpoints.healthy === healthy) return previous;
    const next: ServiceExport = Object.freeze({
      name: s.name,
      namespace: s.namespace,
      key: s.key,
      protocol: s.protocol,
      allow: s.allow === null || Object.isFrozen(s.allow) ? s.allow : Object.freeze([...s.allow]),
      endpoints: Object.freeze({ total: s.endpoints.length, healthy }),
    });
    exported.set(s, next);
    return next;
  });
}
