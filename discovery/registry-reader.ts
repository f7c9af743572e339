// Reads the registry from Redis into the model: a full sync (start, reconnect, feed gap), a targeted
// re-read of the gateways a feed batch names, and the periodic lease poll. Every record is validated on
// read; a bad one is reported through `skip` and leaves whatever the model already had in place.
import type { FabricModel } from './fabric-model.js';
import { keys, parseGatewayKey } from './keys.js';
import { scripts } from './lua-scripts.js';
import {
  decodeCluster,
  decodeGateway,
  decodeService,
  type ClusterRecord,
  type SkipReason,
  type StoredService,
} from './records.js';
import type { RedisClient } from './redis-client.js';
import type { ServerClock } from './server-clock.js';

export interface ReaderContext {
  readonly model: FabricModel;
  /** This gateway's own key: its records are known locally and never read back. */
  readonly ownGk: string;
  readonly clock: ServerClock;
  readonly skip: (key: string, reason: SkipReason, detail: string) => void;
}

export interface FeedPosition {
  readonly id: string;
  readonly seq: number;
}

/** What to re-read for one gateway: everything, or only some of its services. */
export type Refetch = 'all' | Set<string>;

const SERVICE_BATCH = 100;

type PipelineResult = [error: Error | null, result: unknown][] | null;

function unwrap(results: PipelineResult): unknown[] {
  if (!results) throw new Error('pipeline aborted');
  return results.map(([err, value]) => {
    if (err) throw err;
    return value;
  });
}

function asStringRecord(value: unknown): Record<string, string> {
  return typeof value === 'object' && value !== null ? (value as Record<string, string>) : {};
}

function pairs(flat: unknown): Map<string, number> {
  const scores = new Map<string, number>();
  if (!Array.isArray(flat)) return scores;
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const score = Number(flat[i + 1]);
    if (Number.isFinite(score)) scores.set(String(flat[i]), score);
  }
  return scores;
}

/** Decodes a gateway's stored services, reusing records whose text has not changed. */
function decodeServices(
  ctx: ReaderContext,
  gk: string,
  raw: Record<string, string>,
): { services: Map<string, StoredService>; unreadable: string[] } {
  const known = ctx.model.gateways.get(gk)?.services;
  const services = new Map<string, StoredService>();
  const unreadable: string[] = [];
  for (const [field, text] of Object.entries(raw)) {
    const old = known?.get(field);
    if (old?.text === text) {
      services.set(field, old);
      continue;
    }
    const decoded = decodeService(field, text);
    if (decoded.ok) services.set(field, { record: decoded.value, text });
    else {
      unreadable.push(field);
      ctx.skip(`${keys.services(gk)}#${field}`, decoded.reason, decoded.detail);
    }
  }
  return { services, unreadable };
}

function readCluster(ctx: ReaderContext, name: string, text: unknown): ClusterRecord | undefined {
  if (typeof text !== 'string') return undefined;
  const decoded = decodeCluster(name, text);
  if (decoded.ok) return decoded.value;
  ctx.skip(`${keys.clusters}#${name}`, decoded.reason, decoded.detail);
  return undefined;
}

/**
 * Reads everything. The feed position is captured first, so every change made while the sync reads is
 * replayed from the feed afterwards. Returns that position and the gateways that have no lease at all.
 */
export async function fullSync(
  client: RedisClient,
  ctx: ReaderContext,
): Promise<{ position: FeedPosition; leaseless: string[] }> {
  const { clock, model } = ctx;
  const sentAt = clock.now();
  const head = (await scripts.head.run(client, [keys.seq, keys.feed], [])) as [number, number, string];
  clock.observe(Number(head[0]), sentAt, clock.now());
  const [clustersRaw, gatewaysRaw, leasesRaw] = unwrap(
    await client
      .pipeline()
      .hgetall(keys.clusters)
      .hgetall(keys.gateways)
      .zrange(keys.leases, '0', '-1', 'WITHSCORES')
      .exec(),
  );
  const clusters = asStringRecord(clustersRaw);
  const leases = pairs(leasesRaw);
  const leaseless: string[] = [];
  const gateways: Array<[string, ReturnType<typeof decodeGateway>]> = [];
  for (const [gk, text] of Object.entries(asStringRecord(gatewaysRaw))) {
    if (!leases.has(gk) && parseGatewayKey(gk)) leaseless.push(gk);
    if (gk === ctx.ownGk) continue;
    const decoded = decodeGateway(gk, text);
    if (!decoded.ok) ctx.skip(`${keys.gateways}#${gk}`, decoded.reason, decoded.detail);
    gateways.push([gk, decoded]);
  }
  const readable = gateways.filter(([, d]) => d.ok).map(([gk]) => gk);
  const servicesRaw = new Map<string, Record<string, string>>();
  for (let i = 0; i < readable.length; i += SERVICE_BATCH) {
    const batch = readable.slice(i, i + SERVICE_BATCH);
    const pipeline = client.pipeline();
    for (const gk of batch) pipeline.hgetall(keys.services(gk));
    unwrap(await pipeline.exec()).forEach((raw, j) => servicesRaw.set(batch[j] ?? '', asStringRecord(raw)));
  }

  const serverNow = clock.serverNow();
  const localNow = clock.now();
  for (const [gk, decoded] of gateways) {
    if (!decoded.ok) continue;
    const record = decoded.value;
    const cluster = readCluster(ctx, record.cluster, clusters[record.cluster]);
    if (cluster) model.upsertCluster(cluster);
    model.upsertGateway(gk, record);
    const score = leases.get(gk);
    if (score !== undefined) model.setLease(gk, score, serverNow, localNow, true);
    const { services, unreadable } = decodeServices(ctx, gk, servicesRaw.get(gk) ?? {});
    model.replaceServices(gk, services, unreadable);
  }
  return { position: { id: String(head[2]), seq: Number(head[1]) }, leaseless };
}

