// infra/dns: global DNS failover publishers (Route 53, RFC 2136). The gateway feeds cluster health in and
// runs one DnsPublisher per gateway; the Redis lease makes exactly one of them publish.
export {
  DnsPublisher,
  type DnsPublisherOptions,
  type DnsPublisherEvent,
  type DnsPublisherStatus,
} from './dns-publisher.js';
export {
  validateRecordSpecs,
  normalizeDnsName,
  type ClusterHealth,
  type DnsRecordSpec,
  type DnsTarget,
  type RoutingPolicy,
  type AddressRecordType,
} from './record-spec.js';
export type { DnsProvider } from './dns-provider.js';
export { Rfc2136Provider, type Rfc2136ProviderOptions } from './rfc2136-provider.js';
export type { TsigKey, TsigAlgorithm } from './tsig.js';
export {
  Route53Provider,
  type Route53ProviderOptions,
  type Route53HealthCheckOptions,
} from './route53-provider.js';
export { planDns, applyDnsPlan, type DnsPlan, type DnsPlanInput, type ApplyOptions } from './dns-sync.js';
export {
  describeUnit,
  planChanges,
  type ChangePlan,
  type ChangeUnit,
  type PlanNote,
  type RecordChange,
} from './change-plan.js';
export { renderDesired, type DesiredRecord } from './desired-records.js';
export { LeaderLease, dnsKeys, type Lease, type LeaderLeaseOptions } from './leader-lease.js';
export { PublisherStateStore, type PublisherState } from './publisher-state-store.js';
export { HealthGate, type GateState } from './health-gate.js';
export { fenceName, type FenceHolder, type FenceClaim } from './fence-record.js';
export { ownershipName, ownershipValue, describeSet, type RecordSet, type RecordKey } from './record-set.js';
export { systemClock, type DnsClock } from './dns-clock.js';
export type { BackoffPolicy } from './retry-backoff.js';
