// The whole fabric as one picture, for the dashboard (`/`, live over `/api/v1/events`), `/api/v1/fabric`
// and `weft top`: clusters grouped by cloud with their gateways and services (from this gateway's fabric
// view), peer links and golden metrics per edge (this gateway's own, plus every other gateway's stats
// record from Redis), and the latest fabric events from every gateway, duplicates folded. Pure.
import type { GatewayStatsRecord } from '../../discovery/index.js';
import { latestEvents, type FabricEvent } from '../observability/index.js';
import type { GatewayIdentity } from './api-types.js';
import { clustersJson, discoveryJson, servicesJson, type ReportInput } from './fabric-report.js';
import { compareNames } from '../../discovery/index.js';

/** Golden metrics of one edge, merged over the gateways that report it. Latencies in ms. */
export interface EdgeJson {
  readonly source: string;
  readonly service: string;
  readonly destination: string;
  readonly requests: number;
  readonly rps: number;
  /** 0..1, weighted by requests over the reporting gateways. */
  readonly successRate: number;
  /** Over several reporting gateways: the largest (an upper bound). */
  readonly p50Ms: number;
  readonly p95Ms: number;
  readonly p99Ms: number;
  /** `<cluster>/<gateway>` of each gateway whose traffic this is. */
  readonly reportedBy: readonly string[];
}

export interface GoldenResponse {
  readonly scope: 'local' | 'fabric';
  readonly at: number;
  readonly windowMs: number;
  readonly edges: readonly EdgeJson[];
  /** Gateways whose stats are included. */
  readonly reporting: readonly string[];
}

export interface PictureGateway {
  readonly id: string;
  readonly peerAddress: string;
  readonly freshness: 'live' | 'stale';
  readonly leaseRemainingMs: number | null;
  readonly self: boolean;
  /** Whether a stats record of this gateway is in the picture (it publishes and Redis has it). */
  readonly reporting: boolean;
}

export interface PictureService {
  readonly service: string;
  readonly protocol: string;
  readonly endpoints: { readonly total: number; readonly healthy: number | null };
  readonly freshness: string;
}

export interface PictureCluster {
  readonly name: string;
  readonly local: boolean;
  readonly cloud: string;
  readonly region: string;
  readonly zone: string | null;
  readonly freshness: 'live' | 'stale';
  readonly staleForMs: number | null;
  readonly gateways: readonly PictureGateway[];
  readonly services: readonly PictureService[];
}

export interface PictureLink {
  readonly fromCluster: string;
  readonly fromGateway: string;
  readonly toCluster: string;
  readonly toGateway: string;
  readonly rttMs: number | null;
  readonly up: boolean;
  readonly connected: boolean;
  readonly error: string | null;
  /** Epoch ms of the stats record (or local reading) this link comes from. */
  readonly reportedAt: number;
}

export interface PictureEvent extends Omit<FabricEvent, 'observer'> {
  /** Every gateway that saw the same change (same kind, cluster, service, from, to) within 10 s. */
  readonly observers: readonly string[];
}

export interface FabricPicture {
  readonly at: number;
  readonly gateway: GatewayIdentity;
  readonly discovery: {
    readonly connected: boolean;
    readonly source: string;
    readonly revision: number;
    readonly snapshotAgeMs: number | null;
  };
  readonly windowMs: number;
  readonly clusters: readonly PictureCluster[];
  /** Clusters removed from the view after being stale for staleFor, most recent first. */
  readonly evicted: readonly { readonly name: string; readonly at: number }[];
  readonly links: readonly PictureLink[];
  readonly edges: readonly EdgeJson[];
  readonly events: readonly PictureEvent[];
  readonly stats: {
    readonly reporting: readonly string[];
    readonly lastError: string | null;
  };
}

export interface PictureInput {
  readonly report: ReportInput;
  readonly discoveryStatus: unknown;
  /** This gateway's own record (fresh, not read back from Redis). */
  readonly local: GatewayStatsRecord;
  /** The other gateways' records. */
  readonly remote: readonly GatewayStatsRecord[];
  /** This gateway's events (the local record carries them without observer). */
  readonly events: readonly FabricEvent[];
  readonly statsError: string | null;
}

const EVENT_FOLD_MS = 10_000;
const MAX_EVENTS = 30;

function gatewayKeyOf(record: GatewayStatsRecord): string {
  return `${record.cluster}/${record.gateway}`;
}

/** Merges the edges of several gateways' records: rates add up, success is weighted, latency is the max. */
export function mergeEdges(records: readonly GatewayStatsRecord[]): EdgeJson[] {
  const merged = new Map<string, { edge: EdgeJson; successes: number }>();
  for (const record of records) {
    for (const e of record.edges) {
      const key = `${e.src}\u0000${e.svc}\u0000${e.dst}`;
      const found = merged.get(key);
      const successes = e.success * e.n;
      if (!found) {
        merged.set(key, {
          successes,
          edge: {
            source: e.src,
            service: e.svc,
            destination: e.dst,
            requests: e.n,
            rps: e.rps,
            successRate: e.success,
            p50Ms: e.p50,
            p95Ms: e.p95,
            p99Ms: e.p99,
            reportedBy: [gatewayKeyOf(record)],
          },
        });
        continue;
      }
      const requests = found.edge.requests + e.n;
      const allSuccesses = found.successes + successes;
      found.successes = allSuccesses;
      found.edge = {
        ...found.edge,
        requests,
        rps: Math.round((found.edge.rps + e.rps) * 1000) / 1000,
        successRate: requests > 0 ? Math.round((allSuccesses / requests) * 1e4) / 1e4 : 1,
        p50Ms: Math.max(found.edge.p50Ms, e.p50),
        p95Ms: Math.max(found.edge.p95Ms, e.p95),
        p99Ms: Math.max(found.edge.p99Ms, e.p99),
        reportedBy: [...found.edge.reportedBy, gatewayKeyOf(record)],
      };
    }
  }
  return [...merged.values()]
    .map((m) => m.edge)
    .sort((a, b) => b.rps - a.rps || compareNames(a.service, b.service) || compareNames(a.source, b.source));
}

