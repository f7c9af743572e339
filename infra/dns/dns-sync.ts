// One reconcile pass, shared by the publisher loop and `weft dns plan/sync`: render what should be
// published, read what the provider holds at those names, diff (owned records only), and apply the
// units batch by batch, confirming leadership immediately before each batch.
import { batchUnits, planChanges, type ChangePlan } from './change-plan.js';
import { renderDesired, type DesiredRecord } from './desired-records.js';
import type { DnsProvider } from './dns-provider.js';
import type { FenceHolder } from './fence-record.js';
import { ownershipName, recordKey, type RecordKey, type RecordSet } from './record-set.js';
import type { DnsRecordSpec } from './record-spec.js';

export interface DnsPlanInput {
  readonly provider: DnsProvider;
  readonly ownerId: string;
  readonly records: readonly DnsRecordSpec[];
  /** Clusters that may be published (after hold-down). */
  readonly up: ReadonlySet<string>;
  /** Name/types weft owned before (from the saved state), so unconfigured ones get cleaned up. */
  readonly previouslyOwned?: readonly RecordKey[];
}

export interface DnsPlan extends ChangePlan {
  readonly desired: readonly DesiredRecord[];
  readonly current: readonly RecordSet[];
}

export async function planDns(input: DnsPlanInput, signal?: AbortSignal): Promise<DnsPlan> {
  const rendered = input.records.map((spec) => renderDesired(spec, input.up, input.provider.routingPolicies));
  const prepared = await input.provider.prepare(
    rendered.flatMap((d) => d.sets),
    signal,
  );
  let next = 0;
  const desired = rendered.map((d): DesiredRecord => {
    const sets = prepared.slice(next, next + d.sets.length);
    next += d.sets.length;
    return { ...d, sets };
  });
  const configured = new Set(input.records.map((r) => recordKey(r)));
  const removed = (input.previouslyOwned ?? []).filter((k) => !configured.has(recordKey(k)));
  const keys: RecordKey[] = [...input.records, ...removed].flatMap((k) => [
    { name: k.name, type: k.type },
    { name: ownershipName(k), type: 'TXT' as const },
  ]);
  const current = await input.provider.readRecords(keys, signal);
  const plan = planChanges({ ownerId: input.ownerId, desired, removed, current });
  return { ...plan, desired, current };
}

export interface ApplyOptions {
  readonly provider: DnsProvider;
  readonly ownerId: string;
  /** Confirms leadership in Redis and returns the fence holder; throws DNS_NOT_LEADER when not leader. */
  readonly assertLeader: () => Promise<FenceHolder>;
  /** Default 100 record changes per batch (Route 53 allows 1000). */
  readonly maxChangesPerBatch?: number;
  /** Called after each applied batch. */
  readonly onBatch?: (units: number, holder: FenceHolder) => void;
}

/** Applies the plan's units; returns how many batches were written. Stops at the first failure. */
export async function applyDnsPlan(
  plan: ChangePlan,
  options: ApplyOptions,
  signal?: AbortSignal,
): Promise<number> {
  const batches = batchUnits(plan.units, options.maxChangesPerBatch ?? 100);
  for (const batch of batches) {
    const holder = await options.assertLeader();
    await options.provider.applyBatch(batch, options.ownerId, holder, signal);
    options.onBatch?.(batch.length, holder);
  }
  return batches.length;
}
