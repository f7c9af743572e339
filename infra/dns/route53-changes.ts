// Translation between weft's record sets and Route 53's ResourceRecordSet, and from change units to the
// Change list of one ChangeResourceRecordSets call. Pure, so tests can assert exact batches.
import type { Change, ResourceRecordSet } from '@aws-sdk/client-route-53';
import type { ChangeUnit } from './change-plan.js';
import { fenceRecord, type FenceHolder } from './fence-record.js';
import { normalizeDnsName } from './record-spec.js';
import { sortedValues, type RecordSet } from './record-set.js';

/** Route 53 names end with a dot and escape unusual characters as \ddd. */
export function fromRoute53Name(name: string): string {
  return normalizeDnsName(
    name.replace(/\\(\d{3})/g, (_, code: string) => String.fromCharCode(Number.parseInt(code, 8))),
  );
}

export function toRoute53Set(set: RecordSet): ResourceRecordSet {
  return {
    Name: `${set.name}.`,
    Type: set.type,
    TTL: set.ttl,
    ResourceRecords: set.values.map((v) => ({ Value: set.type === 'TXT' ? quoteTxt(v) : v })),
    ...(set.setIdentifier !== undefined ? { SetIdentifier: set.setIdentifier } : {}),
    ...(set.failover !== undefined ? { Failover: set.failover } : {}),
    ...(set.weight !== undefined ? { Weight: set.weight } : {}),
    ...(set.multiValue ? { MultiValueAnswer: true } : {}),
    ...(set.healthCheckId !== undefined ? { HealthCheckId: set.healthCheckId } : {}),
  };
}

/** Undefined for sets weft never writes (alias records, geo/latency routing, other types). */
export function fromRoute53Set(set: ResourceRecordSet): RecordSet | undefined {
  const type = set.Type;
  if (type !== 'A' && type !== 'AAAA' && type !== 'TXT') return undefined;
  if (
    !set.Name ||
    set.AliasTarget ||
    set.Region ||
    set.GeoLocation ||
    set.GeoProximityLocation ||
    set.CidrRoutingConfig
  ) {
    return undefined;
  }
  const values = (set.ResourceRecords ?? []).map((r) =>
    type === 'TXT' ? unquoteTxt(r.Value ?? '') : (r.Value ?? ''),
  );
  return {
    name: fromRoute53Name(set.Name),
    type,
    ttl: set.TTL ?? 0,
    values: sortedValues(values),
    ...(set.SetIdentifier !== undefined ? { setIdentifier: set.SetIdentifier } : {}),
    ...(set.Failover !== undefined ? { failover: set.Failover } : {}),
    ...(set.Weight !== undefined ? { weight: set.Weight } : {}),
    ...(set.MultiValueAnswer ? { multiValue: true } : {}),
    ...(set.HealthCheckId !== undefined ? { healthCheckId: set.HealthCheckId } : {}),
  };
}

/** Route 53 TXT values are quoted character-strings; long text is split into 255-byte strings. */
export function quoteTxt(text: string): string {
  const chunks = text.match(/[\s\S]{1,255}/g) ?? [''];
  return chunks.map((c) => `"${c.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`).join(' ');
}

export function unquoteTxt(value: string): string {
  const strings = value.match(/"((?:[^"\\]|\\.)*)"/g);
  if (!strings) return value;
  return strings.map((s) => s.slice(1, -1).replace(/\\(.)/g, '$1')).join('');
}

/**
 * The changes of one batch: first the fence assertion (DELETE + CREATE of the fence TXT naming `holder`;
 * the DELETE fails the whole batch when the fence moved), then each unit's ownership marker and data.
 * An asserted ownership TXT is likewise deleted and re-created, so a batch never writes a name that
 * stopped being ours after it was read.
 */
export function route53Changes(
  units: readonly ChangeUnit[],
  zone: string,
  ownerId: string,
  holder: FenceHolder,
): Change[] {
  const fence = toRoute53Set(fenceRecord(zone, ownerId, holder));
  const changes: Change[] = [
    { Action: 'DELETE', ResourceRecordSet: fence },
    { Action: 'CREATE', ResourceRecordSet: fence },
  ];
  for (const unit of units) {
    const owner = toRoute53Set(unit.ownerRecord);
    if (unit.ownership === 'claim') changes.push({ Action: 'CREATE', ResourceRecordSet: owner });
    else if (unit.ownership === 'assert') {
      changes.push(
        { Action: 'DELETE', ResourceRecordSet: owner },
        { Action: 'CREATE', ResourceRecordSet: owner },
      );
    } else changes.push({ Action: 'DELETE', ResourceRecordSet: owner });
    for (const change of unit.changes) {
      const action = change.action === 'create' ? 'CREATE' : change.action === 'upsert' ? 'UPSERT' : 'DELETE';
      changes.push({ Action: action, ResourceRecordSet: toRoute53Set(change.set) });
    }
  }
  return changes;
}
