// From record specs and the set of publishable clusters to the record sets a provider should hold. Pure.
// Providers with routing policies (Route 53) get failover/weighted/multivalue record sets; plain DNS servers
// (RFC 2136) get one RRset per name and type holding what those policies would answer.
import type { RecordSet } from './record-set.js';
import { sortedValues } from './record-set.js';
import type { DnsRecordSpec, DnsTarget } from './record-spec.js';

export interface DesiredRecord {
  readonly spec: DnsRecordSpec;
  /** The sets to publish; empty when `held`. */
  readonly sets: readonly RecordSet[];
  /**
   * No target is publishable. The split-brain guard: weft never withdraws a record entirely, so the
   * record keeps whatever it holds now (the last healthy set) until a target comes back.
   */
  readonly held: boolean;
  /** Clusters whose addresses the sets carry. */
  readonly clusters: readonly string[];
}

export function renderDesired(
  spec: DnsRecordSpec,
  up: ReadonlySet<string>,
  routingPolicies: boolean,
): DesiredRecord {
  const live = spec.targets.filter((t) => up.has(t.cluster));
  if (live.length === 0) return { spec, sets: [], held: true, clusters: [] };
  const sets = routingPolicies ? routedSets(spec, live) : [plainSet(spec, live)];
  const clusters =
    routingPolicies || spec.routing !== 'failover' ? live : [...live].sort(byPriority).slice(0, 1);
  return { spec, sets, held: false, clusters: clusters.map((t) => t.cluster) };
}

function byPriority(a: DnsTarget, b: DnsTarget): number {
  return a.priority - b.priority || a.cluster.localeCompare(b.cluster);
}

function plainSet(spec: DnsRecordSpec, live: DnsTarget[]): RecordSet {
  const chosen = spec.routing === 'failover' ? [...live].sort(byPriority).slice(0, 1) : live;
  return {
    name: spec.name,
    type: spec.type,
    ttl: spec.ttl,
    values: sortedValues(chosen.flatMap((t) => t.addresses)),
  };
}

function routedSets(spec: DnsRecordSpec, live: DnsTarget[]): RecordSet[] {
  const base = { name: spec.name, type: spec.type, ttl: spec.ttl };
  const origin = (t: DnsTarget) => ({ cluster: t.cluster, address: [...t.addresses].sort()[0] ?? '' });
  switch (spec.routing) {
    case 'failover': {
      const [primary, secondary] = [...live].sort(byPriority);
      const sets: RecordSet[] = [];
      if (primary) {
        sets.push({
          ...base,
          values: sortedValues(primary.addresses),
          setIdentifier: 'weft-primary',
          failover: 'PRIMARY',
          origin: origin(primary),
        });
      }
      if (secondary) {
        sets.push({
          ...base,
          values: sortedValues(secondary.addresses),
          setIdentifier: 'weft-secondary',
          failover: 'SECONDARY',
          origin: origin(secondary),
        });
      }
      return sets;
    }
    case 'weighted':
      return live.map((t) => ({
        ...base,
        values: sortedValues(t.addresses),
        setIdentifier: `weft-${t.cluster}`,
        weight: t.weight,
        origin: origin(t),
      }));
    case 'multivalue':
      // Route 53 wants one multivalue record per resource, so each address gets its own set.
      return live.flatMap((t) =>
        sortedValues(t.addresses).map((address) => ({
          ...base,
          values: [address],
          setIdentifier: `weft-${t.cluster}-${address}`,
          multiValue: true,
          origin: { cluster: t.cluster, address },
        })),
      );
  }
}