/** Re-reads the named gateways. A gateway whose record is gone was deregistered or reaped: removed. */
export async function refetch(
  client: RedisClient,
  ctx: ReaderContext,
  requests: Map<string, Refetch>,
): Promise<void> {
  const { model, clock } = ctx;
  const targets = [...requests].filter(([gk]) => gk !== ctx.ownGk && parseGatewayKey(gk) !== undefined);
  if (targets.length === 0) return;
  const pipeline = client.pipeline();
  for (const [gk, what] of targets) {
    const cluster = parseGatewayKey(gk)?.cluster ?? '';
    pipeline.hget(keys.gateways, gk).zscore(keys.leases, gk).hget(keys.clusters, cluster);
    if (what === 'all') pipeline.hgetall(keys.services(gk));
    else pipeline.hmget(keys.services(gk), ...what);
  }
  const results = unwrap(await pipeline.exec());
  const serverNow = clock.serverNow();
  const localNow = clock.now();
  targets.forEach(([gk, what], i) => {
    const [gatewayRaw, scoreRaw, clusterRaw, servicesRaw] = results.slice(i * 4, i * 4 + 4);
    if (typeof gatewayRaw !== 'string') {
      model.removeGateway(gk);
      return;
    }
    const decoded = decodeGateway(gk, gatewayRaw);
    if (!decoded.ok) {
      ctx.skip(`${keys.gateways}#${gk}`, decoded.reason, decoded.detail);
      return;
    }
    const cluster = readCluster(ctx, decoded.value.cluster, clusterRaw);
    if (cluster) model.upsertCluster(cluster);
    model.upsertGateway(gk, decoded.value);
    if (scoreRaw !== null && scoreRaw !== undefined) {
      const score = Number(scoreRaw);
      if (Number.isFinite(score)) model.setLease(gk, score, serverNow, localNow);
    }
    if (what === 'all') {
      const { services, unreadable } = decodeServices(ctx, gk, asStringRecord(servicesRaw));
      model.replaceServices(gk, services, unreadable);
      return;
    }
    const values = Array.isArray(servicesRaw) ? (servicesRaw as unknown[]) : [];
    [...what].forEach((field, j) => {
      const text = values[j];
      if (typeof text !== 'string') {
        model.patchService(gk, field, null);
        return;
      }
      if (model.gateways.get(gk)?.services.get(field)?.text === text) return;
      const service = decodeService(field, text);
      if (service.ok) model.patchService(gk, field, { record: service.value, text });
      else ctx.skip(`${keys.services(gk)}#${field}`, service.reason, service.detail);
    });
  });
}

export interface LeasePoll {
  /** Whether any known gateway's lease changed. */
  readonly changed: boolean;
  /** Gateways with a running lease that the model does not know (a missed feed entry). */
  readonly unknown: readonly string[];
  /** Gateways whose lease ended more than staleFor ago (server clock): candidates for the reaper. */
  readonly expired: readonly string[];
}

/** Reads every lease with the server time, updating the model. */
export async function pollLeases(
  client: RedisClient,
  ctx: ReaderContext,
  staleForMs: number,
): Promise<LeasePoll> {
  const { clock, model } = ctx;
  const sentAt = clock.now();
  const reply = (await scripts.leases.run(client, [keys.leases], [])) as [number, unknown];
  const receivedAt = clock.now();
  const serverNow = Number(reply[0]);
  clock.observe(serverNow, sentAt, receivedAt);
  let changed = false;
  const unknown: string[] = [];
  const expired: string[] = [];
  for (const [gk, score] of pairs(reply[1])) {
    if (gk === ctx.ownGk) continue;
    if (score < serverNow - staleForMs) expired.push(gk);
    if (model.gateways.has(gk)) changed = model.setLease(gk, score, serverNow, receivedAt) || changed;
    else if (score > serverNow) unknown.push(gk);
  }
  return { changed, unknown, expired };
}
