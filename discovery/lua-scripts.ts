// The registry's server-side scripts. Each write is one script so that a record, its lease and the feed
// entry announcing it change atomically, and leases are stamped with the Redis server clock (TIME), never a
// gateway's own. All keys share the `{v1}` hash tag, so every script runs on one Cluster node.
import { createHash } from 'node:crypto';
import type { RedisClient } from './redis-client.js';

const PRELUDE = `
local function nowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function publish(seqKey, feedKey, maxLen, kind, gk, changed)
  local seq = redis.call('INCR', seqKey)
  redis.call('XADD', feedKey, 'MAXLEN', '~', maxLen, '*', 'seq', seq, 'kind', kind, 'gk', gk, 'keys', changed)
  return seq
end
-- Reads "n, field, value, ..., m, field, ..." from ARGV starting at i; applies HSET/HDEL to key.
local function applyFields(key, i, changed)
  local nSet = tonumber(ARGV[i]); i = i + 1
  for _ = 1, nSet do
    redis.call('HSET', key, ARGV[i], ARGV[i + 1])
    if changed then changed[#changed + 1] = ARGV[i] end
    i = i + 2
  end
  local nDel = tonumber(ARGV[i]); i = i + 1
  for _ = 1, nDel do
    redis.call('HDEL', key, ARGV[i])
    if changed then changed[#changed + 1] = ARGV[i] end
    i = i + 1
  end
  return i
end
`;

/**
 * register — KEYS: clusters, gateways, leases, svc(gk), seq, feed.
 * ARGV: cluster, gk, clusterJson, gatewayJson, ttlMs, maxLen, services diff (n, k, v…, m, k…).
 * Writes the cluster and gateway records, starts the lease, applies the services, announces `gateway`.
 * Returns {serverNowMs, leaseEndMs}.
 */
export const REGISTER = `${PRELUDE}
local now = nowMs()
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[4])
local leaseEnd = now + tonumber(ARGV[5])
redis.call('ZADD', KEYS[3], leaseEnd, ARGV[2])
applyFields(KEYS[4], 7, nil)
publish(KEYS[5], KEYS[6], ARGV[6], 'gateway', ARGV[2], '*')
return {now, leaseEnd}
`;

/**
 * services — KEYS: gateways, svc(gk), seq, feed. ARGV: gk, maxLen, services (n, k, v…, m, k…).
 * Applies a diff to this replica's services and announces the changed keys. Returns 0 without writing
 * when the gateway record is missing (the caller registers again), else 1.
 */
export const SERVICES = `${PRELUDE}
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
local changed = {}
applyFields(KEYS[2], 3, changed)
local list = '*'
if #changed <= 200 then list = cjson.encode(changed) end
publish(KEYS[3], KEYS[4], ARGV[2], 'services', ARGV[1], list)
return 1
`;

/**
 * heartbeat — KEYS: gateways, leases. ARGV: gk, ttlMs. Extends the lease from the server clock.
 * Returns {serverNowMs, leaseEndMs}; leaseEndMs is 0 when the gateway record is missing (register again).
 */
export const HEARTBEAT = `${PRELUDE}
local now = nowMs()
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return {now, 0} end
local leaseEnd = now + tonumber(ARGV[2])
redis.call('ZADD', KEYS[2], leaseEnd, ARGV[1])
return {now, leaseEnd}
`;

/**
 * deregister — KEYS: gateways, leases, seq, feed. ARGV: gk, maxLen. Ends the lease now (records stay, so
 * readers keep the cluster as stale for staleFor, then the reaper removes them). Returns 1 or 0.
 */
export const DEREGISTER = `${PRELUDE}
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('ZADD', KEYS[2], nowMs(), ARGV[1])
publish(KEYS[3], KEYS[4], ARGV[2], 'gateway', ARGV[1], '*')
return 1
`;

/**
 * reap — KEYS: clusters, gateways, leases, seq, feed, svc(gk1), svc(gk2)…. ARGV: staleForMs, maxLen, gk1,
 * gk2…. Removes each candidate whose lease ended more than staleFor ago (server clock) or is missing,
 * and a cluster record once no gateway of it remains. Returns the number of gateways removed.
 */
export const REAP = `${PRELUDE}
local cutoff = nowMs() - tonumber(ARGV[1])
local reaped = 0
local touched = {}
for i = 3, #ARGV do
  local gk = ARGV[i]
  local score = redis.call('ZSCORE', KEYS[3], gk)
  if (not score) or tonumber(score) < cutoff then
    redis.call('ZREM', KEYS[3], gk)
    redis.call('HDEL', KEYS[2], gk)
    redis.call('DEL', KEYS[i + 3])
    publish(KEYS[4], KEYS[5], ARGV[2], 'reap', gk, '*')
    local slash = string.find(gk, '/', 1, true)
    if slash then touched[string.sub(gk, 1, slash - 1)] = true end
    reaped = reaped + 1
  end
end
if reaped > 0 then
  local remaining = {}
  for _, gk in ipairs(redis.call('HKEYS', KEYS[2])) do
    local slash = string.find(gk, '/', 1, true)
    if slash then remaining[string.sub(gk, 1, slash - 1)] = true end
  end
  for cluster in pairs(touched) do
    if not remaining[cluster] then redis.call('HDEL', KEYS[1], cluster) end
  end
end
return reaped
`;

/** head — KEYS: seq, feed. Returns {serverNowMs, seq, lastFeedId}: where a full sync starts reading. */
export const HEAD = `${PRELUDE}
local now = nowMs()
local seq = tonumber(redis.call('GET', KEYS[1]) or '0')
local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
local id = '0-0'
if last[1] then id = last[1][1] end
return {now, seq, id}
`;

/** leases — KEYS: leases. Returns {serverNowMs, {gk, score, gk, score…}}. */
export const LEASES = `${PRELUDE}
return {nowMs(), redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')}
`;

/** Runs a script by SHA, loading it on NOSCRIPT (after a restart, failover or FLUSHALL SCRIPT). */
export class LuaScript {
  readonly sha: string;

  constructor(readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  async run(
    client: RedisClient,
    keys: readonly string[],
    args: readonly (string | number)[],
  ): Promise<unknown> {
    try {
      return await client.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return client.eval(this.source, keys.length, ...keys, ...args);
    }
  }
}

export const scripts = {
  register: new LuaScript(REGISTER),
  services: new LuaScript(SERVICES),
  heartbeat: new LuaScript(HEARTBEAT),
  deregister: new LuaScript(DEREGISTER),
  reap: new LuaScript(REAP),
  head: new LuaScript(HEAD),
  leases: new LuaScript(LEASES),
} as const;