/**
 * Newest first, at most MAX_EVENTS (the fabric's own events keep places among many failovers, see
 * `latestEvents`); the same change (kind, cluster, service, from, to) seen by several gateways within
 * EVENT_FOLD_MS is one event with every observer. Two events of one gateway stay two (a failover, failback
 * and failover again), however alike.
 */
export function foldEvents(events: readonly FabricEvent[]): PictureEvent[] {
  type Folded = Omit<PictureEvent, 'observers'> & { observers: string[] };
  const sorted = [...events].sort((a, b) => b.at - a.at);
  const folded: Folded[] = [];
  const byKey = new Map<string, Folded[]>();
  for (const event of sorted) {
    const key = [event.kind, event.cluster, event.service, event.from, event.to].join('\u0000');
    let alike = byKey.get(key);
    if (!alike) byKey.set(key, (alike = []));
    const same = alike.find(
      (f) => Math.abs(f.at - event.at) <= EVENT_FOLD_MS && !f.observers.includes(event.observer),
    );
    if (same) {
      same.observers.push(event.observer);
      continue;
    }
    const { observer, ...rest } = event;
    const entry = { ...rest, observers: [observer] };
    folded.push(entry);
    alike.push(entry);
  }
  return latestEvents(folded, MAX_EVENTS);
}

function evictedOf(status: unknown): { name: string; at: number }[] {
  const evicted = (status as { clusters?: { evicted?: unknown } } | null | undefined)?.clusters?.evicted;
  if (!Array.isArray(evicted)) return [];
  return evicted.flatMap((e: unknown) => {
    const item = e as { name?: unknown; at?: unknown } | null;
    return item && typeof item.name === 'string' && typeof item.at === 'number'
      ? [{ name: item.name, at: item.at }]
      : [];
  });
}

export function goldenJson(
  scope: 'local' | 'fabric',
  records: readonly GatewayStatsRecord[],
  at: number,
): GoldenResponse {
  return {
    scope,
    at,
    windowMs: records[0]?.windowMs ?? 30_000,
    edges: mergeEdges(records),
    reporting: records.map(gatewayKeyOf),
  };
}

export function fabricPicture(input: PictureInput): FabricPicture {
  const { report, local, remote } = input;
  const records = [local, ...remote];
  const reporting = new Set(records.map(gatewayKeyOf));
  const services = servicesJson(report);
  const servicesIn = new Map<string, PictureService[]>();
  const localServices: PictureService[] = [];
  for (const s of services) {
    for (const c of s.clusters) {
      const entry = {
        service: s.service,
        protocol: c.protocol,
        endpoints: c.endpoints,
        freshness: c.freshness,
      };
      const list = servicesIn.get(c.cluster);
      if (list) list.push(entry);
      else servicesIn.set(c.cluster, [entry]);
      if (c.local) localServices.push(entry);
    }
  }
  const clusters: PictureCluster[] = clustersJson(report).map((cluster) => ({
    name: cluster.name,
    local: cluster.local,
    cloud: cluster.locality.cloud,
    region: cluster.locality.region,
    zone: cluster.locality.zone ?? null,
    freshness: cluster.freshness,
    staleForMs: cluster.staleForMs,
    gateways: cluster.gateways.map((g) => ({
      id: g.id,
      peerAddress: g.peerAddress,
      freshness: g.freshness,
      leaseRemainingMs: g.leaseRemainingMs,
      self: g.self,
      reporting: reporting.has(`${g.cluster}/${g.id}`),
    })),
    services: servicesIn.get(cluster.name) ?? [],
  }));
  // The local cluster may not be in the view yet (before the first sync): show it from the catalog.
  if (!clusters.some((c) => c.local)) {
    const { identity } = report;
    clusters.unshift({
      name: identity.cluster,
      local: true,
      cloud: identity.locality.cloud,
      region: identity.locality.region,
      zone: identity.locality.zone ?? null,
      freshness: 'live',
      staleForMs: null,
      gateways: [],
      services: localServices,
    });
  }
  const links: PictureLink[] = records.flatMap((record) =>
    record.peers.map((p) => ({
      fromCluster: record.cluster,
      fromGateway: record.gateway,
      toCluster: p.cluster,
      toGateway: p.gateway,
      rttMs: p.rtt,
      up: p.up,
      connected: p.connected,
      error: p.error ?? null,
      reportedAt: record.at,
    })),
  );
  const events: FabricEvent[] = [
    ...input.events,
    ...remote.flatMap((record) =>
      record.events.map((e) => ({ ...e, observer: gatewayKeyOf(record) }) as FabricEvent),
    ),
  ];
  const discovery = discoveryJson(report, input.discoveryStatus);
  return {
    at: report.nowMs,
    gateway: report.identity,
    discovery: {
      connected: discovery.connected,
      source: discovery.source,
      revision: discovery.revision,
      snapshotAgeMs: discovery.snapshotAgeMs,
    },
    windowMs: local.windowMs,
    clusters,
    evicted: evictedOf(input.discoveryStatus).filter((e) => !report.snapshot.clusters.has(e.name)),
    links,
    edges: mergeEdges(records),
    events: foldEvents(events),
    stats: { reporting: [...reporting], lastError: input.statsError },
  };
}
