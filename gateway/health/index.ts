// Active health: checks of this cluster's endpoints (HTTP, gRPC grpc.health.v1, TCP) and probes of peer
// gateways over the existing HTTP/2 connection, with rise/fall thresholds and measured RTT.
export {
  LocalHealthChecker,
  type LocalHealthCheckerOptions,
  type EndpointHealth,
  type HealthListener,
  type HealthLogger,
} from './local-health-checker.js';
export { HealthSnapshot, type ServiceHealthSummary } from './health-snapshot.js';
export {
  PeerHealthProber,
  type PeerHealthProberOptions,
  type PeerHealth,
  type PeerHealthChange,
  type PeerPing,
  type PeerRef,
} from './peer-health-prober.js';
export { pingHttp2Session } from './http2-ping.js';
export type { HealthProbe, ProbeResult, ProbeTarget } from './health-probe.js';
export { probeFor } from './probe-for.js';
export { GRPC_HEALTH_PROTO } from './grpc-probe.js';
export type { HealthStatus } from './rise-fall.js';
export { FailoverMetrics, type FailoverMetricSources } from './failover-metrics.js';
export { logFailoverEvent, logOutlierEvent } from './failover-log.js';
