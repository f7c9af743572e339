// Picks the probe a service's `health:` config asks for.
import type { HealthCheckConfig } from '../config/index.js';
import { grpcProbe } from './grpc-probe.js';
import type { HealthProbe } from './health-probe.js';
import { httpProbe } from './http-probe.js';
import { tcpProbe } from './tcp-probe.js';

/** The probe a service's `health:` config asks for: { http: path } | { grpc: true | service } | { tcp: true }. */
export function probeFor(config: HealthCheckConfig): HealthProbe {
  const check = config as HealthCheckConfig & { http?: unknown; grpc?: unknown; tcp?: unknown };
  if (typeof check.http === 'string') return httpProbe(check.http);
  if (check.grpc === true) return grpcProbe('');
  if (typeof check.grpc === 'string') return grpcProbe(check.grpc);
  return tcpProbe;
}
