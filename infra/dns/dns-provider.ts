// The contract between the publisher and a DNS backend (Route 53, or any RFC 2136 server). A provider reads
// record sets and applies change batches; it never decides what to publish. Every write carries the
// leader's fencing token and fails, changing nothing, when the zone's fence holds another token.
import type { ChangeUnit } from './change-plan.js';
import type { FenceClaim, FenceHolder } from './fence-record.js';
import type { RecordKey, RecordSet } from './record-set.js';

export interface DnsProvider {
  /** 'route53' | 'rfc2136', for logs and status. */
  readonly kind: string;
  /** The zone (hosted zone name) the provider writes into, lower-case without the trailing dot. */
  readonly zone: string;
  /** True when the backend has failover/weighted/multivalue record sets (Route 53). */
  readonly routingPolicies: boolean;

  /** The record sets the provider holds for these names and types (every set identifier). */
  readRecords(keys: readonly RecordKey[], signal?: AbortSignal): Promise<RecordSet[]>;

  /** Fills in provider-side data the plan must compare (Route 53 health check ids); may create them. */
  prepare(desired: readonly RecordSet[], signal?: AbortSignal): Promise<RecordSet[]>;

  /**
   * Writes `holder` into the zone's fence when the fence holds a lower token or none. Returns
   * `{ claimed: false, zoneToken }` without writing when the zone is ahead (see judgeFence).
   */
  claimFence(ownerId: string, holder: FenceHolder, signal?: AbortSignal): Promise<FenceClaim>;

  /**
   * Applies the units atomically as one batch, asserting the zone's fence names `holder`. Throws InfraError
   * DNS_CONFLICT when the fence or an ownership precondition no longer holds (nothing was applied),
   * DNS_THROTTLED when the backend kept throttling, DNS_PROVIDER otherwise.
   */
  applyBatch(
    units: readonly ChangeUnit[],
    ownerId: string,
    holder: FenceHolder,
    signal?: AbortSignal,
  ): Promise<void>;

  close(): Promise<void>;
}
