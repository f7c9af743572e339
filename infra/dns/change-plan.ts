// The diff between what should be published and what the provider holds, restricted to what weft owns.
// A name/type is weft's when its ownership TXT names our owner id; a name/type with records but no such TXT
// belongs to someone else and is never touched. Changes are grouped per name/type ("units"): a unit is
// applied atomically (one Route 53 change batch, one RFC 2136 UPDATE) so ownership and data never diverge.
import type { DesiredRecord } from './desired-records.js';
import {
  describeSet,
  ownerOf,
  ownershipName,
  ownershipRecord,
  recordKey,
  sameRecordSet,
  setKey,
  type RecordKey,
  type RecordSet,
} from './record-set.js';

export interface RecordChange {
  readonly action: 'create' | 'upsert' | 'delete';
  /** The set to write (create, upsert) or the provider's current set (delete). */
  readonly set: RecordSet;
  /** For upsert: the provider's current set. */
  readonly current?: RecordSet;
}

/** claim: create the ownership TXT with the data. assert: require it. release: delete it with the data. */
export type Ownership = 'claim' | 'assert' | 'release';

export interface ChangeUnit {
  readonly key: RecordKey;
  readonly ownership: Ownership;
  /** The ownership TXT to create (claim) or as the provider holds it (assert, release). */
  readonly ownerRecord: RecordSet;
  readonly changes: readonly RecordChange[];
}

export interface PlanNote {
  readonly key: RecordKey;
  readonly kind: 'held' | 'foreign' | 'in-sync';
  readonly message: string;
}

export interface ChangePlan {
  readonly units: readonly ChangeUnit[];
  readonly notes: readonly PlanNote[];
  /** The name/types weft owns once the units are applied. */
  readonly ownedAfter: readonly RecordKey[];
  /** The owned record sets once the units are applied. */
  readonly recordsAfter: readonly RecordSet[];
}

export interface PlanInput {
  readonly ownerId: string;
  readonly desired: readonly DesiredRecord[];
  /** Name/types weft published before that are no longer configured: deleted when still ours. */
  readonly removed: readonly RecordKey[];
  /** Everything the provider holds at the names involved, ownership TXTs included. */
  readonly current: readonly RecordSet[];
}

export function planChanges(input: PlanInput): ChangePlan {
  const units: ChangeUnit[] = [];
  const notes: PlanNote[] = [];
  const ownedAfter: RecordKey[] = [];
  const recordsAfter: RecordSet[] = [];
  const at = (key: RecordKey) => input.current.filter((s) => s.name === key.name && s.type === key.type);
  const ownerTxt = (key: RecordKey) =>
    input.current.find((s) => s.name === ownershipName(key) && s.type === 'TXT' && !s.setIdentifier);

  const wanted: { key: RecordKey; desired?: DesiredRecord }[] = [
    ...input.desired.map((d) => ({ key: { name: d.spec.name, type: d.spec.type }, desired: d })),
    ...input.removed.map((key) => ({ key })),
  ];
  for (const { key, desired } of wanted) {
    const current = at(key);
    const txt = ownerTxt(key);
    const owner = ownerOf(txt);
    const label = recordKey(key);
    if (desired?.held) {
      if (owner === input.ownerId) {
        ownedAfter.push(key);
        recordsAfter.push(...current);
      }
      const kept = current.length > 0 ? current.map((s) => s.values.join(' ')).join(' | ') : 'nothing';
      notes.push({
        key,
        kind: 'held',
        message: `${label}: no target is healthy; keeping the last healthy set (${kept}) instead of withdrawing it`,
      });
      continue;
    }
    const want = desired?.sets ?? [];
    if (txt && owner === input.ownerId) {
      const changes = diffSets(want, current);
      if (want.length > 0) {
        ownedAfter.push(key);
        recordsAfter.push(...want);
      }
      if (want.length === 0) {
        units.push({ key, ownership: 'release', ownerRecord: txt, changes });
      } else if (changes.length > 0) {
        units.push({ key, ownership: 'assert', ownerRecord: txt, changes });
      } else {
        notes.push({ key, kind: 'in-sync', message: `${label}: in sync` });
      }
      continue;
    }
    if (!txt && current.length === 0) {
      if (want.length > 0) {
        ownedAfter.push(key);
        recordsAfter.push(...want);
        const ttl = want[0]?.ttl ?? 60;
        const changes = want.map((set): RecordChange => ({ action: 'create', set }));
        units.push({
          key,
          ownership: 'claim',
          ownerRecord: ownershipRecord(key, input.ownerId, ttl),
          changes,
        });
      }
      continue;
    }
    if (want.length === 0) continue;
    const why = txt
      ? owner
        ? `owned by ${owner}`
        : `${ownershipName(key)} TXT is not weft's`
      : `has records and no ownership TXT (${current.map(describeSet).join('; ')})`;
    notes.push({
      key,
      kind: 'foreign',
      message: `${label}: not owned by ${input.ownerId}, ${why}; left untouched`,
    });
  }
  return { units, notes, ownedAfter, recordsAfter };
}

function diffSets(want: readonly RecordSet[], current: readonly RecordSet[]): RecordChange[] {
  const changes: RecordChange[] = [];
  const byKey = new Map(current.map((s) => [setKey(s), s]));
  for (const set of want) {
    const existing = byKey.get(setKey(set));
    byKey.delete(setKey(set));
    if (!existing) changes.push({ action: 'create', set });
    else if (!sameRecordSet(set, existing)) changes.push({ action: 'upsert', set, current: existing });
  }
  for (const stale of byKey.values()) changes.push({ action: 'delete', set: stale });
  return changes;
}

/** Packs units into batches of at most `maxChanges` record changes; a unit is never split. */
export function batchUnits(units: readonly ChangeUnit[], maxChanges: number): ChangeUnit[][] {
  const batches: ChangeUnit[][] = [];
  let batch: ChangeUnit[] = [];
  let size = 0;
  for (const unit of units) {
    const unitSize = unit.changes.length + 2;
    if (batch.length > 0 && size + unitSize > maxChanges) {
      batches.push(batch);
      batch = [];
      size = 0;
    }
    batch.push(unit);
    size += unitSize;
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}

/** Human-readable lines for `weft dns plan` and logs. */
export function describeUnit(unit: ChangeUnit): string[] {
  const lines = [
    `${recordKey(unit.key)}: ${unit.ownership === 'claim' ? 'create' : unit.ownership === 'release' ? 'delete' : 'update'}`,
  ];
  for (const change of unit.changes) {
    if (change.action === 'delete') lines.push(`  - ${describeSet(change.set)}`);
    else if (change.action === 'create') lines.push(`  + ${describeSet(change.set)}`);
    else {
      lines.push(`  - ${describeSet(change.current ?? change.set)}`);
      lines.push(`  + ${describeSet(change.set)}`);
    }
  }
  if (unit.ownership !== 'assert') {
    lines.push(`  ${unit.ownership === 'claim' ? '+' : '-'} ${describeSet(unit.ownerRecord)}`);
  }
  return lines;
}
