// A one-shot read of every gateway replica the registry knows, with its lease and the Redis server time,
// for tools that do not run a Discovery (e.g. `weft check` dialling each peer). Records that do not decode
// are reported, never thrown.
import { decodeGateway, type GatewayRecordData } from './records.js';
import { compareNames, keys } from './keys.js';
import type { RedisClient } from './redis-client.js';

export interface DirectoryGateway extends GatewayRecordData {
  /** Epoch ms (Redis clock) when the lease ends or ended; null when there is no lease entry. */
  readonly leaseExpiresAt: number | null;
  /** True while the lease runs (by the Redis clock). */
  readonly live: boolean;
}

export interface GatewayDirectory {
  /** Redis TIME in epoch ms when the directory was read. */
  readonly serverTimeMs: number;
  readonly gateways: readonly DirectoryGateway[];
  readonly skipped: readonly { readonly key: string; readonly detail: string }[];
}

/** HGETALL of the gateway records, ZRANGE of the leases and TIME, in one round trip (a MULTI). */
export async function readGatewayDirectory(client: RedisClient): Promise<GatewayDirectory> {
  const replies = await client
    .multi()
    .hgetall(keys.gateways)
    .zrange(keys.leases, '0', '-1', 'WITHSCORES')
    .time()
    .exec();
  if (!replies) throw new Error('the gateway directory read was aborted (MULTI returned nothing)');
  for (const [err] of replies) if (err) throw err;
  const records = (replies[0]?.[1] ?? {}) as Record<string, string>;
  const leasePairs = (replies[1]?.[1] ?? []) as string[];
  const [seconds = '0', micros = '0'] = (replies[2]?.[1] ?? []) as string[];
  const serverTimeMs = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
  const leases = new Map<string, number>();
  for (let i = 0; i + 1 < leasePairs.length; i += 2)
    leases.set(leasePairs[i] as string, Number(leasePairs[i + 1]));
  const gateways: DirectoryGateway[] = [];
  const skipped: { key: string; detail: string }[] = [];
  for (const [field, text] of Object.entries(records).sort(([a], [b]) => compareNames(a, b))) {
    const decoded = decodeGateway(field, text);
    if (!decoded.ok) {
      skipped.push({ key: field, detail: `${decoded.reason}: ${decoded.detail}` });
      continue;
    }
    const leaseExpiresAt = leases.get(field) ?? null;
    gateways.push({
      ...decoded.value,
      leaseExpiresAt,
      live: leaseExpiresAt !== null && leaseExpiresAt > serverTimeMs,
    });
  }
  return { serverTimeMs, gateways, skipped };
}
